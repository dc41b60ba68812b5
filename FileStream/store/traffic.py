"""The traffic_daily collection: bytes each person's links sent per UTC day (TRAFFIC_LIMIT_MB).

Every write is an `$inc`, so the batches of several instances add up. Two days are kept
(a TTL index on the day): the limit only ever reads today's.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from pymongo import UpdateOne
from pymongo.asynchronous.collection import AsyncCollection

KEEP = timedelta(days=2)


def _key(owner_id: int, day: datetime) -> str:
    return f"{day:%Y-%m-%d}/{owner_id}"


class TrafficStore:
    """Adds batches of per-person bytes and reads one person's day back."""

    def __init__(self, collection: AsyncCollection[dict[str, Any]]) -> None:
        self._days = collection

    async def ensure_indexes(self) -> None:
        await self._days.create_index("day", name="day_ttl", expireAfterSeconds=int(KEEP.total_seconds()))

    async def add(self, batch: Mapping[tuple[int, datetime], int]) -> None:
        """Add {(owner id, day's UTC midnight): bytes} in one bulk write."""
        if not batch:
            return
        await self._days.bulk_write([
            UpdateOne({"_id": _key(owner_id, day)},
                      {"$inc": {"bytes": sent}, "$setOnInsert": {"owner_id": owner_id, "day": day}}, upsert=True)
            for (owner_id, day), sent in batch.items()
        ], ordered=False)

    async def bytes_on(self, owner_id: int, day: datetime) -> int:
        doc = await self._days.find_one({"_id": _key(owner_id, day)}, {"bytes": 1})
        return int((doc or {}).get("bytes", 0))
