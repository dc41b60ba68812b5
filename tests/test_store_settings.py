"""SettingsStore: shared named values and the link secret every instance agrees on."""

from __future__ import annotations

import asyncio

from FileStream.store.database import Database


async def test_get_set_add(database):
    assert await database.settings.get("x") is None
    assert await database.settings.get("x", 5) == 5
    await database.settings.set("x", {"a": 1})
    assert await database.settings.get("x") == {"a": 1}
    assert await database.settings.add("y", 1) is True
    assert await database.settings.add("y", 2) is False
    assert await database.settings.get("y") == 1


async def test_link_secret_created_once_and_shared_by_two_instances(database, database_url, database_name):
    other = await Database.connect(database_url, database_name)
    try:
        secrets = await asyncio.gather(
            *(db.settings.get_or_create_link_secret() for db in [database, other] * 4)
        )
        assert len(set(secrets)) == 1
        secret = secrets[0]
        assert isinstance(secret, bytes) and len(secret) == 32
        assert await other.settings.get_or_create_link_secret() == secret
    finally:
        await other.close()


async def test_link_secret_survives_reconnect(database, database_url, database_name):
    secret = await database.settings.get_or_create_link_secret()
    again = await Database.connect(database_url, database_name)
    try:
        assert await again.settings.get_or_create_link_secret() == secret
    finally:
        await again.close()


async def test_a_value_kept_per_person_expires_and_shared_ones_stay(database, mongo_db):
    from datetime import timedelta

    from clocks import real_now
    from database_fixture import wait_for_ttl_removal

    await database.settings.add("ban_notice:7:1", real_now(), expires_at=real_now() - timedelta(seconds=1))
    await database.settings.set("shared", 1)
    info = await mongo_db["settings"].index_information()
    assert info["expires_at_ttl"]["expireAfterSeconds"] == 0

    async def mark_is_gone():
        return await database.settings.get("ban_notice:7:1") is None

    await wait_for_ttl_removal(mark_is_gone, "the per-person mark", database.client)
    assert await database.settings.get("shared") == 1
