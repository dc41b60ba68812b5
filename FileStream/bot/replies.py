"""Sending the bot's answers the one way every handler should: queued for the chat (never waiting
for Telegram's pacing), HTML, no link previews, and the links still delivered (as text) when
Telegram refuses a link button.

`answer`, `send` and `edit` queue the reply in the bot's Outbox (telegram/outbox.py) and return
its Delivery at once; `await delivery.message()` waits for the chat's turn, so a handler does
that only for its own short-lived status messages. Replies are MUST (delivered, in order) unless
marked CHATTER: the kind a chat that is behind may lose (see core/outbox.py). Background jobs
that pace themselves and want errors raised use `send_now` / `edit_now`.
"""

from __future__ import annotations

import logging
from collections.abc import Hashable

from pyrogram.enums import ParseMode
from pyrogram.errors import ButtonUrlInvalid, MessageNotModified
from pyrogram.types import LinkPreviewOptions, ReplyParameters

from FileStream.bot import keyboards, texts
from FileStream.core.outbox import Kind
from FileStream.store.database import is_unavailable
from FileStream.telegram.outbox import Act, Delivery, OnSent, Outbox

log = logging.getLogger(__name__)

NO_PREVIEW = LinkPreviewOptions(is_disabled=True)
MUST = Kind.MUST
CHATTER = Kind.CHATTER


def make_outbox(client) -> Outbox:
    """The main bot's outbox; its "too fast" notice is said in words."""
    return Outbox(lambda chat_id: send_act(client, chat_id, texts.SENDING_TOO_FAST))


def post(client, chat_id: int, act: Act, *, kind: Kind = MUST, key: Hashable | None = None,
         on_sent: OnSent | None = None) -> Delivery:
    """Queue `act` (a send or edit to `chat_id`) in the client's outbox; never waits."""
    outbox: Outbox | None = getattr(client, "outbox", None)
    if outbox is None:
        raise RuntimeError("this client has no outbox: only the main bot answers people")
    return outbox.post(chat_id, act, kind=kind, key=key, on_sent=None if on_sent is None else _noted(on_sent))


def _noted(on_sent: OnSent) -> OnSent:
    """`on_sent`, which writes down that a reply went out (in MongoDB): with the database away
    that is said in a line, not as a traceback (the reply is out all the same)."""
    async def hook(message) -> None:
        try:
            await on_sent(message)
        except Exception as error:
            if not is_unavailable(error):
                raise
            log.warning("Recording a reply sent to chat %s failed, the database did not answer: %r",
                        getattr(message.chat, "id", None), error)
    return hook


async def answer(client, message, text: str, *, markup=None, quote: bool = False, kind: Kind = MUST,
                 key: Hashable | None = None, on_sent: OnSent | None = None) -> Delivery:
    """Reply in the message's chat; `text` is HTML whose people-made parts are escaped."""
    return await send(client, message.chat.id, text, markup=markup, reply_to=message.id if quote else None,
                      kind=kind, key=key, on_sent=on_sent)


async def send(client, chat_id: int, text: str, *, markup=None, reply_to: int | None = None, kind: Kind = MUST,
               key: Hashable | None = None, on_sent: OnSent | None = None) -> Delivery:
    """Queue a new message in a chat (HTML, no preview), optionally quoting message `reply_to`.

    CHATTER replies with the same text as one still waiting are sent once.
    """
    if key is None and kind == CHATTER:
        key = ("chatter", text)
    return post(client, chat_id, send_act(client, chat_id, text, markup=markup, reply_to=reply_to),
                kind=kind, key=key, on_sent=on_sent)


async def edit(client, chat_id: int, message_id: int, text: str, *, markup=None, kind: Kind = MUST,
               on_sent: OnSent | None = None) -> Delivery:
    """Queue a change of a message's text and keyboard; a newer edit of the same message that
    comes while this one waits replaces it."""
    return post(client, chat_id, edit_act(client, chat_id, message_id, text, markup=markup),
                kind=kind, key=("edit", message_id), on_sent=on_sent)


def send_act(client, chat_id: int, text: str, *, markup=None, reply_to: int | None = None) -> Act:
    async def act():
        return await send_now(client, chat_id, text, markup=markup, reply_to=reply_to)
    return act


def edit_act(client, chat_id: int, message_id: int, text: str, *, markup=None) -> Act:
    async def act():
        return await edit_now(client, chat_id, message_id, text, markup=markup)
    return act


async def send_now(client, chat_id: int, text: str, *, markup=None, reply_to: int | None = None):
    """Send at once (waiting for the pace here): for jobs, not for update handlers."""
    async def attempt(markup):
        return await client.send_message(
            chat_id, text, parse_mode=ParseMode.HTML, link_preview_options=NO_PREVIEW,
            reply_parameters=ReplyParameters(message_id=reply_to) if reply_to is not None else None,
            reply_markup=markup)
    return await _without_refused_buttons(attempt, markup)


async def edit_now(client, chat_id: int, message_id: int, text: str, *, markup=None):
    """Edit at once (for jobs, not for update handlers); None when the message already showed exactly that.

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
