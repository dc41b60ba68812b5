"""Traffic limits per person (TRAFFIC_LIMIT_MB): bytes sent per person and UTC day, and the check.

The meter is one of the web layer's StreamObservers: it adds each body's bytes to its
owner's tally in memory when the body ends (as the download counts do), and `flush()`
adds the tallies to MongoDB every few seconds, so several instances share one count with
that much slack. A check reads the database's count for today and adds what this
instance has not written yet. The owners' files and AUTH_CHANNEL files (and uploads) are
exempt. The person is told once a day, through `notify`, when their links stop.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from FileStream.core.models import StoredFile
from FileStream.core.usage import day_of

log = logging.getLogger(__name__)

# notify(owner id, limit in bytes, seconds until the links work again): tells the person once.
Notify = Callable[[int, int, int], Awaitable[object]]


def seconds_until_next_day(now: datetime) -> int:
    """Whole seconds from `now` to the next UTC midnight (at least 1): the Retry-After of a limit."""
    return max(1, math.ceil((day_of(now) + timedelta(days=1) - now).total_seconds()))


class TrafficMeter:
    def __init__(self, store, clock: Callable[[], datetime], *, limit_bytes: int,
                 exempt_ids: tuple[int, ...] = (), notify: Notify | None = None) -> None:
        self._store = store                 # store.traffic.TrafficStore
        self._clock = clock
        self.limit_bytes = limit_bytes      # 0: no limit, nothing counted
        self._exempt = frozenset(exempt_ids)
        self._notify = notify
        self._pending: dict[tuple[int, datetime], int] = {}
        self._writing: dict[tuple[int, datetime], int] = {}
        self._lock = asyncio.Lock()
        self._notices: set[asyncio.Task] = set()
        self._told: set[tuple[int, datetime]] = set()   # (person, day) told by this instance

    def limits(self, owner_id: int | None, source: str) -> bool:
        """Whether the limit applies to the links of this owner's files of this source."""
        return (self.limit_bytes > 0 and owner_id is not None and source == "private"
                and owner_id not in self._exempt)

    # -- StreamObserver ------------------------------------------------------------------

    def stream_started(self, file: StoredFile, start: int, end: int) -> None:
        pass

    def stream_finished(self, file: StoredFile, sent_bytes: int, result: str) -> None:
        if sent_bytes <= 0 or not self.limits(file.owner_id, file.source):
            return
        key = (file.owner_id, day_of(self._clock()))
        self._pending[key] = self._pending.get(key, 0) + sent_bytes

    # -- the limit -----------------------------------------------------------------------

    async def refused_for(self, owner_id: int | None, source: str) -> int | None:
        """Seconds until this owner's links serve again when they are over today's limit; None
        when they may serve (or when the count cannot be read: serving goes on)."""
        if not self.limits(owner_id, source):
            return None
        now = self._clock()
        key = (owner_id, day_of(now))
        try:
            used = await self._store.bytes_on(owner_id, key[1])
        except Exception as error:  # noqa: BLE001 - a database hiccup must not stop downloads
            log.warning("Traffic of %s not known (%r); serving without the limit", owner_id, error)
            return None
        used += self._pending.get(key, 0) + self._writing.get(key, 0)
        if used < self.limit_bytes:
            return None
        retry_after = seconds_until_next_day(now)
        self._tell_once(key, retry_after)
        return retry_after

    def _tell_once(self, key: tuple[int, datetime], retry_after: int) -> None:
        """`notify` once per person and day from this instance (it makes sure of once across them)."""
        if self._notify is None or key in self._told:
            return
        self._told = {told for told in self._told if told[1] == key[1]}   # yesterday's go
        self._told.add(key)
        owner_id = key[0]
        task = asyncio.get_running_loop().create_task(self._notify(owner_id, self.limit_bytes, retry_after))
        self._notices.add(task)
        task.add_done_callback(self._notices.discard)

    # -- batches -------------------------------------------------------------------------

    async def flush(self) -> int:
        """Add what has gathered to the database; the number of (person, day) tallies written.
        A batch the database refuses goes back for the next flush."""
        async with self._lock:
            batch, self._pending = self._pending, {}
            if not batch:
                return 0
            self._writing = batch
            try:
                await asyncio.shield(self._store.add(batch))
            except Exception as error:  # noqa: BLE001 - counts wait for the next flush
                log.warning("Traffic counts not written (%d people); trying again at the next flush: %r",
                            len(batch), error)
                for key, sent in batch.items():
                    self._pending[key] = self._pending.get(key, 0) + sent
                return 0
            finally:
                self._writing = {}
            return len(batch)

    async def close(self) -> None:
        """Let notices under way finish (they are short: one message each)."""
        if self._notices:
            await asyncio.gather(*self._notices, return_exceptions=True)
