"""messages.sendMedia by file id: an id made for another bot token is FILE_ID_INVALID.

Wraps the sendMedia handler of messages.py (registered before this module): an
InputMediaDocument/InputMediaPhoto naming a known media by an access hash this bot may
not use is refused; one made for this bot's token (tgserver.file_ids) is accepted and
passed on as the world's own access hash. Nothing is uploaded: the message shares the media.
"""

from __future__ import annotations

from pyrogram import raw

from ..errors import RpcFail
from ..file_ids import accepts
from . import HANDLERS, rpc

_send_media = HANDLERS[raw.functions.messages.SendMedia].fn


def _by_id(ctx, value):
    """The media an InputMediaDocument/Photo names, or None for other kinds and unknown ids."""
    if isinstance(value, raw.types.InputMediaDocument) and isinstance(value.id, raw.types.InputDocument):
        return ctx.world.documents.get(value.id.id)
    if isinstance(value, raw.types.InputMediaPhoto) and isinstance(value.id, raw.types.InputPhoto):
        return ctx.world.photos.get(value.id.id)
    return None


@rpc(raw.functions.messages.SendMedia)
async def send_media(ctx, q):
    media = _by_id(ctx, q.media)
    if media is not None:
        if not accepts(media, q.media.id.access_hash, ctx.me.token if ctx.me.is_bot else ""):
            raise RpcFail(400, "FILE_ID_INVALID")
        q.media.id.access_hash = media.access_hash
    return await _send_media(ctx, q)
