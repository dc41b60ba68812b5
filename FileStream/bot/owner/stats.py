"""/botstats: the owner sees how the pool, the requests and the database are doing."""

from __future__ import annotations

from FileStream.bot.context import BotContext
from FileStream.bot.owner.guard import on_owner_command
from FileStream.bot.replies import answer
from FileStream.services.stats import gather_stats, render_stats


async def on_botstats(ctx: BotContext, client, message) -> None:
    stats = await gather_stats(ctx.pool, ctx.db, now=ctx.clock(), started_at=ctx.started_at)
    await answer(client, message, render_stats(stats))


def register(client, ctx: BotContext) -> None:
    on_owner_command(client, ctx, "botstats", on_botstats)
