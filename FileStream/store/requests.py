"""The requests collection: each person's file requests and the one-active-request rule."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from bson import ObjectId
from bson.errors import InvalidId
from pymongo import ASCENDING, ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from FileStream.core.requests import INITIAL, RequestState, is_terminal, sources_of

# Fields set_state manages itself; extra fields may not overwrite them.
_RESERVED = frozenset({"_id", "id", "user_id", "state", "active", "created_at", "updated_at", "timeout_at",
                       "instance"})
# A finished request is removed by MongoDB's TTL monitor this long after it ended. The
# statistics look back a day, the rate limit RATE_LIMIT_WINDOW (bounded below this).
KEEP_FINISHED = timedelta(days=7)


def _public(doc: dict[str, Any]) -> dict[str, Any]:
    doc = dict(doc)
    doc["id"] = str(doc.pop("_id"))
    return doc


def new_request_id() -> str:
    """A fresh id for `RequestStore.start`."""
    return str(ObjectId())


def _object_id(request_id: str) -> ObjectId | None:
    try:
        return ObjectId(request_id)
    except (InvalidId, TypeError):
        return None


class RequestStore:
    """Requests as dicts: id (str), user_id, file_name, state, active, created_at,
    updated_at, timeout_at, finished_at (once terminal) and any fields given to set_state.
    """

    def __init__(self, collection: AsyncCollection[dict[str, Any]], *, keep_finished: timedelta = KEEP_FINISHED) -> None:
        self._requests = collection
        self._keep_finished = keep_finished

    async def ensure_indexes(self) -> None:
        # The one-active-request rule lives here, in the database, so it holds across
        # instances: at most one document per user_id may carry active: true.
        await self._requests.create_index(
            "user_id", name="one_active_per_user", unique=True, partialFilterExpression={"active": True}
        )
        await self._requests.create_index(
            "timeout_at", name="active_by_timeout", partialFilterExpression={"active": True}
        )
        await self._requests.create_index([("created_at", ASCENDING)], name="created_at")
        # Only ended requests carry finished_at: an open one is never removed under its worker.
        await self._requests.create_index(
            "finished_at", name="finished_ttl", expireAfterSeconds=int(self._keep_finished.total_seconds()))

    async def start(self, user_id: int, file_name: str, now: datetime, timeout_at: datetime,
                    instance: str | None = None, *, request_id: str | None = None, **fields: Any) -> str | None:
        """Open a request in the initial state; None when the person already has one open.

        `instance`: the process doing its work. `request_id`: the id to give it (from
        `new_request_id`), so that a caller whose write got no answer knows which request to
        `void`. `fields` are stored with it (a bundle's request: kind, bundle_id, stored, total).
        """
        if clash := _RESERVED.intersection(fields):
            raise ValueError(f"start cannot set {sorted(clash)}")
        oid = ObjectId() if request_id is None else ObjectId(request_id)
        try:
            result = await self._requests.insert_one(
                {
                    **fields,
                    "_id": oid,
                    "user_id": user_id,
                    "file_name": file_name,
                    "state": INITIAL.value,
                    "active": True,
                    "created_at": now,
                    "updated_at": now,
                    "timeout_at": timeout_at,
                    "instance": instance,
                }
            )
        except DuplicateKeyError:
            return None
        return str(result.inserted_id)

    async def void(self, request_id: str, user_id: int, file_name: str, now: datetime, reason: str) -> bool:
        """Make sure the request `start` opened under `request_id` is not open, whenever the
        database applies that opening: a write that got no answer may still be applied
        later (a stalled server applies what waited in its socket after it resumes).

        One upsert, right in either order: applied after the opening, it ends the request
        as failed; applied before it, it leaves a failed request under that id, and the
        opening, applied late, then fails on the taken `_id` instead of holding the person
        up. True when it ended an open request (its person may open a new one).
        """
        oid = _object_id(request_id)
        if oid is None:
            return False
        live = [s.value for s in RequestState if not is_terminal(s)]
        try:
            result = await self._requests.update_one(
                # `state: $in` is not an equality, so an upsert takes nothing from the filter.
                {"_id": oid, "state": {"$in": live}},
                {"$set": {"state": RequestState.FAILED.value, "active": False, "updated_at": now,
                          "finished_at": now, "error": reason},
                 "$setOnInsert": {"user_id": user_id, "file_name": file_name, "created_at": now,
                                  "timeout_at": now}},
                upsert=True)
        except DuplicateKeyError:
            return False  # it is there and ended already (a worker or the stale job ended it)
        return result.modified_count == 1

    async def set_state(self, request_id: str, state: str, now: datetime, **fields: Any) -> bool:
        """Move a request to `state` and store `fields` with it; False when the move is not
        allowed from where the request stands (a terminal state is never left) or it is unknown.
        """
        target = RequestState(state)  # an unknown state is a programming error: ValueError
        if clash := _RESERVED.intersection(fields):
            raise ValueError(f"set_state cannot overwrite {sorted(clash)}")
        oid = _object_id(request_id)
        if oid is None:
            return False
        update: dict[str, Any] = {**fields, "state": target.value, "updated_at": now}
        if is_terminal(target):
            # Clearing `active` in the same write frees the person for a new request.
            update.update(active=False, finished_at=now)
        # Checking the current state inside the filter makes check-and-move atomic.
        result = await self._requests.update_one(
            {"_id": oid, "state": {"$in": [s.value for s in sources_of(target)]}}, {"$set": update}
        )
        return result.modified_count == 1

    async def note(self, request_id: str, **fields: Any) -> None:
        """Store `fields` with a request whatever its state (what was shown to the person)."""
        if clash := _RESERVED.intersection(fields):
            raise ValueError(f"note cannot overwrite {sorted(clash)}")
        oid = _object_id(request_id)
        if oid is not None:
            await self._requests.update_one({"_id": oid}, {"$set": fields})

    async def count(self, request_id: str, now: datetime, *, timeout_at: datetime | None = None,
                    **increments: int) -> dict[str, Any] | None:
        """Add to counters of an open request (a bundle's `stored` and `total`), optionally
        moving its deadline; the request after, or None when it has ended."""
        oid = _object_id(request_id)
        if oid is None:
            return None
        if clash := _RESERVED.intersection(increments):
            raise ValueError(f"count cannot change {sorted(clash)}")
        update: dict[str, Any] = {"$inc": increments, "$set": {"updated_at": now}}
        if timeout_at is not None:
            update["$set"]["timeout_at"] = timeout_at
        doc = await self._requests.find_one_and_update(
            {"_id": oid, "active": True}, update, return_document=ReturnDocument.AFTER)
        return None if doc is None else _public(doc)

    async def get(self, request_id: str) -> dict[str, Any] | None:
        oid = _object_id(request_id)
        doc = None if oid is None else await self._requests.find_one({"_id": oid})
        return None if doc is None else _public(doc)

    async def active_for(self, user_id: int) -> dict[str, Any] | None:
        doc = await self._requests.find_one({"user_id": user_id, "active": True})
        return None if doc is None else _public(doc)

    async def find_timed_out(self, now: datetime) -> list[dict[str, Any]]:
        """Open requests whose timeout_at has passed, oldest deadline first."""
        cursor = self._requests.find({"active": True, "timeout_at": {"$lte": now}}).sort("timeout_at", ASCENDING)
        return [_public(doc) async for doc in cursor]

    async def left_behind(self, instance: str) -> list[dict[str, Any]]:
        """Open requests whose work another process was doing (or that name none), oldest first."""
        cursor = self._requests.find({"active": True, "instance": {"$ne": instance}}).sort("created_at", ASCENDING)
        return [_public(doc) async for doc in cursor]

    async def ended_unfinished(self, since: datetime) -> list[str]:
        """Ids of single-file requests that ended since `since` without completing (failed,
        revoked, timed out): no record stored for them may stay. Left out: those a start
        released with their message, which is handled again and reuses their record."""
        unfinished = [s.value for s in RequestState if is_terminal(s) and s != RequestState.COMPLETED]
        cursor = self._requests.find({"finished_at": {"$gte": since}, "state": {"$in": unfinished},
                                      "bundle_id": None,
                                      "$or": [{"released": {"$ne": True}}, {"message_id": None}]}, {"_id": 1})
        return [str(doc["_id"]) async for doc in cursor]

    async def next_timeout(self) -> datetime | None:
        """The earliest `timeout_at` of an open request; None when none is open."""
        doc = await self._requests.find_one({"active": True}, {"timeout_at": 1}, sort=[("timeout_at", ASCENDING)])
        return None if doc is None else doc["timeout_at"]

    async def counts_by_state(self, since: datetime) -> dict[str, int]:
        """How many requests created since `since` are in each state (every state listed)."""
        counts = {state.value: 0 for state in RequestState}
        cursor = await self._requests.aggregate(
            [{"$match": {"created_at": {"$gte": since}}}, {"$group": {"_id": "$state", "n": {"$sum": 1}}}]
        )
        async for row in cursor:
            counts[row["_id"]] = row["n"]
        return counts

    async def completion_rate(self, since: datetime) -> tuple[int, int]:
        """(completed, all) among requests created since `since`, open ones included."""
        counts = await self.counts_by_state(since)
        return counts[RequestState.COMPLETED.value], sum(counts.values())

    async def completed_files_between(self, since: datetime, before: datetime) -> list[dict[str, Any]]:
        """Completed single-file requests created in [since, before): their user_id and file_id."""
        cursor = self._requests.find(
            {"created_at": {"$gte": since, "$lt": before}, "state": RequestState.COMPLETED.value,
             "file_id": {"$ne": None}, "bundle_id": None},
            {"user_id": 1, "file_id": 1, "created_at": 1}).sort("created_at", ASCENDING)
        return [_public(doc) async for doc in cursor]
