"""Download counts in MongoDB: per file (on its record), per file and day, and in total.

Every write is an `$inc`, so several instances adding their batches never lose each
other's counts. Each batch has an id, pushed (the last few kept) onto every document it
adds to, in the same update as its `$inc`, and the update applies only where the id is
not there yet: a batch that failed half-way is sent again whole, with the same id, and
counts once. A file's own counts live on its record in `files` and go when it goes;
the per-day tallies (`usage_daily`) are kept for KEEP_DAYS by a TTL index; the totals
(`usage_totals`, one document) are kept for good.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Iterable
from datetime import datetime, timedelta
from typing import Any

from pymongo import DESCENDING, UpdateOne
from pymongo.errors import BulkWriteError, DuplicateKeyError
from pymongo.asynchronous.collection import AsyncCollection

from FileStream.core.usage import DailyFileUsage, FileUsage, UsageDelta

# Per-day tallies older than this are deleted by MongoDB's TTL monitor: /botstats shows
# today's, and a week back is enough to look at yesterday's after a long weekend.
KEEP_DAYS = timedelta(days=8)
_TOTALS_ID = "all"
# Batch ids kept per document: a batch is retried at the next flush, a few seconds later,
# so only a few writes come between. The totals document gets every instance's batches.
KEEP_BATCH_IDS = 8
KEEP_TOTALS_BATCH_IDS = 64
_DUPLICATE_KEY = 11000


class UsageStore:
    """Adds batches of counts and reads them back for /files cards and /botstats."""

    def __init__(
        self,
        files: AsyncCollection[dict[str, Any]],
        daily: AsyncCollection[dict[str, Any]],
        totals: AsyncCollection[dict[str, Any]],
    ) -> None:
        self._files = files
        self._daily = daily
        self._totals = totals

    async def ensure_indexes(self) -> None:
        await self._daily.create_index("day", name="day_ttl", expireAfterSeconds=int(KEEP_DAYS.total_seconds()))
        await self._daily.create_index(
            [("day", DESCENDING), ("downloads", DESCENDING), ("bytes_served", DESCENDING)], name="day_top"
        )

    async def add(self, deltas: Iterable[UsageDelta], batch_id: str | None = None) -> None:
        """Add a batch: one bulk write per collection, whatever the number of files.

        `batch_id`: the batch's id; adding the same batch again with it (after a failure)
        adds only what the first try did not. None: a new batch.
        """
        deltas = [d for d in deltas if d.downloads or d.bytes_served or d.last_access]
        if not deltas:
            return
        batch_id = batch_id or uuid.uuid4().hex
        per_file: dict[str, UsageDelta] = {}
        for delta in deltas:   # a batch that spans midnight has two deltas for one file
            merged = per_file.setdefault(delta.file_id, UsageDelta(delta.file_id, delta.file_name, delta.day))
            merged.merge(delta)
        # upsert=False: a file deleted meanwhile keeps no counts (its record is gone).
        await self._files.bulk_write([
            UpdateOne({"_id": d.file_id, "usage.batches": {"$ne": batch_id}},
                      _file_increments(d, batch_id), upsert=False)
            for d in per_file.values()
        ], ordered=False)
        await _once_each(self._daily.bulk_write([
            UpdateOne({"_id": f"{d.day:%Y-%m-%d}/{d.file_id}", "batches": {"$ne": batch_id}},
                      {"$inc": {"downloads": d.downloads, "bytes_served": d.bytes_served},
                       "$set": {"file_name": d.file_name},
                       "$setOnInsert": {"file_id": d.file_id, "day": d.day},
                       "$push": _recent(batch_id, KEEP_BATCH_IDS)},
                      upsert=True)
            for d in deltas
        ], ordered=False))
        await _once_each(self._totals.update_one(
            {"_id": _TOTALS_ID, "batches": {"$ne": batch_id}},
            {"$inc": {"downloads": sum(d.downloads for d in deltas),
                      "bytes_served": sum(d.bytes_served for d in deltas)},
             "$push": _recent(batch_id, KEEP_TOTALS_BATCH_IDS)},
            upsert=True,
        ))

    async def of_file(self, file_id: str) -> FileUsage:
        """A file's counts (zeros when nobody opened it, or when it is gone)."""
        doc = await self._files.find_one({"_id": file_id}, {"usage": 1})
        usage = (doc or {}).get("usage") or {}
        return FileUsage(downloads=int(usage.get("downloads", 0)), bytes_served=int(usage.get("bytes_served", 0)),
                         last_access=usage.get("last_access"))

    async def of_files(self, file_ids: list[str]) -> FileUsage:
        """The counts of several files together (a bundle's): sums, and the latest access."""
        downloads = served = 0
        last: datetime | None = None
        async for doc in self._files.find({"_id": {"$in": list(file_ids)}}, {"usage": 1}):
            usage = doc.get("usage") or {}
            downloads += int(usage.get("downloads", 0))
            served += int(usage.get("bytes_served", 0))
            at = usage.get("last_access")
            last = at if at is not None and (last is None or at > last) else last
        return FileUsage(downloads=downloads, bytes_served=served, last_access=last)

    async def top_files(self, day: datetime, limit: int = 5) -> list[DailyFileUsage]:
        """The files downloaded most on `day` (a UTC midnight), most downloads then most bytes first."""
        cursor = (
            self._daily.find({"day": day})
            .sort([("downloads", DESCENDING), ("bytes_served", DESCENDING), ("_id", DESCENDING)])
            .limit(limit)
        )
        return [DailyFileUsage(file_id=doc["file_id"], file_name=doc.get("file_name") or doc["file_id"],
                               downloads=int(doc.get("downloads", 0)), bytes_served=int(doc.get("bytes_served", 0)))
                async for doc in cursor]

    async def bytes_served_on(self, day: datetime) -> int:
        """Bytes sent on `day` (a UTC midnight), all files together."""
        cursor = await self._daily.aggregate([
            {"$match": {"day": day}}, {"$group": {"_id": None, "bytes": {"$sum": "$bytes_served"}}}])
        found = await cursor.to_list()
        return int(found[0]["bytes"]) if found else 0

    async def totals(self) -> FileUsage:
        """Downloads and bytes of every file ever served (last_access is not kept here)."""
        doc = await self._totals.find_one({"_id": _TOTALS_ID}) or {}
        return FileUsage(downloads=int(doc.get("downloads", 0)), bytes_served=int(doc.get("bytes_served", 0)))


def _file_increments(delta: UsageDelta, batch_id: str) -> dict[str, Any]:
    update: dict[str, Any] = {"$inc": {"usage.downloads": delta.downloads, "usage.bytes_served": delta.bytes_served},
                              "$push": {"usage.batches": _recent(batch_id, KEEP_BATCH_IDS)["batches"]}}
    if delta.last_access is not None:
        update["$max"] = {"usage.last_access": delta.last_access}
    return update


def _recent(batch_id: str, keep: int) -> dict[str, Any]:
    """$push of the batch id onto `batches`, keeping the last `keep`."""
    return {"batches": {"$each": [batch_id], "$slice": -keep}}


async def _once_each(write: Awaitable[Any]) -> None:
    """An upsert whose filter found the batch applied already inserts a duplicate _id: that
    document has its share; any other error is raised."""
    try:
        await write
    except DuplicateKeyError:
        return
    except BulkWriteError as error:
        others = [e for e in error.details.get("writeErrors", []) if e.get("code") != _DUPLICATE_KEY]
        if others or error.details.get("writeConcernErrors"):
            raise
