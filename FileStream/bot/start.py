"""/start (with its deep links), /help, /about, and a short answer to anything else (messages and buttons)."""

from __future__ import annotations

import logging
import re

from pyrogram import filters

import FileStream
from FileStream.bot import commands, texts
from FileStream.bot.context import BotContext
from FileStream.bot.replies import answer, file_links
from FileStream.bot.routing import FALLBACK_GROUP, on_callback, on_message
from FileStream.bot.stored import with_storage_copy
from FileStream.core.formatting import escape_html

log = logging.getLogger(__name__)

WELCOME = (
    "Hi! Send me a file and I will give you links to stream it in a browser or a player "
    "and to download it. /help lists every command."
)


# FileStreamBot's deep links named a file by its MongoDB ObjectId (24 lowercase hex digits).
_LEGACY_ID = re.compile(r"[0-9a-f]{24}")


async def _live_file(ctx: BotContext, key: str):
    """The live file a deep link names: by our id, or by a migrated file's old FileStreamBot id."""
    if _LEGACY_ID.fullmatch(key):
        if not ctx.settings.legacy_links:
            return None
        file_id = await ctx.db.files.id_for_legacy(key)
        if file_id is None:
            return None
        key = file_id
    return await ctx.db.files.get_live(key, ctx.clock())


async def on_start(ctx: BotContext, client, message) -> None:
    payload = message.command[1] if len(message.command) > 1 else ""
    kind, _, key = payload.partition("_")
    if kind not in ("file", "stream") or not key:
        await answer(client, message, WELCOME)
        return
    record = await _live_file(ctx, key)
    if record is None:
        await answer(client, message, texts.FILE_NOT_FOUND)
        return
    record = await with_storage_copy(ctx, record, lambda text: answer(client, message, text))
    if record is None:
        return
    if kind == "file":
        await client.copy_message(message.chat.id, record.storage_chat_id, record.storage_message_id)
        return
    text, markup = file_links(ctx, record)
    await answer(client, message, text, markup=markup)


async def on_help(ctx: BotContext, client, message) -> None:
    lines = commands.help_lines(for_owner=ctx.is_owner(message.from_user.id if message.from_user else None))
    lines.append("Send me a file - get its stream and download links")
    await answer(client, message, escape_html("\n".join(lines)))


async def on_about(ctx: BotContext, client, message) -> None:
    uptime = (ctx.clock() - ctx.started_at).total_seconds()
    settings = ctx.settings
    await answer(client, message, texts.about(FileStream.__version__, uptime, len(ctx.pool.members),
                                              settings.file_ttl, settings.channel_file_ttl))


async def on_anything_else(ctx: BotContext, client, message) -> None:
    await answer(client, message, texts.HELP_FOR_NON_FILES)


async def on_unknown_button(ctx: BotContext, client, query) -> None:
    # Answered, or the person's client shows a spinner until it gives up; a toast, not an alert.
    await query.answer(texts.UNKNOWN_BUTTON)


def register(client, ctx: BotContext) -> None:
    on_message(client, ctx, on_start, filters.private & filters.command("start"))
    on_message(client, ctx, on_help, filters.private & filters.command("help"))
    on_message(client, ctx, on_about, filters.private & filters.command("about"))
    on_message(client, ctx, on_anything_else, filters.private, group=FALLBACK_GROUP)
    on_callback(client, ctx, on_unknown_button, group=FALLBACK_GROUP)
