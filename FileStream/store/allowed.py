"""The allowed_users collection: who may use a private bot (ALLOWED_USERS, /allow, /disallow).

ALLOWED_USERS seeds it, /allow and /disallow change it; every instance reads it on every
update (no cache to go stale).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from pymongo import ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection

Person = int | str   # a Telegram user id, or "@username" in lower case


def _key(person: Person) -> str:
    return f"id:{person}" if isinstance(person, int) else person.lower()


class AllowedStore:
    """Entries by key (`id:<user id>` or `@username`) with `allowed` true or false.

    A removed entry stays as `allowed: false`, so seeding from ALLOWED_USERS at the next
    start does not bring back someone the owner removed with /disallow.
    """

    def __init__(self, collection: AsyncCollection[dict[str, Any]]) -> None:
        self._entries = collection

    async def ensure_indexes(self) -> None:
        pass  # every query goes by _id; count() scans a list as long as the owner wrote

    async def seed(self, people: Iterable[Person], now: datetime) -> None:
        """Add the setting's entries unless they are there already (allowed or removed)."""
        for person in people:
            await self._entries.update_one(
                {"_id": _key(person)}, {"$setOnInsert": {"allowed": True, "at": now, "by": "ALLOWED_USERS"}},
                upsert=True)

    async def allow(self, person: Person, now: datetime, by: int) -> bool:
        """Allow someone; False when they were allowed already."""
        before = await self._entries.find_one_and_update(
            {"_id": _key(person)}, {"$set": {"allowed": True, "at": now, "by": by}},
            projection={"allowed": 1}, upsert=True, return_document=ReturnDocument.BEFORE)
        return not (before or {}).get("allowed")

    async def disallow(self, people: Iterable[Person], now: datetime, by: int) -> int:
        """Remove entries (a person's id and the @username they use, say); how many were allowed."""
        removed = 0
        for person in people:
            result = await self._entries.update_one(
                {"_id": _key(person), "allowed": True}, {"$set": {"allowed": False, "at": now, "by": by}})
            removed += result.modified_count
        return removed

    async def is_allowed(self, user_id: int, username: str | None) -> bool:
        keys = [_key(user_id)] + ([_key(f"@{username}")] if username else [])
        return await self._entries.find_one({"_id": {"$in": keys}, "allowed": True}, {"_id": 1}) is not None

    async def count(self) -> int:
        """How many entries allow someone (an id and a @username of one person count as two)."""
        return await self._entries.count_documents({"allowed": True})
