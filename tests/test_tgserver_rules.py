"""The local Telegram refuses what Telegram refuses: button links, admin rights one by one, members who
left or were kicked, over-long edits, and edits in a chat with someone who blocked the bot."""

from __future__ import annotations

import pytest
from pyrogram.enums import ChatMemberStatus
from pyrogram.errors import (
    ButtonUrlInvalid,
    ChatAdminRequired,
    MediaCaptionTooLong,
    MessageAuthorRequired,
    MessageDeleteForbidden,
    MessageTooLong,
    UserIsBlocked,
    UserNotParticipant,
)
from pyrogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from tgserver import make_bot_client
from tgserver.methods.messages import button_url_refused, text_length


@pytest.fixture
async def setup(telegram):
    """A started bot, a person who wrote to it, and a channel where the bot is admin."""
    world = telegram.world
    bot = world.add_bot(username="strict_bot")
    alice = world.add_user(first_name="Alice", username="alice")
    editor = world.add_user(first_name="Eddie")
    world.private_chat(alice, bot)
    channel = world.add_channel("News", admins=[bot, editor], members=[alice])
    client = make_bot_client(telegram, bot, sleep_threshold=0)
    await client.start()
    return telegram, client, bot, alice, editor, channel


def link_button(url: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[InlineKeyboardButton("Open", url=url)]])


@pytest.mark.parametrize("url, refused", [
    ("https://files.example.com/watch/abc", False),
    ("http://127.0.0.1:8080/dl/abc", False),      # an IP address has dots
    ("tg://resolve?domain=filestream_bot", False),
    ("https://t.me/filestream_bot?start=file_1", False),
    ("http://localhost:8080/watch/abc", True),    # the host has no dot
    ("http://filestream/watch/abc", True),
    ("ftp://files.example.com/abc", True),
    ("javascript:alert(1)", True),
    ("files.example.com/abc", True),              # no scheme
])
def test_which_button_links_telegram_takes(url, refused):
    assert button_url_refused(url) is refused


async def test_a_button_with_a_refused_link_is_refused_on_send_and_on_edit(setup):
    telegram, client, bot, alice, *_ = setup
    with pytest.raises(ButtonUrlInvalid):
        await client.send_message(alice.id, "links", reply_markup=link_button("http://localhost:8080/watch/1"))
    sent = await client.send_message(alice.id, "links", reply_markup=link_button("http://127.0.0.1:8080/watch/1"))
    with pytest.raises(ButtonUrlInvalid):
        await client.edit_message_reply_markup(alice.id, sent.id, reply_markup=link_button("http://localhost/x"))
    assert telegram.world.private_messages[sent.id].buttons[0][0].url == "http://127.0.0.1:8080/watch/1"


async def test_each_admin_right_is_its_own(setup):
    telegram, client, bot, alice, editor, channel = setup
    post = await telegram.person(editor).post_text(channel, "editor's post")
    own = await client.send_message(channel.id, "bot's post")

    channel.set_rights(bot, edit_messages=False, delete_messages=False)
    with pytest.raises(MessageAuthorRequired):
        await client.edit_message_text(channel.id, post.id, "changed by the bot")
    await client.edit_message_text(channel.id, own.id, "own post, edited")
    with pytest.raises(MessageDeleteForbidden):
        await client.delete_messages(channel.id, post.id)
    assert post.text == "editor's post" and not post.deleted

    channel.set_rights(bot, post_messages=False)
    with pytest.raises(ChatAdminRequired):
        await client.send_message(channel.id, "another post")
    member = await client.get_chat_member(channel.id, bot.id)
    assert member.status == ChatMemberStatus.ADMINISTRATOR
    assert not member.privileges.can_post_messages and not member.privileges.can_edit_messages
    assert member.privileges.can_invite_users, "the rights nobody took away stay"

    channel.set_rights(bot, edit_messages=True, delete_messages=True)
    await client.edit_message_text(channel.id, post.id, "changed by the bot")
    await client.delete_messages(channel.id, own.id)
    assert post.text == "changed by the bot" and channel.messages[own.id].deleted


async def test_members_who_left_are_not_participants_and_kicked_ones_are_banned(setup):
    telegram, client, bot, alice, editor, channel = setup
    bob = telegram.world.add_user(first_name="Bob")
    channel.join(bob)
    assert (await client.get_chat_member(channel.id, alice.id)).status == ChatMemberStatus.MEMBER

    channel.leave(alice)
    with pytest.raises(UserNotParticipant):
        await client.get_chat_member(channel.id, alice.id)

    channel.kick(bob, by=editor)
    kicked = await client.get_chat_member(channel.id, bob.id)
    assert kicked.status == ChatMemberStatus.BANNED
    with pytest.raises(PermissionError):
        channel.join(bob)
    channel.unban(bob)
    with pytest.raises(UserNotParticipant):
        await client.get_chat_member(channel.id, bob.id)
    channel.join(bob)
    assert (await client.get_chat_member(channel.id, bob.id)).status == ChatMemberStatus.MEMBER


async def test_edits_have_the_same_length_limits_as_sends(setup):
    telegram, client, bot, alice, *_ = setup
    assert text_length("\U0001F600") == 2, "Telegram counts UTF-16 code units"
    with pytest.raises(MessageTooLong):
        await client.send_message(alice.id, "\U0001F600" * 2049)
    text = await client.send_message(alice.id, "short")
    await client.edit_message_text(alice.id, text.id, "x" * 4096)
    with pytest.raises(MessageTooLong):
        await client.edit_message_text(alice.id, text.id, "x" * 4097)

    photo = telegram.world.add_media(b"\xff\xd8 a photo", kind="photo")
    shown = telegram.world.send_private(alice, bot, media=photo)
    copy = await client.copy_message(alice.id, alice.id, shown.id)
    await client.edit_message_caption(alice.id, copy.id, "c" * 1024)
    with pytest.raises(MediaCaptionTooLong):
        await client.edit_message_caption(alice.id, copy.id, "c" * 1025)


async def test_editing_in_a_chat_with_someone_who_blocked_the_bot_fails_as_sending_does(setup):
    telegram, client, bot, alice, *_ = setup
    sent = await client.send_message(alice.id, "before")
    alice.block(bot)
    with pytest.raises(UserIsBlocked):
        await client.send_message(alice.id, "after")
    with pytest.raises(UserIsBlocked):
        await client.edit_message_text(alice.id, sent.id, "edited after")
    alice.unblock(bot)
    await client.edit_message_text(alice.id, sent.id, "edited once unblocked")
    assert telegram.world.private_messages[sent.id].text == "edited once unblocked"
