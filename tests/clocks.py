"""Time the tests control: the service's clock, moved on by the story instead of slept.

Every clock starts from the real current time. The database's TTL index deletes
documents by the real clock, so a fixed calendar date in a test would make records
vanish (or never vanish) depending on the day the suite runs.
"""

from __future__ import annotations

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
