"""core.throttle: the token bucket never lets more than its rate through, and pauses hold."""

from __future__ import annotations

import math
import random

import pytest

from FileStream.core.throttle import MICROSECONDS, TokenBucket, eta_seconds, interval_us, measured_rate


def drive(bucket: TokenBucket, arrivals: list[int]) -> list[int]:
    """Times at which sends happen when callers arrive at `arrivals` and wait their turn."""
    sent, now = [], 0
    for arrival in sorted(arrivals):
        now = max(now, arrival)
        while wait := bucket.try_take(now):
            assert wait > 0
            now += wait
        sent.append(now)
    return sent


def max_in_window(times: list[int], window: int) -> int:
    """Most sends in any half-open window [t, t + window)."""
    best, j = 0, 0
    for i, t in enumerate(times):
        while times[j] <= t - window:
            j += 1
        best = max(best, i - j + 1)
    return best


def test_interval_rounds_up_and_stays_exact():
    assert interval_us(25) == 40_000
    assert interval_us(30) == 33_334          # 33_333.3 rounded up: never faster than asked
    assert interval_us(0.5) == 2_000_000
    with pytest.raises(ValueError):
        interval_us(0)


@pytest.mark.parametrize("rate", [25, 30, 7.5, 1])
def test_never_more_than_rate_in_any_second(rate):
    bucket = TokenBucket(rate)
    rng = random.Random(4)
    arrivals = [rng.randrange(0, 5 * MICROSECONDS) for _ in range(400)]
    times = drive(bucket, arrivals)
    # A whole rate per second; a fractional rate holds on average (15 per 2 s at 7.5/s).
    assert max_in_window(times, MICROSECONDS) <= math.ceil(rate)
    assert max_in_window(times, 2 * MICROSECONDS) <= math.ceil(2 * rate)
    # And it is not slower than it must be: a queue that never empties runs at full rate.
    gaps = {b - a for a, b in zip(times[200:], times[201:])}
    assert gaps == {interval_us(rate)}


def test_burst_allows_that_many_at_once_then_paces():
    bucket = TokenBucket(10, burst=3)
    times = drive(bucket, [0] * 6)
    assert times == [0, 0, 0, 100_000, 200_000, 300_000]
    # An idle bucket fills up to the burst, not beyond.
    later = drive(bucket, [10 * MICROSECONDS] * 4)
    assert later == [10 * MICROSECONDS] * 3 + [10 * MICROSECONDS + 100_000]


def test_pause_holds_every_caller_and_resumes_without_a_burst():
    bucket = TokenBucket(25, burst=5)
    assert bucket.try_take(0) == 0
    bucket.pause_until(7 * MICROSECONDS)
    assert bucket.wait_us(1) == 7 * MICROSECONDS - 1
    times = drive(bucket, [1, 2, 3])
    assert times == [7 * MICROSECONDS, 7 * MICROSECONDS + 40_000, 7 * MICROSECONDS + 80_000]
    # A shorter pause never shortens a longer one.
    bucket.pause_until(2 * MICROSECONDS)
    assert bucket.wait_us(7 * MICROSECONDS) == 120_000


def test_wait_does_not_take():
    bucket = TokenBucket(2)
    assert bucket.wait_us(0) == 0
    assert bucket.wait_us(0) == 0
    assert bucket.try_take(0) == 0
    assert bucket.wait_us(100) == 500_000 - 100
    assert bucket.try_take(100) == 500_000 - 100


def test_rate_and_eta():
    assert measured_rate(0, 10) == 0.0
    assert measured_rate(50, 0) == 0.0
    assert measured_rate(50, 2) == 25.0
    assert eta_seconds(100, 25.0) == 4.0
    assert eta_seconds(0, 0.0) == 0.0
    assert eta_seconds(10, 0.0) is None
