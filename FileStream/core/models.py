"""The records FileStream passes between its layers (no I/O here)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class StoredFile:
    """A file kept in the storage channel and served by its links.

    `id` is the public file id: 12 random bytes, base64url (16 characters). It appears in
    deep links (`file_<id>`) and inside link tokens; it is never enough on its own to
    open a link (tokens carry an HMAC).
    """

    id: str
    file_name: str
    file_size: int
    mime_type: str
    file_unique_id: str      # Telegram's stable identity of the bytes: the ETag
    media_type: str          # document, video, audio, voice, animation, video_note, photo, sticker
    dc_id: int               # the DC that holds the bytes
    storage_chat_id: int     # BIN_CHANNEL
    storage_message_id: int  # the copy in BIN_CHANNEL every bot reads for its own file_id
    created_at: datetime     # timezone-aware UTC; Last-Modified
    expires_at: datetime | None  # None: never expires (channel files by default)
    owner_id: int | None = None  # the person who sent it; None for channel posts
    source: str = "private"  # "private", "channel" or "upload"

    def is_expired(self, now: datetime) -> bool:
        return self.expires_at is not None and now >= self.expires_at
