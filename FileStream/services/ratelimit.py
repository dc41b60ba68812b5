"""How many files one person may send per time window, counted in MongoDB."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pymongo import DESCENDING
from pymongo.asynchronous.collection import AsyncCollection

from FileStream.i18n import duration, ngettext


@dataclass(frozen=True, slots=True)
class RetryAfter:
    """The person is over the limit until `at`; `seconds` is that wait rounded up."""

    at: datetime
    seconds: int
    limit: int
    window_seconds: int

    def text(self) -> str:
        return ngettext(
            "You can send up to {count} file every {window}. Please wait {wait} and send it again.",
            "You can send up to {count} files every {window}. Please wait {wait} and send it again.",
            self.limit,
        ).format(count=self.limit, window=duration(self.window_seconds), wait=duration(max(self.seconds, 1)))


class FileRateLimit:
    """`check(user_id)` → None when the person may send a file now, else a RetryAfter.

    The count comes from the database (every request or file the person started in the
    window), never from memory, so it holds across instances and restarts. The check is
    not a reservation: two instances racing on the same person's files may both let one
    through, which at worst admits one file too many.

    Build it with `on_requests(database, ...)`: each file sent in private chat opens a
    request, whatever its outcome, so failed attempts count too. `limit <= 0` switches
    the limit off.
    """

    def __init__(
        self,
        collection: AsyncCollection[dict[str, Any]],
        *,
        limit: int,
        window_seconds: int,
        clock: Callable[[], datetime],
        person_field: str,
        time_field: str = "created_at",
    ) -> None:
        if window_seconds <= 0:
            raise ValueError(f"window_seconds must be > 0, got {window_seconds}")
        self._collection = collection
        self.limit = limit
        self.window = timedelta(seconds=window_seconds)
        self._clock = clock
        self._person = person_field
        self._time = time_field

    @classmethod
    def on_requests(cls, database: Any, *, limit: int, window_seconds: int, clock: Callable[[], datetime]) -> FileRateLimit:
        """Count the person's file requests (store.database.Database's `requests` collection)."""
        return cls(database.db["requests"], limit=limit, window_seconds=window_seconds, clock=clock,
                   person_field="user_id")

    async def check(self, user_id: int) -> RetryAfter | None:
        if self.limit <= 0:
            return None
        now = self._clock()
        # Only the newest `limit` entries matter: the person is free again once the
        # oldest of them leaves the window.
        cursor = (
            self._collection.find(
                {self._person: user_id, self._time: {"$gt": now - self.window}}, {self._time: 1}
            )
            .sort(self._time, DESCENDING)
            .limit(self.limit)
        )
        recent = [doc[self._time] async for doc in cursor]
        if len(recent) < self.limit:
            return None
        at = recent[-1] + self.window
        seconds = max(1, math.ceil((at - now).total_seconds()))
        return RetryAfter(at=at, seconds=seconds, limit=self.limit, window_seconds=int(self.window.total_seconds()))
