"""Runs a job's `run_once` in a loop every few seconds, surviving its failures."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

log = logging.getLogger(__name__)


class PeriodicJob:
    """Calls `run_once()` at start and then every `interval_seconds`, or at once on `wake()`.

    An exception from a pass is logged and the loop goes on; `stop()` cancels the pass in
    progress and waits for the loop to end. `passes` counts finished passes and
    `next_pass()` waits for the next one to finish, so tests never sleep.
    """

    def __init__(self, name: str, run_once: Callable[[], Awaitable[Any]], interval_seconds: float) -> None:
        if interval_seconds <= 0:
            raise ValueError(f"interval_seconds must be > 0, got {interval_seconds}")
        self.name = name
        self._run_once = run_once
        self.interval = interval_seconds
        self.passes = 0
        self.failures = 0
        self.last_result: Any = None
        self._started = 0
        self._wake = asyncio.Event()
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
        """Run a pass now instead of at the end of the interval."""
        self._wake.set()

    async def next_pass(self) -> Any:
        """Wait for a pass that starts after this call to finish; its result (None if it
        raised or the job stopped first).
        """
        target = self._started + 1
        async with self._changed:
            await self._changed.wait_for(lambda: self.passes >= target or not self.running)
        return self.last_result if self.passes >= target else None

    async def _loop(self) -> None:
        while True:
            self._wake.clear()
            self._started += 1
            try:
                self.last_result = await self._run_once()
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - one bad pass must not end the job
                self.failures += 1
                self.last_result = None
                log.exception("Job %s: pass failed; next pass in %s s", self.name, self.interval)
            self.passes += 1
            async with self._changed:
                self._changed.notify_all()
            try:
                await asyncio.wait_for(self._wake.wait(), self.interval)
            except TimeoutError:
                pass
