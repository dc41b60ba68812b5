"""/del <file id or link>: the owner removes any file or bundle; its links stop working at once.

Any link the bot gave names what it deletes (core/link_targets.py): a file's Stream,
Download or player link, a deep link, or the file id deletes that file; a bundle's link
(its page, ZIP or playlist) deletes the bundle and every file in it, as the bundle's
Delete button in /files does: the files were sent together and are listed only by their
bundle, so a bundle gone with its files left behind would leave them where nobody sees
them. FileStreamBot's old links of migrated files (/dl/<id>, /watch/<id>, file_<id>
deep links, the bare id) name the file they were made for.
"""

from __future__ import annotations

import logging

from FileStream.bot.context import BotContext
from FileStream.bot.owner.guard import argument, on_owner_command
from FileStream.bot.replies import answer
from FileStream.core.formatting import escape_html, human_size
from FileStream.core.link_targets import BUNDLE, DEEP_LINK, OLD_FILE, link_target
from FileStream.core.models import StoredFile
from FileStream.services.mirror import delete_mirror_copy

log = logging.getLogger(__name__)

USAGE = ("Usage: /del &lt;file id or link&gt;. Paste a Stream, Download, player or bundle link the bot gave "
         "(an old FileStreamBot link works too), or the file id.")
NO_FILE = "There is no such file: it was deleted already or never existed."
NO_BUNDLE = "There is no such bundle: it was deleted already or never existed."
NO_OLD_FILE = ("No file migrated from FileStreamBot has that id: it was deleted already, "
               "or it was never migrated (see migrate_files.py).")
NO_DEEP_LINK_FILE = "That deep link opens no file any more: the file expired or was deleted."


async def on_delete(ctx: BotContext, client, message) -> None:
    wanted = argument(message)
    target = link_target(wanted, ctx.links.secret) if wanted else None
    if target is None:
        await answer(client, message, USAGE)
    elif target.kind == BUNDLE:
        await answer(client, message, await _delete_bundle(ctx, target.key, message.from_user.id))
    else:
        record, missing = await _find_file(ctx, target.kind, target.key)
        if record is None:
            await answer(client, message, missing)
        else:
            await answer(client, message, await _delete_file(ctx, client, record, message.from_user.id))


async def _find_file(ctx: BotContext, kind: str, key: str) -> tuple[StoredFile | None, str]:
    """The record a file target names (expired ones too, except through a deep link) and, when
    there is none, the words that say so."""
    if kind == OLD_FILE:
        file_id = await ctx.db.files.id_for_legacy(key)
        return (None if file_id is None else await ctx.db.files.get(file_id)), NO_OLD_FILE
    if kind == DEEP_LINK:
        return await ctx.deep_links.find_file(key), NO_DEEP_LINK_FILE
    return await ctx.db.files.get(key), NO_FILE


async def _delete_file(ctx: BotContext, client, record: StoredFile, owner_id: int) -> str:
    done = f"Deleted <b>{escape_html(record.file_name)}</b> ({human_size(record.file_size)}). Its links no longer work."
    if record.has_storage_copy:   # migrated from FileStreamBot and never used: nothing stored
        # The copy first, the record after: the record is the only way to find the copy again.
        try:
            await client.delete_messages(record.storage_chat_id, record.storage_message_id)
        except Exception as error:  # noqa: BLE001 - the owner is told what is left
            log.warning("File %s: could not delete stored message %s in %s: %s", record.ref,
                        record.storage_message_id, record.storage_chat_id, error)
            # Its links stop now; the expiry job deletes the copy, then the record.
            await ctx.db.files.expire_now(record.id, ctx.clock())
            return done + (f"\nThe stored copy (message {record.storage_message_id} in the storage channel) could "
                           f"not be removed yet: {escape_html(str(error))}. It is tried again with the expired "
                           "files; you can also delete it there by hand.")
    taken = await ctx.db.files.take_out(record.id)
    if taken is None:
        return NO_FILE
    # After the record: a mirror copy recorded meanwhile is in `taken` (one recorded later finds
    # no record and is deleted by the mirror pass).
    await delete_mirror_copy(client, taken)
    log.info("Owner %s deleted file %s (%s)", owner_id, record.ref, record.file_name)
    return done


async def _delete_bundle(ctx: BotContext, bundle_id: str, owner_id: int) -> str:
    bundle = await ctx.db.bundles.get(bundle_id)
    if bundle is None or ctx.bundles is None:
        return NO_BUNDLE
    records = await ctx.db.files.get_many(list(bundle.file_ids))
    if not await ctx.bundles.delete(bundle):
        return NO_BUNDLE
    log.info("Owner %s deleted bundle %s with its %d files", owner_id, bundle.ref, len(records))
    title = escape_html(bundle.title)
    if not records:
        return f"Deleted the bundle <b>{title}</b>; its files were gone already. Its links no longer work."
    files = "its file" if len(records) == 1 else f"its {len(records)} files"
    size = human_size(sum(record.file_size for record in records.values()))
    return f"Deleted the bundle <b>{title}</b> and {files} ({size}). Its links and its files' links no longer work."


def register(client, ctx: BotContext) -> None:
    on_owner_command(client, ctx, "del", on_delete)
