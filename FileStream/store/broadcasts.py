"""The broadcasts collection: progress of a broadcast, so it resumes after a restart."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bson import ObjectId
from bson.errors import InvalidId
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

RUNNING, CANCELLED, DONE = "running", "cancelled", "done"


def _public(doc: dict[str, Any]) -> dict[str, Any]:
    doc = dict(doc)
    doc["id"] = str(doc.pop("_id"))
    return doc


def _object_id(broadcast_id: str) -> ObjectId | None:
    try:
        return ObjectId(broadcast_id)
    except (InvalidId, TypeError):
        return None


class BroadcastStore:
    """Broadcasts as dicts: id (str), source_chat_id, source_message_id, owner_chat_id, state,
    last_user_id, ahead, sent, failed, blocked, save_seq, started_at, updated_at, finished_at.
    """

    def __init__(self, collection: AsyncCollection[dict[str, Any]]) -> None:
        self._broadcasts = collection

    async def ensure_indexes(self) -> None:
        # At most one running broadcast across all instances.
        await self._broadcasts.create_index(
            "state", name="one_running", unique=True, partialFilterExpression={"state": RUNNING}
        )

    async def create(
        self, source_chat_id: int, source_message_id: int, now: datetime, *, owner_chat_id: int | None = None
    ) -> str | None:
        """Start a broadcast of that message; None when one is already running. One write,
        so a broadcast never exists half made."""
        try:
            result = await self._broadcasts.insert_one(
                {
                    "source_chat_id": source_chat_id,
                    "source_message_id": source_message_id,
                    "owner_chat_id": owner_chat_id,
                    "state": RUNNING,
                    "last_user_id": None,
                    "ahead": [],
                    "save_seq": 0,
                    "sent": 0,
                    "failed": 0,
                    "blocked": 0,
                    "started_at": now,
                    "updated_at": now,
                    "finished_at": None,
                }
            )
        except DuplicateKeyError:
            return None
        return str(result.inserted_id)

    async def finish(self, broadcast_id: str, now: datetime, state: str = DONE) -> bool:
        """End a running broadcast as done or cancelled; False when it was not running."""
        if state not in (DONE, CANCELLED):
            raise ValueError(f"a broadcast ends as {DONE!r} or {CANCELLED!r}, not {state!r}")
        result = await self._broadcasts.update_one(
            {"_id": _object_id(broadcast_id), "state": RUNNING},
            {"$set": {"state": state, "updated_at": now, "finished_at": now}},
        )
        return result.modified_count == 1

    async def cancel(self, broadcast_id: str, now: datetime) -> bool:
        return await self.finish(broadcast_id, now, CANCELLED)

    async def save_progress(
        self, broadcast_id: str, seq: int, now: datetime, *, last_user_id: int | None, ahead: list[int],
        sent: int, failed: int, blocked: int,
    ) -> bool:
        """Record how far a running broadcast got, as whole counts; False when it is no longer
        running (cancelled elsewhere), which tells the sender to stop.

        Safe to repeat after a timeout that may or may not have reached the server: counts are
        set, not added, and `seq` (larger on every call) keeps a late copy of an older save
        from overwriting a newer one.
        """
        result = await self._broadcasts.update_one(
            {"_id": _object_id(broadcast_id), "state": RUNNING, "save_seq": {"$not": {"$gte": seq}}},
            {"$set": {"last_user_id": last_user_id, "ahead": ahead, "sent": sent, "failed": failed,
                      "blocked": blocked, "save_seq": seq, "updated_at": now}},
        )
        return result.matched_count == 1

    async def running(self) -> dict[str, Any] | None:
        doc = await self._broadcasts.find_one({"state": RUNNING})
        return None if doc is None else _public(doc)

    async def get(self, broadcast_id: str) -> dict[str, Any] | None:
        doc = await self._broadcasts.find_one({"_id": _object_id(broadcast_id)})
        return None if doc is None else _public(doc)
