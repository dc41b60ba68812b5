"""File ids as a bot token knows them: made for one token, refused with any other.

Telegram's file ids are per bot: an id one bot got cannot be used by another, nor by the
same bot after its token was revoked. The world keeps one access hash per document (what
bots read from messages); an id made here carries an access hash derived from the token
instead, so only that token's sends accept it (methods/cached_media.py checks it).

Tests use `file_id_for(bot, media)` to stand for ids a bot got long ago, like the ones
FileStreamBot kept in its database without any message to read them again from.
"""

from __future__ import annotations

import hashlib

from pyrogram.file_id import FileId, FileType, FileUniqueId, FileUniqueType, ThumbnailSource

from .world import Bot, Document, Media, Photo

_FILE_TYPES = {
    "document": FileType.DOCUMENT,
    "video": FileType.VIDEO,
    "audio": FileType.AUDIO,
    "voice": FileType.VOICE,
    "animation": FileType.ANIMATION,
}
PHOTO_THUMB_SIZE = "y"  # the one size render.photo() lists


def token_access_hash(media: Media, token: str) -> int:
    """The access hash an id made for `token` carries for `media` (never the world's own)."""
    digest = hashlib.sha256(b"%d:%s" % (media.access_hash, token.encode())).digest()
    value = int.from_bytes(digest[:8], "little", signed=True)
    return value if value != media.access_hash else value ^ 1


def file_id_for(bot: Bot, media: Media) -> str:
    """A file id (pyrogram/Bot API form) that `bot`'s current token may send by id."""
    access_hash = token_access_hash(media, bot.token)
    if isinstance(media, Photo):
        return FileId(file_type=FileType.PHOTO, dc_id=media.dc_id, media_id=media.id, access_hash=access_hash,
                      file_reference=media.file_reference, thumbnail_source=ThumbnailSource.THUMBNAIL,
                      thumbnail_file_type=FileType.PHOTO, thumbnail_size=PHOTO_THUMB_SIZE,
                      volume_id=0, local_id=0).encode()
    return FileId(file_type=_FILE_TYPES.get(media.kind, FileType.DOCUMENT), dc_id=media.dc_id, media_id=media.id,
                  access_hash=access_hash, file_reference=media.file_reference).encode()


def file_unique_id_of(media: Media) -> str:
    """The file_unique_id every bot sees for `media` (the same for all tokens)."""
    return FileUniqueId(file_unique_type=FileUniqueType.DOCUMENT, media_id=media.id).encode()


def accepts(media: Document | Photo, access_hash: int, token: str) -> bool:
    """True when an id carrying `access_hash` may be used by `token`: read from a message, or made for it."""
    return access_hash in (media.access_hash, token_access_hash(media, token))
