"""What the web server needs from the rest of FileStream: file records, bytes, and a place to report streams."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import AsyncIterator, Protocol

from FileStream.core.media_probe import MediaInfo
from FileStream.core.models import Bundle, StoredFile


class FileLookup(Protocol):
    """Finds the record behind a link (the store implements this)."""

    async def get_file(self, file_id: str) -> StoredFile | None:
        """The record, or None if there is none. May return an expired record: the web layer checks expiry."""
        ...


class BundleLookup(Protocol):
    """Finds a bundle and its files, and keeps the CRC-32 a ZIP of them needs (the stores implement this)."""

    async def get_bundle(self, bundle_id: str) -> Bundle | None:
        """A finished bundle, expired ones included (the web layer checks expiry); None if there is none."""
        ...

    async def get_files(self, file_ids: Sequence[str]) -> dict[str, StoredFile]:
        """The records that exist among `file_ids`, by id (expired ones included)."""
        ...

    async def get_crc32s(self, file_unique_ids: Sequence[str]) -> dict[str, int]:
        """The CRC-32s kept for any of these files (by Telegram's file_unique_id: the bytes' identity)."""
        ...

    async def set_crc32(self, file_unique_id: str, crc: int) -> None:
        """Keep the CRC-32 of these bytes (every record of them gets it)."""
        ...


class LegacyLinks(Protocol):
    """Finds the file behind an old FileStreamBot link (/dl/<ObjectId>, /watch/<ObjectId>)."""

    async def file_id_for_legacy(self, legacy_id: str) -> str | None:
        """Our file id for a migrated record's old id (24 hex digits), or None."""
        ...


class StorageCopies(Protocol):
    """Makes sure a record has its copy in the storage channel before its bytes are needed."""

    async def ready(self, file: StoredFile) -> StoredFile:
        """The record with a storage copy (made now if it had none, as for migrated files).

        Raises core.storage_copy.CopyRefused when Telegram will never accept its file ids
        (the web layer answers 410) and CopyNotNow with `retry_after` when not now (503).
        """
        ...


class ByteSource(Protocol):
    """Delivers a file's bytes (the Telegram streamer implements this)."""

    def stream(self, file: StoredFile, start: int, end: int, *, whole: bool = False) -> AsyncIterator[bytes]:
        """Bytes start..end (inclusive) of `file`, in order, in chunks of any size.

        `whole`: the client asked for the file without a Range, as a download does; such a
        body is read to its end as a rule, so the source may fetch further ahead from the
        start (a player's probes and seeks always carry a Range).

        An async generator: the web layer calls aclose() when the client goes away or it
        stops early, and that must cancel in-flight work promptly. It raises when the
        bytes cannot be delivered; it must never end early or yield wrong bytes silently.
        An exception with an integer `retry_after` attribute (seconds, e.g. FLOOD_WAIT)
        raised before the first chunk becomes 503 with Retry-After; others become 502.
        """
        ...

    def stream_parts(self, parts: Sequence[tuple[StoredFile, int, int]], *, whole: bool = False) -> AsyncIterator[bytes]:
        """The bytes of every (file, start, end) part in turn, as `stream` would give them one
        after another, but as one stream (a bundle's ZIP): what is fetched ahead runs on
        across the parts' boundaries. Chunks may be of any size, as for `stream`."""
        ...

    def hold(self) -> AbstractContextManager[None]:
        """Counts as one running stream while held (shutdown waits for running streams): a
        response that reads several streams (a bundle's ZIP) holds it from its first byte to
        its last, and the streams it reads meanwhile count as that one."""
        ...


class Thumbnails(Protocol):
    """Small preview images of files: a video's poster, an audio file's cover (the pool implements this)."""

    async def thumbnail(self, file: StoredFile) -> bytes | None:
        """The image's bytes (JPEG, PNG or WebP), or None when the file has none.

        Called on every poster request, so it must cache. Raises when the image cannot be
        fetched right now (the web layer answers 502).
        """
        ...


class StreamObserver(Protocol):
    """Hears about every body the server starts sending (metrics, load accounting).

    stream_finished is called exactly once for every stream_started, whatever happens
    (complete, client gone, source failure, cancellation); HEAD, 304 and 416 answers send
    no body and call neither.
    """

    def stream_started(self, file: StoredFile, start: int, end: int) -> None: ...

    def stream_finished(self, file: StoredFile, sent_bytes: int, result: str) -> None:
        """`result` is "complete", "client_gone" or "source_error"."""
        ...


class Remuxer(Protocol):
    """Makes videos the browser cannot play as stored playable (services.remux implements this)."""

    available: bool            # FFmpeg is there and REMUX_MAX > 0
    busy: bool                 # every REMUX_MAX place is taken
    max_jobs: int
    busy_retry_after: int

    def is_internal(self, header_value: str | None) -> bool:
        """Whether a /stream request is a remux child's own read (its bytes are counted at /play)."""
        ...

    async def media_info(self, file: StoredFile, token: str, *, wait: float | None = None) -> MediaInfo | None:
        """The probe kept with the record (made once, the first time); None when not known now."""
        ...

    def reserve(self, client: str):
        """A remux place for this client (with release()); raises at once when none is free
        (a client at its share gets its own oldest place instead)."""
        ...

    def remux(self, slot, file: StoredFile, token: str, info: MediaInfo, *, start: float,
              audio: int) -> AsyncIterator[bytes]: ...

    async def keyframe_at(self, token: str, seconds: float, info: MediaInfo | None = None) -> float: ...

    async def subtitle_track(self, file: StoredFile, token: str, number: int) -> str: ...

    async def subtitle_file(self, file: StoredFile, token: str) -> str: ...


class TrafficLimit(Protocol):
    """Whether a person's links may send more today (TRAFFIC_LIMIT_MB; the traffic meter implements this)."""

    async def refused_for(self, owner_id: int | None, source: str) -> int | None:
        """Seconds until the links of `owner_id`'s files (of this source) serve again, when they
        are over today's limit; None when they may serve."""
        ...
