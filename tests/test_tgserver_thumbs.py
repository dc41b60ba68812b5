"""A document's thumbnail, as Telegram keeps it: listed in `thumbs` (a stripped preview, then
the "m" size) and read with upload.getFile naming that size; a document without one has none."""

from __future__ import annotations

import asyncio

import pytest
from pyrogram import raw
from pyrogram.file_id import FileId

from test_tgserver_media import bot_inbox  # noqa: F401, F811 - the fixture: a bot client and its inbox

POSTER = b"\xff\xd8\xff\xe0" + b"poster " * 900


async def read(client, dc_id: int, location) -> bytes:
    session = await client.get_session(dc_id, is_media=True)
    answer = await session.invoke(raw.functions.upload.GetFile(location=location, offset=0, limit=1 << 20))
    return answer.bytes


async def test_a_video_lists_its_thumbnail_and_it_reads_byte_for_byte(bot_inbox):
    _telegram, client, bot, alice, inbox = bot_inbox
    sent = await alice.send_file(bot, b"video bytes" * 100, kind="video", dc_id=4, w=1920, h=1080, thumb=POSTER)
    video = (await asyncio.wait_for(inbox.get(), 10)).video
    [thumb] = video.thumbs   # the client library leaves the stripped preview out
    assert (thumb.width, thumb.height, thumb.file_size) == (320, 180, len(POSTER))
    thumb_id = FileId.decode(thumb.file_id)
    assert thumb_id.thumbnail_size == "m" and thumb_id.media_id == sent.media.id
    location = raw.types.InputDocumentFileLocation(id=thumb_id.media_id, access_hash=thumb_id.access_hash,
                                                   file_reference=thumb_id.file_reference, thumb_size="m")
    assert await read(client, 4, location) == POSTER
    # Through the client library's own download path too.
    downloaded = await client.download_media(thumb.file_id, in_memory=True)
    assert bytes(downloaded.getbuffer()) == POSTER


async def test_a_size_the_document_does_not_have_is_refused_and_none_is_listed_without_a_thumbnail(bot_inbox):
    from pyrogram.errors import RPCError

    _telegram, client, bot, alice, inbox = bot_inbox
    sent = await alice.send_file(bot, b"audio bytes" * 10, kind="audio", dc_id=4)
    audio = (await asyncio.wait_for(inbox.get(), 10)).audio
    assert not audio.thumbs
    media = sent.media
    for size in ("m", "x"):
        location = raw.types.InputDocumentFileLocation(id=media.id, access_hash=media.access_hash,
                                                       file_reference=media.file_reference, thumb_size=size)
        with pytest.raises(RPCError, match="LOCATION_INVALID"):
            await read(client, 4, location)
