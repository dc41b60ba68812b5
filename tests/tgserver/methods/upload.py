"""upload.getFile with Telegram's rules: offset/limit alignment, the file's DC, fresh references."""

from __future__ import annotations

import struct

from pyrogram import raw

from ..errors import RpcFail
from ..mtproto import Serialized
from . import rpc

MIB = 1 << 20
_FILE_HEAD = struct.pack("<II", raw.types.upload.File.ID, raw.types.storage.FilePartial.ID)


def check_block(offset: int, limit: int, precise: bool) -> None:
    """core.telegram.org/api/files#downloading-files: the rules a getFile block must follow."""
    if offset < 0 or offset % (1024 if precise else 4096):
        raise RpcFail(400, "OFFSET_INVALID")
    if limit <= 0:
        raise RpcFail(400, "LIMIT_INVALID")
    if precise:
        if limit % 1024 or limit > MIB:
            raise RpcFail(400, "LIMIT_INVALID")
    elif limit % 4096 or MIB % limit:
        raise RpcFail(400, "LIMIT_INVALID")
    if offset // MIB != (offset + limit - 1) // MIB:
        raise RpcFail(400, "LIMIT_INVALID")


def tl_bytes_prefix(length: int) -> bytes:
    if length <= 253:
        return bytes([length])
    return bytes([254]) + length.to_bytes(3, "little")


def file_answer(mtime: int, data) -> Serialized:
    """upload.file in wire form around a zero-copy view of the block."""
    length = len(data)
    padding = -(length + 1) % 4 if length <= 253 else -length % 4
    return Serialized([_FILE_HEAD, struct.pack("<i", mtime), tl_bytes_prefix(length), data, bytes(padding)])


@rpc(raw.functions.upload.GetFile)
async def get_file(ctx, q):
    location = q.location
    world = ctx.world
    if isinstance(location, raw.types.InputDocumentFileLocation):
        media = world.documents.get(location.id)
    elif isinstance(location, raw.types.InputPhotoFileLocation):
        media = world.photos.get(location.id)
    else:
        raise RpcFail(400, f"LOCATION_NOT_SUPPORTED_{type(location).__name__}")
    if media is None or media.access_hash != location.access_hash:
        raise RpcFail(400, "LOCATION_INVALID")
    content = media.content
    if isinstance(location, raw.types.InputDocumentFileLocation) and location.thumb_size:
        # A document's thumbnail: its own bytes, named by type.
        thumb = media.thumb_of_type(location.thumb_size)
        if thumb is None:
            raise RpcFail(400, "LOCATION_INVALID")
        content = thumb.content
    if isinstance(location, raw.types.InputPhotoFileLocation):
        # A photo is read one size at a time; thumb_size names which.
        size = media.size_of_type(location.thumb_size)
        if size is None:
            raise RpcFail(400, "LOCATION_INVALID")
        content = size.content
    check_block(q.offset, q.limit, bool(q.precise))
    if media.dc_id != ctx.dc_id:
        raise RpcFail(303, f"FILE_MIGRATE_{media.dc_id}")
    if location.file_reference != media.file_reference:
        raise RpcFail(400, "FILE_REFERENCE_EXPIRED")
    if q.offset >= content.size:
        data = b""
    else:
        data = content.read(q.offset, min(q.limit, content.size - q.offset))
    return file_answer(media.date, data)
