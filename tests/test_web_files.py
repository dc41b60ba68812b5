"""The /stream and /dl routes over an in-memory file store and byte source (aiohttp test client)."""

import asyncio
import logging
import random
from datetime import datetime, timedelta, timezone

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from FileStream.core.formatting import download_url, stream_url
from FileStream.core.models import StoredFile
from FileStream.core.tokens import make_link_token, new_file_id
from FileStream.web import files as file_routes
from FileStream.web.app import build_app
from FileStream.web.links import LOOKUP_RETRY_AFTER_SECONDS
from web_fakes import MemoryBytes, MemoryFiles

MIB = 1 << 20
SECRET = b"s" * 32
NOW = datetime(2026, 11, 22, 12, 0, tzinfo=timezone.utc)
UPLOADED = datetime(2026, 11, 21, 9, 0, 0, tzinfo=timezone.utc)


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


class Observer:
    def __init__(self) -> None:
        self.events: list[tuple] = []
        self.finished = asyncio.Event()  # set at each stream's end

    def stream_started(self, file, start, end):
        self.events.append(("start", file.id, start, end))

    def stream_finished(self, file, sent, result):
        self.events.append(("end", file.id, sent, result))
        self.finished.set()


class World:
    """A running app with one helper per kind of file."""

    def __init__(self, client: TestClient, files: MemoryFiles, source: MemoryBytes, clock: Clock,
                 observer: Observer) -> None:
        self.client, self.files, self.source, self.clock, self.observer = client, files, source, clock, observer

    def add(self, data: bytes, name: str = "movie.mp4", mime: str | None = "video/mp4",
            expires_at: datetime | None = NOW + timedelta(days=1), unique: str = "AgADuniq") -> StoredFile:
        file = StoredFile(
            id=new_file_id(), file_name=name, file_size=len(data), mime_type=mime, file_unique_id=unique,
            media_type="video", dc_id=4, storage_chat_id=-1001, storage_message_id=1,
            created_at=UPLOADED, expires_at=expires_at,
        )
        self.files.add(file)
        self.source.contents[file.id] = data
        return file

    def token(self, file: StoredFile, expires_at: datetime | None | str = "same") -> str:
        return make_link_token(SECRET, file.id, file.expires_at if expires_at == "same" else expires_at)


def make_app(files, source, clock, observer):
    return build_app(files=files, source=source, link_secret=SECRET, public_url="http://files.test",
                     clock=clock, observer=observer)


@pytest.fixture
async def world():
    files, source, clock, observer = MemoryFiles(), MemoryBytes(chunk_size=100_003), Clock(), Observer()
    async with TestClient(TestServer(make_app(files, source, clock, observer))) as client:
        yield World(client, files, source, clock, observer)


@pytest.fixture(scope="module")
def data():
    return random.Random(1).randbytes(3 * MIB + 4321)


def no_tracebacks(caplog) -> bool:
    return not [r for r in caplog.records if r.exc_info]


# ------------------------------------------------------------ ranges, byte-exact

async def test_random_ranges_are_byte_exact(world, data):
    file = world.add(data)
    url = f"/stream/{world.token(file)}/movie.mp4"
    size = len(data)
    rng = random.Random(2)
    edges = [0, 1, 4095, 4096, MIB - 1, MIB, MIB + 1, 2 * MIB, size - 1]
    cases = ["bytes=0-0", "bytes=0-1048576", "bytes=1048575-1048576", "bytes=-1", f"bytes=-{size + 10}",
             f"bytes={size - 1}-", "bytes=0-", f"bytes=100-{size * 2}"]
    while len(cases) < 200:
        a = rng.choice(edges + [rng.randrange(size)])
        form = rng.randrange(4)
        if form == 0:
            b = min(size + 5000, rng.choice([a, a + 1, a + MIB - 1, a + MIB, a + rng.randrange(2 * MIB)]))
            cases.append(f"bytes={a}-{b}")
        elif form == 1:
            cases.append(f"bytes={a}-")
        elif form == 2:
            cases.append(f"bytes=-{rng.randrange(1, size + 100)}")
        else:
            cases.append(f"bytes={a}-{rng.choice(edges)}" if rng.choice(edges) >= a else f"bytes={a}-{a}")
    for header in cases:
        spec = header[len("bytes="):]
        first, _, last = spec.partition("-")
        if first == "":
            start, end = max(size - int(last), 0), size - 1
        else:
            start = int(first)
            end = size - 1 if last == "" else min(int(last), size - 1)
        if end < start:  # a generated "a-b" with b < a is invalid syntax: whole body
            start, end, status = 0, size - 1, 200
        else:
            status = 206
        async with world.client.get(url, headers={"Range": header}) as r:
            body = await r.read()
            assert r.status == status, header
            assert int(r.headers["Content-Length"]) == len(body) == end - start + 1, header
            assert body == data[start:end + 1], header
            if status == 206:
                assert r.headers["Content-Range"] == f"bytes {start}-{end}/{size}"
            assert r.headers["Accept-Ranges"] == "bytes"
    assert all(key in world.source.closed for key in world.source.opened)


async def test_full_body_and_headers(world, data):
    file = world.add(data)
    async with world.client.get(f"/dl/{world.token(file)}") as r:
        assert r.status == 200
        assert await r.read() == data
        h = r.headers
        assert h["Content-Length"] == str(len(data)) and "Content-Range" not in h
        assert h["Content-Type"] == "video/mp4"
        assert h["Content-Disposition"] == "attachment; filename=\"movie.mp4\"; filename*=UTF-8''movie.mp4"
        assert h["ETag"] == '"AgADuniq"' and h["Last-Modified"] == "Sat, 21 Nov 2026 09:00:00 GMT"
        assert h["X-Content-Type-Options"] == "nosniff" and h["Accept-Ranges"] == "bytes"
        assert h["Cache-Control"] == "private, max-age=3600"
        assert "Content-Encoding" not in h and "Transfer-Encoding" not in h
    async with world.client.get(f"/stream/{world.token(file)}/whatever-name.bin") as r:
        assert r.status == 200 and r.headers["Content-Disposition"].startswith("inline;")


async def test_only_a_request_without_range_is_streamed_as_a_whole_download(world, data):
    """A download asks once for everything; players probe and seek with Range requests they
    drop after a few bytes, so only the first kind may be fetched far ahead from its start."""
    file = world.add(data)
    for url, headers in ((f"/dl/{world.token(file)}", {}), (f"/stream/{world.token(file)}/m.mp4", {}),
                         (f"/stream/{world.token(file)}/m.mp4", {"Range": "bytes=0-"}),
                         (f"/dl/{world.token(file)}", {"Range": "bytes=100-"}),
                         (f"/dl/{world.token(file)}", {"Range": "bytes=abc"})):
        async with world.client.get(url, headers=headers) as r:
            assert await r.read() == data[100:] if "100" in headers.get("Range", "") else data
    assert world.source.wholes == [True, True, False, False, False]


async def test_head_matches_get_without_body(world, data):
    file = world.add(data)
    url = f"/stream/{world.token(file)}/movie.mp4"
    for rng in (None, "bytes=5-10", "bytes=99999999-", "nonsense"):
        headers = {"Range": rng} if rng else {}
        async with world.client.get(url, headers=headers) as get:
            await get.read()
        opened = len(world.source.opened)
        async with world.client.head(url, headers=headers) as head:
            assert await head.read() == b""
        assert len(world.source.opened) == opened          # HEAD never touches the source
        strip = lambda h: {k: v for k, v in h.items() if k not in ("Date",)}  # noqa: E731
        assert (head.status, strip(head.headers)) == (get.status, strip(get.headers))


async def test_unsatisfiable_range_is_416(world, data):
    file = world.add(data)
    async with world.client.get(f"/dl/{world.token(file)}/x", headers={"Range": f"bytes={len(data)}-"}) as r:
        assert r.status == 416
        assert r.headers["Content-Range"] == f"bytes */{len(data)}"
        assert await r.read() == b""
    assert world.source.opened == [] and world.observer.events == []


async def test_malformed_range_and_stale_if_range_give_the_whole_body(world, data):
    file = world.add(data[:5000])
    url = f"/dl/{world.token(file)}/x"
    for headers in ({"Range": "bytes=abc"}, {"Range": "bytes=9-3"},
                    {"Range": "bytes=0-9", "If-Range": '"not-the-etag"'},
                    {"Range": "bytes=0-9", "If-Range": 'W/"AgADuniq"'},
                    {"Range": "bytes=0-9", "If-Range": "Sat, 21 Nov 2026 09:00:01 GMT"}):
        async with world.client.get(url, headers=headers) as r:
            assert r.status == 200, headers
            assert await r.read() == data[:5000]
    async with world.client.get(url, headers={"Range": "bytes=0-9", "If-Range": '"AgADuniq"'}) as r:
        assert r.status == 206 and await r.read() == data[:10]


async def test_if_none_match_is_304_without_body(world, data):
    file = world.add(data[:5000])
    url = f"/stream/{world.token(file)}/x"
    for inm in ('"AgADuniq"', 'W/"AgADuniq"', '"a", "AgADuniq"', "*"):
        async with world.client.get(url, headers={"If-None-Match": inm}) as r:
            assert r.status == 304
            assert await r.read() == b""
            assert r.headers["ETag"] == '"AgADuniq"'
    async with world.client.get(url, headers={"If-Modified-Since": "Sat, 21 Nov 2026 09:00:00 GMT"}) as r:
        assert r.status == 304
    async with world.client.get(url, headers={"If-None-Match": '"other"'}) as r:
        assert r.status == 200 and len(await r.read()) == 5000
    assert world.observer.events == [("start", file.id, 0, 4999), ("end", file.id, 5000, "complete")]


async def test_zero_byte_file(world):
    file = world.add(b"", name="empty.txt", mime="text/plain")
    async with world.client.get(f"/dl/{world.token(file)}/empty.txt") as r:
        assert r.status == 200 and r.headers["Content-Length"] == "0" and await r.read() == b""
    async with world.client.get(f"/dl/{world.token(file)}/empty.txt", headers={"Range": "bytes=0-0"}) as r:
        assert r.status == 416 and r.headers["Content-Range"] == "bytes */0"
    assert world.source.opened == []


async def test_name_part_is_cosmetic(world, data):
    file = world.add(data[:100], name="a/b c.mp4")
    token = world.token(file)
    for path in (f"/dl/{token}", f"/dl/{token}/", f"/dl/{token}/a%2Fb%20c.mp4", f"/stream/{token}/x/y/z.mkv",
                 f"/stream/{token}"):
        async with world.client.get(path) as r:
            assert r.status == 200, path
            assert await r.read() == data[:100]


async def test_the_link_of_a_file_named_with_a_line_break_serves_it(world, data):
    # Found by tests/test_fuzz_http.py: "/dl/<token>/%0A" was 404, so a file whose name holds
    # a line break (Telegram allows it) had links that never worked.
    file = world.add(data[:100], name="two\nlines\r\n.mp4")
    for url in (download_url("http://files.test", world.token(file), file.file_name),
                stream_url("http://files.test", world.token(file), file.file_name)):
        path = url.removeprefix("http://files.test")
        assert "%0A" in path
        async with world.client.get(path) as r:
            assert r.status == 200, path
            assert await r.read() == data[:100]


async def test_html_upload_is_an_attachment_with_nosniff(world):
    file = world.add(b"<script>alert(document.cookie)</script>", name="page.html", mime="text/html")
    async with world.client.get(f"/stream/{world.token(file)}/page.html") as r:
        assert r.status == 200
        assert r.headers["Content-Disposition"].startswith("attachment;")
        assert r.headers["X-Content-Type-Options"] == "nosniff"
    svg = world.add(b"<svg onload='alert(1)'/>", name="x.svg", mime=None)
    async with world.client.get(f"/stream/{world.token(svg)}/x.svg") as r:
        assert r.headers["Content-Type"] == "image/svg+xml"
        assert r.headers["Content-Disposition"].startswith("attachment;")


async def test_unknown_mime_is_guessed_never_none(world):
    file = world.add(b"x" * 10, name="clip.webm", mime="None/unknown")
    async with world.client.get(f"/stream/{world.token(file)}/clip.webm") as r:
        assert r.headers["Content-Type"] == "video/webm"
    other = world.add(b"x" * 10, name="blob", mime=None)
    async with world.client.get(f"/stream/{world.token(other)}/blob") as r:
        assert r.headers["Content-Type"] == "application/octet-stream"


# ------------------------------------------------------------ refused links

async def test_tampered_malformed_and_unknown_tokens_are_404_pages(world, data, caplog):
    caplog.set_level(logging.INFO)
    file = world.add(data[:10])
    token = world.token(file)
    tampered = token[:20] + ("A" if token[20] != "A" else "B") + token[21:]
    ghost = make_link_token(SECRET, new_file_id(), None)         # genuine token, no record
    forged = make_link_token(b"x" * 32, file.id, None)           # other secret
    for path in (f"/stream/{tampered}/x", f"/dl/{forged}", "/dl/short", f"/watch/{tampered}",
                 f"/dl/{ghost}/x", "/stream/" + "A" * 48 + "/x"):
        async with world.client.get(path) as r:
            assert r.status == 404, path
            text = await r.text()
            assert r.headers["Content-Type"].startswith("text/html")
            assert "does not exist" in text and "Traceback" not in text
    assert world.source.opened == []
    assert no_tracebacks(caplog)
    assert token not in caplog.text                               # tokens are capabilities


async def test_deleted_record_is_404(world, data):
    file = world.add(data[:10])
    del world.files.records[file.id]
    async with world.client.get(f"/dl/{world.token(file)}") as r:
        assert r.status == 404


async def test_expired_links_are_410(world, data):
    file = world.add(data[:10], expires_at=NOW + timedelta(hours=1))
    token = world.token(file)
    world.clock.now = NOW + timedelta(hours=1)
    async with world.client.get(f"/dl/{token}") as r:
        assert r.status == 410
        assert "This link has expired" in await r.text()
    del world.files.records[file.id]                              # even once the record is gone
    async with world.client.get(f"/stream/{token}/x") as r:
        assert r.status == 410
    # A permanent token for a record that expired (shortened later by the owner): still 410.
    world.clock.now = NOW
    short = world.add(data[:10], expires_at=NOW - timedelta(seconds=1))
    async with world.client.get(f"/dl/{world.token(short, None)}") as r:
        assert r.status == 410
    assert world.source.opened == []


async def test_cache_control_never_outlives_the_link(world, data):
    file = world.add(data[:10], expires_at=NOW + timedelta(seconds=600))
    async with world.client.get(f"/dl/{world.token(file)}") as r:
        assert r.headers["Cache-Control"] == "private, max-age=600"
    # The token may expire before the record does: the earlier one counts.
    async with world.client.get(f"/dl/{world.token(file, NOW + timedelta(seconds=30))}") as r:
        assert r.headers["Cache-Control"] == "no-store"


async def test_lookup_failure_is_503_in_words(world, caplog):
    class Down:
        raised = 0

        async def get_file(self, file_id):
            self.raised += 1
            raise ConnectionError("database unreachable")

    down = Down()
    app = make_app(down, MemoryBytes(), Clock(), None)
    async with TestClient(TestServer(app)) as client:
        async with client.get(f"/dl/{make_link_token(SECRET, new_file_id(), None)}") as r:
            assert r.status == 503 and r.headers["Retry-After"] == str(LOOKUP_RETRY_AFTER_SECONDS)
            assert "try again" in await r.text()
    assert down.raised == 1
    assert no_tracebacks(caplog)


# ------------------------------------------------------------ source failures and disconnects

async def test_source_failure_before_first_byte_is_502_page(world, data, caplog):
    file = world.add(data[:1000])
    world.source.fail_after = 0
    async with world.client.get(f"/dl/{world.token(file)}") as r:
        assert r.status == 502
        assert "Telegram did not deliver" in await r.text()
    assert world.source.failed == [((file.id, 0, 999), 0)]        # the failure struck before the first byte
    assert world.observer.events[-1] == ("end", file.id, 0, "source_error")
    assert no_tracebacks(caplog)


async def test_flood_wait_before_first_byte_is_503_with_retry_after(world, data):
    class FloodWait(Exception):
        retry_after = 17

    class Flooded:
        raised = 0

        def stream(self, file, start, end, whole=False):
            return self._gen()

        async def _gen(self):
            self.raised += 1
            raise FloodWait()
            yield b""  # pragma: no cover

    file = world.add(data[:10])
    flooded = Flooded()
    app = make_app(world.files, flooded, world.clock, None)
    async with TestClient(TestServer(app)) as client:
        async with client.get(f"/dl/{world.token(file)}") as r:
            assert r.status == 503 and r.headers["Retry-After"] == "17"
    assert flooded.raised == 1


async def raw_get(client: TestClient, path: str, headers: dict[str, str] | None = None) -> tuple[str, dict, bytes]:
    """One request on a raw socket, read to EOF: shows exactly what reached the client."""
    reader, writer = await asyncio.open_connection(client.host, client.port)
    lines = [f"GET {path} HTTP/1.1", f"Host: {client.host}"] + [f"{k}: {v}" for k, v in (headers or {}).items()]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
    await writer.drain()
    raw = await asyncio.wait_for(reader.read(), timeout=10)   # until the server closes
    writer.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode().split("\r\n")
    parsed = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in header_lines)}
    return status_line, parsed, body


async def test_source_failure_mid_stream_cuts_the_body(world, data, caplog):
    file = world.add(data)
    world.source.fail_after = MIB + 5
    path = f"/dl/{world.token(file)}/movie.mp4"
    async with world.client.get(path) as r:
        assert r.status == 200
        with pytest.raises(aiohttp.ClientPayloadError):
            await r.read()
    status, headers, body = await raw_get(world.client, path, {"Range": "bytes=10-"})
    assert status.startswith("HTTP/1.1 206")
    assert int(headers["content-length"]) == len(data) - 10
    assert 0 < len(body) < len(data) - 10                       # visibly cut...
    assert body == data[10:10 + len(body)]                       # ...and never wrong
    # Both failures struck mid-body: after MIB + 5 bytes of each stream, before its last.
    assert [(key[0], yielded) for key, yielded in world.source.failed] == [(file.id, MIB + 5)] * 2
    assert world.observer.events[-1][-1] == "source_error"
    assert all(key in world.source.closed for key in world.source.opened)
    assert no_tracebacks(caplog)


class Misbehaving:
    """A source that ends early or sends too much, which must never pass as a good body."""

    def __init__(self, data: bytes, extra: int) -> None:
        self.data, self.extra = data, extra

    def stream(self, file, start, end, whole=False):
        return self._gen(start, end)

    async def _gen(self, start, end):
        yield self.data[start:end + 1 + self.extra]


@pytest.mark.parametrize("extra", [-1, 1])
async def test_wrong_length_from_the_source_cuts_the_connection(world, data, extra):
    file = world.add(data[:1000])
    app = make_app(world.files, Misbehaving(data[:1000], extra), world.clock, None)
    async with TestClient(TestServer(app)) as client:
        status, headers, body = await raw_get(client, f"/dl/{world.token(file)}", {"Range": "bytes=0-499"})
        assert status.startswith("HTTP/1.1 206") and headers["content-length"] == "500"
        assert len(body) < 500 and body == data[:len(body)]


class Slow:
    """First chunk at once, then nothing for a long time; records when it is closed."""

    def __init__(self) -> None:
        self.closed = asyncio.Event()

    def stream(self, file, start, end, whole=False):
        return self._gen(start, end)

    async def _gen(self, start, end):
        try:
            yield b"\0" * min(65536, end - start + 1)
            await asyncio.Event().wait()   # falls silent: nothing more ever comes
            yield b"\0"
        finally:
            self.closed.set()


async def _disconnect_mid_body(host: str, port: int, path: str) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    await writer.drain()
    await reader.readuntil(b"\r\n\r\n")
    await reader.readexactly(1000)
    writer.close()


async def test_client_disconnect_closes_the_source(world, data):
    file = world.add(data)
    slow, observer = Slow(), Observer()
    app = make_app(world.files, slow, world.clock, observer)
    async with TestClient(TestServer(app)) as client:               # handler_cancellation=True
        await _disconnect_mid_body(client.host, client.port, f"/dl/{world.token(file)}")
        await asyncio.wait_for(slow.closed.wait(), timeout=5)
        await asyncio.wait_for(observer.finished.wait(), timeout=5)
    assert observer.events[-1] == ("end", file.id, 65536, "client_gone")   # gone after the first chunk


async def test_client_disconnect_closes_the_source_without_handler_cancellation(world, data, monkeypatch):
    # aiohttp's default runner does not cancel handlers; the handler still notices.
    monkeypatch.setattr(file_routes, "DISCONNECT_POLL_SECONDS", 0.05)
    file = world.add(data)
    slow, observer = Slow(), Observer()
    runner = web.AppRunner(make_app(world.files, slow, world.clock, observer), handler_cancellation=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        port = runner.addresses[0][1]
        await _disconnect_mid_body("127.0.0.1", port, f"/dl/{world.token(file)}")
        await asyncio.wait_for(slow.closed.wait(), timeout=2)
        await asyncio.wait_for(observer.finished.wait(), timeout=2)
        assert observer.events[-1] == ("end", file.id, 65536, "client_gone")   # gone after the first chunk
    finally:
        await runner.cleanup()


async def test_every_started_stream_is_finished_once(world, data):
    file = world.add(data[:300_000])
    token = world.token(file)
    async with world.client.get(f"/dl/{token}", headers={"Range": "bytes=0-99"}) as r:
        await r.read()
    async with world.client.head(f"/dl/{token}") as r:
        await r.read()
    world.source.fail_after = 150_000
    async with world.client.get(f"/dl/{token}") as r:
        with pytest.raises(aiohttp.ClientPayloadError):
            await r.read()
    assert [yielded for _, yielded in world.source.failed] == [150_000]
    starts = [e for e in world.observer.events if e[0] == "start"]
    ends = [e for e in world.observer.events if e[0] == "end"]
    assert len(starts) == len(ends) == 2
    assert ends[0] == ("end", file.id, 100, "complete") and ends[1][-1] == "source_error"


async def test_every_file_response_is_sandboxed_and_only_listed_types_are_shown_inline(world):
    video = world.add(b"v" * 1000, "clip.mp4", "video/mp4")
    odd = world.add(b"a" * 1000, "clip.asf", "video/x-ms-asf")
    for url, headers in ((f"/stream/{world.token(video)}", {}), (f"/dl/{world.token(video)}", {}),
                         (f"/stream/{world.token(video)}", {"Range": "bytes=5-9"}),
                         (f"/stream/{world.token(video)}", {"If-None-Match": '"AgADuniq"'}),
                         (f"/stream/{world.token(odd)}", {})):
        async with world.client.get(url, headers=headers) as r:
            assert r.status in (200, 206, 304)
            assert r.headers["Content-Security-Policy"] == "sandbox", (url, headers)
    async with world.client.get(f"/stream/{world.token(video)}") as r:
        assert r.headers["Content-Disposition"].startswith("inline;")
    async with world.client.get(f"/stream/{world.token(odd)}") as r:
        assert r.headers["Content-Disposition"].startswith("attachment;"), "a video type not on the list"
