"""The test database itself: unique indexes, TTL deletion, one fresh database per test."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pymongo.errors import DuplicateKeyError

from database_fixture import wait_for_ttl_removal
from FileStream.store.database import Database, DatabaseUnavailable, Deadlines

SEEN_NAMES: list[str] = []


async def test_unique_index_raises_duplicate_key(mongo_db):
    await mongo_db.things.create_index("key", unique=True)
    await mongo_db.things.insert_one({"key": 1})
    with pytest.raises(DuplicateKeyError):
        await mongo_db.things.insert_one({"key": 1})


async def test_ttl_index_removes_expired_document(mongo_db):
    now = datetime.now(UTC)
    await mongo_db.ttl.create_index("expires_at", expireAfterSeconds=0)
    await mongo_db.ttl.insert_many(
        [
            {"_id": "old", "expires_at": now - timedelta(seconds=1)},
            {"_id": "later", "expires_at": now + timedelta(hours=1)},
            {"_id": "never", "expires_at": None},
        ]
    )
    async def old_is_gone():
        return await mongo_db.ttl.find_one({"_id": "old"}) is None

    await wait_for_ttl_removal(old_is_gone, "the expired document", mongo_db.client)
    assert sorted(await mongo_db.ttl.distinct("_id")) == ["later", "never"]


async def test_database_fixture_is_connected_and_fresh(database, database_name, database_client):
    assert database.db.name == database_name
    SEEN_NAMES.append(database_name)
    assert len(set(SEEN_NAMES)) == len(SEEN_NAMES)
    names = await database.db.list_collection_names()
    assert "files" in names and "requests" in names  # indexes made by connect()


async def test_each_test_gets_its_own_database(database_name, database_client):
    SEEN_NAMES.append(database_name)
    assert len(set(SEEN_NAMES)) == len(SEEN_NAMES)
    assert database_name not in await database_client.list_database_names()


async def test_connect_to_nothing_says_where_in_one_line():
    with pytest.raises(DatabaseUnavailable) as caught:
        await Database.connect("mongodb://nobody:pw@127.0.0.1:9/", "x", deadlines=Deadlines(server_selection=0.3))
    text = str(caught.value)
    assert "127.0.0.1:9" in text and "pw" not in text.replace("***", "") and "\n" not in text
