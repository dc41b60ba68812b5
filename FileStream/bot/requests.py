"""/status: where my file request (or bundle) stands. /revoke: cancel it."""

from __future__ import annotations

from pyrogram import filters

from FileStream.bot import bundles, texts
from FileStream.bot.context import BotContext
from FileStream.bot.replies import CHATTER, answer
from FileStream.bot.routing import on_message
from FileStream.core.requests import RequestState
from FileStream.store.bundles import OPEN


async def on_status(ctx: BotContext, client, message) -> None:
    request = await ctx.requests.status(message.from_user.id)
    if request is None:
        await answer(client, message, texts.NO_ACTIVE_REQUEST, kind=CHATTER)
        return
    since = (ctx.clock() - request.started_at).total_seconds()
    progress = await ctx.bundles.progress(request.bundle_id) if request.is_bundle and ctx.bundles else None
    if progress is not None:
        await answer(client, message, texts.bundle_status(progress.title, progress.stored, progress.received,
                                                          progress.failed, progress.state == OPEN, since))
        return
    await answer(client, message, texts.request_status(request.file_name, request.state, since))


async def on_revoke(ctx: BotContext, client, message) -> None:
    request = await ctx.requests.revoke(message.from_user.id)
    if request is None:
        await answer(client, message, texts.NOTHING_TO_REVOKE, kind=CHATTER)
        return
    await answer(client, message, texts.revoked(request.file_name))
    if request.is_bundle and ctx.bundles is not None:
        await bundles.end_unfinished(ctx, client, request.bundle_id, RequestState.REVOKED)


def register(client, ctx: BotContext) -> None:
    on_message(client, ctx, on_status, filters.private & filters.command("status"))
    on_message(client, ctx, on_revoke, filters.private & filters.command("revoke"))
