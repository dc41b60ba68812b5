"""/start (with its deep links), /help, and a short answer to anything else."""

from __future__ import annotations

import logging

from pyrogram import filters

from FileStream.bot import keyboards, texts
from FileStream.bot.context import BotContext
from FileStream.bot.replies import answer
from FileStream.bot.routing import FALLBACK_GROUP, on_message

log = logging.getLogger(__name__)

WELCOME = (
    "Hi! Send me a file and I will give you links to stream it in a browser or a player "
    "and to download it. /help lists every command."
)
HELP = "\n".join([
    "/start - welcome",
    "/help - this list",
    "Send a file - get its stream and download links",
])


async def _live_file(ctx: BotContext, file_id: str):
    return await ctx.db.files.get_live(file_id, ctx.clock())


async def on_start(ctx: BotContext, client, message) -> None:
    payload = message.command[1] if len(message.command) > 1 else ""
    if payload.startswith("file_"):
        record = await _live_file(ctx, payload[5:])
        if record is None:
            await answer(client, message, texts.FILE_NOT_FOUND)
            return
        await client.copy_message(message.chat.id, record.storage_chat_id, record.storage_message_id)
        return
    if payload.startswith("stream_"):
        record = await _live_file(ctx, payload[7:])
        if record is None:
            await answer(client, message, texts.FILE_NOT_FOUND)
            return
        links = ctx.links.links(record)
        show = ctx.settings.generate_download_links
        await answer(client, message, texts.file_ready(record, links, ctx.clock(), show_download=show),
                     markup=keyboards.file_links_keyboard(links, show_download=show))
        return
    await answer(client, message, WELCOME)


async def on_help(ctx: BotContext, client, message) -> None:
    await answer(client, message, HELP)


async def on_anything_else(ctx: BotContext, client, message) -> None:
    await answer(client, message, texts.HELP_FOR_NON_FILES)


def register(client, ctx: BotContext) -> None:
    on_message(client, ctx, on_start, filters.private & filters.command("start"))
    on_message(client, ctx, on_help, filters.private & filters.command("help"))
    on_message(client, ctx, on_anything_else, filters.private, group=FALLBACK_GROUP)
