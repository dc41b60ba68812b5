"""Posters and covers: a file's Telegram thumbnail, fetched once through the pool and kept in a bounded cache."""

from __future__ import annotations

import asyncio
import logging

from cachetools import LRUCache
from pyrogram import raw
from pyrogram.file_id import FileId, FileType

from FileStream.core.models import StoredFile
from FileStream.telegram.media import media_of
from FileStream.telegram.media_sessions import MediaSessions
from FileStream.telegram.pool import BotPool

log = logging.getLogger(__name__)

# Telegram's thumbnails are small JPEGs (320 px wide at most, a few dozen KiB); a bigger
# answer is not a thumbnail we want to keep.
MAX_THUMBNAIL_BYTES = 512 * 1024
_READ_LIMIT = MAX_THUMBNAIL_BYTES  # one getFile block: a power of two, so any offset 0 read is valid
# The cache holds this many bytes of images, least recently shown first out (~1000 posters).
CACHE_BYTES = 32 * 1024 * 1024
# A file without a thumbnail is remembered too, so its page views do not ask Telegram again.
_NONE_SIZE = 64


class ThumbnailTooLarge(Exception):
    """Telegram's answer for a thumbnail was larger than MAX_THUMBNAIL_BYTES."""


class Thumbnails:
    """Implements the web layer's Thumbnails port.

    Cached by `file_unique_id` (the same bytes sent twice are one file), so each file's
    thumbnail is fetched once however many people open its page at the same moment; a
    failed fetch is not remembered and the next request tries again.
    """

    def __init__(self, pool: BotPool, sessions: MediaSessions, *, cache_bytes: int = CACHE_BYTES,
                 timeout: float = 15.0, read_message=None) -> None:
        """`read_message(member, file)`: the message holding the file, from whichever copy of it
        still exists (services/healing.py); None: its storage message."""
        self._pool = pool
        self._read_message = read_message
        self._sessions = sessions
        self._timeout = timeout
        self._cache: LRUCache[str, bytes | None] = LRUCache(
            maxsize=cache_bytes, getsizeof=lambda image: len(image) if image else _NONE_SIZE)
        self._fetches: dict[str, asyncio.Future] = {}
        self.fetched = 0   # fetches from Telegram, for tests and logs

    async def thumbnail(self, file: StoredFile) -> bytes | None:
        key = file.file_unique_id
        if key in self._cache:
            return self._cache[key]
        pending = self._fetches.get(key)
        if pending is None:
            pending = self._fetches[key] = asyncio.ensure_future(self._fetch_and_keep(key, file))
            pending.add_done_callback(lambda _f: self._fetches.pop(key, None))
        # Shielded: one person closing the page must not cancel the fetch the others wait for.
        return await asyncio.shield(pending)

    async def _fetch_and_keep(self, key: str, file: StoredFile) -> bytes | None:
        image = await asyncio.wait_for(self._fetch(file), self._timeout)
        self._cache[key] = image
        return image

    async def _fetch(self, file: StoredFile) -> bytes | None:
        member = self._pool.pick()
        with self._pool.request_lease(member):
            if self._read_message is not None:
                message = await self._read_message(member, file)
            else:
                message = await member.client.get_messages(file.storage_chat_id, file.storage_message_id)
            media, _kind = media_of(message) if message and not getattr(message, "empty", False) else (None, None)
            thumbs = list(getattr(media, "thumbs", None) or [])
            self.fetched += 1
            if not thumbs:
                return None
            # The largest: it is shown as large as the player.
            thumb = max(thumbs, key=lambda t: (t.width or 0) * (t.height or 0))
            thumb_id = FileId.decode(thumb.file_id)
            if thumb_id.file_type != FileType.THUMBNAIL:   # a photo's smaller sizes: the photo is its own preview
                return None
            location = raw.types.InputDocumentFileLocation(
                id=thumb_id.media_id, access_hash=thumb_id.access_hash,
                file_reference=thumb_id.file_reference, thumb_size=thumb_id.thumbnail_size)
            answer = await self._read(member, thumb_id.dc_id, location)
        if len(answer.bytes) >= _READ_LIMIT:
            raise ThumbnailTooLarge(f"file {file.id}: the thumbnail is larger than {MAX_THUMBNAIL_BYTES} bytes")
        return bytes(answer.bytes)

    async def _read(self, member, dc_id: int, location):
        """One getFile on the least busy of the bot's media connections to the DC."""
        connections = await self._sessions.get(member.name, member.client, dc_id)
        connection = connections.pick()
        if connection is None:
            if not await connections.wait_ready(self._timeout) or (connection := connections.pick()) is None:
                raise ConnectionError(f"{member.name} has no media connection to DC{dc_id} ready")
        session = connection.session
        with connections.lease(connection):
            try:
                answer = await session.invoke(
                    raw.functions.upload.GetFile(location=location, offset=0, limit=_READ_LIMIT),
                    retries=1, timeout=self._timeout, sleep_threshold=0)
            except (OSError, ConnectionError) as error:
                connections.failed(connection, session, error)   # replaced, as the streamer does
                raise
        connections.succeeded(connection)
        return answer
