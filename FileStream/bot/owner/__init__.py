"""The owner's commands (OWNER_ID only): /botstats, /ban, /unban, /allow, /disallow, /broadcast, /del, /upload."""

from __future__ import annotations

from FileStream.bot.context import BotContext
from FileStream.bot.owner import allow, bans, broadcast, delete, stats, upload


def register(client, ctx: BotContext) -> None:
    for module in (stats, bans, allow, broadcast, delete, upload):
        module.register(client, ctx)
