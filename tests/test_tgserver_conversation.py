"""People talk to bots on the local Telegram server: messages, files, buttons, channel posts."""

import asyncio
import io

import pytest
from pyrogram import filters
from pyrogram.errors import ChannelPrivate
from pyrogram.handlers import CallbackQueryHandler, MessageHandler
from pyrogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from tgserver import make_bot_client


async def test_person_sends_a_document_bot_replies_with_buttons_and_answers_a_press(telegram):
    world = telegram.world
    bot = world.add_bot(username="filestream_bot", home_dc=2)
    alice = telegram.person(world.add_user(first_name="Alice", username="alice", home_dc=1))
    client = make_bot_client(telegram, bot)
    received = asyncio.Queue()

    async def on_document(c, message):
        await received.put(message)
        await message.reply_text(
            f"Got {message.document.file_name} ({message.document.file_size} bytes)",
            reply_markup=InlineKeyboardMarkup([[
                InlineKeyboardButton("Download", url="https://example.org/dl/1"),
                InlineKeyboardButton("Delete", callback_data="delete:1"),
            ]]),
        )

    async def on_press(c, query):
        await query.answer(f"pressed {query.data}")
        await query.message.edit_text("Deleted")

    client.add_handler(MessageHandler(on_document, filters.document))
    client.add_handler(CallbackQueryHandler(on_press))
    await client.start()

    sent = await alice.send_file(bot, b"%PDF-1.4 hello", file_name="report.pdf", mime_type="application/pdf",
                                 dc_id=4)

    seen_by_bot = await asyncio.wait_for(received.get(), 10)
    assert seen_by_bot.id == sent.id
    assert seen_by_bot.document.mime_type == "application/pdf"
    assert seen_by_bot.from_user.id == alice.id

    reply = await alice.next_message(bot, timeout=10)
    assert reply.text == "Got report.pdf (14 bytes)"
    assert [[b.text for b in row] for row in reply.buttons] == [["Download", "Delete"]]
    assert reply.button("Download").url == "https://example.org/dl/1"

    answer = await alice.press_button(bot, reply.message_id, b"delete:1", timeout=10)
    assert answer == "pressed delete:1"

    edit = await alice.next_edit(bot, timeout=10)
    assert edit.message_id == reply.message_id
    assert edit.text == "Deleted"
    assert edit.buttons == []  # editing the text without a keyboard removes it, as on Telegram
    assert [m.text for m in alice.messages_from(bot)] == ["Deleted"]


async def test_text_and_commands_reach_the_bot_and_replies_reach_the_person(telegram):
    world = telegram.world
    bot = world.add_bot(username="echo_bot", home_dc=1)
    bob = telegram.person(world.add_user(first_name="Bob", home_dc=3))
    client = make_bot_client(telegram, bot)

    @client.on_message(filters.command("start"))
    async def start(c, message):
        await message.reply_text("Welcome!")

    @client.on_message(filters.text & ~filters.command("start"))
    async def echo(c, message):
        await message.reply_text(message.text.upper())

    await client.start()

    await bob.send_command(bot, "start")
    assert (await bob.next_message(bot)).text == "Welcome!"
    await bob.send_text(bot, "hello")
    assert (await bob.next_message(bot)).text == "HELLO"


async def test_bot_copies_a_file_to_a_person_keeping_the_same_document(telegram):
    world = telegram.world
    bot = world.add_bot(username="filestream_bot", home_dc=2)
    alice = telegram.person(world.add_user(first_name="Alice", home_dc=1))
    channel = world.add_channel(title="bin", admins=[bot, alice.user])
    client = make_bot_client(telegram, bot)
    await client.start()
    await alice.send_text(bot, "/start")  # a bot may only write to people who wrote first
    post = await alice.post_file(channel, b"v" * 10_000, kind="video", file_name="clip.mp4", dc_id=5)

    await client.copy_message(alice.id, channel.id, post.id, caption="here you go")
    upload = io.BytesIO(b"uploaded bytes" * 100)
    upload.name = "up.bin"
    await client.send_document(alice.id, upload)

    copied = await alice.next_message(bot)
    assert copied.media is post.media  # same document: same id, DC and bytes
    assert copied.text == "here you go"
    uploaded = await alice.next_message(bot)
    assert uploaded.media.read() == b"uploaded bytes" * 100
    assert uploaded.media.dc_id == bot.home_dc
    assert uploaded.media.file_name == "up.bin"


def _put_into(queue):
    async def handler(client, message):
        await queue.put(message)

    return handler


async def test_channel_post_reaches_admin_bots_only_and_bot_sets_buttons_on_it(telegram):
    world = telegram.world
    storage_bot = world.add_bot(username="storage_bot", home_dc=2)
    helper_bot = world.add_bot(username="helper_bot", home_dc=4)
    outsider_bot = world.add_bot(username="outsider_bot", home_dc=2)
    admin = telegram.person(world.add_user(first_name="Admin", home_dc=1))
    channel = world.add_channel(title="files", admins=[storage_bot, helper_bot, admin.user])
    seen = {name: asyncio.Queue() for name in ("storage", "helper", "outsider")}
    clients = {}
    for name, bot in (("storage", storage_bot), ("helper", helper_bot), ("outsider", outsider_bot)):
        client = make_bot_client(telegram, bot)
        client.add_handler(MessageHandler(_put_into(seen[name])))
        await client.start()
        clients[name] = client

    post = await admin.post_file(channel, b"movie" * 1000, kind="video", file_name="movie.mp4", dc_id=4)

    for name in ("storage", "helper"):
        message = await asyncio.wait_for(seen[name].get(), 10)
        assert message.id == post.id and message.chat.id == channel.id
        assert message.video.file_name == "movie.mp4"

    await clients["storage"].edit_message_reply_markup(
        channel.id, post.id,
        reply_markup=InlineKeyboardMarkup([[InlineKeyboardButton("Stream", url="https://example.org/s/1")]]),
    )
    buttons = await telegram.wait_until(lambda: world.channel_message(channel, post.id).buttons, timeout=10)
    assert buttons[0][0].text == "Stream" and buttons[0][0].url == "https://example.org/s/1"

    # the outsider heard nothing, and may not read the channel either
    assert seen["outsider"].empty()
    with pytest.raises(ChannelPrivate):
        await clients["outsider"].get_messages(channel.id, post.id)


async def test_channel_with_a_new_style_id_works(telegram):
    world = telegram.world
    bot = world.add_bot(username="filestream_bot", home_dc=2)
    admin = telegram.person(world.add_user(first_name="Admin", home_dc=1))
    channel = world.add_channel(title="new", admins=[bot, admin.user], new_style_id=True)
    assert channel.id < -1002147483647
    client = make_bot_client(telegram, bot)
    await client.start()
    post = await admin.post_file(channel, b"abc" * 3000, dc_id=2)

    message = await client.get_messages(channel.id, post.id)
    data = await client.download_media(message, in_memory=True)

    assert message.chat.id == channel.id
    assert data.getvalue() == b"abc" * 3000
    member = await client.get_chat_member(channel.id, "me")
    assert member.status.name == "ADMINISTRATOR"


async def test_a_person_who_blocked_the_bot_or_deleted_the_account_cannot_be_written_to(telegram):
    from pyrogram.errors import InputUserDeactivated, UserIsBlocked

    world = telegram.world
    bot = world.add_bot(username="filestream_bot", home_dc=2)
    users = [world.add_user(first_name=name) for name in ("Bo", "Cy", "Di")]
    for user in users:
        await telegram.person(user).send_command(bot, "start")
    bo, cy, di = users
    cy.block(bot)
    di.deleted = True
    client = make_bot_client(telegram, bot)
    await client.start()
    try:
        await client.send_message(bo.id, "hello")
        with pytest.raises(UserIsBlocked):
            await client.send_message(cy.id, "hello")
        with pytest.raises(InputUserDeactivated):
            await client.send_message(di.id, "hello")
        cy.unblock(bot)
        await client.send_message(cy.id, "hello again")
    finally:
        await client.stop()
    assert (await telegram.person(bo).next_message(bot)).text == "hello"
    assert (await telegram.person(cy).next_message(bot)).text == "hello again"


async def test_a_person_replies_to_a_message_and_the_bot_sees_what_it_answers(telegram):
    world = telegram.world
    bot = world.add_bot(username="filestream_bot", home_dc=2)
    alice = telegram.person(world.add_user(first_name="Alice"))
    client = make_bot_client(telegram, bot)
    seen = asyncio.Queue()

    async def on_command(c, message):
        await seen.put(message)

    client.add_handler(MessageHandler(on_command, filters.command("broadcast")))
    await client.start()
    try:
        news = await alice.send_text(bot, "Big news")
        command = await alice.send_command(bot, "broadcast", reply_to=news)
        message = await asyncio.wait_for(seen.get(), 10)
        assert message.id == command and message.reply_to_message_id == news
        assert message.reply_to_message.text == "Big news"
        fetched = await client.get_messages(alice.id, message_ids=command, reply=True)
        assert fetched.id == news and fetched.text == "Big news"
    finally:
        await client.stop()
