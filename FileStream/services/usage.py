"""Download counts as files are served: tallied in memory, added to MongoDB in batches.

The counter is one of the web layer's StreamObservers. It hears each response body start
and end, which happen in the handlers and must cost nothing, so it only adds to a dict;
`flush()` (run every few seconds by the service, and once more at shutdown) sends what
has gathered as one `$inc` batch. A crash loses what was not flushed yet: the counts of
the last few seconds, and the bytes of responses still running (those are counted when
they end).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from datetime import datetime

from FileStream.core.models import StoredFile
from FileStream.core.usage import UsageDelta, counts_as_download, day_of

log = logging.getLogger(__name__)


class DownloadCounter:
    """Counts per file and day: downloads and plays started, bytes sent, last access.

    A download is counted when its body starts (so a film being watched shows at once);
    bytes when the body ends, exactly as many as were sent.
    """

    def __init__(self, store, clock: Callable[[], datetime]) -> None:
        self._store = store          # store.usage.UsageStore
        self._clock = clock
        self._pending: dict[tuple[str, datetime], UsageDelta] = {}
        self._unsent: tuple[str, dict[tuple[str, datetime], UsageDelta]] | None = None   # (batch id, batch)
        self._writing: asyncio.Task | None = None
        self._lock = asyncio.Lock()
        self._open = 0
        self._idle = asyncio.Event()
        self._idle.set()

    # -- StreamObserver ------------------------------------------------------------------

    def stream_started(self, file: StoredFile, start: int, end: int) -> None:
        self._open += 1
        self._idle.clear()
        self._tally(file, downloads=1 if counts_as_download(start, end, file.file_size) else 0, bytes_served=0)

    def stream_finished(self, file: StoredFile, sent_bytes: int, result: str) -> None:
        self._open = max(0, self._open - 1)
        if self._open == 0:
            self._idle.set()
        if sent_bytes > 0:
            self._tally(file, downloads=0, bytes_served=sent_bytes)

    # -- batches -------------------------------------------------------------------------

    @property
    def pending(self) -> int:
        """Files (per day) with counts not written yet."""
        return len(self._pending) + (len(self._unsent[1]) if self._unsent is not None else 0)

    async def flush(self) -> int:
        """Write what has gathered; the number of per-day file tallies written.

        A batch the database refuses is kept as it is, with its id, and sent again first by
        the next flush (what gathers meanwhile waits behind it): the store applies a batch
        id once per document, so a batch that failed half-way is not counted twice. The
        write itself is shielded: a flush cancelled mid-write (shutdown) lets it finish.
        """
        async with self._lock:
            if self._writing is not None:    # a cancelled flush's write, still under way
                await asyncio.gather(self._writing, return_exceptions=True)
                self._writing = None
            written = 0
            while True:
                if self._unsent is None:
                    if not self._pending:
                        return written
                    self._unsent = (uuid.uuid4().hex, self._pending)
                    self._pending = {}
                self._writing = asyncio.ensure_future(self._write(*self._unsent))
                done = await asyncio.shield(self._writing)
                self._writing = None
                if done is None:
                    return written
                written += done

    async def wait_idle(self) -> None:
        """Until no response body is being sent (every start has had its end)."""
        await self._idle.wait()

    async def _write(self, batch_id: str, batch: dict[tuple[str, datetime], UsageDelta]) -> int | None:
        """Tallies written, or None when the database refused (the batch stays unsent)."""
        try:
            await self._store.add(batch.values(), batch_id)
        except Exception as error:  # noqa: BLE001 - counts wait for the next flush; serving goes on
            log.warning("Download counts not written (%d files); trying again at the next flush: %r",
                        len(batch), error)
            return None
        if self._unsent is not None and self._unsent[0] == batch_id:
            self._unsent = None
        return len(batch)

    def _tally(self, file: StoredFile, *, downloads: int, bytes_served: int) -> None:
        now = self._clock()
        day = day_of(now)
        delta = self._pending.get((file.id, day))
        if delta is None:
            delta = self._pending[(file.id, day)] = UsageDelta(file.id, file.file_name, day)
        delta.add(downloads, bytes_served, now)
