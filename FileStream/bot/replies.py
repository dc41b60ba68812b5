"""Sending the bot's answers the one way every handler should: HTML, no link previews."""

from __future__ import annotations

from pyrogram.enums import ParseMode
from pyrogram.errors import MessageNotModified
from pyrogram.types import LinkPreviewOptions, ReplyParameters

from FileStream.bot import keyboards, texts

NO_PREVIEW = LinkPreviewOptions(is_disabled=True)


async def answer(client, message, text: str, *, markup=None, quote: bool = False):
    """Reply in the message's chat; `text` is HTML whose people-made parts are escaped."""
    return await send(client, message.chat.id, text, markup=markup, reply_to=message.id if quote else None)


async def send(client, chat_id: int, text: str, *, markup=None, reply_to: int | None = None):
    """A new message in a chat (HTML, no preview), optionally quoting message `reply_to`."""
    return await client.send_message(
        chat_id, text, parse_mode=ParseMode.HTML, link_preview_options=NO_PREVIEW,
        reply_parameters=ReplyParameters(message_id=reply_to) if reply_to is not None else None,
        reply_markup=markup)


async def edit(client, chat_id: int, message_id: int, text: str, *, markup=None):
    """Change a message's text and keyboard; None when it already showed exactly that.

    A button pressed twice before the first edit arrived asks for the same edit again, and
    Telegram answers MESSAGE_NOT_MODIFIED: the message already says what it should.
    """
    try:
        return await client.edit_message_text(
            chat_id, message_id, text, parse_mode=ParseMode.HTML, link_preview_options=NO_PREVIEW,
            reply_markup=markup)
    except MessageNotModified:
        return None


def file_links(ctx, record):
    """The one way the bot shows a file's links: (HTML text, keyboard)."""
    links = ctx.links.links(record)
    show = ctx.settings.generate_download_links
    return (texts.file_ready(record, links, ctx.clock(), show_download=show),
            keyboards.file_links_keyboard(links, show_download=show))
