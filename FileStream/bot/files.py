"""/files: a person's own bundles and files with working links, a page at a time; each opens a card
with its links, the time left and a delete button that ends the links."""

from __future__ import annotations

import logging
import math

from pyrogram import filters

from FileStream.bot import keyboards, texts
from FileStream.bot.context import BotContext
from FileStream.bot.replies import answer, edit
from FileStream.bot.routing import data_starts_with, on_callback, on_message
from FileStream.bot.stored import with_storage_copy

log = logging.getLogger(__name__)

PAGE_SIZE = 10
# Page numbers come back from the person's client in callback data, which a client may
# fill as it likes; beyond this the number is not ours (and would overflow MongoDB's skip).
MAX_PAGE = 99_999


async def on_files(ctx: BotContext, client, message) -> None:
    text, markup = await _page(ctx, message.from_user.id, 0)
    await answer(client, message, text, markup=markup)


async def on_files_page(ctx: BotContext, client, query) -> None:
    page = _page_number(query.data.removeprefix(keyboards.FILES_PAGE))
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
    usage = await ctx.db.usage.of_file(file.id)
    await query.answer()
    await edit(client, query.message.chat.id, query.message.id,
               texts.file_card(file, links, ctx.clock(), show_download=show, usage=usage),
               markup=keyboards.file_card_keyboard(file.id, links if ctx.link_buttons else None, show_download=show))


async def on_file_delete(ctx: BotContext, client, query) -> None:
    file = await _own_live_file(ctx, query, query.data.removeprefix(keyboards.FILE_DELETE))
    if file is None:
        return
    if file.has_storage_copy:
        # The copy first, then the record (a copy that cannot be deleted now leaves the record
        # expired, for the expiry job to try again: the record is the only way to find it).
        await ctx.intake.discard(file)
    else:  # a migrated file never used has nothing stored to remove
        await ctx.db.files.delete(file.id)
    log.info("File %s deleted by its owner %s", file.ref, file.owner_id)
    await query.answer(texts.DELETED)
    await edit(client, query.message.chat.id, query.message.id, texts.file_deleted(file.file_name),
               markup=keyboards.back_to_files())


async def _page(ctx: BotContext, owner_id: int, page: int):
    bundles, files, total = await _entries(ctx, owner_id, page)
    if total == 0:
        return texts.NO_FILES, None
    pages = math.ceil(total / PAGE_SIZE)
    if not files and not bundles:  # the page emptied since the button was made (expiry, deletes)
        page = pages - 1
        bundles, files, total = await _entries(ctx, owner_id, page)
    return texts.files_page(total, page, pages), keyboards.files_page_keyboard(files, page, pages, bundles)


async def _entries(ctx: BotContext, owner_id: int, page: int):
    """One page of the person's bundles (first, each one entry) then their files outside bundles."""
    now, skip = ctx.clock(), page * PAGE_SIZE
    bundles, bundle_total = await ctx.db.bundles.list_by_owner(owner_id, now, skip=skip, limit=PAGE_SIZE)
    files, file_total = await ctx.db.files.list_alone(owner_id, now, skip=max(0, skip - bundle_total),
                                                      limit=PAGE_SIZE - len(bundles))
    return bundles, files, bundle_total + file_total


async def on_bundle_card(ctx: BotContext, client, query) -> None:
    found = await _own_live_bundle(ctx, query, query.data.removeprefix(keyboards.BUNDLE_CARD))
    if found is None:
        return
    bundle, files = found
    links = ctx.links.bundle_links(bundle)
    usage = await ctx.db.usage.of_files([f.id for f in files])
    await query.answer()
    await edit(client, query.message.chat.id, query.message.id,
               texts.bundle_card(bundle, links, files, ctx.clock(), usage=usage),
               markup=keyboards.bundle_card_keyboard(bundle.id, links))


async def on_bundle_delete(ctx: BotContext, client, query) -> None:
    found = await _own_live_bundle(ctx, query, query.data.removeprefix(keyboards.BUNDLE_DELETE))
    if found is None:
        return
    bundle, _files = found
    await ctx.bundles.delete(bundle)
    log.info("Bundle %s deleted by its owner %s", bundle.ref, bundle.owner_id)
    await query.answer(texts.DELETED)
    await edit(client, query.message.chat.id, query.message.id, texts.bundle_deleted(bundle.title),
               markup=keyboards.back_to_files())


async def _own_live_bundle(ctx: BotContext, query, bundle_id: str):
    found = await ctx.bundles.live_bundle(bundle_id) if ctx.bundles is not None else None
    if found is None:
        await query.answer(texts.FILE_GONE, show_alert=True)
        return None
    if found[0].owner_id != query.from_user.id:
        await query.answer(texts.NOT_YOUR_FILE, show_alert=True)
        return None
    return found


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


def _page_number(text: str) -> int:
    """The page a button asks for; anything the bot would not have written means the first page,
    and a page past the end is shown as the last one (see _page)."""
    if not (text.isascii() and text.isdigit()):
        return 0
    return min(int(text[:6]), MAX_PAGE)


def register(client, ctx: BotContext) -> None:
    on_message(client, ctx, on_files, filters.private & filters.command("files"))
    on_callback(client, ctx, on_files_page, data_starts_with(keyboards.FILES_PAGE))
    on_callback(client, ctx, on_file_card, data_starts_with(keyboards.FILE_CARD))
    on_callback(client, ctx, on_file_delete, data_starts_with(keyboards.FILE_DELETE))
    on_callback(client, ctx, on_bundle_card, data_starts_with(keyboards.BUNDLE_CARD))
    on_callback(client, ctx, on_bundle_delete, data_starts_with(keyboards.BUNDLE_DELETE))
