"""Owner commands answer only the owner; anyone else gets one short refusal and nothing happens."""

from __future__ import annotations

from pyrogram import filters

from FileStream.bot.context import BotContext
from FileStream.bot.replies import answer
from FileStream.bot.routing import Handler, data_starts_with, on_callback, on_message
from FileStream.i18n import N_, _

NOT_FOR_YOU = N_("Sorry, that command is only for the owner of this bot.")


def on_owner_command(client, ctx: BotContext, names: str | list[str], fn: Handler) -> None:
    """Run `fn` for the owner's /`names` in private chat; refuse everyone else."""

    async def guarded(ctx: BotContext, client, message) -> None:
        if not ctx.is_owner(message.from_user.id if message.from_user else None):
            await answer(client, message, _(NOT_FOR_YOU))
            return
        await fn(ctx, client, message)

    guarded.__name__ = fn.__name__
    on_message(client, ctx, guarded, filters.private & filters.command(names))


def on_owner_button(client, ctx: BotContext, prefix: str, fn: Handler) -> None:
    """Run `fn` for the owner's presses of buttons whose data starts with `prefix`."""

    async def guarded(ctx: BotContext, client, query) -> None:
        if not ctx.is_owner(query.from_user.id if query.from_user else None):
            await query.answer(_(NOT_FOR_YOU), show_alert=True)
            return
        await fn(ctx, client, query)

    guarded.__name__ = fn.__name__
    on_callback(client, ctx, guarded, data_starts_with(prefix))


def argument(message) -> str:
    """Everything after the command word, spacing kept ("" when nothing)."""
    parts = (message.text or "").split(maxsplit=1)
    return parts[1].strip() if len(parts) > 1 else ""
