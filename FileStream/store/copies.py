"""The copies a file keeps in storage channels (on its record in the files collection), the
claims that make each lost copy healed once across instances, and each channel's state."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo import ASCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from FileStream.core.models import StoredFile
from FileStream.core.storage_channels import ChannelState
from FileStream.store.files import _confirmed, _from_doc, _live


class CopyStore:
    """files: the files collection. channels: the storage_channels collection ({_id: chat id})."""

    def __init__(self, files: AsyncCollection[dict[str, Any]], channels: AsyncCollection[dict[str, Any]]) -> None:
        self._files = files
        self._channels = channels

    async def ensure_indexes(self) -> None:
        # The mirror pass and the heal queue look for records by these; both sparse, so the
        # indexes hold only the few records they concern.
        await self._files.create_index("heal_wanted", name="heal_wanted", sparse=True)
        await self._files.create_index("copy_wanted", name="copy_wanted", sparse=True)
        await self._files.create_index("storage_chat_id", name="storage_chat")

    async def get(self, file_id: str) -> StoredFile | None:
        doc = await self._files.find_one(_confirmed({"_id": file_id}))
        return None if doc is None else _from_doc(doc)

    # -- healing a lost storage copy ----------------------------------------------------------
    async def claim_heal(self, file_id: str, lost: tuple[int, int], claimant: str, now: datetime,
                         stale_before: datetime) -> bool:
        """Take the job of replacing the storage copy `lost` (chat id, message id); True for
        one caller on any instance at a time. A claim older than `stale_before` is taken over."""
        result = await self._files.update_one(
            {"_id": file_id, "storage_chat_id": lost[0], "storage_message_id": lost[1],
             "$or": [{"heal": None}, {"heal.at": {"$lt": stale_before}}]},
            {"$set": {"heal": {"by": claimant, "at": now}}},
        )
        return result.modified_count == 1

    async def record_heal(self, file_id: str, lost: tuple[int, int], claimant: str, chat_id: int,
                          message_id: int) -> bool:
        """Keep the new storage copy in place of `lost`; False when the claim was lost meanwhile."""
        result = await self._files.update_one(
            {"_id": file_id, "storage_chat_id": lost[0], "storage_message_id": lost[1], "heal.by": claimant},
            {"$set": {"storage_chat_id": chat_id, "storage_message_id": message_id},
             "$unset": {"heal": "", "heal_wanted": ""}},
        )
        return result.modified_count == 1

    async def release_heal(self, file_id: str, claimant: str) -> None:
        await self._files.update_one({"_id": file_id, "heal.by": claimant}, {"$unset": {"heal": ""}})

    async def release_heals_of_others(self, claimant: str) -> int:
        """Only the posting lease holder heals: once this instance holds the lease, claims of
        any other (a stopped holder's) are released at once, not left to go stale."""
        result = await self._files.update_many({"heal.by": {"$exists": True, "$ne": claimant}},
                                               {"$unset": {"heal": ""}})
        return result.modified_count

    async def want_heal(self, file_id: str, lost: tuple[int, int], now: datetime) -> None:
        """Ask the instance that posts into storage channels to replace the copy `lost`."""
        await self._files.update_one(
            {"_id": file_id, "storage_chat_id": lost[0], "storage_message_id": lost[1]},
            {"$set": {"heal_wanted": now}},
        )

    async def heals_wanted(self, limit: int = 50) -> list[StoredFile]:
        cursor = self._files.find({"heal_wanted": {"$ne": None}}).sort("heal_wanted", ASCENDING).limit(limit)
        return [_from_doc(doc) async for doc in cursor]

    async def drop_heal_wish(self, file_id: str) -> None:
        await self._files.update_one({"_id": file_id}, {"$unset": {"heal_wanted": ""}})

    # -- late copies of migrated files, asked of the lease holder ---------------------------------
    async def want_copy(self, file_id: str, now: datetime) -> None:
        await self._files.update_one({"_id": file_id, "storage_message_id": None}, {"$set": {"copy_wanted": now}})

    async def copies_wanted(self, limit: int = 50) -> list[StoredFile]:
        cursor = self._files.find({"copy_wanted": {"$ne": None}}).sort("copy_wanted", ASCENDING).limit(limit)
        return [_from_doc(doc) async for doc in cursor]

    async def drop_copy_wish(self, file_id: str) -> None:
        await self._files.update_one({"_id": file_id}, {"$unset": {"copy_wanted": ""}})

    # -- mirror copies --------------------------------------------------------------------------
    async def record_mirror(self, file_id: str, chat_id: int, message_id: int, now: datetime | None = None) -> bool:
        """Keep a new mirror copy; False when the record has one already, is gone, or (with `now`)
        has expired: the expiry job may have read it already, so nothing would delete the copy."""
        result = await self._files.update_one(
            {"_id": file_id, "mirror_message_id": None, **(_live(now) if now is not None else {})},
            {"$set": {"mirror_chat_id": chat_id, "mirror_message_id": message_id}},
        )
        return result.modified_count == 1

    async def forget_mirror(self, file_id: str, copy: tuple[int, int]) -> bool:
        """The mirror copy `copy` is gone: the mirror pass makes another."""
        result = await self._files.update_one(
            {"_id": file_id, "mirror_chat_id": copy[0], "mirror_message_id": copy[1]},
            {"$set": {"mirror_chat_id": None, "mirror_message_id": None}},
        )
        return result.modified_count == 1

    async def without_mirror(self, now: datetime, mirror: int, *, after: tuple[datetime, str] | None = None,
                             limit: int = 50) -> list[StoredFile]:
        """Live files with a storage copy (outside the mirror channel) and no mirror copy, oldest
        first (after `after`: (created_at, id) of the last one seen)."""
        query: dict[str, Any] = {"mirror_message_id": None, "storage_message_id": {"$ne": None},
                                 "storage_chat_id": {"$ne": mirror}, **_live(now)}
        if after is not None:
            query = {"$and": [query, {"$or": [{"created_at": {"$gt": after[0]}},
                                              {"created_at": after[0], "_id": {"$gt": after[1]}}]}]}
        cursor = self._files.find(query).sort([("created_at", ASCENDING), ("_id", ASCENDING)]).limit(limit)
        return [_from_doc(doc) async for doc in cursor]

    async def count_mirror_progress(self, now: datetime) -> tuple[int, int]:
        """(live files with a mirror copy, live files with a storage copy): the backfill's progress."""
        stored = await self._files.count_documents({"storage_message_id": {"$ne": None}, **_live(now)})
        mirrored = await self._files.count_documents(
            {"storage_message_id": {"$ne": None}, "mirror_message_id": {"$ne": None}, **_live(now)})
        return mirrored, stored

    async def count_in_channel(self, chat_id: int, now: datetime) -> int:
        """Live files whose storage or mirror copy is in `chat_id`."""
        return await self._files.count_documents(
            {"$and": [{"$or": [{"storage_chat_id": chat_id}, {"mirror_chat_id": chat_id}]}, _live(now)]})

    # -- the sampler's walk -----------------------------------------------------------------------
    async def next_batch(self, after_id: str | None, limit: int) -> list[StoredFile]:
        """The next `limit` records by id after `after_id` (None: from the start), expired ones too."""
        query: dict[str, Any] = {"storage_message_id": {"$ne": None}}
        if after_id is not None:
            query["_id"] = {"$gt": after_id}
        cursor = self._files.find(query).sort("_id", ASCENDING).limit(limit)
        return [_from_doc(doc) async for doc in cursor]

    # -- channel states ---------------------------------------------------------------------------
    async def mark_unusable(self, chat_id: int, role: str, reason: str, now: datetime) -> bool:
        """Record that the channel is unusable; True only for the first caller on any instance
        (that one tells the owner)."""
        try:
            result = await self._channels.update_one(
                {"_id": chat_id, "usable": {"$ne": False}},
                {"$set": {"role": role, "usable": False, "reason": reason, "since": now}}, upsert=True)
        except DuplicateKeyError:
            return False  # marked already (the upsert met the existing record)
        return result.modified_count == 1 or result.upserted_id is not None

    async def mark_usable(self, chat_id: int, role: str) -> bool:
        """The channel works again; True when it had been marked unusable."""
        result = await self._channels.update_one(
            {"_id": chat_id, "usable": False},
            {"$set": {"role": role, "usable": True, "reason": "", "since": None}})
        return result.modified_count == 1

    async def channel_states(self) -> dict[int, ChannelState]:
        states = {}
        async for doc in self._channels.find({}):
            states[doc["_id"]] = ChannelState(doc["_id"], doc.get("role", "storage"), doc.get("usable", True),
                                              doc.get("reason", ""), doc.get("since"))
        return states
