"""The front page and the manual: the README stays a front page, the manual builds, links resolve,
and the settings reference, the code and .env.sample say the same."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from FileStream.config import VARIABLES

REPO = Path(__file__).resolve().parent.parent
DOCS = REPO / "docs"
PAGES = sorted(DOCS.glob("*.md"))
# Markdown links and images: [text](target) and ![alt](target).
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
sys.path.insert(0, str(DOCS / "hooks"))
from settings_reference import settings_table  # noqa: E402


def test_the_readme_is_a_front_page_of_at_most_10000_characters() -> None:
    text = (REPO / "README.md").read_text()
    assert len(text) <= 10_000, f"README.md has {len(text)} characters"
    assert "make run" in text and "make test" in text and "make demo" in text


def _relative_links(path: Path) -> list[str]:
    text = re.sub(r"(?s)```.*?```", "", path.read_text())  # code blocks hold no links
    return [t for t in LINK.findall(text) if not re.match(r"[a-z]+:", t) and not t.startswith("#")]


@pytest.mark.parametrize("path", [REPO / "README.md", REPO / "CONTRIBUTING.md", *PAGES], ids=lambda p: p.name)
def test_every_relative_link_resolves(path: Path) -> None:
    assert path.exists(), path
    for target in _relative_links(path):
        file = target.split("#", 1)[0]
        assert (path.parent / file).exists(), f"{path.name}: {target} does not exist"


def test_every_page_is_in_the_manuals_navigation() -> None:
    nav = (REPO / "mkdocs.yml").read_text()
    for page in PAGES:
        assert f": {page.name}" in nav, f"{page.name} is not in mkdocs.yml's nav"


def test_the_settings_reference_lists_every_setting_with_the_codes_default() -> None:
    table = settings_table()
    for name, default, purpose in VARIABLES:
        shown = f"`{default}`" if default else "—"
        assert f"| `{name}` | {shown} |" in table, name
    assert "<!-- settings-table -->" in (DOCS / "settings.md").read_text()


def test_env_sample_names_no_setting_the_code_does_not_know() -> None:
    known = {name for name, _, _ in VARIABLES}
    named = set(re.findall(r"(?m)^#?\s?([A-Z][A-Z0-9_]+)=", (REPO / ".env.sample").read_text()))
    assert named <= known, f".env.sample names unknown settings: {sorted(named - known)}"


def test_the_manual_sets_only_settings_the_code_knows() -> None:
    """`NAME=value` in the manual and the README is a setting the code reads (or a variable of
    the tools named here: compose, the test suite)."""
    known = {name for name, _, _ in VARIABLES} | {"SITE_ADDRESS", "TEST_DATABASE_URL", "HYPOTHESIS_PROFILE",
                                                   "FAKETIME_DONT_FAKE_MONOTONIC", "FILESTREAM_SCREENSHOTS", "HYPOTHESIS_SEED",
                                                   "NO_MKDOCS_2_WARNING"}
    for path in [REPO / "README.md", REPO / "CONTRIBUTING.md", *PAGES]:
        named = set(re.findall(r"(?<![A-Za-z0-9_])([A-Z][A-Z0-9_]{2,})=", path.read_text()))
        assert named <= known, f"{path.name} sets unknown settings: {sorted(named - known)}"


def test_the_manual_builds_strictly(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-d", str(tmp_path / "site")],
                            cwd=REPO, capture_output=True, text=True, timeout=120,
                            env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert result.returncode == 0, result.stderr[-3000:]
    page = (tmp_path / "site" / "settings" / "index.html").read_text()
    assert all(f"<code>{name}</code>" in page for name, _, _ in VARIABLES)
