"""/botstats: the owner sees how the pool, the requests and the database are doing."""

from __future__ import annotations

from FileStream.bot.context import BotContext
from FileStream.bot.owner.guard import on_owner_command
from FileStream.bot.replies import answer
from FileStream.services.stats import gather_stats, render_stats
from FileStream.services.storage_status import render_storage


async def on_botstats(ctx: BotContext, client, message) -> None:
    stats = await gather_stats(ctx.pool, ctx.db, now=ctx.clock(), started_at=ctx.started_at)
    text = render_stats(stats)
    if ctx.storage is not None:
        report = await ctx.storage.report(ctx.clock())
        text += "\n" + render_storage(report, has_mirror=ctx.settings.mirror_channel is not None)
    await answer(client, message, text)


def register(client, ctx: BotContext) -> None:
    on_owner_command(client, ctx, "botstats", on_botstats)
