"""Download counts end to end: a person's link is downloaded, probed and asked for its headers;
only the downloads count, every byte sent is added up, and the owner and the person see it."""

from __future__ import annotations

import asyncio
import io
import os
import random
import zipfile

from FileStream.core.formatting import human_size
from FileStream.core.usage import PROBE_BYTES, FileUsage
from FileStream.store.database import Database
from service_harness import (
    Clock,
    add_owner,
    http_client,
    make_world,
    running_service,
    send_and_get_links,
    settings_for,
)
from test_e2e_bundles import button_urls, until_buttons
from test_owner_commands import pre_blocks, say

PROBES = ["bytes=0-0", "bytes=0-1", "bytes=0-1023", "bytes=0-4095", f"bytes=0-{PROBE_BYTES - 2}"]


def table(block: str) -> dict[str, str]:
    """A two-column monospace table as {left: right}."""
    pairs = (line.split("  ", 1) for line in block.splitlines())
    return {key.strip(): value.strip() for key, value in pairs}


def top_rows(block: str) -> list[list[str]]:
    """The rows of /botstats' "top files today" table, under its header."""
    header, *rows = block.splitlines()
    assert header.split() == ["downloads", "sent", "file"]
    return [line.split() for line in rows]


async def bytes_streamed(http, service) -> float:
    """filestream_bytes_streamed_total as /metrics says it."""
    async with http.get(f"{service.public_url}/metrics") as response:
        assert response.status == 200
        text = await response.text()
    [line] = [line for line in text.splitlines() if line.startswith("filestream_bytes_streamed_total ")]
    return float(line.split()[1])


async def test_three_downloads_five_probes_and_two_heads_count_as_three_downloads(telegram, stack_settings):
    world = make_world(telegram)
    owner = add_owner(world)
    person, bot = world.person, world.main_bot
    clock = Clock()
    data = os.urandom(300_000)
    async with running_service(stack_settings(world, OWNER_ID=owner.id), clock) as service:
        links = (await send_and_get_links(world, data, "lecture.mp4", kind="video", mime_type="video/mp4")).links
        probe_bytes = 0
        async with http_client() as http:
            # Three downloads: a browser <video> (bytes=0-), a plain download, a download manager's whole file.
            for url, headers in [(links.stream, {"Range": "bytes=0-"}), (links.download, {}),
                                 (links.download, {"Range": f"bytes=0-{len(data) - 1}"})]:
                async with http.get(url, headers=headers) as response:
                    assert response.status in (200, 206) and await response.read() == data
            for probe in PROBES:
                async with http.get(links.download, headers={"Range": probe}) as response:
                    body = await response.read()
                    assert response.status == 206 and body == data[:len(body)]
                    probe_bytes += len(body)
            for _ in range(2):
                async with http.head(links.download) as response:
                    assert response.status == 200 and int(response.headers["Content-Length"]) == len(data)

        # Counted in memory, written by the periodic flush: the test waits for one, never sleeps.
        await service.usage.wait_idle()
        await service.usage_job.next_pass()
        file_id = (await service.db.files.list_by_owner(person.id, clock(), 0))[0][0].id
        served = 3 * len(data) + probe_bytes
        assert await service.db.usage.of_file(file_id) == FileUsage(downloads=3, bytes_served=served,
                                                                    last_access=clock())

        clock.advance(minutes=3)
        await person.send_command(bot, "files")
        page = await person.next_message(bot)
        await person.press_button(bot, page.message_id, page.button("lecture.mp4").callback_data)
        card = await person.next_edit(bot)
        assert f"Downloads and plays: 3 ({human_size(served)} sent, last access 3 min ago)" in card.text

        stats = await say(owner, bot, "/botstats")
    _pool, service_rows, top, _storage = pre_blocks(stats)
    rows = table(service_rows)
    assert rows["bytes served, today"] == rows["bytes served, in all"] == human_size(served)
    assert top_rows(top) == [["3", *human_size(served).split(), "lecture.mp4"]]


async def test_downloads_through_two_instances_on_one_database_add_up(telegram, database_url, database_name,
                                                                      tmp_path):
    """A bot instance and a link-only instance serve the same link; each counts what it served
    and adds it with $inc, so the file's counts, the day's and the totals hold both."""
    world = make_world(telegram)
    owner = add_owner(world)
    clock = Clock()
    data = random.Random(22).randbytes(200_000)
    bot_instance = settings_for(world, database_url, database_name, tmp_path / "a", OWNER_ID=owner.id)
    link_server = settings_for(world, database_url, database_name, tmp_path / "b", LINK_ONLY="true")
    async with running_service(bot_instance, clock) as first, running_service(link_server, clock) as second:
        links = (await send_and_get_links(world, data, "talk.mp4", kind="video", mime_type="video/mp4")).links
        on_second = links.download.replace(first.public_url, second.public_url)
        async with http_client() as http:
            # One download through the bot instance, two through the link server, a probe and
            # a HEAD through each; the two ask for their bodies at the same time.
            async def download(url: str, **headers) -> bytes:
                async with http.get(url, headers=headers) as response:
                    return await response.read()

            bodies = await asyncio.gather(download(links.download), download(on_second),
                                          download(on_second, Range="bytes=0-"),
                                          download(links.download, Range="bytes=0-99"),
                                          download(on_second, Range="bytes=0-99"))
            for url in (links.download, on_second):
                async with http.head(url) as response:
                    assert response.status == 200
        assert bodies == [data] * 3 + [data[:100]] * 2
        for service in (first, second):
            await service.usage.wait_idle()
        # Both instances add their batches at once.
        await asyncio.gather(first.usage_job.next_pass(), second.usage_job.next_pass())

        served = 3 * len(data) + 200
        file_id = (await first.db.files.list_by_owner(world.person.id, clock(), 0))[0][0].id
        assert await second.db.usage.of_file(file_id) == FileUsage(downloads=3, bytes_served=served,
                                                                   last_access=clock())
        stats = await say(owner, world.main_bot, "/botstats")
    _pool, service_rows, top, _storage = pre_blocks(stats)
    assert table(service_rows)["bytes served, in all"] == human_size(served)
    assert top_rows(top) == [["3", *human_size(served).split(), "talk.mp4"]]


async def test_a_bundle_zip_counts_one_download_of_each_file_and_its_bytes_are_served(telegram, stack_settings):
    """A ZIP sends every file of the bundle from its first byte: a download of each, and its bytes
    in "bytes served" (/botstats and /metrics). A probe of the ZIP and a HEAD send no file data."""
    world = make_world(telegram)
    owner = add_owner(world)
    person, bot = world.person, world.main_bot
    clock = Clock()
    rng = random.Random(23)
    items = [dict(data=rng.randbytes(size), file_name=name, kind="document", mime_type="application/pdf")
             for name, size in [("part1.pdf", 180_000), ("part2.pdf", 120_000), ("part3.pdf", 90_000)]]
    sizes = [len(item["data"]) for item in items]
    async with running_service(stack_settings(world, OWNER_ID=owner.id), clock) as service:
        await person.send_album(bot, items)
        status = await person.next_message(bot, timeout=20)
        zip_url = button_urls(await until_buttons(world, status.message_id, "Download all (ZIP)"))["Download all (ZIP)"]
        async with http_client() as http:
            async with http.get(zip_url) as response:
                assert response.status == 200
                archive = await response.read()
            async with http.get(zip_url, headers={"Range": "bytes=0-0"}) as response:
                assert response.status == 206 and await response.read() == archive[:1]
            async with http.head(zip_url) as response:
                assert response.status == 200
            await service.usage.wait_idle()
            streamed = await bytes_streamed(http, service)
        with zipfile.ZipFile(io.BytesIO(archive)) as opened:
            assert [opened.read(info) for info in opened.infolist()] == [item["data"] for item in items]
        # /metrics counts file content: the files' bytes, not the ZIP's headers and directory.
        assert streamed == sum(sizes) < len(archive)

        await service.usage_job.next_pass()
        file_ids = {doc["file_name"]: doc["_id"] async for doc in service.db.db["files"].find({"owner_id": person.id})}
        for item in items:
            assert await service.db.usage.of_file(file_ids[item["file_name"]]) == FileUsage(
                downloads=1, bytes_served=len(item["data"]), last_access=clock())
        stats = await say(owner, bot, "/botstats")
    _pool, service_rows, top, _storage = pre_blocks(stats)
    assert table(service_rows)["bytes served, today"] == human_size(sum(sizes))
    assert sorted(row[-1] for row in top_rows(top)) == ["part1.pdf", "part2.pdf", "part3.pdf"]
    assert {row[0] for row in top_rows(top)} == {"1"}


async def test_counts_gathered_at_shutdown_are_written_before_the_service_stops(telegram, stack_settings):
    world = make_world(telegram)
    clock = Clock()
    data = os.urandom(100_000)
    async with running_service(stack_settings(world), clock) as service:
        links = (await send_and_get_links(world, data, "song.mp3", kind="audio", mime_type="audio/mpeg")).links
        await service.usage_job.stop()   # no periodic flush from here on: only the one at shutdown
        async with http_client() as http:
            async with http.get(links.download) as response:
                assert await response.read() == data
        await service.usage.wait_idle()
        assert service.usage.pending == 1
        db = service.db
        file_id = (await db.files.list_by_owner(world.person.id, clock(), 0))[0][0].id
        assert (await db.usage.of_file(file_id)).downloads == 0
    # The service closed its database; read it through a fresh connection.
    again = await Database.connect(service.settings.database_url, service.settings.database_name)
    try:
        assert await again.usage.of_file(file_id) == FileUsage(1, len(data), clock())
    finally:
        await again.close()
