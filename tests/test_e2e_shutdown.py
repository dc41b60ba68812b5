"""End to end: a shutdown lets running downloads finish, a bundle's ZIP as much as a single file,
and cuts whatever still runs at the deadline (SHUTDOWN_GRACE).

The real service streams from the local Telegram; the test holds one GetFile at the server so
the download provably is in the middle (in a ZIP: between two files) when the shutdown begins.
"""

from __future__ import annotations

import asyncio
import io
import logging
import zipfile
from urllib.parse import urlsplit

import aiohttp
import pytest

from FileStream.service import Service
from service_harness import http_client, make_world, send_and_get_links
from clocks import Clock
from tgserver import SeededContent

MIB = 1 << 20
GET_FILE = "upload.GetFile"
STILL_RUNNING = "still running after"


def button_urls(message) -> dict[str, str]:
    return {b.text: b.url for b in message.flat_buttons if b.url}


async def zip_link_of_album(world, contents: list[bytes]) -> tuple[str, list]:
    """The person sends an album of documents part0.bin, part1.bin, …; its ZIP link and the sent messages."""
    person, bot = world.person, world.main_bot
    sent = await person.send_album(bot, [dict(data=data, file_name=f"part{n}.bin") for n, data in enumerate(contents)])
    status = await person.next_message(bot)

    def with_zip_button():
        found = [m for m in person.messages_from(bot) if m.message_id == status.message_id]
        return found[0] if found and "Download all (ZIP)" in button_urls(found[0]) else None
    message = await world.telegram.world.wait_until(with_zip_button, timeout=30)
    return button_urls(message)["Download all (ZIP)"], sent


def zip_bytes_before_second_file(contents: list[bytes]) -> int:
    """Where the second file's data starts in the ZIP: local header, data and descriptor of the
    first file, then the second's local header (30 bytes and the name; no ZIP64 at these sizes)."""
    return (30 + len("part0.bin")) + len(contents[0]) + 16 + (30 + len("part1.bin"))


def hold_block(telegram, media, offset: int):
    """Telegram keeps the GetFile of `media`'s block at `offset` unanswered until released."""
    return telegram.faults.hold(GET_FILE, when=lambda q: q.location.id == media.id and q.offset == offset)


async def until_refused(service: Service, timeout: float = 10) -> None:
    """Until the service takes no new connections (the first step of its shutdown): it says so,
    and a new connection is then refused."""
    await asyncio.wait_for(service.web_closed.wait(), timeout)
    parts = urlsplit(service.public_url)
    with pytest.raises(OSError):
        _reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
        writer.close()


async def test_a_shutdown_begun_between_two_files_of_a_zip_lets_the_whole_zip_finish(
        telegram, stack_settings, caplog):
    world = make_world(telegram)
    contents = [SeededContent(2 * MIB + 11 * n, seed=50 + n).bytes() for n in range(3)]
    service = Service(stack_settings(world, SHUTDOWN_GRACE=60), clock=Clock())
    stopping = None
    try:
        await service.start()
        zip_url, sent = await zip_link_of_album(world, contents)
        # The second file's first block waits at Telegram until the shutdown has begun.
        held = hold_block(telegram, sent[1].media, 0)
        caplog.set_level(logging.WARNING, logger="FileStream.service")
        async with http_client() as http:
            async with http.get(zip_url) as response:
                assert response.status == 200
                # The person has all of the first file, and the ZIP waits for the second one's bytes.
                received = await response.content.readexactly(zip_bytes_before_second_file(contents))
                await held.reached()
                stopping = asyncio.ensure_future(service.stop())
                await until_refused(service)
                assert service.streams.count == 1, "the ZIP is one running stream from its first byte to its last"
                assert not stopping.done()
                held.release()
                received += await response.read()
        await asyncio.wait_for(stopping, 30)
    finally:
        if stopping is None:
            await service.stop()
    with zipfile.ZipFile(io.BytesIO(received)) as archive:
        assert archive.testzip() is None
        assert [archive.read(f"part{n}.bin") for n in range(3)] == contents
    assert held.hits == 1
    assert not [r for r in caplog.records if STILL_RUNNING in r.getMessage()]


@pytest.mark.parametrize("download", ["a bundle's ZIP", "a single file"])
async def test_a_download_still_running_at_the_shutdown_deadline_is_cut_and_said_so(
        telegram, stack_settings, caplog, download):
    world = make_world(telegram)
    contents = [SeededContent(2 * MIB + 11 * n, seed=60 + n).bytes() for n in range(2)]
    service = Service(stack_settings(world, SHUTDOWN_GRACE=1), clock=Clock())
    held = None
    try:
        await service.start()
        if download == "a single file":
            single = await send_and_get_links(world, contents[0], "part0.bin")
            url, before_hold = single.links.download, MIB
            held = hold_block(telegram, single.message.media, MIB)
        else:
            url, sent = await zip_link_of_album(world, contents)
            before_hold = zip_bytes_before_second_file(contents)
            held = hold_block(telegram, sent[1].media, 0)
        caplog.set_level(logging.WARNING, logger="FileStream.service")
        async with http_client() as http:
            async with http.get(url) as response:
                received = await response.content.readexactly(before_hold)
                await held.reached()
                # The held block never comes: the download runs past the deadline.
                await asyncio.wait_for(service.stop(), 30)
                with pytest.raises(aiohttp.ClientPayloadError):
                    received += await response.read()
        assert len(received) == before_hold
    finally:
        if held is not None:
            held.release()
        await service.stop()
    warnings = [r.getMessage() for r in caplog.records if STILL_RUNNING in r.getMessage()]
    assert warnings == ["1 stream(s) still running after 1 s; closing them"]
