"""A person sends a file in private chat and gets its links."""

from __future__ import annotations

import logging

from pyrogram import filters

from FileStream.bot import keyboards, texts
from FileStream.bot.context import BotContext
from FileStream.bot.replies import answer
from FileStream.core.formatting import escape_html
from FileStream.bot.routing import on_message
from FileStream.services.intake import IntakeError

log = logging.getLogger(__name__)

FILE_MESSAGES = filters.private & (
    filters.document | filters.video | filters.audio | filters.voice | filters.animation | filters.photo
    | filters.video_note
)


async def on_private_file(ctx: BotContext, client, message) -> None:
    person = message.from_user
    if person is not None and await ctx.db.users.is_banned(person.id):
        return
    try:
        record = await ctx.intake.take(message, owner_id=person.id if person else None, source="private",
                                       ttl_seconds=ctx.settings.file_ttl)
    except IntakeError as error:
        await answer(client, message, escape_html(error.reason), quote=True)
        return
    except Exception:  # noqa: BLE001 - the person gets words, the log gets the traceback
        log.exception("Storing a file from %s failed", person.id if person else "?")
        await answer(client, message, texts.INTAKE_FAILED, quote=True)
        return
    links = ctx.links.links(record)
    show_download = ctx.settings.generate_download_links
    reply = await answer(client, message, texts.file_ready(record, links, ctx.clock(), show_download=show_download),
                         quote=True, markup=keyboards.file_links_keyboard(links, show_download=show_download))
    await ctx.db.files.set_link_message(record.id, reply.chat.id, reply.id)
    log.info("File %s (%s bytes) stored for %s", record.id, record.file_size, person.id if person else "?")


def register(client, ctx: BotContext) -> None:
    on_message(client, ctx, on_private_file, FILE_MESSAGES)
