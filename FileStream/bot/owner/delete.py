"""/del <file id or link>: the owner removes any file; its links stop working at once."""

from __future__ import annotations

import logging
import re
from urllib.parse import urlsplit

from FileStream.bot.context import BotContext
from FileStream.bot.owner.guard import argument, on_owner_command
from FileStream.bot.replies import answer
from FileStream.core.formatting import escape_html, human_size
from FileStream.core.tokens import read_link_token

log = logging.getLogger(__name__)

USAGE = ("Usage: /del &lt;file id or link&gt;. Paste a Stream, Download or player link the bot gave, "
         "or the file id.")
_FILE_ID = re.compile(r"^[A-Za-z0-9_-]{16}$")
_LINK_KINDS = ("dl", "stream", "watch")


def file_id_from(text: str, secret: bytes) -> str | None:
    """The file id named by a link (/dl/<token>/…, /stream/<token>/…, /watch/<token>),
    a bare token, or a raw file id; None when `text` is none of those or the token is forged.
    """
    text = text.strip()
    if _FILE_ID.match(text):
        return text
    try:
        path = urlsplit(text).path
    except ValueError:  # not a URL at all, like "http://[" (an unclosed IPv6 host)
        return None
    segments = [s for s in path.split("/") if s]
    candidates = [segments[i + 1] for i, s in enumerate(segments[:-1]) if s in _LINK_KINDS]
    for token in candidates or [text]:
        claim = read_link_token(secret, token)
        if claim is not None:
            return claim.file_id
    return None


async def on_delete(ctx: BotContext, client, message) -> None:
    wanted = argument(message)
    file_id = file_id_from(wanted, ctx.links.secret) if wanted else None
    if file_id is None:
        await answer(client, message, USAGE)
        return
    record = await ctx.db.files.get(file_id)
    if record is None or not await ctx.db.files.delete(file_id):
        await answer(client, message, "There is no such file: it was deleted already or never existed.")
        return
    log.info("Owner %s deleted file %s (%s)", message.from_user.id, record.ref, record.file_name)
    done = f"Deleted <b>{escape_html(record.file_name)}</b> ({human_size(record.file_size)}). Its links no longer work."
    if not record.has_storage_copy:  # migrated from FileStreamBot and never used: nothing stored
        await answer(client, message, done)
        return
    try:
        await client.delete_messages(record.storage_chat_id, record.storage_message_id)
    except Exception as error:  # noqa: BLE001 - the record is gone; the owner is told what is left
        log.warning("File %s: could not delete stored message %s in %s: %s", record.ref,
                    record.storage_message_id, record.storage_chat_id, error)
        done += (f"\nThe stored copy (message {record.storage_message_id} in the storage channel) could not be "
                 f"removed: {escape_html(str(error))}. You can delete it there by hand.")
    await answer(client, message, done)


def register(client, ctx: BotContext) -> None:
    on_owner_command(client, ctx, "del", on_delete)
