"""The main bot's conversation: handlers by concern, registered in one place."""

from __future__ import annotations

from FileStream.bot import access, bundles, channel, commands, files, intake, owner, requests, start
from FileStream.bot.context import BotContext
from FileStream.bot.routing import answer_late_quietly


def register_handlers(client, ctx: BotContext) -> None:
    """Order matters only between groups; see bot/routing.py."""
    answer_late_quietly(client)
    for module in (
        start,
        intake,
        commands,   # the command menus, and the owner's once they write
        access,     # the gate before every handler: record, banned, force-subscribe
        requests,   # /status, /revoke
        bundles,    # /bundle, /done (files of a bundle go through intake)
        files,      # /files and its buttons
        channel,    # AUTH_CHANNEL posts
        owner,      # the owner's commands: /botstats, /ban, /unban, /broadcast, /del, /upload
    ):
        module.register(client, ctx)
