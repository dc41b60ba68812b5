"""The headless Chromium the page tests share: where it is and the flags it needs here (the `browser` fixture is in conftest.py)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# The flags a browser needs on a machine with no network but loopback and no display.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--autoplay-policy=no-user-gesture-required"]
SCREENSHOT_DIR = Path(os.environ.get("FILESTREAM_SCREENSHOTS", Path(__file__).parent / "screenshots"))
DESKTOP = {"viewport": {"width": 1280, "height": 800}}
NO_CHROMIUM = "Chromium is not installed (Debian package 'chromium'; .ci/run installs it)"

