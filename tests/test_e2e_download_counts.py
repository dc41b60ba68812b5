"""Download counts end to end: a person's link is downloaded, probed and asked for its headers;
only the downloads count, every byte sent is added up, and the owner and the person see it."""

from __future__ import annotations

import os

from FileStream.core.formatting import human_size
from FileStream.core.usage import PROBE_BYTES, FileUsage
from FileStream.store.database import Database
from service_harness import Clock, add_owner, http_client, make_world, running_service, send_and_get_links
from test_owner_commands import pre_blocks, say

PROBES = ["bytes=0-0", "bytes=0-1", "bytes=0-1023", "bytes=0-4095", f"bytes=0-{PROBE_BYTES - 2}"]


def table(block: str) -> dict[str, str]:
    """A two-column monospace table as {left: right}."""
    pairs = (line.split("  ", 1) for line in block.splitlines())
    return {key.strip(): value.strip() for key, value in pairs}


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
    _pool, service_rows, top = pre_blocks(stats)
    rows = table(service_rows)
    assert rows["bytes served, today"] == rows["bytes served, in all"] == human_size(served)
    header, *files = top.splitlines()
    assert header.split() == ["downloads", "sent", "file"]
    assert [line.split() for line in files] == [["3", *human_size(served).split(), "lecture.mp4"]]


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
