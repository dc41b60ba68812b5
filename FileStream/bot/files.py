"""/files: a person's own files with working links, a page at a time; each opens a card with
its links, the time left and a delete button that ends the links."""

from __future__ import annotations

import logging
import math

from pyrogram import filters

from FileStream.bot import keyboards, texts
from FileStream.bot.context import BotContext
from FileStream.bot.replies import answer, edit
from FileStream.bot.routing import on_callback, on_message
from FileStream.bot.stored import with_storage_copy

log = logging.getLogger(__name__)

PAGE_SIZE = 10


async def on_files(ctx: BotContext, client, message) -> None:
    text, markup = await _page(ctx, message.from_user.id, 0)
    await answer(client, message, text, markup=markup)


async def on_files_page(ctx: BotContext, client, query) -> None:
    page = _int(query.data.removeprefix(keyboards.FILES_PAGE))
    text, markup = await _page(ctx, query.from_user.id, page)
    await query.answer()
    await edit(client, query.message.chat.id, query.message.id, text, markup=markup)


async def on_file_card(ctx: BotContext, client, query) -> None:
    file = await _own_live_file(ctx, query, query.data.removeprefix(keyboards.FILE_CARD))
    if file is None:
        return
    file = await with_storage_copy(ctx, file, lambda text: query.answer(text, show_alert=True))
    if file is None:
        return
    links = ctx.links.links(file)
    show = ctx.settings.generate_download_links
    await query.answer()
    await edit(client, query.message.chat.id, query.message.id,
               texts.file_card(file, links, ctx.clock(), show_download=show),
               markup=keyboards.file_card_keyboard(file.id, links if ctx.link_buttons else None, show_download=show))


async def on_file_delete(ctx: BotContext, client, query) -> None:
    file = await _own_live_file(ctx, query, query.data.removeprefix(keyboards.FILE_DELETE))
    if file is None:
        return
    await ctx.db.files.delete(file.id)
    log.info("File %s deleted by its owner %s", file.ref, file.owner_id)
    if file.has_storage_copy:  # a migrated file never used has nothing stored to remove
        try:
            await client.delete_messages(file.storage_chat_id, file.storage_message_id)
        except Exception as error:  # noqa: BLE001 - the links already ended with the record
            log.warning("Could not delete the stored copy of file %s: %s", file.ref, error)
    await query.answer("Deleted.")
    await edit(client, query.message.chat.id, query.message.id, texts.file_deleted(file.file_name),
               markup=keyboards.back_to_files())


async def _page(ctx: BotContext, owner_id: int, page: int):
    files, total = await ctx.db.files.list_by_owner(owner_id, ctx.clock(), page, PAGE_SIZE)
    if total == 0:
        return texts.NO_FILES, None
    pages = math.ceil(total / PAGE_SIZE)
    if not files:  # the page emptied since the button was made (expiry, deletes)
        page = pages - 1
        files, total = await ctx.db.files.list_by_owner(owner_id, ctx.clock(), page, PAGE_SIZE)
    return texts.files_page(total, page, pages), keyboards.files_page_keyboard(files, page, pages)


async def _own_live_file(ctx: BotContext, query, file_id: str):
    """The file if it is still live and the person's own; otherwise they are told why."""
    file = await ctx.db.files.get_live(file_id, ctx.clock())
    if file is None:
        await query.answer(texts.FILE_GONE, show_alert=True)
        return None
    if file.owner_id != query.from_user.id:
        await query.answer(texts.NOT_YOUR_FILE, show_alert=True)
        return None
    return file


def _int(text: str) -> int:
    try:
        return max(0, int(text))
    except ValueError:
        return 0


def _starts(prefix: str):
    return filters.create(lambda _, __, query: isinstance(query.data, str) and query.data.startswith(prefix))


def register(client, ctx: BotContext) -> None:
    on_message(client, ctx, on_files, filters.private & filters.command("files"))
    on_callback(client, ctx, on_files_page, _starts(keyboards.FILES_PAGE))
    on_callback(client, ctx, on_file_card, _starts(keyboards.FILE_CARD))
    on_callback(client, ctx, on_file_delete, _starts(keyboards.FILE_DELETE))
