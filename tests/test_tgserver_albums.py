"""Albums on the local Telegram: a person's media group reaches the bot as messages sharing one
media_group_id, a channel album the same way, a bot can send one (messages.sendMultiMedia), and
albums Telegram refuses are refused."""

import asyncio

import pytest
from pyrogram import filters
from pyrogram.errors import BadRequest
from pyrogram.handlers import MessageHandler
from pyrogram.types import InputMediaDocument, InputMediaVideo

from tgserver import make_bot_client


async def test_a_persons_album_reaches_the_bot_as_one_media_group(telegram):
    world = telegram.world
    bot = world.add_bot(username="album_bot")
    alice = telegram.person(world.add_user(first_name="Alice"))
    client = make_bot_client(telegram, bot)
    seen = asyncio.Queue()
    client.add_handler(MessageHandler(lambda c, m: seen.put_nowait(m), filters.private))
    await client.start()

    await alice.send_text(bot, "hello")
    sent = await alice.send_album(bot, [
        dict(data=b"a" * 10, file_name="a.mp4", kind="video", caption="Holiday"),
        dict(data=b"b" * 20, file_name="b.jpg", kind="photo"),
        dict(data=b"c" * 30, file_name="c.mp4", kind="video"),
    ])
    assert len({m.grouped_id for m in sent}) == 1 and sent[0].grouped_id is not None
    messages = [await asyncio.wait_for(seen.get(), 10) for _ in range(4)]
    album = [m for m in messages if m.media_group_id is not None]
    assert [m.id for m in album] == [m.id for m in sent]
    assert {m.media_group_id for m in album} == {sent[0].grouped_id}
    assert album[0].caption == "Holiday"

    group = await client.get_media_group(alice.id, album[1].id)
    assert [m.id for m in group] == [m.id for m in sent]


async def test_a_channel_album_reaches_its_admin_bots_and_a_bot_can_send_an_album(telegram):
    world = telegram.world
    bot = world.add_bot(username="album_bot")
    editor = telegram.person(world.add_user(first_name="Eddie"))
    channel = world.add_channel("Albums", admins=[bot, editor.user])
    client = make_bot_client(telegram, bot)
    seen = asyncio.Queue()
    client.add_handler(MessageHandler(lambda c, m: seen.put_nowait(m), filters.channel))
    await client.start()

    posts = await editor.post_album(channel, [dict(data=b"x" * 5, file_name=f"{n}.pdf") for n in range(3)])
    got = [await asyncio.wait_for(seen.get(), 10) for _ in range(3)]
    assert [m.id for m in got] == [p.id for p in posts] and len({m.media_group_id for m in got}) == 1
    assert [m.id for m in await client.get_media_group(channel.id, got[0].id)] == [p.id for p in posts]

    sent = await client.send_media_group(channel.id, [InputMediaDocument(m.document.file_id, caption=f"copy {i}")
                                                      for i, m in enumerate(got)])
    assert len(sent) == 3 and len({m.media_group_id for m in sent}) == 1 and sent[0].media_group_id is not None
    stored = [channel.messages[m.id] for m in sent]
    assert [m.text for m in stored] == ["copy 0", "copy 1", "copy 2"]
    assert [m.media.id for m in stored] == [p.media.id for p in posts]


async def test_albums_telegram_refuses_are_refused_unless_a_test_relaxes_the_rule(telegram):
    world = telegram.world
    bot = world.add_bot(username="album_bot")
    alice = telegram.person(world.add_user(first_name="Alice"))
    mixed = [dict(data=b"v", kind="video"), dict(data=b"a", kind="audio")]
    with pytest.raises(ValueError, match="MEDIA_INVALID"):
        await alice.send_album(bot, mixed)
    with pytest.raises(ValueError, match="MEDIA_EMPTY"):
        await alice.send_album(bot, mixed[:1])
    with pytest.raises(ValueError, match="MULTI_MEDIA_TOO_LONG"):
        await alice.send_album(bot, [dict(data=b"d")] * 11)
    assert len(await alice.send_album(bot, mixed, allow_mixed=True)) == 2

    client = make_bot_client(telegram, bot)
    await client.start()
    channel = world.add_channel("Albums", admins=[bot])
    video = world.post_in_channel(channel, None, "", media=world.add_media(b"v", kind="video", file_name="v.mp4"))
    doc = world.post_in_channel(channel, None, "", media=world.add_media(b"d", file_name="d.pdf"))
    got = await client.get_messages(channel.id, [video.id, doc.id])
    with pytest.raises(BadRequest, match="MEDIA_INVALID"):
        await client.send_media_group(channel.id, [InputMediaVideo(got[0].video.file_id),
                                                   InputMediaDocument(got[1].document.file_id)])
