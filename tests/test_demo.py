"""`make demo` shows the product without Telegram credentials: a person's files, a bundle and a
channel post, every link printed, and the links work while it runs."""

from __future__ import annotations

import asyncio
import io
import os
import re
import signal
import sys
import zipfile
from html.parser import HTMLParser
from pathlib import Path

import aiohttp

REPO = Path(__file__).resolve().parent.parent
URL = re.compile(r"https?://\S+?(?=['\s)]|$)")


class BundleLinks(HTMLParser):
    """The links to files on a bundle page, as a browser sees them."""

    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag, attrs):
        href = dict(attrs).get("href") or ""
        if tag == "a" and href.startswith("http"):
            self.hrefs.append(href)


async def _read_until(stream: asyncio.StreamReader, marker: str, timeout: float = 120) -> str:
    seen: list[str] = []
    while True:
        line = (await asyncio.wait_for(stream.readline(), timeout)).decode()
        assert line, "the demo ended before printing " + marker + ":\n" + "".join(seen)
        seen.append(line)
        if line.startswith(marker):
            return "".join(seen)


async def test_the_demo_prints_a_bundle_whose_page_serves_every_file_and_the_posts_buttons(tmp_path):
    demo = await asyncio.create_subprocess_exec(
        sys.executable, "-u", str(REPO / "tests" / "demo.py"), "--port", "0", cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        out = await _read_until(demo.stdout, "Open first:")
        assert "Alice sends a video. The bot answers:" in out
        assert "it becomes one bundle" in out and "gives the post its buttons" in out
        post = out.split("gives the post its buttons:")[1]
        assert "[Stream]" in post and "[Download]" in post and "?start=" in post
        page_url = next(u for u in URL.findall(out) if "/b/" in u and "/zip/" not in u and "/m3u/" not in u)
        zip_url = next(u for u in URL.findall(out) if "/zip/" in u)
        async with aiohttp.ClientSession() as http:
            async with http.get(page_url) as response:
                assert response.status == 200
                page = BundleLinks()
                page.feed(await response.text())
            downloads = [h for h in page.hrefs if "/dl/" in h]
            assert len(downloads) == 3, page.hrefs
            served = {}
            for href in page.hrefs:
                async with http.get(href) as response:
                    assert response.status == 200, href
                    body = await response.read()
                if "/dl/" in href:
                    served[href.rsplit("/", 1)[1]] = body
            async with http.get(zip_url) as response:
                assert response.status == 200
                archive = zipfile.ZipFile(io.BytesIO(await response.read()))
            # The ZIP and the page's own download links agree on every file's bytes.
            assert {info.filename: archive.read(info) for info in archive.infolist()} == served
    finally:
        demo.send_signal(signal.SIGINT)
        await asyncio.wait_for(demo.wait(), 60)
