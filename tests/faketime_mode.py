"""The suite under `FAKETIME_DONT_FAKE_MONOTONIC=1 faketime -f +400d` (a year ahead, monotonic clock real).

In that libfaketime mode (0.9.10) the wall clock is moved but Python's time.sleep, which
sleeps with clock_nanosleep on an absolute monotonic deadline, fails with EINVAL, and so
does everything built on it (subprocess's wait(timeout=), the database's own pauses).
Timed waits on locks and events and asyncio's timers work. So, in that mode only:
- child processes (the test database, FileStream's embedded database, bench scripts,
  browsers) run with the whole clock moved, libfaketime's default, where they work: the
  variable is dropped from the environment they inherit; the wall clock they read is the
  same year ahead;
- this process sleeps on an event's timed wait instead of clock_nanosleep.
"""

from __future__ import annotations

import os
import threading
import time

VARIABLE = "FAKETIME_DONT_FAKE_MONOTONIC"
_adapted: list[bool] = []   # adapt() ran in this mode (the variable is gone from the environment then)


def under_real_monotonic_faketime() -> bool:
    """Whether this process runs with the wall clock moved and the monotonic clock real."""
    return bool(_adapted) or ("faketime" in os.environ.get("LD_PRELOAD", "") and os.environ.get(VARIABLE) == "1")


def adapt() -> None:
    if not under_real_monotonic_faketime() or _adapted:
        return
    _adapted.append(True)
    del os.environ[VARIABLE]
    time.sleep = _sleep_on_a_timed_wait


def _sleep_on_a_timed_wait(seconds: float) -> None:
    if seconds < 0:
        raise ValueError("sleep length must be non-negative")
    threading.Event().wait(seconds)
