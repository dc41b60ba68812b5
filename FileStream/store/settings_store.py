"""The settings collection: small named values the instances share, such as the link secret."""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

LINK_SECRET_KEY = "link_secret"
_LINK_SECRET_BYTES = 32


class SettingsStore:
    """Values by name (`_id`). A value given an `expires_at` (the marks kept per person, which
    would otherwise grow with every person ever seen) is removed by MongoDB's TTL monitor then."""

    def __init__(self, collection: AsyncCollection[dict[str, Any]]) -> None:
        self._values = collection

    async def ensure_indexes(self) -> None:
        # Every query goes by _id; this index only lets the TTL monitor find what expired.
        await self._values.create_index("expires_at", name="expires_at_ttl", expireAfterSeconds=0)

    async def get(self, key: str, default: Any = None) -> Any:
        doc = await self._values.find_one({"_id": key})
        return default if doc is None else doc["value"]

    async def set(self, key: str, value: Any, *, expires_at: datetime | None = None) -> None:
        fields: dict[str, Any] = {"value": value}
        if expires_at is not None:
            fields["expires_at"] = expires_at
        await self._values.update_one({"_id": key}, {"$set": fields}, upsert=True)

    async def add(self, key: str, value: Any, *, expires_at: datetime | None = None) -> bool:
        """Store `value` only if `key` is absent; True when this call stored it."""
        doc: dict[str, Any] = {"_id": key, "value": value}
        if expires_at is not None:
            doc["expires_at"] = expires_at
        try:
            await self._values.insert_one(doc)
        except DuplicateKeyError:
            return False
        return True

    async def get_or_create_link_secret(self) -> bytes:
        """The secret that signs links, made on first use; every instance gets the same one.

        Insert-if-absent then read: when instances race, the first insert wins and the
        others read it back.
        """
        await self.add(LINK_SECRET_KEY, secrets.token_bytes(_LINK_SECRET_BYTES))
        return bytes(await self.get(LINK_SECRET_KEY))
