"""The HTML side of the web server: front page, player page, error pages and static files."""

import re
from datetime import datetime, timedelta, timezone
from html.parser import HTMLParser

import pytest
from aiohttp.test_utils import TestClient, TestServer

from FileStream.core.formatting import download_url, stream_url
from FileStream.core.models import StoredFile
from FileStream.core.tokens import make_link_token, new_file_id
from FileStream.web.app import build_app
from web_fakes import MemoryBytes, MemoryFiles

SECRET = b"p" * 32
NOW = datetime(2026, 11, 22, 12, 0, tzinfo=timezone.utc)
PUBLIC = "https://files.example.org"


def stored(name: str, mime: str | None, size: int = 10 * 1024 * 1024, expires_at=NOW + timedelta(minutes=65)):
    return StoredFile(id=new_file_id(), file_name=name, file_size=size, mime_type=mime, file_unique_id="AgADp",
                      media_type="document", dc_id=2, storage_chat_id=-1001, storage_message_id=3,
                      created_at=NOW - timedelta(days=1), expires_at=expires_at)


class Tags(HTMLParser):
    """Collects start tags with their attributes, so tests look at the DOM, not at text."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def find(self, tag: str) -> list[dict[str, str | None]]:
        return [attrs for name, attrs in self.tags if name == tag]


def parse(html: str) -> Tags:
    tags = Tags()
    tags.feed(html)
    return tags


@pytest.fixture
async def site():
    files = MemoryFiles()
    app = build_app(files=files, source=MemoryBytes(), link_secret=SECRET, public_url=PUBLIC + "/",
                    clock=lambda: NOW)
    async with TestClient(TestServer(app)) as client:
        yield client, files


async def test_front_page(site):
    client, _ = site
    async with client.get("/") as r:
        assert r.status == 200 and r.content_type == "text/html"
        assert "Telegram" in await r.text()
    async with client.head("/") as r:
        assert r.status == 200 and await r.read() == b""


async def test_player_page_escapes_the_file_name(site):
    client, files = site
    name = "<script>alert(1)</script>.mp4"
    file = files.add(stored(name, "video/mp4"))
    token = make_link_token(SECRET, file.id, file.expires_at)
    async with client.get(f"/watch/{token}") as r:
        assert r.status == 200
        html = await r.text()
    assert "<script>alert(1)" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;.mp4" in html
    tags = parse(html)
    assert [s["src"] for s in tags.find("script")] == ["/static/player.js"]   # ours only, no inline script
    assert "script-src 'self'" in r.headers["Content-Security-Policy"]
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert r.headers["Referrer-Policy"] == "no-referrer"

    surl = stream_url(PUBLIC, token, name)
    video = tags.find("video")
    assert len(video) == 1 and video[0]["src"] == surl and "controls" in video[0]
    hrefs = [a["href"] for a in tags.find("a")]
    assert download_url(PUBLIC, token, name) in hrefs
    assert f"vlc://{surl}" in hrefs
    assert f"intent:{surl}#Intent;package=com.mxtech.videoplayer.ad;type=video/*;end" in hrefs
    assert [b["data-copy"] for b in tags.find("button")] == [surl]
    assert "10.0 MiB" in html and "1 h 5 min" in html


async def test_player_page_escapes_attribute_breakers(site):
    client, files = site
    name = '" onerror="alert(1)\' x=\'.mp4'
    file = files.add(stored(name, "video/mp4"))
    async with client.get(f"/watch/{make_link_token(SECRET, file.id, file.expires_at)}") as r:
        html = await r.text()
    for attrs in (a for _tag, a in parse(html).tags):
        assert "onerror" not in attrs


@pytest.mark.parametrize("name, mime, element", [
    ("song.mp3", "audio/mpeg", "audio"), ("photo.jpg", None, "img"), ("archive.zip", "application/zip", None),
    ("page.html", "text/html", None),
])
async def test_player_element_follows_the_type(site, name, mime, element):
    client, files = site
    file = files.add(stored(name, mime))
    async with client.get(f"/watch/{make_link_token(SECRET, file.id, None)}") as r:
        assert r.status == 200
        tags = parse(await r.text())
    kinds = [t for t, _ in tags.tags if t in ("video", "audio", "img")]
    assert kinds == ([element] if element else [])


async def test_player_page_refuses_like_the_file_routes(site):
    client, files = site
    file = files.add(stored("a.mp4", "video/mp4", expires_at=NOW - timedelta(seconds=1)))
    async with client.get(f"/watch/{make_link_token(SECRET, file.id, None)}") as r:
        assert r.status == 410 and "expired" in await r.text()
    async with client.get("/watch/" + "x" * 48) as r:
        assert r.status == 404 and "does not exist" in await r.text()


async def test_unknown_paths_and_methods_get_pages_in_words(site):
    client, files = site
    async with client.get("/nothing/here") as r:
        assert r.status == 404 and r.content_type == "text/html"
        assert "nothing at this address" in await r.text()
    file = files.add(stored("a.mp4", "video/mp4"))
    async with client.post(f"/dl/{make_link_token(SECRET, file.id, None)}") as r:
        assert r.status == 405 and "GET" in r.headers["Allow"]
        assert "only answers GET and HEAD" in await r.text()


async def test_unexpected_bug_is_a_page_in_words_and_a_logged_traceback(caplog):
    class Broken:
        async def get_file(self, file_id):
            return object()   # not a StoredFile: the handler trips over it

    app = build_app(files=Broken(), source=MemoryBytes(), link_secret=SECRET, public_url=PUBLIC, clock=lambda: NOW)
    async with TestClient(TestServer(app)) as client:
        async with client.get(f"/dl/{make_link_token(SECRET, new_file_id(), None)}") as r:
            assert r.status == 500
            text = await r.text()
    assert "Something went wrong" in text and "Traceback" not in text
    assert any(rec.exc_info for rec in caplog.records if rec.name == "FileStream.web.app")


async def test_static_files_are_ours(site):
    client, _ = site
    async with client.get("/static/style.css") as r:
        assert r.status == 200 and r.content_type == "text/css"
        css = await r.text()
    async with client.get("/static/player.js") as r:
        assert r.status == 200 and "javascript" in r.content_type
        js = await r.text()
    assert not re.search(r"https?://", css + js)   # no CDN, nothing fetched from elsewhere


def test_build_app_refuses_an_empty_secret():
    with pytest.raises(ValueError):
        build_app(files=MemoryFiles(), source=MemoryBytes(), link_secret=b"", public_url=PUBLIC, clock=lambda: NOW)
