"""Every kind of media a person can send a bot is rendered as Telegram renders it and downloads byte for byte."""

from __future__ import annotations

import asyncio

import pytest
from pyrogram import filters, raw

from tgserver import make_bot_client
from tgserver.world import KINDS


@pytest.fixture
async def bot_inbox(telegram):
    world = telegram.world
    bot = world.add_bot(username="media_bot", home_dc=2)
    alice = telegram.person(world.add_user(first_name="Alice", home_dc=1))
    client = make_bot_client(telegram, bot)
    inbox: asyncio.Queue = asyncio.Queue()

    @client.on_message(filters.private)
    async def keep(_, message):
        await inbox.put(message)

    await client.start()
    return telegram, client, bot, alice, inbox


def content_of(kind: str) -> bytes:
    return f"{kind} bytes ".encode() * 500 + kind.encode()


@pytest.mark.parametrize("kind", KINDS)
async def test_each_kind_arrives_as_itself_and_downloads_exactly(bot_inbox, kind):
    telegram, client, bot, alice, inbox = bot_inbox
    data = content_of(kind)
    await alice.send_file(bot, data, kind=kind, dc_id=4)
    message = await asyncio.wait_for(inbox.get(), 10)
    media = getattr(message, kind)
    assert media is not None, f"{kind} came as {message.media}"
    assert media.file_size == len(data)
    downloaded = await client.download_media(message, in_memory=True)
    assert bytes(downloaded.getbuffer()) == data


async def test_a_photo_comes_in_several_sizes_and_the_largest_is_the_file(bot_inbox):
    telegram, client, bot, alice, inbox = bot_inbox
    data = content_of("photo")
    sent = await alice.send_file(bot, data, kind="photo", dc_id=4)
    message = await asyncio.wait_for(inbox.get(), 10)
    sizes = sent.media.sizes
    assert [s.type for s in sizes] == ["m", "x", "y"] and sizes[-1].content.bytes() == data
    assert message.photo.width == 1280 and message.photo.file_size == len(data)
    assert message.photo.thumbs, "the smaller sizes are offered as thumbnails"

    async def read(thumb_size: str) -> bytes:
        session = await client.get_session(4, is_media=True)
        location = raw.types.InputPhotoFileLocation(id=sent.media.id, access_hash=sent.media.access_hash,
                                                    file_reference=sent.media.file_reference,
                                                    thumb_size=thumb_size)
        answer = await session.invoke(raw.functions.upload.GetFile(location=location, offset=0, limit=1 << 20))
        return answer.bytes

    assert await read("y") == data
    smaller = await read("m")
    assert smaller == sizes[0].content.bytes() and smaller != data[:len(smaller)]


async def test_a_sticker_names_its_set_and_a_video_note_is_round(bot_inbox):
    telegram, client, bot, alice, inbox = bot_inbox
    await alice.send_file(bot, b"RIFF....WEBP", kind="sticker")
    sticker = (await asyncio.wait_for(inbox.get(), 10)).sticker
    assert sticker.set_name == telegram.world.sticker_set.short_name
    assert sticker.mime_type == "image/webp" and sticker.emoji
    await alice.send_file(bot, b"round video", kind="video_note")
    note = (await asyncio.wait_for(inbox.get(), 10)).video_note
    assert note.length > 0 and note.duration == 5
