"""The pool of bot clients that do the file work, picked by load, with health and backoff."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)

# A client that failed is left alone for this long, doubling per failure up to the cap.
BACKOFF_FIRST = 1.0
BACKOFF_CAP = 60.0


class NoClientAvailable(Exception):
    """Every client in the pool is unhealthy or waiting out a FLOOD_WAIT."""


@dataclass(eq=False)
class PoolMember:
    """One bot client and what the pool knows about it."""

    name: str            # e.g. "main" or "backend1"; never the token
    client: Any          # pyrogram.Client
    is_main: bool = False
    username: str = ""
    bot_id: int = 0
    home_dc: int = 0
    healthy: bool = True
    last_error: str = ""
    streams: int = 0       # streams whose primary client this is, running now
    in_flight: int = 0     # GetFile requests running now (striped work included)
    served: int = 0        # streams served since start
    bytes_sent: int = 0
    errors: int = 0
    failures_in_row: int = 0
    retry_at: float = 0.0      # monotonic time before which an unhealthy client is not retried
    flood_until: float = 0.0   # monotonic time until which Telegram asked this bot to wait

    def available(self, now: float) -> bool:
        if now < self.flood_until:
            return False
        return self.healthy or now >= self.retry_at

    def stats(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "username": self.username,
            "home_dc": self.home_dc,
            "healthy": self.healthy,
            "streams": self.streams,
            "in_flight": self.in_flight,
            "served": self.served,
            "bytes_sent": self.bytes_sent,
            "errors": self.errors,
            "last_error": self.last_error,
        }


@dataclass
class BotPool:
    """Backend clients plus the main bot as the fallback of last resort.

    The pool is plain bookkeeping: it never talks to Telegram itself. Every counter it
    hands out is released by a context manager, so finished, failed and cancelled work
    all give their slot back.

    `on_change`: called (no arguments) when a member's availability changes (a FLOOD_WAIT
    or a failure recorded, health back after a success), so an observer learns of it
    without polling.
    """

    main: PoolMember
    backends: list[PoolMember] = field(default_factory=list)
    left_out: list[PoolMember] = field(default_factory=list)  # failed their start-up check
    clock: Callable[[], float] = time.monotonic
    on_change: list[Callable[[], object]] = field(default_factory=list, repr=False, compare=False)

    @property
    def members(self) -> list[PoolMember]:
        return [*self.backends, self.main] if self.backends else [self.main]

    def _candidates(self) -> list[PoolMember]:
        now = self.clock()
        ready = [m for m in self.backends if m.available(now)]
        if ready:
            return ready
        # The main bot serves only when no backend can; it has people to talk to.
        if self.main.available(now):
            return [self.main]
        raise NoClientAvailable("no healthy bot client is available right now")

    def pick(self, exclude: frozenset[PoolMember] = frozenset()) -> PoolMember:
        """The available client with the least work, preferring ones not in `exclude`."""
        candidates = self._candidates()
        preferred = [m for m in candidates if m not in exclude] or candidates
        return min(preferred, key=lambda m: (m.streams, m.in_flight, m.served))

    def pick_for_block(self, primary: PoolMember, exclude: frozenset[PoolMember] = frozenset(),
                       load: Callable[[PoolMember], float] | None = None) -> PoolMember:
        """Where the next block of a striped stream goes: the least busy client.

        `load(member)` says how busy a client is for this block (the streamer gives the
        answers its least busy connection to the file's DC carries); by default,
        its GetFile requests in flight. Ties go to the client with fewer requests in flight
        overall (one whose connections are still being made has its waiting requests), then
        to the stream's own client.
        """
        candidates = self._candidates()
        preferred = [m for m in candidates if m not in exclude] or candidates
        busy = load or (lambda m: m.in_flight)
        return min(preferred, key=lambda m: (busy(m), m.in_flight, m is not primary, m.streams))

    @contextmanager
    def stream_lease(self, member: PoolMember) -> Iterator[PoolMember]:
        member.streams += 1
        member.served += 1
        try:
            yield member
        finally:
            member.streams -= 1

    @contextmanager
    def request_lease(self, member: PoolMember) -> Iterator[PoolMember]:
        member.in_flight += 1
        try:
            yield member
        finally:
            member.in_flight -= 1

    def record_success(self, member: PoolMember, nbytes: int) -> None:
        member.bytes_sent += nbytes
        member.failures_in_row = 0
        if not member.healthy:
            log.info("Bot client %s is healthy again", member.name)
            member.healthy = True
            self._changed()

    def record_failure(self, member: PoolMember, error: BaseException | str) -> None:
        """A failure of the client itself (its authorisation, or no connection to a DC at all):
        left out for a growing while.

        Errors about one request (a bad location, a 400 about one file) are not the
        client's fault and are not recorded here; a failed connection is replaced by
        the media connections without leaving the client out.
        """
        member.errors += 1
        member.failures_in_row += 1
        member.last_error = str(error) or type(error).__name__
        backoff = min(BACKOFF_CAP, BACKOFF_FIRST * 2 ** (member.failures_in_row - 1))
        member.retry_at = self.clock() + backoff
        if member.healthy:
            log.warning("Bot client %s is unhealthy (%s); retrying it in %.0f s", member.name, member.last_error, backoff)
        member.healthy = False
        self._changed()

    def record_flood(self, member: PoolMember, seconds: float) -> None:
        member.errors += 1
        member.last_error = f"FLOOD_WAIT {seconds:.0f} s"
        member.flood_until = max(member.flood_until, self.clock() + seconds)
        log.warning("Bot client %s must wait %.0f s (FLOOD_WAIT)", member.name, seconds)
        self._changed()

    def _changed(self) -> None:
        for call in self.on_change:
            call()

    def earliest_available_in(self) -> float:
        """Seconds until some client can be used again (0 when one can now)."""
        now = self.clock()
        waits = [max(0.0, max(m.flood_until, m.retry_at if not m.healthy else 0.0) - now) for m in self.members]
        return min(waits)

    def stats(self) -> list[dict[str, Any]]:
        return [m.stats() for m in self.members] + [{**m.stats(), "left_out": True} for m in self.left_out]
