"""Binds handlers to the bot client with their context; a handled update goes no further.

Handlers live in group 0 and stop propagation when they ran, so the catch-all answer
in the last group only sees what nothing else took.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from pyrogram.handlers import CallbackQueryHandler, MessageHandler

from FileStream.bot.context import BotContext

FALLBACK_GROUP = 100

Handler = Callable[[BotContext, object, object], Awaitable[None]]


def _bound(ctx: BotContext, fn: Handler, stop: bool):
    async def handler(client, update):
        await fn(ctx, client, update)
        if stop:
            update.stop_propagation()
    handler.__name__ = fn.__name__
    return handler


def on_message(client, ctx: BotContext, fn: Handler, flt, *, group: int = 0) -> None:
    client.add_handler(MessageHandler(_bound(ctx, fn, stop=group != FALLBACK_GROUP), flt), group)


def on_callback(client, ctx: BotContext, fn: Handler, flt=None, *, group: int = 0) -> None:
    client.add_handler(CallbackQueryHandler(_bound(ctx, fn, stop=True), flt), group)
