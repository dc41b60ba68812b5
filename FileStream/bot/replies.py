"""Sending the bot's answers the one way every handler should: HTML, no link previews, and the
links still delivered (as text) when Telegram refuses a link button."""

from __future__ import annotations

import logging

from pyrogram.enums import ParseMode
from pyrogram.errors import ButtonUrlInvalid, MessageNotModified
from pyrogram.types import LinkPreviewOptions, ReplyParameters

from FileStream.bot import keyboards, texts

log = logging.getLogger(__name__)

NO_PREVIEW = LinkPreviewOptions(is_disabled=True)


async def answer(client, message, text: str, *, markup=None, quote: bool = False):
    """Reply in the message's chat; `text` is HTML whose people-made parts are escaped."""
    return await send(client, message.chat.id, text, markup=markup, reply_to=message.id if quote else None)


async def send(client, chat_id: int, text: str, *, markup=None, reply_to: int | None = None):
    """A new message in a chat (HTML, no preview), optionally quoting message `reply_to`."""
    async def attempt(markup):
        return await client.send_message(
            chat_id, text, parse_mode=ParseMode.HTML, link_preview_options=NO_PREVIEW,
            reply_parameters=ReplyParameters(message_id=reply_to) if reply_to is not None else None,
            reply_markup=markup)
    return await _without_refused_buttons(attempt, markup)


async def edit(client, chat_id: int, message_id: int, text: str, *, markup=None):
    """Change a message's text and keyboard; None when it already showed exactly that.

    A button pressed twice before the first edit arrived asks for the same edit again, and
    Telegram answers MESSAGE_NOT_MODIFIED: the message already says what it should.
    """
    async def attempt(markup):
        return await client.edit_message_text(
            chat_id, message_id, text, parse_mode=ParseMode.HTML, link_preview_options=NO_PREVIEW,
            reply_markup=markup)
    try:
        return await _without_refused_buttons(attempt, markup)
    except MessageNotModified:
        return None


async def _without_refused_buttons(attempt, markup):
    """Send with `markup`; if Telegram refuses one of its links, again without link buttons.

    The service leaves link buttons out when it knows PUBLIC_URL's host is refused (said once
    at start); this catches what Telegram refuses beyond that. Every text that carries link
    buttons also has its links written out, so nothing is lost.
    """
    try:
        return await attempt(markup)
    except ButtonUrlInvalid:
        if markup is None:
            raise
        log.warning("Telegram refused a link button (BUTTON_URL_INVALID); the message went without "
                    "its link buttons, its links are in its text")
        return await attempt(keyboards.without_link_buttons(markup))


def file_links(ctx, record):
    """The one way the bot shows a file's links: (HTML text, keyboard or None)."""
    links = ctx.links.links(record)
    show = ctx.settings.generate_download_links
    markup = keyboards.file_links_keyboard(links, show_download=show) if ctx.link_buttons else None
    return texts.file_ready(record, links, ctx.clock(), show_download=show), markup
