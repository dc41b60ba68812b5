"""Time the tests control: the service's clock, moved on by the story instead of slept.

Every clock starts from the real current time. The database's TTL index deletes
documents by the real clock, so a fixed calendar date in a test would make records
vanish (or never vanish) depending on the day the suite runs.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from datetime import datetime, timedelta, timezone


def real_now() -> datetime:
    """The real current UTC time, cut to the millisecond precision BSON dates keep
    (so a time read back from the database compares equal to the one written)."""
    now = datetime.now(timezone.utc)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


class Clock:
    """A callable returning aware UTC `now`; `advance(minutes=5)` takes timedelta's words."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or real_now()

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


class VirtualTime:
    """A clock and a sleep for concurrent code: time moves only when every task is asleep,
    to the earliest wake-up; `run(*coroutines)` drives them and returns their results."""

    def __init__(self) -> None:
        self.now = 0.0
        self._sleepers: list = []
        self._order = itertools.count()

    def clock(self) -> float:
        return self.now

    def utc(self, start: datetime | None = None):
        """The same time as an aware UTC clock (for code that takes `clock() -> datetime`)."""
        start = start or real_now()
        return lambda: start + timedelta(seconds=self.now)

    async def sleep(self, seconds: float) -> None:
        waiter = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self.now + max(0.0, seconds), next(self._order), waiter))
        await waiter

    async def run(self, *coroutines):
        tasks = [asyncio.ensure_future(c) for c in coroutines]
        while not all(t.done() for t in tasks):
            for _ in range(4):  # let every runnable task get to its next sleep
                await asyncio.sleep(0)
            if self._sleepers and not all(t.done() for t in tasks):
                wake, _, waiter = heapq.heappop(self._sleepers)
                self.now = max(self.now, wake)
                waiter.set_result(None)
        return [t.result() for t in tasks]
