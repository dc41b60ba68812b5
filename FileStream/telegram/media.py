"""What FileStream needs to know of a Telegram message's media, and where each bot reads it."""

from __future__ import annotations

import mimetypes
from collections import OrderedDict
from dataclasses import dataclass

from pyrogram import raw
from pyrogram.file_id import FileId, FileType

# Kinds of media a person can send that FileStream streams, in the order checked.
MEDIA_KINDS = ("document", "video", "audio", "voice", "animation", "video_note", "photo", "sticker")


@dataclass(frozen=True, slots=True)
class MediaFacts:
    """The facts of one message's file that the file record keeps."""

    kind: str
    file_name: str
    file_size: int
    mime_type: str
    file_unique_id: str
    dc_id: int
    duration: float | None = None   # seconds (audio, video, voice, animation, video note)


def media_of(message):
    """The message's media object and its kind, or (None, None) for a message without a file."""
    for kind in MEDIA_KINDS:
        media = getattr(message, kind, None)
        if media is not None:
            return media, kind
    return None, None


def facts_of(message) -> MediaFacts | None:
    media, kind = media_of(message)
    if media is None:
        return None
    file_id = FileId.decode(media.file_id)
    mime = getattr(media, "mime_type", None) or ""
    name = getattr(media, "file_name", None) or ""
    if not name:
        extension = mimetypes.guess_extension(mime) if mime else None
        if kind == "photo":
            extension = ".jpg"
        name = f"{kind}_{message.id}{extension or ''}"
    if not mime:
        mime = "image/jpeg" if kind == "photo" else (mimetypes.guess_type(name)[0] or "application/octet-stream")
    duration = getattr(media, "duration", None)
    return MediaFacts(kind=kind, file_name=name, file_size=int(media.file_size or 0), mime_type=mime,
                      file_unique_id=media.file_unique_id, dc_id=file_id.dc_id,
                      duration=float(duration) if isinstance(duration, (int, float)) and duration > 0 else None)


def location_of(message):
    """The InputFileLocation through which this bot may download the message's file, and its DC."""
    media, _ = media_of(message)
    if media is None:
        return None, 0
    file_id = FileId.decode(media.file_id)
    if file_id.file_type == FileType.PHOTO:
        location = raw.types.InputPhotoFileLocation(
            id=file_id.media_id, access_hash=file_id.access_hash,
            file_reference=file_id.file_reference, thumb_size=file_id.thumbnail_size)
    else:
        location = raw.types.InputDocumentFileLocation(
            id=file_id.media_id, access_hash=file_id.access_hash,
            file_reference=file_id.file_reference, thumb_size="")
    return location, file_id.dc_id


class LocationCache:
    """File locations per (bot, storage message): file ids and references are per bot.

    Bounded, least recently used first out; a FILE_REFERENCE_EXPIRED answer evicts the
    entry so the next read fetches the message again.
    """

    def __init__(self, capacity: int = 4096) -> None:
        self._capacity = capacity
        self._entries: OrderedDict[tuple[str, int, int], tuple[object, int]] = OrderedDict()

    def get(self, key: tuple[str, int, int]):
        entry = self._entries.get(key)
        if entry is not None:
            self._entries.move_to_end(key)
        return entry

    def put(self, key: tuple[str, int, int], value: tuple[object, int]) -> None:
        self._entries[key] = value
        self._entries.move_to_end(key)
        while len(self._entries) > self._capacity:
            self._entries.popitem(last=False)

    def evict(self, key: tuple[str, int, int]) -> None:
        self._entries.pop(key, None)
