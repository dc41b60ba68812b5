"""Binds handlers to the bot client with their context; a handled update goes no further.

Handlers live in group 0 and stop propagation when they ran, so the catch-all answer
in the last group only sees what nothing else took.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from pyrogram import StopPropagation, filters
from pyrogram.errors import QueryIdInvalid
from pyrogram.handlers import CallbackQueryHandler, MessageHandler

from FileStream.bot.context import BotContext
from FileStream.bot.replies import CHATTER, send
from FileStream.core.formatting import escape_html
from FileStream.i18n import N_, _
from FileStream.store.database import is_unavailable

log = logging.getLogger(__name__)

SORRY = N_("Something went wrong on our side. Please try again in a minute.")

FALLBACK_GROUP = 100
# Before every other group (the access gate included): see answer_late_quietly.
PRESS_GROUP = -30

Handler = Callable[[BotContext, object, object], Awaitable[None]]


def _bound(ctx: BotContext, fn: Handler, stop: bool):
    async def handler(client, update):
        try:
            await fn(ctx, client, update)
        except StopPropagation:
            raise
        except Exception as error:  # noqa: BLE001 - the person gets words, the log the traceback
            if is_unavailable(error):
                # The database away or stalled: an outage, not a bug, said in a line. What
                # the handler wrote and got no answer for is made harmless where it is
                # written (a request's opening: RequestTracker.begin).
                log.warning("Handler %s: the database did not answer: %r", fn.__name__, error)
            else:
                log.exception("Handler %s failed", fn.__name__)
            await tell(client, update, _(SORRY))
        if stop:
            update.stop_propagation()
    handler.__name__ = fn.__name__
    return handler


def on_message(client, ctx: BotContext, fn: Handler, flt, *, group: int = 0) -> None:
    client.add_handler(MessageHandler(_bound(ctx, fn, stop=group != FALLBACK_GROUP), flt), group)


def on_callback(client, ctx: BotContext, fn: Handler, flt=None, *, group: int = 0) -> None:
    client.add_handler(CallbackQueryHandler(_bound(ctx, fn, stop=True), flt), group)


def data_starts_with(prefix: str):
    """A filter for button presses whose data starts with `prefix`.

    Callback data comes from the client as it likes: bytes that are not UTF-8 reach us as
    bytes, which a text pattern (filters.regex) cannot even be matched against.
    """
    return filters.create(lambda _, __, query: isinstance(query.data, str) and query.data.startswith(prefix))


async def tell(client, update, text: str) -> None:
    """Say `text` to whoever sent `update`: an alert for a button press, a message otherwise.

    Used when things went wrong, so a failure to say it is only logged.
    """
    try:
        if hasattr(update, "data"):  # a button press
            await update.answer(text, show_alert=True)
        elif getattr(update, "chat", None) is not None:
            await send(client, update.chat.id, escape_html(text), kind=CHATTER)
    except Exception as error:  # noqa: BLE001 - nothing more can be said
        log.warning("Could not tell the person about the failure: %s", error)


def answer_late_quietly(client) -> None:
    """A press answered after Telegram stopped waiting (about 15 s: a busy bot, a slow database)
    gets QUERY_ID_INVALID. The person's client has given up its spinner already; what the
    press asked for (a card, a delete) still happens, so the refusal is noted and the handler
    goes on instead of failing with a traceback."""
    async def tolerate(_client, query) -> None:
        answer = query.answer

        async def answer_or_note_it_came_late(*args, **kwargs):
            try:
                return await answer(*args, **kwargs)
            except QueryIdInvalid:
                log.info("The press of %s was answered after Telegram stopped waiting (QUERY_ID_INVALID)",
                         query.from_user.id if query.from_user else None)
                return False
        query.answer = answer_or_note_it_came_late
    client.add_handler(CallbackQueryHandler(tolerate), PRESS_GROUP)
