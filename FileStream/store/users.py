"""The users collection: who talked to the bot, bans, and who blocked it."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pymongo import ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError


@dataclass(frozen=True, slots=True)
class User:
    id: int
    first_name: str | None
    username: str | None
    first_seen: datetime | None  # None for someone banned before ever writing
    last_active: datetime | None
    blocked: bool                # they blocked the bot: broadcasts skip them
    ban_reason: str | None
    banned_at: datetime | None

    @property
    def banned(self) -> bool:
        return self.banned_at is not None


def _from_doc(doc: dict[str, Any]) -> User:
    ban = doc.get("ban") or {}
    return User(
        id=doc["_id"],
        first_name=doc.get("first_name"),
        username=doc.get("username"),
        first_seen=doc.get("first_seen"),
        last_active=doc.get("last_active"),
        blocked=bool(doc.get("blocked")),
        ban_reason=ban.get("reason"),
        banned_at=ban.get("at"),
    )


class UserStore:
    """People by Telegram user id (`_id`)."""

    def __init__(self, collection: AsyncCollection[dict[str, Any]]) -> None:
        self._users = collection

    async def ensure_indexes(self) -> None:
        pass  # every query goes by _id

    async def touch(self, user_id: int, first_name: str | None, username: str | None, now: datetime,
                    language_code: str | None = None) -> bool:
        """Note that the person was active; True the first time they are seen.

        Someone who writes to the bot has evidently not blocked it, so `blocked` clears.
        A record made by an earlier ban has no first_seen yet; this sets it. `language_code`
        is their Telegram app's language: the jobs write to them in it (unless they chose one).
        """
        before = await self._users.find_one_and_update(
            {"_id": user_id},
            [
                {
                    "$set": {
                        # $literal: in a pipeline a name like "$x" would read field x.
                        "first_name": {"$literal": first_name},
                        "username": {"$literal": username},
                        "last_active": now,
                        "blocked": False,
                        "first_seen": {"$ifNull": ["$first_seen", now]},
                        "lang_code": {"$literal": language_code},
                    }
                }
            ],
            projection={"first_seen": 1},
            upsert=True,
            return_document=ReturnDocument.BEFORE,
        )
        return before is None or before.get("first_seen") is None

    async def get(self, user_id: int) -> User | None:
        doc = await self._users.find_one({"_id": user_id})
        return None if doc is None else _from_doc(doc)

    async def ban(self, user_id: int, reason: str, now: datetime) -> bool:
        """Ban someone, known or not; False when they were banned already."""
        try:
            await self._users.update_one(
                {"_id": user_id, "ban": {"$exists": False}},
                {"$set": {"ban": {"reason": reason, "at": now}}},
                upsert=True,
            )
        except DuplicateKeyError:
            # The filter missed because a ban exists, and the upsert then hit the same _id.
            return False
        return True

    async def unban(self, user_id: int) -> bool:
        """Lift a ban; False when there was none."""
        result = await self._users.update_one({"_id": user_id, "ban": {"$exists": True}}, {"$unset": {"ban": ""}})
        return result.modified_count == 1

    async def is_banned(self, user_id: int) -> bool:
        return await self._users.find_one({"_id": user_id, "ban": {"$exists": True}}, {"_id": 1}) is not None

    async def ids_with_username(self, username: str) -> list[int]:
        """Ids of the people seen with this @username (without the @; case does not matter)."""
        pattern = {"$regex": f"^{re.escape(username)}$", "$options": "i"}
        return [doc["_id"] async for doc in self._users.find({"username": pattern}, {"_id": 1})]

    async def set_language(self, user_id: int, code: str) -> None:
        """The language the person chose with /language."""
        await self._users.update_one({"_id": user_id}, {"$set": {"language": code}}, upsert=True)

    async def language_of(self, user_id: int) -> tuple[str | None, str | None]:
        """(the language they chose, their Telegram app's language code); None for what is not known."""
        doc = await self._users.find_one({"_id": user_id}, {"language": 1, "lang_code": 1}) or {}
        return doc.get("language"), doc.get("lang_code")

    async def mark_blocked(self, user_id: int, blocked: bool) -> None:
        await self._users.update_one({"_id": user_id}, {"$set": {"blocked": blocked}})

    async def count(self) -> int:
        return await self._users.count_documents({})

    async def iter_active_ids(self, after: int | None = None) -> AsyncIterator[int]:
        """Ids of people neither banned nor blocking the bot, ascending; resumable with `after`."""
        query: dict[str, Any] = {"blocked": {"$ne": True}, "ban": {"$exists": False}}
        if after is not None:
            query["_id"] = {"$gt": after}
        async for doc in self._users.find(query, {"_id": 1}).sort("_id", 1):
            yield doc["_id"]
