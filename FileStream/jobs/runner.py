"""Runs a job's `run_once` when its work falls due (or at the latest every few seconds), surviving its failures."""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from FileStream.store.database import is_unavailable

log = logging.getLogger(__name__)

# Woken this much after the due time: a timer may fire a hair early, and a pass that finds
# nothing due yet would only have to go round again.
DUE_SLACK_SECONDS = 0.01
# After a failed pass or a failed look at the next due time (the database is away), look
# again this soon rather than at the end of the whole interval.
RETRY_SECONDS = 2.0


class PeriodicJob:
    """Calls `run_once()` at start, then again when the next piece of work is due, and at
    the latest every `interval_seconds` (the fallback poll), or at once on `wake()`.

    `next_due()`: when the earliest work the job knows of falls due (None: nothing
    pending), asked after every pass; `clock`: the aware UTC now those times are on.
    `due_at(when)` tells the sleeping job about new work (a new file, a new request), so
    it wakes for it if that is earlier than planned. Without `next_due` it simply runs
    every `interval_seconds`.

    An exception from a pass is logged and the loop goes on; `stop()` cancels the pass in
    progress and waits for the loop to end. `passes` counts finished passes and
    `next_pass()` waits for the next one to finish, so tests never sleep.
    """

    def __init__(
        self,
        name: str,
        run_once: Callable[[], Awaitable[Any]],
        interval_seconds: float,
        *,
        next_due: Callable[[], Awaitable[datetime | None]] | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        if interval_seconds <= 0:
            raise ValueError(f"interval_seconds must be > 0, got {interval_seconds}")
        if (next_due is None) != (clock is None):
            raise ValueError("next_due and clock go together")
        self.name = name
        self._run_once = run_once
        self.interval = interval_seconds
        self._next_due = next_due
        self._clock = clock
        self.passes = 0
        self.failures = 0
        self.last_result: Any = None
        self.next_due: datetime | None = None   # what the last look found (None: nothing pending)
        self._started = 0
        self._run_now = False
        self._overdue_again = False              # the last pass ran at once for overdue work
        self._wake_at = math.inf                 # loop time of the next pass
        self._nudge = asyncio.Event()            # wake() or an earlier due_at()
        self._changed = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        if self.running:
            return
        self._task = asyncio.create_task(self._loop(), name=f"job:{self.name}")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass
        async with self._changed:
            self._changed.notify_all()  # let next_pass() waiters see the job is stopped

    def wake(self) -> None:
        """Run a pass now instead of when it is planned."""
        self._run_now = True
        self._nudge.set()

    def due_at(self, when: datetime) -> None:
        """Work falls due at `when`: run a pass then, if that is earlier than planned."""
        if self._clock is None:
            return
        at = asyncio.get_running_loop().time() + max(0.0, (when - self._clock()).total_seconds()) + DUE_SLACK_SECONDS
        if at < self._wake_at:
            self._wake_at = at
            self._nudge.set()

    async def next_pass(self) -> Any:
        """Wait for a pass that starts after this call to finish; its result (None if it
        raised or the job stopped first).
        """
        target = self._started + 1
        async with self._changed:
            await self._changed.wait_for(lambda: self.passes >= target or not self.running)
        return self.last_result if self.passes >= target else None

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        this = asyncio.current_task()
        while True:
            # A stop() whose cancellation a library swallowed (Python 3.11's wait_for returns
            # the result when its inner call finished at the same moment) still ends the loop,
            # instead of leaving stop() waiting on a job that goes on forever.
            if this is not None and this.cancelling():
                raise asyncio.CancelledError
            self._run_now = False
            self._wake_at = math.inf  # a due_at() during the pass lowers it
            self._started += 1
            failed = False
            try:
                self.last_result = await self._run_once()
            except asyncio.CancelledError:
                raise
            except Exception as error:  # noqa: BLE001 - one bad pass must not end the job
                failed = True
                self.failures += 1
                self.last_result = None
                if is_unavailable(error):   # an outage, not a bug: said in a line, no traceback
                    log.warning("Job %s: pass failed, the database is unavailable (%r); next pass in %s s",
                                self.name, error, RETRY_SECONDS)
                else:
                    log.exception("Job %s: pass failed; next pass in %s s", self.name, RETRY_SECONDS)
            self.passes += 1
            async with self._changed:
                self._changed.notify_all()
            delay = await self._delay(failed)
            self._wake_at = min(self._wake_at, loop.time() + delay)
            while not self._run_now:
                remaining = self._wake_at - loop.time()
                if remaining <= 0 or (this is not None and this.cancelling()):
                    break
                self._nudge.clear()
                try:
                    await asyncio.wait_for(self._nudge.wait(), remaining)
                except TimeoutError:
                    pass

    async def _delay(self, failed: bool) -> float:
        """Seconds until the next pass: the next due time, within the fallback interval."""
        if failed:
            return min(self.interval, RETRY_SECONDS)
        if self._next_due is None:
            return self.interval
        try:
            self.next_due = await self._next_due()
        except asyncio.CancelledError:
            raise
        except Exception as error:  # noqa: BLE001 - the database is away: look again soon
            log.warning("Job %s: could not look up the next due time (%r); looking again in %s s",
                        self.name, error, RETRY_SECONDS)
            return min(self.interval, RETRY_SECONDS)
        if self.next_due is None:
            self._overdue_again = False
            return self.interval
        until = (self.next_due - self._clock()).total_seconds() + DUE_SLACK_SECONDS
        if until > 0:
            self._overdue_again = False
            return min(self.interval, until)
        # Due already: work that fell due during the pass. Due again right after such a
        # pass means the pass cannot finish it (a half-broken database): do not spin on it.
        overdue_again, self._overdue_again = self._overdue_again, True
        return min(self.interval, RETRY_SECONDS) if overdue_again else 0.0
