"""The /b/ routes over in-memory stores: the bundle page, its M3U playlist and its streamed ZIP
(exact length, valid for zipfile and unzip, any Range equal to the same bytes of a full download)."""

from __future__ import annotations

import asyncio
import dataclasses
import io
import random
import struct
import zipfile
import zlib
from datetime import datetime, timedelta, timezone

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer

from FileStream.core import zip_ranges
from FileStream.core.http_plan import http_date
from FileStream.core.models import Bundle, StoredFile
from FileStream.core.tokens import make_bundle_token, make_link_token, new_file_id
from FileStream.service import ActiveStreams
from FileStream.services.bundle_zip import BundleArchive, Crc32Keeper
from FileStream.web.app import build_app
from FileStream.web.bundles import ZipPartsObserver
from FileStream.web.context import CONTEXT
from web_fakes import MemoryBundles, MemoryBytes, MemoryFiles
from test_web_files import Observer
from test_web_pages import parse
from zip_helpers import unzip_test

SECRET = b"b" * 32
NOW = datetime(2026, 11, 22, 12, 0, tzinfo=timezone.utc)
PUBLIC = "https://files.example.org"
LATER = NOW + timedelta(hours=1)


class Site:
    def __init__(self, client, files, bundles, source, observer=None):
        self.client, self.files, self.bundles, self.source = client, files, bundles, source
        self.observer = observer   # hears every body of a file, the ZIP's parts too

    def add_file(self, name, mime, data, *, expires_at=LATER, duration=None) -> StoredFile:
        file = StoredFile(id=new_file_id(), file_name=name, file_size=len(data), mime_type=mime,
                          file_unique_id="u" + new_file_id(), media_type="document", dc_id=2,
                          storage_chat_id=-1001, storage_message_id=1, created_at=NOW - timedelta(minutes=5),
                          expires_at=expires_at, duration=duration)
        self.files.add(file)
        self.source.contents[file.id] = data
        return file

    def add_bundle(self, files, title="Holiday <2026>", expires_at=LATER) -> tuple[Bundle, str]:
        bundle = self.bundles.add(Bundle(id=new_file_id(), title=title, file_ids=tuple(f.id for f in files),
                                         created_at=NOW - timedelta(minutes=5), expires_at=expires_at, owner_id=7))
        return bundle, make_bundle_token(SECRET, bundle.id, expires_at)


@pytest.fixture
async def site():
    files = MemoryFiles()
    bundles = MemoryBundles(files)
    source = MemoryBytes(chunk_size=1000)
    observer = Observer()
    app = build_app(files=files, source=source, link_secret=SECRET, public_url=PUBLIC, clock=lambda: NOW,
                    bundles=bundles, observer=observer)
    async with TestClient(TestServer(app)) as client:
        yield Site(client, files, bundles, source, observer)


def four_files(site):
    return [
        site.add_file("clip.mp4", "video/mp4", bytes(random.Random(1).randbytes(7000)), duration=12.5),
        site.add_file("song.mp3", "audio/mpeg", bytes(random.Random(2).randbytes(5000))),
        site.add_file("notes <b>.pdf", "application/pdf", b"%PDF" * 900),
        site.add_file("photo.jpg", "image/jpeg", bytes(random.Random(3).randbytes(3000))),
    ]


def local(url: str) -> str:
    assert url.startswith(PUBLIC)
    return url[len(PUBLIC):]


async def fetch(site, url, **headers):
    async with site.client.get(local(url) if url.startswith("http") else url, headers=headers) as response:
        return response.status, response.headers, await response.read()


async def test_the_page_lists_every_file_with_its_links_and_offers_play_all_zip_and_playlist(site):
    files = four_files(site)
    bundle, token = site.add_bundle(files)
    async with site.client.get(f"/b/{token}") as r:
        assert r.status == 200 and r.content_type == "text/html"
        html = await r.text()
        csp = r.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "default-src 'none'" in csp
    async with site.client.get(f"/watch/{make_link_token(SECRET, files[0].id, files[0].expires_at)}") as r:
        assert r.headers["Content-Security-Policy"] == csp, "the same CSP as the watch page"
    assert "Holiday &lt;2026&gt;" in html and "notes &lt;b&gt;.pdf" in html and "<b>.pdf" not in html
    tags = parse(html)
    assert [s["src"] for s in tags.find("script")] == ["/static/bundle.js"]
    assert "/static/bundle.css" in [link["href"] for link in tags.find("link")]
    items = [li for li in tags.find("li") if "bundle-file" in (li.get("class") or "")]
    assert len(items) == 4
    assert [li.get("data-title") for li in items] == ["clip.mp4", "song.mp3", None, None], "audio and video play"
    hrefs = [a["href"] for a in tags.find("a")]
    for file in files:
        file_token = make_link_token(SECRET, file.id, file.expires_at)
        assert f"{PUBLIC}/watch/{file_token}" in hrefs
        assert any(h.startswith(f"{PUBLIC}/stream/{file_token}/") for h in hrefs)
        assert any(h.startswith(f"{PUBLIC}/dl/{file_token}/") for h in hrefs)
    for mime in ("video/mp4", "audio/mpeg", "application/pdf", "image/jpeg"):
        assert mime in html
    assert "6.8 KiB" in html and "4 files" in html
    assert any(h.endswith("/zip/Holiday%20%3C2026%3E.zip") for h in hrefs)
    assert any(h.endswith("/m3u/Holiday%20%3C2026%3E.m3u8") for h in hrefs)
    assert [b.get("id") for b in tags.find("button")][:1] == ["play-all"]

    # Every link on the page serves exactly the file's bytes.
    for href in hrefs:
        if "/stream/" in href or "/dl/" in href:
            status, _headers, body = await fetch(site, href)
            file = next(f for f in files if make_link_token(SECRET, f.id, f.expires_at) in href)
            assert status == 200 and body == site.source.contents[file.id]


async def test_a_bundle_with_nothing_to_play_has_no_play_all_and_no_playlist_button(site):
    _bundle, token = site.add_bundle([site.add_file("a.txt", "text/plain", b"a"), site.add_file("b.zip", None, b"b")])
    async with site.client.get(f"/b/{token}") as r:
        html = await r.text()
    assert "play-all" not in html and "/m3u/" not in html and "/zip/" in html


async def test_the_playlist_lists_exactly_the_audio_and_video_and_each_entry_streams_them(site):
    files = four_files(site)
    _bundle, token = site.add_bundle(files)
    status, headers, body = await fetch(site, f"/b/{token}/m3u/Holiday.m3u8")
    assert status == 200
    assert headers["Content-Type"] == "audio/x-mpegurl; charset=utf-8"
    assert "filename*=UTF-8''Holiday%20%3C2026%3E.m3u8" in headers["Content-Disposition"]
    lines = body.decode("utf-8").splitlines()
    assert lines[0] == "#EXTM3U"
    assert lines[1] == "#EXTINF:13,clip.mp4" and lines[3] == "#EXTINF:-1,song.mp3" and len(lines) == 5
    for url, file in zip(lines[2::2], files[:2]):
        status, headers, streamed = await fetch(site, url)
        assert status == 200 and streamed == site.source.contents[file.id]
        assert headers["Content-Disposition"].startswith("inline")
    async with site.client.head(f"/b/{token}/m3u") as r:
        assert r.status == 200 and r.headers["Content-Type"].startswith("audio/x-mpegurl") and await r.read() == b""


async def test_the_zip_has_an_exact_length_and_zipfile_and_unzip_verify_every_crc(site, tmp_path):
    files = four_files(site) + [site.add_file("empty.txt", "text/plain", b""),
                                site.add_file("clip.mp4", "video/mp4", b"second clip, same name")]
    _bundle, token = site.add_bundle(files)
    status, headers, body = await fetch(site, f"/b/{token}/zip/Holiday.zip")
    assert status == 200 and int(headers["Content-Length"]) == len(body)
    assert headers["Content-Type"] == "application/zip" and headers["Accept-Ranges"] == "bytes"
    assert headers["Content-Disposition"].startswith("attachment;") and ".zip" in headers["Content-Disposition"]
    assert headers["Content-Security-Policy"] == "sandbox"
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        assert archive.testzip() is None
        names = archive.namelist()
        assert names == ["clip.mp4", "song.mp3", "notes <b>.pdf", "photo.jpg", "empty.txt", "clip (2).mp4"]
        for name, file in zip(names, files):
            assert archive.read(name) == site.source.contents[file.id]
    (tmp_path / "bundle.zip").write_bytes(body)
    unzip_test(tmp_path / "bundle.zip")
    expected = {f.file_unique_id: zlib.crc32(site.source.contents[f.id]) for f in files if f.file_size}
    assert site.bundles.crcs == expected, "a full download keeps every CRC-32 it computed"


async def test_range_requests_anywhere_match_the_full_download_and_crcs_are_computed_once(site):
    files = four_files(site)
    _bundle, token = site.add_bundle(files)
    archive = BundleArchive.of("x", files)
    url = f"/b/{token}/zip"
    central = next(s for s in archive.layout.segments if s.kind == "central")

    # First request: the end of the archive, before anything computed a CRC-32.
    status, headers, tail = await fetch(site, url, Range=f"bytes={central.offset}-")
    assert status == 206 and headers["Content-Range"] == f"bytes {central.offset}-{archive.size - 1}/{archive.size}"
    whole_reads = [o for o in site.source.opened if o[1] == 0]
    assert len(whole_reads) == 4 and len(site.bundles.crcs) == 4, "each file streamed once for its CRC-32"
    status, _headers, _tail = await fetch(site, url, Range="bytes=-30")
    assert status == 206 and len(site.source.opened) == 4, "kept: the second request computes nothing"

    status, headers, full = await fetch(site, url)
    assert status == 200 and len(full) == archive.size and full[central.offset:] == tail

    rng = random.Random(13)
    starts = [rng.randrange(archive.size) for _ in range(120)]
    for segment in archive.layout.segments:   # inside and at the edges of every header, file and descriptor
        starts += [segment.offset, segment.offset + segment.length // 2, segment.end - 1]
    starts += [archive.size - 22, archive.size - 1]
    assert len(starts) >= 150
    for start in starts[:200]:
        end = min(archive.size - 1, start + rng.choice([0, 1, 29, 512, 4000, 20000]))
        status, headers, part = await fetch(site, url, Range=f"bytes={start}-{end}")
        assert status == 206 and part == full[start:end + 1], (start, end)
        assert int(headers["Content-Length"]) == end - start + 1


async def test_zip_head_validators_and_stale_if_range(site):
    _bundle, token = site.add_bundle(four_files(site))
    url = f"/b/{token}/zip/Holiday.zip"
    async with site.client.head(url) as r:
        assert r.status == 200 and await r.read() == b""
        size, etag = int(r.headers["Content-Length"]), r.headers["ETag"]
    assert site.source.opened == [], "HEAD touches no bytes"
    status, headers, body = await fetch(site, url, Range="bytes=10-19", **{"If-Range": etag})
    assert status == 206 and len(body) == 10
    status, headers, body = await fetch(site, url, Range="bytes=10-19", **{"If-Range": '"stale"'})
    assert status == 200 and len(body) == size
    status, _headers, _body = await fetch(site, url, **{"If-None-Match": etag})
    assert status == 304
    status, headers, _body = await fetch(site, url, Range=f"bytes={size}-")
    assert status == 416 and headers["Content-Range"] == f"bytes */{size}"


async def test_an_expired_bundle_or_one_whose_files_expired_answers_410_and_forged_links_404(site):
    gone = site.add_file("a.mp4", "video/mp4", b"a", expires_at=NOW - timedelta(seconds=1))
    _b, files_gone = site.add_bundle([gone])
    _b, bundle_gone = site.add_bundle([site.add_file("b.mp4", "video/mp4", b"b")], expires_at=NOW)
    for token in (files_gone, bundle_gone):
        for path in ("", "/zip", "/m3u/x.m3u8"):
            status, _h, body = await fetch(site, f"/b/{token}{path}")
            assert status == 410 and b"no longer available" in body

    # A link past its own expiry has ended, even while the bundle it names lives on.
    lives_on, _token = site.add_bundle([site.add_file("d.mp4", "video/mp4", b"d")])
    ended = make_bundle_token(SECRET, lives_on.id, NOW - timedelta(seconds=1))
    for path in ("", "/zip", "/m3u/x.m3u8"):
        assert (await fetch(site, f"/b/{ended}{path}"))[0] == 410

    live = site.add_file("c.mp4", "video/mp4", b"c")
    file_token = make_link_token(SECRET, live.id, live.expires_at)
    bundle, bundle_token = site.add_bundle([live])
    assert (await fetch(site, f"/b/{file_token}"))[0] == 404, "a file token does not open a bundle"
    assert (await fetch(site, f"/watch/{bundle_token}"))[0] == 404, "a bundle token does not open a file"
    assert (await fetch(site, f"/b/{make_bundle_token(SECRET, new_file_id(), LATER)}"))[0] == 404
    assert (await fetch(site, "/b/" + "x" * 48 + "/zip"))[0] == 404


async def test_a_deleted_file_leaves_the_page_and_the_zip(site):
    files = four_files(site)
    _bundle, token = site.add_bundle(files)
    del site.files.records[files[1].id]
    async with site.client.get(f"/b/{token}") as r:
        html = await r.text()
    assert "song.mp3" not in html and "clip.mp4" in html
    status, _h, body = await fetch(site, f"/b/{token}/zip")
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        assert archive.namelist() == ["clip.mp4", "notes <b>.pdf", "photo.jpg"]


async def test_without_a_bundle_store_bundle_links_are_not_found():
    files = MemoryFiles()
    app = build_app(files=files, source=MemoryBytes(), link_secret=SECRET, public_url=PUBLIC, clock=lambda: NOW)
    async with TestClient(TestServer(app)) as client:
        async with client.get(f"/b/{make_bundle_token(SECRET, new_file_id(), None)}") as r:
            assert r.status == 404


async def test_the_bundle_pages_script_and_styles_are_ours(site):
    for path, kind in (("/static/bundle.js", "javascript"), ("/static/bundle.css", "text/css")):
        async with site.client.get(path) as r:
            assert r.status == 200 and kind in r.content_type
            assert "http://" not in await r.text() and "https://" not in await r.text()


async def test_two_requests_needing_the_same_crcs_at_once_compute_each_only_once(site):
    import asyncio

    files = four_files(site)
    _bundle, token = site.add_bundle(files)
    site.source.delay = 0.001   # each chunk yields to the loop, so the two requests interleave
    results = await asyncio.gather(*(fetch(site, f"/b/{token}/zip", Range="bytes=-100") for _ in range(2)))
    assert [status for status, _h, _b in results] == [206, 206] and results[0][2] == results[1][2]
    assert len([o for o in site.source.opened if o[1] == 0]) == 4, "one computation per file, shared"


class SlowCrcStore(MemoryBundles):
    """A bundle store whose CRC-32 writes wait until the test lets them go, noting how many
    responses were running the moment each began."""

    def __init__(self, files: MemoryFiles) -> None:
        super().__init__(files)
        self.gate = asyncio.Event()
        self.writing = asyncio.Event()
        self.running_then: list[int] = []
        self.running = lambda: -1

    async def set_crc32(self, file_id: str, crc: int) -> None:
        self.running_then.append(self.running())
        self.writing.set()
        await self.gate.wait()
        await super().set_crc32(file_id, crc)


async def test_a_zip_is_one_running_stream_from_its_first_byte_to_its_last_even_between_its_files():
    # ActiveStreams is what the service's shutdown waits on; here it counts over the in-memory bytes.
    files, source = MemoryFiles(), MemoryBytes(chunk_size=1000)
    store = SlowCrcStore(files)
    streams = ActiveStreams(source)
    store.running = lambda: streams.count
    app = build_app(files=files, source=streams, link_secret=SECRET, public_url=PUBLIC, clock=lambda: NOW,
                    bundles=store)
    async with TestClient(TestServer(app)) as client:
        site = Site(client, files, store, source)
        listed = four_files(site)
        _bundle, token = site.add_bundle(listed)
        whole = asyncio.ensure_future(fetch(site, f"/b/{token}/zip"))
        # The first file's data has passed and its CRC-32 is being kept: the ZIP is between two files.
        await asyncio.wait_for(store.writing.wait(), 5)
        assert streams.count == 1 and source.opened[0][0] == listed[0].id
        store.gate.set()
        status, _headers, body = await whole
        assert await streams.wait_idle(5) and streams.count == 0
    assert status == 200 and store.running_then == [1, 1, 1, 1]
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        assert [archive.read(i) for i in archive.infolist()] == [source.contents[f.id] for f in listed]


async def test_the_zip_is_exact_when_the_sources_chunks_run_across_its_files():
    files = MemoryFiles()
    source = MemoryBytes(chunk_size=777, parts_joined=True)
    bundles = MemoryBundles(files)
    app = build_app(files=files, source=source, link_secret=SECRET, public_url=PUBLIC, clock=lambda: NOW,
                    bundles=bundles)
    async with TestClient(TestServer(app)) as client:
        site = Site(client, files, bundles, source)
        listed = four_files(site) + [site.add_file("tiny.txt", "text/plain", b"x")]
        _bundle, token = site.add_bundle(listed)
        archive = BundleArchive.of("x", listed)
        status, _headers, full = await fetch(site, f"/b/{token}/zip")
        assert status == 200 and len(full) == archive.size
        with zipfile.ZipFile(io.BytesIO(full)) as unpacked:
            assert unpacked.testzip() is None
            assert [unpacked.read(i) for i in unpacked.infolist()] == [source.contents[f.id] for f in listed]
        for segment in archive.layout.segments:
            for start in (segment.offset, segment.offset + segment.length // 2):
                end = min(archive.size - 1, start + 3000)
                status, _headers, part = await fetch(site, f"/b/{token}/zip", Range=f"bytes={start}-{end}")
                assert status == 206 and part == full[start:end + 1], (start, end)


async def test_a_full_zip_tells_the_observer_each_file_from_its_first_byte_to_its_last(site):
    """What download counts and "bytes served" hear of a ZIP: every file's data as one body of that
    file, from byte 0 (so a download of each) to its end; headers and directory are not file bytes."""
    files = four_files(site) + [site.add_file("empty.txt", "text/plain", b"")]
    _bundle, token = site.add_bundle(files)
    status, _headers, body = await fetch(site, f"/b/{token}/zip")
    assert status == 200
    expected = []
    for file in files[:4]:   # the empty file sends no bytes: no body to tell of
        expected += [("start", file.id, 0, file.file_size - 1), ("end", file.id, file.file_size, "complete")]
    assert site.observer.events == expected
    assert sum(sent for _e, _id, sent, _r in site.observer.events[1::2]) == len(body) - \
        sum(s.length for s in BundleArchive.of("x", files).layout.segments if s.kind != "data")


async def test_a_zip_range_tells_only_the_parts_it_sends_and_the_crc_pass_is_not_served(site):
    files = four_files(site)
    _bundle, token = site.add_bundle(files)
    layout = BundleArchive.of("x", files).layout
    song, notes = layout.data_segment(1), layout.data_segment(2)
    # From the middle of the song to 100 bytes into the notes: the descriptor after the song
    # needs its CRC-32, which the keeper computes by reading the whole song (sent to nobody).
    first, last = song.offset + 1234, notes.offset + 99
    status, _headers, part = await fetch(site, f"/b/{token}/zip", Range=f"bytes={first}-{last}")
    assert status == 206 and len(part) == last - first + 1
    assert (files[1].id, 0, files[1].file_size - 1) in site.source.opened, "the CRC-32 pass read the song"
    song_size = files[1].file_size
    assert site.observer.events == [
        ("start", files[1].id, 1234, song_size - 1), ("end", files[1].id, song_size - 1234, "complete"),
        ("start", files[2].id, 0, 99), ("end", files[2].id, 100, "complete"),
    ]


async def test_a_zip_part_cut_short_tells_the_observer_once_with_what_was_sent(site):
    files = four_files(site)
    _bundle, token = site.add_bundle(files)
    site.source.fail_after = 2000    # every file stream fails after 2000 bytes
    async with site.client.get(f"/b/{token}/zip") as response:
        assert response.status == 200
        with pytest.raises(aiohttp.ClientPayloadError):
            await response.read()
    assert site.observer.events == [("start", files[0].id, 0, files[0].file_size - 1),
                                    ("end", files[0].id, 2000, "source_error")]


async def test_a_zip_closed_in_the_middle_of_a_file_tells_the_observer_that_client_is_gone(site):
    """The ZIP stream closed while a file's part is under way (its client went away): that part
    ends once, with the bytes handed on before the close."""
    files = four_files(site)
    ctx = build_app(files=site.files, source=site.source, link_secret=SECRET, public_url=PUBLIC,
                    clock=lambda: NOW, bundles=site.bundles, observer=site.observer)[CONTEXT]
    archive = BundleArchive.of("x", files)
    chunks = archive.stream(0, archive.size - 1, ctx.source, ctx.crcs, ZipPartsObserver(ctx))
    taken = [await anext(chunks) for _ in range(3)]    # the local header, then two chunks of the clip
    await chunks.aclose()
    assert [len(c) for c in taken[1:]] == [1000, 1000]
    assert site.observer.events == [("start", files[0].id, 0, files[0].file_size - 1),
                                    ("end", files[0].id, 1000, "client_gone")]
    assert site.source.closed == site.source.opened, "the file's stream was closed too"


async def test_the_last_22_bytes_of_a_fresh_hundred_file_bundle_read_no_file_and_are_the_archives_end(site):
    files = [site.add_file(f"part{n:03d}.bin", "application/octet-stream", random.Random(n).randbytes(1500 + n))
             for n in range(100)]
    _bundle, token = site.add_bundle(files)
    status, headers, tail = await fetch(site, f"/b/{token}/zip", Range="bytes=-22")
    assert status == 206 and len(tail) == 22
    assert site.source.opened == [] and site.bundles.crcs == {}, "the end records need no file and no CRC-32"
    status, _headers, full = await fetch(site, f"/b/{token}/zip")
    assert status == 200 and headers["Content-Range"] == f"bytes {len(full) - 22}-{len(full) - 1}/{len(full)}"
    assert full[-22:] == tail
    with zipfile.ZipFile(io.BytesIO(full)) as archive:
        assert archive.testzip() is None and len(archive.infolist()) == 100
    signature, _disk, _cd_disk, here, total, cd_size, cd_offset, comment = struct.unpack("<IHHHHIIH", tail)
    assert (signature, here, total, comment) == (0x06054B50, 100, 100, 0)
    assert cd_offset + cd_size == len(full) - 22


async def test_a_range_whose_crcs_would_cost_much_more_than_it_sends_gets_the_whole_archive_once(site, monkeypatch):
    # The floor below which passes are always worth it is 64 MiB; these files are small.
    monkeypatch.setattr(zip_ranges, "EXTRA_BYTES_FLOOR", 0)
    files = four_files(site)
    _bundle, token = site.add_bundle(files)
    size = BundleArchive.of("x", files).size
    async with site.client.head(f"/b/{token}/zip", headers={"Range": "bytes=-100"}) as r:
        assert r.status == 200 and int(r.headers["Content-Length"]) == size, "HEAD: the headers GET gets"
    status, headers, body = await fetch(site, f"/b/{token}/zip", Range="bytes=-100")
    assert status == 200 and "Content-Range" not in headers and len(body) == size
    assert site.source.opened == [(f.id, 0, f.file_size - 1) for f in files], "each file read once, all sent"
    status, _headers, tail = await fetch(site, f"/b/{token}/zip", Range="bytes=-100")
    assert status == 206 and tail == body[-100:] and len(site.source.opened) == 4, "the full answer kept every CRC-32"


async def test_a_download_managers_segment_starting_inside_a_file_reads_that_file_once(site):
    files = four_files(site)
    _bundle, token = site.add_bundle(files)
    layout = BundleArchive.of("x", files).layout
    clip, song = layout.data_segment(0), layout.data_segment(1)
    first, last = clip.offset + 3000, song.offset + 999   # past the clip's descriptor, into the song
    status, _headers, part = await fetch(site, f"/b/{token}/zip", Range=f"bytes={first}-{last}")
    assert status == 206
    assert site.source.opened == [(files[0].id, 0, files[0].file_size - 1), (files[1].id, 0, 999)], \
        "the clip from its first byte (its CRC-32 on the way), once; no pass of its own"
    assert site.bundles.crcs == {files[0].file_unique_id: zlib.crc32(site.source.contents[files[0].id])}
    assert site.observer.events[:2] == [("start", files[0].id, 3000, files[0].file_size - 1),
                                        ("end", files[0].id, files[0].file_size - 3000, "complete")]
    _status, _headers, full = await fetch(site, f"/b/{token}/zip")
    assert part == full[first:last + 1]


async def test_a_zip_is_validated_by_its_etag_only_never_by_a_date(site):
    files = four_files(site)
    _bundle, token = site.add_bundle(files)
    url = f"/b/{token}/zip"
    async with site.client.head(url) as r:
        size, etag = int(r.headers["Content-Length"]), r.headers["ETag"]
        assert "Last-Modified" not in r.headers, "a deleted file changes the bytes, not the date"
    date = http_date(max(f.created_at for f in files))
    status, headers, body = await fetch(site, url, Range="bytes=10-19", **{"If-Range": date})
    assert status == 200 and len(body) == size and "Content-Range" not in headers
    status, _headers, body = await fetch(site, url, Range="bytes=10-19", **{"If-Range": etag})
    assert status == 206 and len(body) == 10
    status, _headers, body = await fetch(site, url, **{"If-Modified-Since": http_date(NOW)})
    assert status == 200 and len(body) == size, "If-Modified-Since cannot say the ZIP is unchanged"


class GatedSource(MemoryBytes):
    """Bytes that wait at a gate before each stream's first chunk, counting the streams open at once."""

    def __init__(self) -> None:
        super().__init__(chunk_size=1000)
        self.gate = asyncio.Event()
        self.open_now = self.most_at_once = 0
        self.waiting = asyncio.Condition()

    async def _stream(self, file, start, end):
        self.open_now += 1
        self.most_at_once = max(self.most_at_once, self.open_now)
        async with self.waiting:
            self.waiting.notify_all()
        try:
            await self.gate.wait()
            async for chunk in super()._stream(file, start, end):
                yield chunk
        finally:
            self.open_now -= 1


async def test_crc_passes_run_two_at_a_time_to_their_end_when_their_client_leaves_and_serve_every_copy_of_the_file():
    files, source = MemoryFiles(), GatedSource()
    kept = MemoryBundles(files)
    keeper = Crc32Keeper(source, kept.get_crc32s, kept.set_crc32, concurrent_passes=2)
    site = Site(None, files, kept, source)
    listed = four_files(site)
    asking = [asyncio.ensure_future(keeper.crc_of(f)) for f in listed]   # a request that needs them all
    async with source.waiting:
        await source.waiting.wait_for(lambda: source.open_now == 2)
    for task in asking:          # its client leaves
        task.cancel()
    await asyncio.gather(*asking, return_exceptions=True)
    source.gate.set()
    await keeper.settled()
    assert source.most_at_once == 2 and keeper.passes_run == 4
    assert kept.crcs == {f.file_unique_id: zlib.crc32(source.contents[f.id]) for f in listed}, "all kept"
    # The same Telegram file sent again is another record with the same file_unique_id.
    again = dataclasses.replace(listed[1], id=new_file_id(), crc32=None)
    assert await keeper.crc_of(again) == zlib.crc32(source.contents[listed[1].id])
    assert keeper.passes_run == 4 and len(source.opened) == 4, "found, not computed again"


async def test_segments_starting_inside_files_of_a_fresh_bundle_are_exact_when_chunks_run_across_files():
    rng = random.Random(21)
    for start_at in (0.1, 0.5, 0.9):
        files = MemoryFiles()
        source = MemoryBytes(chunk_size=777, parts_joined=True)
        bundles = MemoryBundles(files)
        app = build_app(files=files, source=source, link_secret=SECRET, public_url=PUBLIC, clock=lambda: NOW,
                        bundles=bundles)
        async with TestClient(TestServer(app)) as client:
            site = Site(client, files, bundles, source)
            listed = four_files(site)
            _bundle, token = site.add_bundle(listed)
            layout = BundleArchive.of("x", listed).layout
            segment = layout.data_segment(rng.randrange(3))
            first = segment.offset + int(segment.length * start_at)
            last = min(layout.size - 1, segment.end + rng.randrange(50, 9000))
            status, _headers, part = await fetch(site, f"/b/{token}/zip", Range=f"bytes={first}-{last}")
            assert status == 206
            started_in = listed[segment.entry]
            assert bundles.crcs[started_in.file_unique_id] == zlib.crc32(source.contents[started_in.id]), \
                "the file the segment starts inside was read from its first byte, its CRC-32 on the way"
            _status, _headers, full = await fetch(site, f"/b/{token}/zip")
            assert part == full[first:last + 1], (first, last)
