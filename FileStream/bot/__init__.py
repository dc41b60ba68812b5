"""The main bot's conversation: handlers by concern, registered in one place."""

from __future__ import annotations

from FileStream.bot import intake, start
from FileStream.bot.context import BotContext


def register_handlers(client, ctx: BotContext) -> None:
    """Order matters only between groups; see bot/routing.py."""
    for module in (start, intake):
        module.register(client, ctx)
