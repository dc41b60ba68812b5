"""Leases in MongoDB: one instance at a time holds a named job (posting into storage channels)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError


class LeaseStore:
    """The leases collection: {_id: lease name, holder, until}."""

    def __init__(self, collection: AsyncCollection[dict[str, Any]]) -> None:
        self._leases = collection

    async def ensure_indexes(self) -> None:
        return None  # found by _id only

    async def take(self, name: str, holder: str, now: datetime, until: datetime, *, bot: bool = False,
                   take_over_bot: bool = False) -> bool:
        """Take or renew lease `name` until `until`; True when `holder` holds it now. A lease
        whose holder stopped renewing it is free once its `until` has passed. `bot`: the holder
        is the bot instance; `take_over_bot`: a lease another bot instance holds is taken too
        (the bot instance runs once: that holder is its stopped predecessor)."""
        free: list[dict[str, Any]] = [{"holder": holder}, {"until": {"$lt": now}}]
        if take_over_bot:
            free.append({"bot": True})
        try:
            await self._leases.update_one(
                {"_id": name, "$or": free},
                {"$set": {"holder": holder, "until": until, "bot": bot}}, upsert=True)
        except DuplicateKeyError:
            return False  # another holder's lease is still running (the upsert met it)
        return True

    async def holder(self, name: str, now: datetime) -> str | None:
        doc = await self._leases.find_one({"_id": name})
        if doc is None or doc.get("until") is None or doc["until"] < now:
            return None
        return doc.get("holder")

    async def give_up(self, name: str, holder: str) -> None:
        await self._leases.delete_one({"_id": name, "holder": holder})
