"""Takes the manual's screenshots (docs/images/) from a running `make demo`, in headless Chromium.

    .venv/bin/python docs/tools/screenshots.py

Starts the demo on a free port, opens the video's watch page and the bundle's page at a
desktop size (1280x800) and saves them as PNG. Needs Debian's chromium.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import signal
import sys
from pathlib import Path

from playwright.async_api import async_playwright

REPO = Path(__file__).resolve().parents[2]
IMAGES = REPO / "docs" / "images"
URL = re.compile(r"https?://\S+?(?=['\s)]|$)")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--autoplay-policy=no-user-gesture-required"]


async def main() -> int:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        print("screenshots: Debian's chromium is needed (apt-get install chromium)", file=sys.stderr)
        return 2
    demo = await asyncio.create_subprocess_exec(sys.executable, "-u", str(REPO / "tests" / "demo.py"), "--port", "0",
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL)
    try:
        out = ""
        while "Open first:" not in out:
            line = (await asyncio.wait_for(demo.stdout.readline(), 120)).decode()
            if not line:
                raise SystemExit("the demo ended early:\n" + out)
            out += line
        first = out.split("Open first:")[1]
        watch, bundle = URL.findall(first)[:2]
        IMAGES.mkdir(parents=True, exist_ok=True)
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
            page = await browser.new_page(viewport={"width": 1280, "height": 800})
            await page.goto(watch)
            await page.wait_for_function("() => { const v = document.querySelector('video'); "
                                         "return v && v.readyState >= 2; }", timeout=30_000)
            await page.evaluate("() => { const v = document.querySelector('video'); v.currentTime = 3; }")
            await page.wait_for_function("() => { const v = document.querySelector('video'); "
                                         "return !v.seeking && v.readyState >= 3; }")
            await page.mouse.move(0, 0)  # no hover controls over the picture
            await page.screenshot(path=str(IMAGES / "watch-page.png"))
            await page.goto(bundle.rstrip(")."))
            await page.screenshot(path=str(IMAGES / "bundle-page.png"))
            await browser.close()
        print(f"screenshots: {IMAGES / 'watch-page.png'}, {IMAGES / 'bundle-page.png'}")
        return 0
    finally:
        demo.send_signal(signal.SIGINT)
        await demo.wait()


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
