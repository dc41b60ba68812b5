"""The records FileStream passes between its layers (no I/O here)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from FileStream.core.tokens import log_ref


@dataclass(frozen=True, slots=True)
class StoredFile:
    """A file kept in the storage channel and served by its links.

    `id` is the file id: 12 random bytes, base64url (16 characters). It is the first part
    of every link token, so it is never logged (logs name a file by `ref`) and never put
    in a deep link; it is never enough on its own to open a link (tokens carry an HMAC).
    `deep_link_key` is a separate random key for deep links into the bot; only files meant
    to be shared that way (auth channel posts) have one.
    """

    id: str
    file_name: str
    file_size: int
    mime_type: str
    file_unique_id: str      # Telegram's stable identity of the bytes: the ETag
    media_type: str          # document, video, audio, voice, animation, video_note, photo, sticker
    dc_id: int               # the DC that holds the bytes
    # The copy in BIN_CHANNEL every bot reads for its own file_id. None for a file migrated
    # from FileStreamBot until its copy is made (services/storage_copies.py).
    storage_chat_id: int | None
    storage_message_id: int | None
    created_at: datetime     # timezone-aware UTC; Last-Modified
    expires_at: datetime | None  # None: never expires (channel files by default)
    owner_id: int | None = None  # the person who sent it; None for channel posts
    source: str = "private"  # "private", "channel" or "upload"
    duration: float | None = None  # seconds, for audio and video when Telegram says
    bundle_id: str | None = None   # the bundle it was sent in; such files are listed by their bundle
    crc32: int | None = None       # CRC-32 of the bytes, once a ZIP download computed it
    deep_link_key: str | None = None  # t.me/<bot>?start=file_<key>; None: no deep links
    # A second copy in MIRROR_CHANNEL (services/mirror.py); None until it is made.
    mirror_chat_id: int | None = None
    mirror_message_id: int | None = None
    # The message the file was sent in (the person's chat with the bot, or the auth-channel
    # post): the last place a lost copy can be made again from (services/healing.py).
    origin_chat_id: int | None = None
    origin_message_id: int | None = None
    lost_at: datetime | None = None  # when every copy and the original were found gone: links answer 410

    @property
    def ref(self) -> str:
        """The file's name in logs: opens nothing (see core.tokens.log_ref)."""
        return log_ref(self.id)

    @property
    def has_storage_copy(self) -> bool:
        return bool(self.storage_chat_id and self.storage_message_id)

    @property
    def has_mirror_copy(self) -> bool:
        return bool(self.mirror_chat_id and self.mirror_message_id)

    def is_expired(self, now: datetime) -> bool:
        return self.expires_at is not None and now >= self.expires_at


@dataclass(frozen=True, slots=True)
class Bundle:
    """Several stored files behind one link: an album, or files sent between /bundle and /done.

    `id` is a public id like a file's (16 base64url characters) and appears inside bundle
    link tokens. `file_ids` are in the order the person sent the files. A bundle lives as
    long as its files: they all share its `expires_at`.
    """

    id: str
    title: str
    file_ids: tuple[str, ...]
    created_at: datetime
    expires_at: datetime | None
    owner_id: int | None = None
    source: str = "private"  # "private" or "channel"

    @property
    def ref(self) -> str:
        """The bundle's name in logs: opens nothing (its id is inside its link tokens)."""
        return log_ref(self.id)

    def is_expired(self, now: datetime) -> bool:
        return self.expires_at is not None and now >= self.expires_at
