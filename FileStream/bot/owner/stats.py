"""/botstats: the owner sees how the pool, the requests and the database are doing."""

from __future__ import annotations

import logging

from FileStream.bot.context import BotContext
from FileStream.bot.owner.guard import on_owner_command
from FileStream.bot.replies import answer
from FileStream.services.stats import gather_stats, render_stats
from FileStream.services.storage_status import render_storage

log = logging.getLogger(__name__)


async def on_botstats(ctx: BotContext, client, message) -> None:
    stats = await gather_stats(ctx.pool, ctx.db, now=ctx.clock(), started_at=ctx.started_at)
    text = render_stats(stats)
    if ctx.storage is not None:
        report = await ctx.storage.report(ctx.clock())
        text += "\n" + render_storage(report, has_mirror=ctx.settings.mirror_channel is not None)
    text += "\n" + await access_mode(ctx)
    await answer(client, message, text)


async def access_mode(ctx: BotContext) -> str:
    """Who may use the bot: everyone, or the people on the list (and how many entries it has)."""
    if not ctx.settings.allowed_users:
        return "<b>Who may use the bot</b>: everyone (ALLOWED_USERS is empty)"
    try:
        size = str(await ctx.db.allowed.count())
    except Exception as error:  # noqa: BLE001 - the rest of the answer still helps
        log.warning("/botstats: could not count the allowed list: %r", error)
        size = "unknown (database down)"
    return (f"<b>Who may use the bot</b>: private, {size} on the list (ids and @usernames) besides the owners; "
            "/allow and /disallow change it")


def register(client, ctx: BotContext) -> None:
    on_owner_command(client, ctx, "botstats", on_botstats)
