"""Reading: connecting to the databases and walking their records in batches."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from pymongo import AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import ConfigurationError, PyMongoError

from FileStream.config import mask_url
from FileStream.migration.schema import BATCH, Unusable


async def connect(url: str, timeout: float) -> AsyncMongoClient[dict[str, Any]]:
    """A client that has answered a ping, or Unusable with the one line to print."""
    try:
        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
            url, tz_aware=True, appname="FileStream-migrate", serverSelectionTimeoutMS=int(timeout * 1000)
        )
    except (ConfigurationError, ValueError, TypeError) as exc:
        raise Unusable(f"bad database URL {mask_url(url)}: {exc}".splitlines()[0]) from exc
    try:
        await client.admin.command("ping")
    except PyMongoError as exc:
        await client.close()
        raise Unusable(
            f"cannot reach the database at {mask_url(url)} within {timeout:g} s: {exc}".splitlines()[0][:300]
        ) from exc
    return client


async def batches(collection: AsyncCollection[dict[str, Any]], query: dict[str, Any]) -> AsyncIterator[list[dict[str, Any]]]:
    """The matching documents in `_id` order, BATCH at a time."""
    batch: list[dict[str, Any]] = []
    async for doc in collection.find(query).sort("_id", 1):
        batch.append(doc)
        if len(batch) >= BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


async def existing_ids(collection: AsyncCollection[dict[str, Any]], ids: list[Any]) -> set[Any]:
    """Those of `ids` that `collection` already holds."""
    if not ids:
        return set()
    return {doc["_id"] async for doc in collection.find({"_id": {"$in": ids}}, {"_id": 1})}


async def migrated_files(files: AsyncCollection[dict[str, Any]], legacy_ids: list[str]) -> dict[str, bool]:
    """The ones of `legacy_ids` migrated before, and whether each has its storage copy yet."""
    cursor = files.find({"legacy_id": {"$in": legacy_ids}}, {"legacy_id": 1, "storage_message_id": 1})
    return {doc["legacy_id"]: bool(doc.get("storage_message_id")) async for doc in cursor}
