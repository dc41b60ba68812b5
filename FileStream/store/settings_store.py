"""The settings collection: small named values the instances share, such as the link secret."""

from __future__ import annotations

import secrets
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

LINK_SECRET_KEY = "link_secret"
_LINK_SECRET_BYTES = 32


class SettingsStore:
    """Values by name (`_id`)."""

    def __init__(self, collection: AsyncCollection[dict[str, Any]]) -> None:
        self._values = collection

    async def ensure_indexes(self) -> None:
        pass  # every query goes by _id

    async def get(self, key: str, default: Any = None) -> Any:
        doc = await self._values.find_one({"_id": key})
        return default if doc is None else doc["value"]

    async def set(self, key: str, value: Any) -> None:
        await self._values.update_one({"_id": key}, {"$set": {"value": value}}, upsert=True)

    async def add(self, key: str, value: Any) -> bool:
        """Store `value` only if `key` is absent; True when this call stored it."""
        try:
            await self._values.insert_one({"_id": key, "value": value})
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
