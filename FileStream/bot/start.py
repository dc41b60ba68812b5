"""/start (with its deep links), /help, /about, and a short answer to anything else (messages and buttons)."""

from __future__ import annotations

import logging

from pyrogram import filters

import FileStream
from FileStream.bot import commands, texts
from FileStream.bot.context import BotContext
from FileStream.bot.replies import CHATTER, answer, file_links, post
from FileStream.bot.routing import FALLBACK_GROUP, on_callback, on_message
from FileStream.bot.stored import with_storage_copy
from FileStream.core.deep_links import SEND_FILE, parse_payload
from FileStream.core.formatting import escape_html
from FileStream.i18n import N_, _

log = logging.getLogger(__name__)

WELCOME = N_(
    "Hi! Send me a file and I will give you links to stream it in a browser or a player "
    "and to download it. /help lists every command."
)


async def on_start(ctx: BotContext, client, message) -> None:
    payload = message.command[1] if len(message.command) > 1 else ""
    if parse_payload(payload) is None:  # a plain /start, or a start parameter of someone else's
        await answer(client, message, _(WELCOME), kind=CHATTER)
        return
    person = message.from_user.id if message.from_user else None
    target = await ctx.deep_links.open(payload, person)
    if target is None:
        # Unknown, expired and someone else's private file all get the same words.
        await answer(client, message, texts.FILE_NOT_FOUND, kind=CHATTER)
        return
    record = await with_storage_copy(ctx, target.file, lambda text: answer(client, message, text))
    if record is None:
        return
    if target.action == SEND_FILE:
        await send_file(ctx, client, message, record)
        return
    text, markup = file_links(ctx, record)
    await answer(client, message, text, markup=markup)


async def send_file(ctx: BotContext, client, message, record) -> None:
    """Send the person the file itself, copied from whichever copy of it still exists."""
    chat_id = message.chat.id
    if ctx.keeper is None:
        post(client, chat_id, lambda: client.copy_message(chat_id, record.storage_chat_id, record.storage_message_id))
        return
    try:
        source = await ctx.keeper.readable(ctx.pool.main, record)
    except Exception as error:  # noqa: BLE001 - said in words; the log has the cause
        log.info("File %s could not be sent by deep link: %r", record.ref, error)
        gone = getattr(error, "http_status", None) == 410
        await answer(client, message, texts.FILE_GONE if gone else texts.FILE_NOT_NOW)
        return
    # Queued for the person's chat like every reply: the copy waits for its turn, not this worker.
    post(client, chat_id, lambda: source.copy(chat_id))


async def on_help(ctx: BotContext, client, message) -> None:
    lines = commands.help_lines(for_owner=ctx.is_owner(message.from_user.id if message.from_user else None))
    lines.append(texts.HELP_SEND_A_FILE)
    await answer(client, message, escape_html("\n".join(lines)), kind=CHATTER)


async def on_about(ctx: BotContext, client, message) -> None:
    uptime = (ctx.clock() - ctx.started_at).total_seconds()
    settings = ctx.settings
    await answer(client, message, texts.about(FileStream.__version__, uptime, len(ctx.pool.members),
                                              settings.file_ttl, settings.channel_file_ttl), kind=CHATTER)


async def on_anything_else(ctx: BotContext, client, message) -> None:
    await answer(client, message, texts.HELP_FOR_NON_FILES, kind=CHATTER)


async def on_unknown_button(ctx: BotContext, client, query) -> None:
    # Answered, or the person's client shows a spinner until it gives up; a toast, not an alert.
    await query.answer(texts.UNKNOWN_BUTTON)


def register(client, ctx: BotContext) -> None:
    on_message(client, ctx, on_start, filters.private & filters.command("start"))
    on_message(client, ctx, on_help, filters.private & filters.command("help"))
    on_message(client, ctx, on_about, filters.private & filters.command("about"))
    on_message(client, ctx, on_anything_else, filters.private, group=FALLBACK_GROUP)
    on_callback(client, ctx, on_unknown_button, group=FALLBACK_GROUP)
