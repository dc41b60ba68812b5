"""One memory budget for the blocks every stream fetches ahead, shared fairly, never exceeded.

Memory is counted in block units of BLOCK_BYTES (a GetFile answer holds at most 1 MiB):
a unit is taken before a block is requested and given back once the reader is done with
the block's bytes. Rules:
- the units in use never exceed the budget;
- a new stream starts with `min_share` units (2: one block being sent while the next is
  on its way), or waits for them, first come first served; while it waits, streams
  holding more than their fair share give back blocks from the far end of their window
  (never below the fair share, never the block next in line);
- a running stream may take more units while no new stream waits, it holds less than its
  fair share, and the budget has room outside the reserve: `reserve` units are only ever
  granted to new streams, so however far the running streams have grown, the next one
  starts at once;
- a stream blocked in a write to its client (`MemoryLease.blocked`) holds only the block
  it is writing; the fair share is what is left after the blocked streams, divided by the
  streams that are not blocked (at least `min_share`): a crowd of stalled readers does not
  shrink the share of those that read.
A running stream reuses the units it holds, so it never waits in the middle.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable

BLOCK_BYTES = 1 << 20


def default_reserve(limit: int, min_share: int) -> int:
    """Units kept for new streams in a budget of `limit` units: an eighth, at least one new
    stream's `min_share`, at most what leaves one running stream its `min_share`."""
    return max(0, min(max(min_share, limit // 8), limit - min_share))


class MemoryWaitTimeout(Exception):
    """A stream waited too long for its first units of memory (every unit is held by other streams)."""


class MemoryLease:
    """What one stream holds of the budget."""

    def __init__(self, budget: MemoryBudget, shed: Callable[[int], None] | None) -> None:
        self._budget = budget
        self._shed = shed
        self.held = 0
        self.peak = 0      # most units held at once
        self.closed = False
        self.blocked = False  # its client takes no bytes just now (set by the stream)

    def try_grow(self) -> bool:
        """One more unit if the budget has room for it now; never waits."""
        return self._budget._try_grant(self)

    async def admit(self, units: int | None = None, timeout: float | None = None) -> None:
        """The stream's first units (`min_share`, or fewer if it needs fewer): at once if there is
        room, else in turn; MemoryWaitTimeout after `timeout` seconds."""
        budget = self._budget
        wanted = budget.min_share if units is None else max(1, min(units, budget.min_share))
        await budget._wait_grant(self, wanted, timeout)

    def release(self, units: int = 1) -> None:
        units = min(units, self.held)
        if units <= 0:
            return
        self.held -= units
        self._budget._released(units)

    def shed(self, keep: int) -> None:
        """Asked by the budget: give back blocks until holding `keep` units (as far as the stream can)."""
        if self._shed is not None and self.held > keep:
            self._shed(keep)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.release(self.held)
        self._budget._leases.discard(self)

    def __enter__(self) -> MemoryLease:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class MemoryBudget:
    """The units of memory all streams together may hold in fetched-ahead blocks."""

    def __init__(self, limit_bytes: int, min_share: int = 2, block_bytes: int = BLOCK_BYTES,
                 reserve: int | None = None) -> None:
        """`reserve`: units only new streams may take (default: an eighth of the budget, at
        least `min_share`, and never so much that a running stream could not hold its minimum)."""
        if limit_bytes < min_share * block_bytes:
            raise ValueError(f"a memory budget of {limit_bytes} bytes holds fewer than {min_share} blocks")
        self.block_bytes = block_bytes
        self.limit = limit_bytes // block_bytes   # units
        self.min_share = min_share
        self.reserve = default_reserve(self.limit, min_share) if reserve is None else max(0, min(
            reserve, self.limit - min_share))
        self.used = 0
        self.peak = 0
        self.waited = 0          # streams that had to wait for their first unit
        self.shed_requests = 0   # times streams over their share were asked to give back
        self._leases: set[MemoryLease] = set()
        self._waiters: deque[tuple[MemoryLease, int, asyncio.Future]] = deque()

    # -- what streams use -----------------------------------------------------------------
    def lease(self, shed: Callable[[int], None] | None = None) -> MemoryLease:
        """A stream's share of the budget; `shed(keep_units)` is called when it must give some back."""
        lease = MemoryLease(self, shed)
        self._leases.add(lease)
        return lease

    def fair_share(self) -> int:
        """Units one stream that is not blocked may hold when every such stream asks for as much
        as it can: the budget outside the reserve and the blocked streams' blocks, shared."""
        blocked = [lease for lease in self._leases if lease.blocked]
        growable = self.limit - self.reserve - sum(lease.held for lease in blocked)
        return max(self.min_share, growable // max(1, len(self._leases) - len(blocked)))

    # -- what operators see -----------------------------------------------------------------
    @property
    def limit_bytes(self) -> int:
        return self.limit * self.block_bytes

    @property
    def used_bytes(self) -> int:
        return self.used * self.block_bytes

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    @property
    def streams(self) -> int:
        return len(self._leases)

    # -- bookkeeping ------------------------------------------------------------------------
    def _grant(self, lease: MemoryLease, units: int = 1) -> None:
        lease.held += units
        lease.peak = max(lease.peak, lease.held)
        self.used += units
        self.peak = max(self.peak, self.used)

    def _try_grant(self, lease: MemoryLease) -> bool:
        # Units free while a new stream waits (for its first two) are kept for it, and so is
        # the reserve for the streams still to come.
        if (lease.closed or self._waiters or self.used >= self.limit - self.reserve
                or lease.held >= self.fair_share()):
            return False
        self._grant(lease)
        return True

    async def _wait_grant(self, lease: MemoryLease, units: int, timeout: float | None) -> None:
        if not self._waiters and self.used + units <= self.limit:
            self._grant(lease, units)
            return
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append((lease, units, waiter))
        self.waited += 1
        self._ask_to_shed()
        try:
            await asyncio.wait_for(asyncio.shield(waiter), timeout)
        except BaseException as error:
            if waiter.done() and not waiter.cancelled():
                # Granted just as we gave up: hand the units back (to the next in line).
                lease.release(units)
            else:
                waiter.cancel()
                self._remove_waiter(waiter)
            if isinstance(error, asyncio.TimeoutError):
                raise MemoryWaitTimeout(
                    f"no stream memory free for {timeout:.0f} s ({self.used} of {self.limit} blocks held)") from None
            raise

    def _remove_waiter(self, waiter: asyncio.Future) -> None:
        self._waiters = deque(entry for entry in self._waiters if entry[2] is not waiter)
        self._wake()

    def _released(self, units: int) -> None:
        self.used -= units
        self._wake()

    def _wake(self) -> None:
        while self._waiters:
            lease, units, waiter = self._waiters[0]
            if waiter.done() or lease.closed:
                self._waiters.popleft()
                continue
            if self.used + units > self.limit:
                return
            self._waiters.popleft()
            self._grant(lease, units)
            waiter.set_result(None)

    def _ask_to_shed(self) -> None:
        """Streams above their fair share give back their farthest blocks for the ones waiting."""
        keep = self.fair_share()
        over = [lease for lease in self._leases if lease.held > keep]
        if over:
            self.shed_requests += 1
        for lease in over:
            if not self._waiters:
                return
            lease.shed(keep)
