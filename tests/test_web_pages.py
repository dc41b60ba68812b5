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
from web_fakes import MemoryBytes, MemoryFiles, MemoryThumbnails

SECRET = b"p" * 32
NOW = datetime(2026, 11, 22, 12, 0, tzinfo=timezone.utc)
PUBLIC = "https://files.example.org"
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 60


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


@pytest.fixture
async def site_with_posters():
    files, thumbnails = MemoryFiles(), MemoryThumbnails()
    app = build_app(files=files, source=MemoryBytes(), link_secret=SECRET, public_url=PUBLIC + "/",
                    clock=lambda: NOW, thumbnails=thumbnails, bot_username="filestream_bot")
    async with TestClient(TestServer(app)) as client:
        yield client, files, thumbnails


def media_elements(tags: "Tags") -> list[str]:
    """The elements that show the file itself (not the site's own icon)."""
    return [tag for tag, attrs in tags.tags
            if tag in ("video", "audio") or (tag == "img" and attrs.get("class") in ("preview", "cover"))]


def assert_nothing_inline(tags: "Tags") -> None:
    """The page CSP forbids inline script and style: no style attributes, no on* handlers."""
    for tag, attrs in tags.tags:
        assert tag != "style" and "style" not in attrs, (tag, attrs)
        assert not [name for name in attrs if name.startswith("on")], (tag, attrs)
        if tag == "script":
            assert attrs.get("src", "").startswith("/static/"), attrs


async def test_front_page(site):
    client, _ = site
    async with client.get("/") as r:
        assert r.status == 200 and r.content_type == "text/html"
        html = await r.text()
    assert "Telegram" in html and "t.me/" not in html   # no bot name known: no link to a bot
    async with client.head("/") as r:
        assert r.status == 200 and await r.read() == b""


async def test_front_page_names_the_bot_and_links_to_it(site_with_posters):
    client, _, _ = site_with_posters
    async with client.get("/") as r:
        html = await r.text()
    tags = parse(html)
    assert "https://t.me/filestream_bot" in [a["href"] for a in tags.find("a")]
    assert "@filestream_bot" in html
    assert_nothing_inline(tags)


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
    assert media_elements(tags) == ([element] if element else [])
    assert_nothing_inline(tags)


async def watch_page(site, name: str, mime: str):
    """A file of that name and type is added; its link token, and its watch page (response, tags)."""
    client, files, *_ = site
    token = make_link_token(SECRET, files.add(stored(name, mime)).id, None)
    async with client.get(f"/watch/{token}") as r:
        return token, r, parse(await r.text())


async def test_a_video_gets_its_thumbnail_as_poster_from_our_own_origin(site_with_posters):
    token, r, tags = await watch_page(site_with_posters, "clip.mp4", "video/mp4")
    [video] = tags.find("video")
    assert video["poster"] == f"/thumb/{token}"
    assert "img-src 'self'" in r.headers["Content-Security-Policy"]
    assert_nothing_inline(tags)


async def test_an_audio_file_gets_a_player_and_a_cover_shown_only_once_it_loads(site_with_posters):
    token, _r, tags = await watch_page(site_with_posters, "song.mp3", "audio/mpeg")
    [audio] = tags.find("audio")
    assert audio["src"] == stream_url(PUBLIC, token, "song.mp3") and "controls" in audio
    [cover] = [img for img in tags.find("img") if img.get("class") == "cover"]
    assert cover["src"] == f"/thumb/{token}" and "hidden" in cover   # player.js shows it once it has loaded
    assert "video" not in [tag for tag, _ in tags.tags]


async def test_an_image_is_previewed_inline_and_opens_full_size(site_with_posters):
    token, _r, tags = await watch_page(site_with_posters, "photo.jpg", "image/jpeg")
    surl = stream_url(PUBLIC, token, "photo.jpg")
    [preview] = [img for img in tags.find("img") if img.get("class") == "preview"]
    assert preview["src"] == surl and preview["alt"] == "photo.jpg"
    assert surl in [a["href"] for a in tags.find("a")]
    assert not [attrs for attrs in tags.find("video") + tags.find("audio")]


async def test_the_thumbnail_route_serves_the_image_with_its_type_and_caching(site_with_posters):
    client, files, thumbnails = site_with_posters
    file = files.add(stored("clip.mp4", "video/mp4"))
    thumbnails.images[file.id] = JPEG
    token = make_link_token(SECRET, file.id, None)
    async with client.get(f"/thumb/{token}") as r:
        assert r.status == 200 and await r.read() == JPEG
        assert r.content_type == "image/jpeg"
        assert r.headers["X-Content-Type-Options"] == "nosniff"
        assert r.headers["Content-Security-Policy"] == "sandbox"
        assert "max-age" in r.headers["Cache-Control"]
    async with client.head(f"/thumb/{token}") as r:
        assert r.status == 200 and await r.read() == b""


async def test_the_thumbnail_route_answers_in_words_when_there_is_none_or_it_fails(site_with_posters):
    client, files, thumbnails = site_with_posters
    bare = files.add(stored("bare.mp4", "video/mp4"))
    odd = files.add(stored("odd.mp4", "video/mp4"))
    thumbnails.images[odd.id] = b"<svg onload=alert(1)>"   # never served as an image, whatever it is
    for file in (bare, odd):
        async with client.get(f"/thumb/{make_link_token(SECRET, file.id, None)}") as r:
            assert r.status == 404 and "no preview" in await r.text()
    thumbnails.fail = True
    async with client.get(f"/thumb/{make_link_token(SECRET, bare.id, None)}") as r:
        assert r.status == 502 and "could not be fetched" in await r.text()
    expired = files.add(stored("old.mp4", "video/mp4", expires_at=NOW - timedelta(seconds=1)))
    calls = thumbnails.calls
    async with client.get(f"/thumb/{make_link_token(SECRET, expired.id, None)}") as r:
        assert r.status == 410
    async with client.get("/thumb/" + "x" * 48) as r:
        assert r.status == 404
    assert thumbnails.calls == calls   # refused links never reach Telegram


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


@pytest.mark.parametrize("name", ["x" * 300, "nope.css", "..%2Fapp.py", "%00", ".", "style.css%2F", "é" * 200])
async def test_any_other_static_name_answers_404_never_500(site, name):
    client, _ = site
    async with client.get("/static/" + name) as r:
        assert r.status == 404 and "text/html" in r.content_type
    async with client.head("/static/" + name) as r:
        assert r.status == 404


def test_build_app_refuses_an_empty_secret():
    with pytest.raises(ValueError):
        build_app(files=MemoryFiles(), source=MemoryBytes(), link_secret=b"", public_url=PUBLIC, clock=lambda: NOW)
