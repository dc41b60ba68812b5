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
        uncounted: dict[str, Any] | None = None,
    ) -> None:
        if window_seconds <= 0:
            raise ValueError(f"window_seconds must be > 0, got {window_seconds}")
        self._collection = collection
        self.limit = limit
        self.window = timedelta(seconds=window_seconds)
        self._clock = clock
        self._person = person_field
        self._time = time_field
        self._counted = {"$nor": [uncounted]} if uncounted else {}

    @classmethod
    def on_requests(cls, database: Any, *, limit: int, window_seconds: int, clock: Callable[[], datetime]) -> FileRateLimit:
        """Count the person's file requests (store.database.Database's `requests` collection);
        not those a restart released: their file is handled again under a new request."""
        return cls(database.db["requests"], limit=limit, window_seconds=window_seconds, clock=clock,
                   person_field="user_id", uncounted={"released": True})

    async def check(self, user_id: int) -> RetryAfter | None:
        if self.limit <= 0:
            return None
        now = self._clock()
        # Only the newest `limit` entries matter: the person is free again once the
        # oldest of them leaves the window.
        cursor = (
            self._collection.find(
                {self._person: user_id, self._time: {"$gt": now - self.window}, **self._counted}, {self._time: 1}
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


@dataclass(frozen=True, slots=True)
class BundleRetryAfter(RetryAfter):
    """The person's bundles took all the files they may send in bundles for now."""

    def text(self) -> str:
        return ngettext(
            "You can send up to {count} file in bundles every {window}. "
            "I did not take this one; please wait {wait} before sending more.",
            "You can send up to {count} files in bundles every {window}. "
            "I did not take this one; please wait {wait} before sending more.",
            self.limit,
        ).format(count=self.limit, window=duration(self.window_seconds), wait=duration(max(self.seconds, 1)))


class BundleFileLimit:
    """`check(user_id, adding)` → None when the person may add `adding` more files to bundles
    now, else a BundleRetryAfter. RATE_LIMIT_BUNDLE_FILES per RATE_LIMIT_BUNDLE_WINDOW.

    Counted in the requests collection, like FileRateLimit: a bundle is one request whose
    `total` is the files it received, and it counts while it is open and until the window
    has passed since it last changed (its last file, or its end). `limit <= 0`: no limit.
    """

    def __init__(self, requests: AsyncCollection[dict[str, Any]], *, limit: int, window_seconds: int,
                 clock: Callable[[], datetime]) -> None:
        if window_seconds <= 0:
            raise ValueError(f"window_seconds must be > 0, got {window_seconds}")
        self._requests = requests
        self.limit = limit
        self.window = timedelta(seconds=window_seconds)
        self._clock = clock

    @classmethod
    def on_requests(cls, database: Any, *, limit: int, window_seconds: int,
                    clock: Callable[[], datetime]) -> BundleFileLimit:
        return cls(database.db["requests"], limit=limit, window_seconds=window_seconds, clock=clock)

    async def _counted(self, user_id: int, now: datetime) -> list[dict[str, Any]]:
        cursor = self._requests.find(
            {"user_id": user_id, "bundle_id": {"$type": "string"},
             "$or": [{"active": True}, {"updated_at": {"$gt": now - self.window}}]},
            {"total": 1, "active": 1, "updated_at": 1, "bundle_id": 1})
        return [doc async for doc in cursor]

    async def room(self, user_id: int, bundle_id: str) -> int | None:
        """How many files bundle `bundle_id` may hold in all under the limit (what the
        person's other bundles in the window left); None without a limit. The bundle's own
        count is then kept within it by the database's atomic update, however many of its
        files arrive at once."""
        if self.limit <= 0:
            return None
        others = [doc for doc in await self._counted(user_id, self._clock()) if doc.get("bundle_id") != bundle_id]
        return max(0, self.limit - sum(int(doc.get("total") or 0) for doc in others))

    async def check(self, user_id: int, adding: int = 1) -> BundleRetryAfter | None:
        if self.limit <= 0:
            return None
        now = self._clock()
        counted = await self._counted(user_id, now)
        used = sum(int(doc.get("total") or 0) for doc in counted)
        if used + adding <= self.limit:
            return None
        # Free again once enough of the counted bundles leave the window (an open one leaves
        # it a whole window from now at the earliest).
        leaving = sorted(((now if doc.get("active") else doc["updated_at"]) + self.window, int(doc.get("total") or 0))
                         for doc in counted)
        at = leaving[-1][0] if leaving else now + self.window
        for when, total in leaving:
            used -= total
            if used + adding <= self.limit:
                at = when
                break
        seconds = max(1, math.ceil((at - now).total_seconds()))
        return BundleRetryAfter(at=at, seconds=seconds, limit=self.limit,
                                window_seconds=int(self.window.total_seconds()))
