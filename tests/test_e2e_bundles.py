"""Bundles end to end: the real service, the local Telegram and the test database.

A person sends an album, or /bundle, files and /done; the bot answers with one link for all of
them. The page, every link on it, the playlist and the streamed ZIP are fetched over HTTP and
compared byte for byte with what the person sent.
"""

from __future__ import annotations

import asyncio
import io
import random
import zipfile
import zlib
from datetime import datetime, timezone
from html.parser import HTMLParser

from FileStream.core.zip_layout import ZipEntry, ZipLayout

from service_harness import Clock, http_client, links_in, make_world, running_service, send_and_get_links
from tgserver import SeededContent
from tgserver.content import CallableContent
from zip_helpers import crc32_of_zeros, sparse_file_dir, unzip_list, unzip_test

MIB = 1 << 20
COPY = "messages.SendMedia"   # a file's copy into BIN_CHANNEL
GET_FILE = "upload.GetFile"


class Page(HTMLParser):
    """The bundle page as a person's browser sees it: the files listed, and every link to a file
    (the site's own links, like the header's link home, are not the bundle's)."""

    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []
        self.files: list[str] = []
        self.scripts: list[str] = []
        self._in_name = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "a" and attrs["href"].startswith("http"):
            self.hrefs.append(attrs["href"])
        if tag == "script":
            self.scripts.append(attrs.get("src"))
        self._in_name = tag == "span" and "bundle-file-name" in (attrs.get("class") or "")

    def handle_data(self, data):
        if self._in_name:
            self.files.append(data)
            self._in_name = False


async def get(http, url, **headers):
    async with http.get(url, headers=headers) as response:
        return response.status, response.headers, await response.read()


def button_urls(message) -> dict[str, str]:
    return {b.text: b.url for b in message.flat_buttons if b.url}


async def until_buttons(world, message_id: int, text: str, timeout: float = 30):
    """The bot's message once it carries a button called `text` (its status edits come paced)."""
    def current():
        found = [m for m in world.person.messages_from(world.main_bot) if m.message_id == message_id]
        return found[0] if found and text in button_urls(found[0]) else None
    return await world.telegram.world.wait_until(current, timeout=timeout)


async def until_text(world, message_id: int, part: str, timeout: float = 30):
    def current():
        found = [m for m in world.person.messages_from(world.main_bot) if m.message_id == message_id]
        return found[0] if found and part in found[0].text else None
    return await world.telegram.world.wait_until(current, timeout=timeout)


def album_of_four() -> list[dict]:
    rng = random.Random(4)
    return [
        dict(data=rng.randbytes(300_000), file_name="clip.mp4", kind="video", mime_type="video/mp4",
             caption="Holiday", duration=42),
        dict(data=rng.randbytes(200_000), file_name="song.mp3", kind="audio", mime_type="audio/mpeg", duration=7),
        dict(data=rng.randbytes(150_000), file_name="notes.pdf", kind="document", mime_type="application/pdf"),
        dict(data=rng.randbytes(50_000), kind="photo"),
    ]


async def test_an_album_of_four_files_becomes_one_bundle_whose_page_lists_them_and_every_link_serves_exact_bytes(
        telegram, stack_settings):
    world = make_world(telegram)
    person, bot = world.person, world.main_bot
    items = album_of_four()
    async with running_service(stack_settings(world)) as service:
        # Telegram itself would refuse to mix audio, documents and photos in one album; the
        # issue asks for exactly this mix, so the rule is relaxed here, explicitly.
        sent = await person.send_album(bot, items, allow_mixed=True)
        status = await person.next_message(bot, timeout=20)
        assert "Holiday" in status.text and "of 4 stored" in status.text
        done = await until_buttons(world, status.message_id, "Open the bundle")
        assert len(person.messages_from(bot)) == 1, "one status message that became the links"
        assert "4 files" in done.text and "These links expire in 1 h" in done.text
        urls = button_urls(done)
        assert set(urls) == {"Open the bundle", "Download all (ZIP)", "Playlist (M3U)"}
        assert await service.ctx.requests.status(person.id) is None, "the bundle's request completed"
        assert await service.db.db["requests"].count_documents({"user_id": person.id}) == 1, "one request"

        contents = {m.media.id: m.media.read() for m in sent}
        by_name = {name: m.media.read() for name, m in zip(
            ["clip.mp4", "song.mp3", "notes.pdf", f"photo_{sent[3].id}.jpg"], sent)}
        async with http_client() as http:
            status_code, headers, body = await get(http, urls["Open the bundle"])
            assert status_code == 200 and "script-src 'self'" in headers["Content-Security-Policy"]
            page = Page()
            page.feed(body.decode())
            assert page.files[:3] == ["clip.mp4", "song.mp3", "notes.pdf"] and len(page.files) == 4
            assert page.files[3].startswith("photo_") and page.scripts == ["/static/bundle.js"]
            served = 0
            for href in page.hrefs:
                code, headers, data = await get(http, href)
                assert code == 200, href
                if "/zip/" in href:
                    with zipfile.ZipFile(io.BytesIO(data)) as archive:
                        assert [archive.read(i) for i in archive.infolist()] == [i["data"] for i in items]
                elif "/stream/" in href or "/dl/" in href:
                    name = href.rsplit("/", 1)[1]
                    expected = by_name.get(name) or by_name[next(n for n in by_name if n.startswith("photo_"))]
                    assert data == expected, href
                    served += 1
            assert served == 8, "stream and download links of all four files"
            assert {len(c) for c in contents.values()} == {300_000, 200_000, 150_000, 50_000}

            # The playlist holds exactly the audio and the video, and each entry streams them.
            code, headers, playlist = await get(http, urls["Playlist (M3U)"])
            assert code == 200 and headers["Content-Type"] == "audio/x-mpegurl; charset=utf-8"
            assert ".m3u8" in headers["Content-Disposition"]
            lines = playlist.decode().splitlines()
            assert lines[0] == "#EXTM3U" and lines[1] == "#EXTINF:42,clip.mp4" and lines[3] == "#EXTINF:7,song.mp3"
            assert len(lines) == 5
            for url, expected in ((lines[2], items[0]["data"]), (lines[4], items[1]["data"])):
                code, _h, data = await get(http, url)
                assert code == 200 and data == expected

            # /files shows the bundle as one entry, not its four files; its card counts what
            # was fetched above, each from byte 0: 8 links, 2 playlist entries and the ZIP
            # (which sends each of the four files whole: a download of each).
            await service.usage.wait_idle()
            await service.usage_job.next_pass()
            await person.send_command(bot, "files")
            listing = await person.next_message(bot)
            assert [b.text for b in listing.flat_buttons] == ["🗂 Holiday"]
            await person.press_button(bot, listing.message_id, listing.flat_buttons[0].callback_data)
            card = await person.next_edit(bot)
            while card.message_id != listing.message_id:   # the album's status message was edited before
                card = await person.next_edit(bot)
            assert "Downloads and plays: 14 (" in card.text


async def test_bundle_then_twelve_files_then_done_gives_one_link_for_all_of_them(telegram, stack_settings):
    world = make_world(telegram)
    person, bot = world.person, world.main_bot
    rng = random.Random(12)
    datas = [rng.randbytes(rng.randrange(1, 90_000)) for _ in range(12)]
    async with running_service(stack_settings(world)) as service:
        await person.send_command(bot, "bundle", "Course", "week", "1")
        status = await person.next_message(bot)
        assert "Course week 1" in status.text and "0 of 0 stored" in status.text and "/done" in status.text
        for number, data in enumerate(datas, start=1):
            await person.send_file(bot, data, file_name=f"lesson{number:02d}.bin")
        await until_text(world, status.message_id, "12 of 12 stored")

        await person.send_command(bot, "status")
        said = await person.next_message(bot)
        assert "bundle Course week 1" in said.text and "12 of 12 stored" in said.text

        await person.send_command(bot, "done")
        reply = await person.next_message(bot, timeout=20)
        urls = button_urls(reply)
        assert "12 files" in reply.text and "Open the bundle" in urls and "Playlist (M3U)" not in urls
        closed = await until_text(world, status.message_id, "Closed")
        assert "12 of 12 stored" in closed.text
        assert len(person.messages_from(bot)) == 3, "status, /status answer, links: no message per file"
        assert await service.ctx.requests.status(person.id) is None
        [bundle] = [b async for b in service.db.db["bundles"].find({})]
        expiries = {d["expires_at"] async for d in service.db.db["files"].find({})}
        assert expiries == {bundle["expires_at"]}, "the files expire with their bundle, all at once"

        async with http_client() as http:
            code, _h, body = await get(http, urls["Open the bundle"])
            page = Page()
            page.feed(body.decode())
            assert page.files == [f"lesson{n:02d}.bin" for n in range(1, 13)], "in the order they were sent"
            code, headers, zipped = await get(http, urls["Download all (ZIP)"])
            assert code == 200 and int(headers["Content-Length"]) == len(zipped)
        with zipfile.ZipFile(io.BytesIO(zipped)) as archive:
            assert archive.testzip() is None
            assert [archive.read(f"lesson{n:02d}.bin") for n in range(1, 13)] == datas


async def test_revoke_in_the_middle_of_a_bundle_or_an_album_keeps_nothing(telegram, stack_settings):
    world = make_world(telegram)
    person, bot = world.person, world.main_bot
    async with running_service(stack_settings(world)) as service:
        await person.send_command(bot, "bundle")
        status = await person.next_message(bot)
        for n in range(3):
            await person.send_file(bot, b"part %d" % n, file_name=f"part{n}.txt")
        await until_text(world, status.message_id, "3 of 3 stored")
        await person.send_command(bot, "revoke")
        assert "Cancelled your request for Bundle" in (await person.next_message(bot)).text
        await until_text(world, status.message_id, "Cancelled at your request")

        # An album whose storing is under way: the copy of its first file hangs on a flood wait
        # (short: afterwards the storage channel's next copy waits it out too).
        stall = telegram.faults.flood_wait(world.main_bot, COPY, seconds=8, times=1)
        album = [dict(data=b"doc %d" % n, file_name=f"doc{n}.pdf") for n in range(3)]
        await person.send_album(bot, album)
        album_status = await person.next_message(bot)
        await telegram.world.wait_until(lambda: stall.hits == 1)
        await person.send_command(bot, "revoke")
        assert "Cancelled your request for Album of 3 files" in (await person.next_message(bot)).text
        await until_text(world, album_status.message_id, "Cancelled at your request")

        assert await service.db.db["files"].count_documents({}) == 0, "no file of either was kept"
        assert await service.db.db["bundles"].count_documents({"state": {"$in": ["open", "closing", "closed"]}}) == 0
        kept = [m for m in list(world.bin_channel.messages.values()) if not m.deleted]
        assert kept == [], "their stored copies were deleted too"
        sent = await send_and_get_links(world, b"after", "after.txt")
        assert sent.links is not None, "the person is free for the next request"


async def test_a_bundle_warns_once_and_answers_410_after_its_files_expire(telegram, stack_settings):
    world = make_world(telegram)
    person, bot = world.person, world.main_bot
    clock = Clock()
    async with running_service(stack_settings(world, FILE_TTL=3600, EXPIRY_WARNING=600), clock) as service:
        await person.send_album(bot, [dict(data=b"a" * 1000, kind="video", file_name="a.mp4"),
                                      dict(data=b"b" * 1000, kind="photo")])
        status = await person.next_message(bot)
        done = await until_buttons(world, status.message_id, "Open the bundle")
        urls = button_urls(done)
        async with http_client() as http:
            assert (await get(http, urls["Open the bundle"]))[0] == 200

            jobs = {j.name: j for j in service.jobs}
            clock.advance(minutes=51)
            jobs["expiry notices"].wake()
            report = await jobs["expiry notices"].next_pass()
            assert report.warned == 1, "one warning for the bundle, not one per file"
            warning = await person.next_message(bot)
            assert "Album of 2 files" in warning.text and "expire in 9 min" in warning.text

            clock.advance(minutes=10)
            jobs["expiry notices"].wake()
            report = await jobs["expiry notices"].next_pass()
            assert report.deleted == 2 and report.edited == 1
            expired = await until_text(world, status.message_id, "have expired")
            assert links_in(expired) is None and button_urls(expired) == {}
            for url in urls.values():
                code, _h, body = await get(http, url)
                assert code == 410 and b"no longer available" in body


async def test_the_zip_has_an_exact_length_every_crc_verifies_and_200_ranges_match_the_full_download(
        telegram, stack_settings, tmp_path):
    world = make_world(telegram)
    person, bot = world.person, world.main_bot
    sizes = [MIB + 4321, 700_000, 0, 2 * MIB - 1, 12_345]
    async with running_service(stack_settings(world)) as service:
        await person.send_album(bot, [dict(data=SeededContent(size, seed=n), file_name=f"part {n} — ü.bin")
                                      for n, size in enumerate(sizes)])
        status = await person.next_message(bot)
        zip_url = button_urls(await until_buttons(world, status.message_id, "Download all (ZIP)"))["Download all (ZIP)"]
        expected = [SeededContent(size, seed=n).bytes() for n, size in enumerate(sizes)]
        async with http_client() as http:
            async with http.head(zip_url) as head:
                size = int(head.headers["Content-Length"])
            # The end of the archive first, before anything computed a CRC-32: the service
            # streams each file once to compute it, and keeps it.
            code, _h, tail = await get(http, zip_url, Range="bytes=-200")
            assert code == 206 and len(tail) == 200
            crcs = {d["file_name"]: d.get("crc32") async for d in service.db.db["files"].find({})}
            assert sorted(crcs.values(), key=str) == sorted(
                [zlib.crc32(e) for e in expected if e] + [None], key=str), "kept, for every non-empty file"

            code, headers, full = await get(http, zip_url)
            assert code == 200 and int(headers["Content-Length"]) == len(full) == size and full[-200:] == tail
            path = tmp_path / "bundle.zip"
            path.write_bytes(full)
            unzip_test(path)
            with zipfile.ZipFile(path) as archive:
                assert archive.testzip() is None
                assert [archive.read(i) for i in archive.infolist()] == expected
                infos = archive.infolist()

            # Offsets inside every local header, file, data descriptor and the central directory.
            rng = random.Random(200)
            starts = []
            for info in infos:
                data_start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
                starts += [info.header_offset, info.header_offset + 17, data_start - 1, data_start,
                           data_start + info.file_size - 1, data_start + info.file_size + 3]
            central = size - 22 - sum(46 + len(i.filename.encode()) + len(i.extra) for i in infos)
            starts += [central, central + 50, size - 22, size - 5, size - 1]
            starts += [rng.randrange(size) for _ in range(200 - len(starts))]
            assert len(starts) == 200
            for start in starts:
                start = min(start, size - 1)
                end = min(size - 1, start + rng.choice([0, 3, 100, 4095, 70_000, 1_100_000]))
                code, headers, part = await get(http, zip_url, Range=f"bytes={start}-{end}")
                assert code == 206 and part == full[start:end + 1], (start, end)


async def test_a_zip_over_4_gib_is_zip64_and_verifies_in_unzip_and_zipfile_from_ranges_alone(
        telegram, stack_settings, tmp_path):
    """A 4 GiB + 1 MiB file of zeros and a small one after it: the archive needs ZIP64 for the big
    file's size, for the offset of the file after it and for the central directory.

    Nothing downloads 4 GiB: the test fetches the headers, the small file, the central
    directory and samples of the big file through Range requests and writes them into a
    sparse file at their offsets. The holes left are exactly the big file's zeros, so the
    sparse file is byte for byte the archive. zipfile checks every CRC-32, the 4 GiB one
    included; unzip reads the ZIP64 structures (`-l`) and tests the member past 4 GiB
    (`-t after.txt`): unzip's own CRC-32 runs at about 200 MB/s, 20 s of CPU for 4 GiB, which
    the suite leaves to zipfile (5 s).
    The big file's CRC-32 is put in the database as a full download would have kept it
    (computing it here would stream 4 GiB through the local Telegram); the test above
    proves the service computes and keeps CRCs itself.
    """
    world = make_world(telegram)
    person, bot = world.person, world.main_bot
    big = (4 << 30) + MIB
    small = SeededContent(5000, seed=9).bytes()
    zeros = CallableContent(big, lambda offset, length: bytes(length))
    async with running_service(stack_settings(world)) as service:
        await person.send_album(bot, [dict(data=zeros, file_name="big.img"), dict(data=small, file_name="after.txt")])
        status = await person.next_message(bot)
        zip_url = button_urls(await until_buttons(world, status.message_id, "Download all (ZIP)"))["Download all (ZIP)"]
        await service.db.db["files"].update_one({"file_name": "big.img"}, {"$set": {"crc32": crc32_of_zeros(big)}})

        async with http_client() as http:
            async with http.head(zip_url) as head:
                size = int(head.headers["Content-Length"])
            assert size > 1 << 32
            windows = [(0, 256 * 1024 - 1), (big // 2, big // 2 + 65_535), (big - 128 * 1024, size - 1)]
            parts = []
            for first, last in windows:
                code, _h, part = await get(http, zip_url, Range=f"bytes={first}-{last}")
                assert code == 206 and len(part) == last - first + 1
                parts.append((first, part))
    with sparse_file_dir(tmp_path) as where:
        path = where / "big.zip"
        with open(path, "wb") as sparse:
            sparse.truncate(size)
            for first, part in parts:
                sparse.seek(first)
                sparse.write(part)
        assert unzip_list(path) == {"big.img": big, "after.txt": len(small)}
        assert "testing: after.txt" in unzip_test(path, "after.txt")
        with zipfile.ZipFile(path) as archive:
            big_info, small_info = archive.infolist()
            assert big_info.file_size == big and big_info.CRC == crc32_of_zeros(big)
            assert small_info.header_offset > 1 << 32, "the small file starts past 4 GiB"
            assert archive.read("after.txt") == small
            assert archive.testzip() is None, "every CRC-32, the 4 GiB file's too"


async def test_an_album_posted_in_the_auth_channel_gets_a_whole_album_button_beside_each_posts_buttons(
        telegram, stack_settings):
    world = make_world(telegram)
    editor = telegram.person(telegram.world.add_user(first_name="Eddie"))
    movies = telegram.world.add_channel(title="Movies", admins=[world.main_bot, editor.user])
    async with running_service(stack_settings(world, AUTH_CHANNEL=movies.id)):
        posts = await editor.post_album(movies, [
            dict(data=b"first film", kind="video", file_name="one.mp4", caption="Double feature"),
            dict(data=b"second film", kind="video", file_name="two.mp4"),
        ])
        rows = [await telegram.world.wait_until(lambda p=p: p.buttons) for p in posts]
        for row in rows:
            assert [[b.text for b in r] for r in row] == [["Stream", "Download"], ["Bot link", "File"], ["Whole album"]]
        album_urls = {r[2][0].url for r in rows}
        assert len(album_urls) == 1
        async with http_client() as http:
            code, _h, body = await get(http, album_urls.pop())
            page = Page()
            page.feed(body.decode())
            assert code == 200 and page.files == ["one.mp4", "two.mp4"] and "Double feature" in body.decode()
            for row, expected in zip(rows, (b"first film", b"second film")):
                assert (await get(http, row[0][1].url))[2] == expected


async def test_a_bundle_left_open_times_out_and_keeps_nothing(telegram, stack_settings):
    world = make_world(telegram)
    person, bot = world.person, world.main_bot
    clock = Clock()
    async with running_service(stack_settings(world, REQUEST_TIMEOUT=60), clock) as service:
        await person.send_command(bot, "bundle", "Forgotten")
        status = await person.next_message(bot)
        await person.send_file(bot, b"one", file_name="one.txt")
        await until_text(world, status.message_id, "1 of 1 stored")
        clock.advance(seconds=61)
        stale = next(j for j in service.jobs if j.name == "stale requests")
        stale.wake()
        assert (await stale.next_pass()).timed_out == 1
        told = await person.next_message(bot)
        assert "Forgotten" in told.text and "timed out" in told.text
        await until_text(world, status.message_id, "Timed out")
        assert await service.db.db["files"].count_documents({}) == 0
        assert [m for m in list(world.bin_channel.messages.values()) if not m.deleted] == []


async def test_files_lists_a_bundle_whose_card_gives_its_links_and_deletes_it_whole(telegram, stack_settings):
    world = make_world(telegram)
    person, bot = world.person, world.main_bot
    async with running_service(stack_settings(world)) as service:
        single = await send_and_get_links(world, b"alone", "alone.txt")
        await person.send_album(bot, [dict(data=b"x" * 100, file_name=f"{n}.pdf") for n in range(3)])
        status = await person.next_message(bot)
        page_url = button_urls(await until_buttons(world, status.message_id, "Open the bundle"))["Open the bundle"]

        await person.send_command(bot, "files")
        listing = await person.next_message(bot)
        assert [b.text for b in listing.flat_buttons] == ["🗂 Album of 3 files", "alone.txt"]
        assert "2 files with working links" in listing.text
        await person.press_button(bot, listing.message_id, listing.flat_buttons[0].callback_data)
        card = await until_text(world, listing.message_id, "Time left")
        assert "3 files, 300 B" in card.text and "Time left: 1 h" in card.text
        assert button_urls(card)["Open the bundle"] == page_url
        delete = next(b for b in card.flat_buttons if b.text == "Delete")
        assert await person.press_button(bot, listing.message_id, delete.callback_data) == "Deleted."
        await until_text(world, listing.message_id, "Deleted the bundle")
        async with http_client() as http:
            assert (await get(http, page_url))[0] == 404
            assert (await get(http, single.links.download))[2] == b"alone"
        assert await service.db.db["files"].count_documents({}) == 1


async def test_a_full_bundle_says_so_and_takes_no_more_files(telegram, stack_settings):
    world = make_world(telegram)
    person, bot = world.person, world.main_bot
    async with running_service(stack_settings(world, BUNDLE_MAX_FILES=3)) as service:
        await person.send_command(bot, "bundle")
        status = await person.next_message(bot)
        assert "up to 3" in status.text
        for n in range(3):
            await person.send_file(bot, b"file %d" % n, file_name=f"f{n}.txt")
        await until_text(world, status.message_id, "3 of 3 stored")
        extra = await person.send_file(bot, b"one too many", file_name="extra.txt")
        full = await person.next_message(bot)
        assert "Your bundle is full (3 files)" in full.text and "not added" in full.text
        await person.send_command(bot, "done")
        reply = await person.next_message(bot)
        assert "3 files" in reply.text
        assert await service.db.db["files"].count_documents({"file_name": "extra.txt"}) == 0
        assert extra.media is not None


async def test_a_zip_asks_for_the_next_files_first_block_while_the_last_block_of_the_one_before_is_on_its_way(
        telegram, stack_settings):
    world = make_world(telegram)
    person, bot = world.person, world.main_bot
    contents = [SeededContent(3 * MIB + 5, seed=70).bytes(), SeededContent(2 * MIB + 7, seed=71).bytes()]
    async with running_service(stack_settings(world)):
        sent = await person.send_album(bot, [dict(data=data, file_name=f"part{n}.bin")
                                             for n, data in enumerate(contents)])
        status = await person.next_message(bot)
        zip_url = button_urls(await until_buttons(world, status.message_id, "Download all (ZIP)"))["Download all (ZIP)"]
        first, second = (message.media for message in sent)
        # Telegram keeps both unanswered: the first file's last block (a 4 KiB tail at 3 MiB) and
        # the second file's first block. Both are asked for at once only if the ZIP's stream runs
        # on into the next file instead of starting it once the file before has ended.
        last_of_first = telegram.faults.hold(GET_FILE, when=lambda q: q.location.id == first.id and q.offset == 3 * MIB)
        start_of_second = telegram.faults.hold(GET_FILE, when=lambda q: q.location.id == second.id and q.offset == 0)
        async with http_client() as http:
            whole = asyncio.ensure_future(get(http, zip_url))
            await last_of_first.reached()
            await start_of_second.reached()
            assert not last_of_first.released and not whole.done()
            last_of_first.release()
            start_of_second.release()
            code, _headers, body = await whole
    assert code == 200
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        assert archive.testzip() is None
        assert [archive.read(f"part{n}.bin") for n in range(2)] == contents


async def test_the_end_of_a_fresh_bundles_zip_costs_no_file_and_a_segment_inside_a_file_costs_that_file_once(
        telegram, stack_settings):
    world = make_world(telegram)
    person, bot = world.person, world.main_bot
    sizes = [MIB + 1000 * n for n in range(10)]
    names = [f"take{n}.bin" for n in range(10)]
    async with running_service(stack_settings(world)):
        sent = await person.send_album(bot, [dict(data=SeededContent(size, seed=80 + n), file_name=name)
                                             for n, (size, name) in enumerate(zip(sizes, names))])
        status = await person.next_message(bot)
        zip_url = button_urls(await until_buttons(world, status.message_id, "Download all (ZIP)"))["Download all (ZIP)"]
        media_of = {message.media.id: n for n, message in enumerate(sent)}
        # A hold that never holds: it only notes every block Telegram is asked for (file, offset).
        asked: list[tuple[int, int]] = []
        telegram.faults.hold(GET_FILE, times=None, when=lambda q: asked.append((media_of[q.location.id], q.offset)) or False)
        # Offsets in the archive depend on names and sizes only.
        layout = ZipLayout([ZipEntry(name, size, datetime.now(timezone.utc)) for name, size in zip(names, sizes)])
        async with http_client() as http:
            calls_before = len(telegram.rpc_log(method=GET_FILE))
            code, headers, tail = await get(http, zip_url, Range="bytes=-22")
            assert code == 206 and headers["Content-Range"] == f"bytes {layout.size - 22}-{layout.size - 1}/{layout.size}"
            assert len(telegram.rpc_log(method=GET_FILE)) - calls_before <= 2 and asked == []

            # A download manager's segment from the middle of file 3 into file 4: file 3 is
            # read once, from its first byte (its CRC-32 on the way); file 4 only as far as asked.
            third, fourth = layout.data_segment(3), layout.data_segment(4)
            first, last = third.offset + sizes[3] // 2, fourth.offset + 999
            code, _headers, segment = await get(http, zip_url, Range=f"bytes={first}-{last}")
            assert code == 206 and len(segment) == last - first + 1
            assert {n for n, _offset in asked} == {3, 4} and len(asked) == len(set(asked)), asked
            assert sorted(o for n, o in asked if n == 3) == list(range(0, sizes[3], MIB)), "file 3 whole, once"

            code, _headers, full = await get(http, zip_url)
    assert code == 200 and full[-22:] == tail and full[first:last + 1] == segment
    with zipfile.ZipFile(io.BytesIO(full)) as archive:
        assert archive.testzip() is None
        assert [archive.read(name) for name in names] == [SeededContent(size, seed=80 + n).bytes()
                                                          for n, size in enumerate(sizes)]
