"""The main bot's conversation: handlers by concern, registered in one place."""

from __future__ import annotations

from FileStream.bot import (access, bundles, channel, commands, files, intake, language, missed_links, owner,
                            replies, requests, start)
from FileStream.bot.context import BotContext
from FileStream.bot.routing import answer_late_quietly

# On shutdown, replies still queued get this long (at most SHUTDOWN_GRACE) to go out, after
# the work under way (links being posted) got BACKGROUND_SETTLE_SECONDS to queue its own.
REPLIES_DRAIN_SECONDS = 5.0
BACKGROUND_SETTLE_SECONDS = 2.0


def register_handlers(client, ctx: BotContext) -> None:
    """Order matters only between groups; see bot/routing.py."""
    answer_late_quietly(client)
    # Every reply goes through the client's outbox (bot/replies.py): handlers never wait for pacing.
    client.outbox = replies.make_outbox(client)

    async def send_what_is_queued() -> None:
        await ctx.settle_background(min(BACKGROUND_SETTLE_SECONDS, float(ctx.settings.shutdown_grace)))
        await client.outbox.drain(min(REPLIES_DRAIN_SECONDS, float(ctx.settings.shutdown_grace)))
        await client.outbox.close()
    ctx.on_stopping.append(send_what_is_queued)
    for module in (
        start,
        intake,
        commands,   # the command menus, and the owner's once they write
        access,     # the gate before every handler: too fast, record, banned, force-subscribe
        language,   # each update in the person's language (first of all groups); /language
        requests,   # /status, /revoke
        bundles,    # /bundle, /done (files of a bundle go through intake)
        files,      # /files and its buttons
        channel,    # AUTH_CHANNEL posts
        owner,      # the owner's commands: /botstats, /ban, /unban, /broadcast, /del, /upload
        missed_links,  # at start: what a stopped process had in hand (files, albums, posts, links)
    ):
        module.register(client, ctx)
