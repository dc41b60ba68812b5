"""Pacing math for senders: a token bucket in whole microseconds, and rate / ETA figures."""

from __future__ import annotations

import math
from fractions import Fraction

MICROSECONDS = 1_000_000


def interval_us(rate_per_second: float) -> int:
    """Microseconds between two sends at `rate_per_second`, rounded up so the rate is never exceeded."""
    if not rate_per_second > 0:
        raise ValueError(f"rate must be > 0, got {rate_per_second!r}")
    # Fraction keeps 1e6 / 25 at exactly 40000 instead of a float that rounds up to 40001.
    return max(1, math.ceil(Fraction(MICROSECONDS) / Fraction(rate_per_second)))


class TokenBucket:
    """A token bucket that refills one token every `interval` and holds at most `burst`.

    Kept in its "theoretical arrival time" form (GCRA) with integer microseconds, so no
    float drift can let a send slip in early or make a waiter spin on a zero wait. With
    `burst=1` sends are evenly paced: in any half-open window of W microseconds there are
    at most ceil(W / interval) of them, so never more than `rate` in any second.
    Time is whatever monotonic microsecond count the caller passes in.
    """

    def __init__(self, rate_per_second: float, burst: int = 1) -> None:
        if burst < 1:
            raise ValueError(f"burst must be >= 1, got {burst}")
        self.interval = interval_us(rate_per_second)
        self.burst = burst
        self._tolerance = (burst - 1) * self.interval
        self._tat: int | None = None  # when the bucket would be full again

    def wait_us(self, now_us: int) -> int:
        """Microseconds until a token is available (0: now), without taking it."""
        if self._tat is None:
            return 0
        return max(0, self._tat - self._tolerance - now_us)

    def is_full(self, now_us: int) -> bool:
        """True when a whole burst could go now: the bucket is as good as new."""
        return self._tat is None or self._tat <= now_us

    def try_take(self, now_us: int) -> int:
        """Take a token and return 0, or take nothing and return the microseconds to wait."""
        wait = self.wait_us(now_us)
        if wait:
            return wait
        self._tat = max(self._tat if self._tat is not None else now_us, now_us) + self.interval
        return 0

    def pause_until(self, until_us: int) -> None:
        """No token before `until_us`; afterwards sends resume paced, without a burst."""
        # Setting the arrival time here leaves exactly one token at `until_us`, so a
        # flood wait is not followed by a burst that would earn another one.
        floor = until_us + self._tolerance
        self._tat = floor if self._tat is None else max(self._tat, floor)


def measured_rate(done: int, elapsed_seconds: float) -> float:
    """Sends per second so far (0.0 before any time has passed)."""
    return done / elapsed_seconds if elapsed_seconds > 0 and done > 0 else 0.0


def eta_seconds(left: int, rate: float) -> float | None:
    """Seconds until `left` more sends are done at `rate`; None when unknown (no rate yet)."""
    if left <= 0:
        return 0.0
    return left / rate if rate > 0 else None
