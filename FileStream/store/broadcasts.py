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
    """Broadcasts as dicts: id (str), source_chat_id, source_message_id, state, last_user_id,
    sent, failed, blocked, started_at, updated_at, finished_at.
    """

    def __init__(self, collection: AsyncCollection[dict[str, Any]]) -> None:
        self._broadcasts = collection

    async def ensure_indexes(self) -> None:
        # At most one running broadcast across all instances.
        await self._broadcasts.create_index(
            "state", name="one_running", unique=True, partialFilterExpression={"state": RUNNING}
        )

    async def create(self, source_chat_id: int, source_message_id: int, now: datetime) -> str | None:
        """Start a broadcast of that message; None when one is already running."""
        try:
            result = await self._broadcasts.insert_one(
                {
                    "source_chat_id": source_chat_id,
                    "source_message_id": source_message_id,
                    "state": RUNNING,
                    "last_user_id": None,
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

    async def running(self) -> dict[str, Any] | None:
        doc = await self._broadcasts.find_one({"state": RUNNING})
        return None if doc is None else _public(doc)

    async def get(self, broadcast_id: str) -> dict[str, Any] | None:
        doc = await self._broadcasts.find_one({"_id": _object_id(broadcast_id)})
        return None if doc is None else _public(doc)
