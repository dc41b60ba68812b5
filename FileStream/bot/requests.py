"""/status: where my file request stands. /revoke: cancel it."""

from __future__ import annotations

from pyrogram import filters

from FileStream.bot import texts
from FileStream.bot.context import BotContext
from FileStream.bot.replies import answer
from FileStream.bot.routing import on_message


async def on_status(ctx: BotContext, client, message) -> None:
    request = await ctx.requests.status(message.from_user.id)
    if request is None:
        await answer(client, message, texts.NO_ACTIVE_REQUEST)
        return
    since = (ctx.clock() - request.started_at).total_seconds()
    await answer(client, message, texts.request_status(request.file_name, request.state, since))


async def on_revoke(ctx: BotContext, client, message) -> None:
    request = await ctx.requests.revoke(message.from_user.id)
    if request is None:
        await answer(client, message, texts.NOTHING_TO_REVOKE)
        return
    await answer(client, message, texts.revoked(request.file_name))


def register(client, ctx: BotContext) -> None:
    on_message(client, ctx, on_status, filters.private & filters.command("status"))
    on_message(client, ctx, on_revoke, filters.private & filters.command("revoke"))
