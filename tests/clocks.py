"""Time the tests control: the service's clock, moved on by the story instead of slept."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

DEFAULT_START = datetime(2026, 11, 22, 12, 0, tzinfo=timezone.utc)


class Clock:
    """A callable returning aware UTC `now`; `advance(minutes=5)` takes timedelta's words."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or DEFAULT_START

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)
