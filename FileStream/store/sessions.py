"""The sessions collection: auth keys of bot media sessions, so restarts skip key exchange."""

from __future__ import annotations

from typing import Any

from bson import Binary
from pymongo.asynchronous.collection import AsyncCollection


class SessionStore:
    """Media-session auth keys by (bot id, DC id). They are secrets: never log them."""

    def __init__(self, collection: AsyncCollection[dict[str, Any]]) -> None:
        self._sessions = collection

    async def ensure_indexes(self) -> None:
        pass  # every query goes by _id

    async def get_media_key(self, bot_id: int, dc_id: int) -> bytes | None:
        doc = await self._sessions.find_one({"_id": f"{bot_id}:{dc_id}"})
        return None if doc is None else bytes(doc["auth_key"])

    async def set_media_key(self, bot_id: int, dc_id: int, auth_key: bytes) -> None:
        await self._sessions.update_one(
            {"_id": f"{bot_id}:{dc_id}"},
            {"$set": {"bot_id": bot_id, "dc_id": dc_id, "auth_key": Binary(auth_key)}},
            upsert=True,
        )
