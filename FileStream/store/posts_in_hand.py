"""The posts_in_hand collection: AUTH_CHANNEL posts the bot took in hand and has not yet given their buttons.

Telegram's update state moves past a post as soon as it arrives, so a process killed while
it stores the post's file would never see it again. A note is written when the bot takes a
post and removed once the post got its buttons (or was answered otherwise); the next start
takes over the notes a stopped process left and handles those posts again. Notes expire by
themselves (TTL on `expires_at`) so nothing grows forever.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pymongo import ASCENDING
from pymongo.asynchronous.collection import AsyncCollection

# A note older than this is not handled again (and MongoDB removes it): the post is long past.
KEEP_NOTES = timedelta(days=1)


def _key(chat_id: int, message_id: int) -> str:
    return f"{chat_id}:{message_id}"


class PostsInHandStore:
    """Notes as dicts: _id ("chat:message"), chat_id, message_id, instance (the process
    handling the post), taken_at, expires_at."""

    def __init__(self, collection: AsyncCollection[dict[str, Any]], *, keep: timedelta = KEEP_NOTES) -> None:
        self._notes = collection
        self._keep = keep

    async def ensure_indexes(self) -> None:
        await self._notes.create_index("expires_at", name="expires_at_ttl", expireAfterSeconds=0)
        await self._notes.create_index([("instance", ASCENDING), ("taken_at", ASCENDING)], name="instance_taken")

    async def take(self, chat_id: int, message_id: int, *, instance: str, now: datetime) -> None:
        """Note the post as in hand of `instance` (one write; handling it again keeps one note)."""
        await self._notes.update_one(
            {"_id": _key(chat_id, message_id)},
            {"$set": {"chat_id": chat_id, "message_id": message_id, "instance": instance, "taken_at": now,
                      "expires_at": now + self._keep}},
            upsert=True)

    async def done(self, chat_id: int, message_id: int) -> None:
        await self._notes.delete_one({"_id": _key(chat_id, message_id)})

    async def left_behind(self, instance: str, since: datetime, limit: int) -> list[dict[str, Any]]:
        """Notes other processes left (taken since `since`), oldest first, at most `limit`."""
        cursor = self._notes.find({"instance": {"$ne": instance}, "taken_at": {"$gte": since}}) \
            .sort("taken_at", ASCENDING).limit(limit)
        return [doc async for doc in cursor]

    async def claim(self, note: dict[str, Any], instance: str) -> bool:
        """Take a left note over; True for exactly one claimant (the one that handles the post again)."""
        result = await self._notes.update_one({"_id": note["_id"], "instance": note["instance"]},
                                              {"$set": {"instance": instance}})
        return result.modified_count == 1
