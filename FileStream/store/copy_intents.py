"""The copy_intents collection: a note written before each copy into a storage channel, removed once the copy is accounted for.

A process that dies between sending a copy and recording it leaves its note behind; the
next start reads the notes and finds the copy (see services/channel_copies.py). Notes
have no TTL on purpose: one is removed only once its copy is recorded or deleted.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

from pymongo import ASCENDING
from pymongo.asynchronous.collection import AsyncCollection

INTAKE = "intake"   # a file a person or a channel sent, copied by the bot instance
LATE = "late"       # the storage copy of a migrated file, made on first use by any instance
HEAL = "heal"       # a lost storage copy made again, by the posting lease holder
MIRROR = "mirror"   # a copy into MIRROR_CHANNEL, by the posting lease holder
# Copies only the posting lease holder makes: the next holder accounts for the ones another left.
LEASED = (HEAL, MIRROR)


class CopyIntentStore:
    """Intents as dicts: _id, channel, kind, instance, at, unique_id (of the media being
    copied), after_id (the channel's newest message id known before the copy, or None),
    file_id (LATE: the record that gets the copy), message_id (once Telegram answered)."""

    def __init__(self, collection: AsyncCollection[dict[str, Any]]) -> None:
        self._intents = collection

    async def ensure_indexes(self) -> None:
        await self._intents.create_index([("channel", ASCENDING), ("instance", ASCENDING)], name="channel_instance")

    async def record(self, *, channel: int, kind: str, instance: str, now: datetime, unique_id: str | None,
                     after_id: int | None, file_id: str | None = None) -> str:
        """Write the note before the copy is sent; its id."""
        intent_id = secrets.token_hex(8)
        await self._intents.insert_one({
            "_id": intent_id, "channel": channel, "kind": kind, "instance": instance, "at": now,
            "unique_id": unique_id, "after_id": after_id, "file_id": file_id, "message_id": None,
        })
        return intent_id

    async def sent(self, intent_id: str, message_id: int) -> None:
        """Telegram answered: the copy is message `message_id`."""
        await self._intents.update_one({"_id": intent_id}, {"$set": {"message_id": message_id}})

    async def settle(self, intent_id: str) -> None:
        """The copy is recorded, or deleted, or was never made: the note goes."""
        await self._intents.delete_one({"_id": intent_id})

    async def left_behind(self, channel: int, instance: str, *, kinds: list[str], older_than: datetime | None = None,
                          ) -> list[dict[str, Any]]:
        """Notes of other instances on `channel` of these kinds (with `older_than`: only notes
        written before it), oldest first."""
        query: dict[str, Any] = {"channel": channel, "instance": {"$ne": instance}, "kind": {"$in": kinds}}
        if older_than is not None:
            query["at"] = {"$lt": older_than}
        cursor = self._intents.find(query).sort("at", ASCENDING)
        return [doc async for doc in cursor]

    async def for_file(self, file_id: str, instance: str, older_than: datetime) -> list[dict[str, Any]]:
        """Late-copy notes of other instances for record `file_id` written before `older_than`."""
        cursor = self._intents.find({"file_id": file_id, "kind": LATE, "instance": {"$ne": instance},
                                     "at": {"$lt": older_than}})
        return [doc async for doc in cursor]

    async def count(self) -> int:
        return await self._intents.count_documents({})
