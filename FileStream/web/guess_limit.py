"""A per-address limit on misses of FileStreamBot's old ids, so the guessable ids are no oracle."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

from FileStream.core.throttle import MICROSECONDS, TokenBucket

# An old id is a MongoDB ObjectId (a time and a counter): a person pasting old links misses
# now and then; a script walking ids misses all the time. Ten misses at once, then one every
# six seconds, is nothing to the one and makes the other's walk take years.
MISS_BURST = 10
MISSES_PER_MINUTE = 10
# Addresses remembered at once; the least recently seen go first (a flood of addresses
# forgets the oldest rather than growing without bound).
MAX_ADDRESSES = 65536


class GuessLimit:
    """Misses per client address, in token buckets: `wait_seconds(address)` before a lookup
    (0 when it may go ahead), `missed(address)` after one that found nothing."""

    def __init__(self, *, burst: int = MISS_BURST, per_minute: float = MISSES_PER_MINUTE,
                 max_addresses: int = MAX_ADDRESSES, now_us: Callable[[], int] | None = None) -> None:
        self._burst = burst
        self._rate = per_minute / 60
        self._max = max_addresses
        self._now_us = now_us or (lambda: time.monotonic_ns() // 1000)
        self._buckets: OrderedDict[str, TokenBucket] = OrderedDict()

    def wait_seconds(self, address: str) -> int:
        """Whole seconds until this address may look an old id up again (0: now)."""
        bucket = self._buckets.get(address)
        if bucket is None:
            return 0
        wait = bucket.wait_us(self._now_us())
        return -(-wait // MICROSECONDS) if wait else 0

    def missed(self, address: str) -> None:
        """The address looked up an old id that names no file: it takes a token."""
        bucket = self._buckets.get(address)
        if bucket is None:
            bucket = self._buckets[address] = TokenBucket(self._rate, self._burst)
            if len(self._buckets) > self._max:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(address)
        bucket.try_take(self._now_us())
