"""FileStore: records round-trip, expiry filtering, paging, once-only notices, TTL, confirmed inserts."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime, timedelta

import pytest
from pymongo.errors import DuplicateKeyError

from FileStream.core.models import StoredFile
from database_fixture import wait_for_ttl_removal
from FileStream.store.database import Database
from FileStream.store.files import PENDING_KEPT, LinkMessage, NotConfirmed, file_document

# Real time (whole seconds): expired test records then sit inside KEEP_EXPIRED and the
# fast TTL monitor of the test database leaves them alone.
NOW = datetime.now(UTC).replace(microsecond=0)


def stored(file_id: str, *, owner_id: int | None = 7, age: int = 0, expires_in: int | None = 3600) -> StoredFile:
    created = NOW - timedelta(seconds=age)
    return StoredFile(
        id=file_id,
        file_name=f"{file_id}.mkv",
        file_size=1234,
        mime_type="video/x-matroska",
        file_unique_id=f"u-{file_id}",
        media_type="video",
        dc_id=4,
        storage_chat_id=-1001,
        storage_message_id=99,
        created_at=created,
        expires_at=None if expires_in is None else NOW + timedelta(seconds=expires_in),
        owner_id=owner_id,
        source="private" if owner_id else "channel",
    )


async def test_insert_get_round_trip(database):
    file = stored("A" * 16)
    await database.files.insert_confirmed(file)
    got = await database.files.get(file.id)
    assert got == file
    assert got.created_at.tzinfo is not None and got.created_at.utcoffset() == timedelta(0)
    assert await database.files.get("missing") is None
    with pytest.raises(DuplicateKeyError):
        await database.files.insert_confirmed(file)


async def test_never_expiring_record(database):
    await database.files.insert_confirmed(stored("chan", owner_id=None, expires_in=None))
    got = await database.files.get_live("chan", NOW + timedelta(days=3650))
    assert got is not None and got.expires_at is None and got.owner_id is None


async def test_get_returns_expired_but_get_live_does_not(database):
    await database.files.insert_confirmed(stored("old", expires_in=-10))
    assert (await database.files.get("old")).is_expired(NOW)
    assert await database.files.get_live("old", NOW) is None
    await database.files.insert_confirmed(stored("edge", expires_in=0))
    assert await database.files.get_live("edge", NOW) is None  # expired exactly at expires_at
    assert await database.files.get_live("edge", NOW - timedelta(seconds=1)) is not None


async def test_delete(database):
    await database.files.insert_confirmed(stored("gone"))
    assert await database.files.delete("gone") is True
    assert await database.files.delete("gone") is False
    assert await database.files.get("gone") is None


async def test_list_by_owner_pages_newest_first_and_skips_expired(database):
    for n in range(23):
        await database.files.insert_confirmed(stored(f"f{n:02}", age=n))  # f00 is the newest
    await database.files.insert_confirmed(stored("expired", expires_in=-1))
    await database.files.insert_confirmed(stored("other", owner_id=8))
    page0, total = await database.files.list_by_owner(7, NOW, 0)
    assert total == 23 and [f.id for f in page0] == [f"f{n:02}" for n in range(10)]
    page2, total = await database.files.list_by_owner(7, NOW, 2)
    assert total == 23 and [f.id for f in page2] == ["f20", "f21", "f22"]
    page, _ = await database.files.list_by_owner(7, NOW, 1, page_size=5)
    assert [f.id for f in page] == [f"f{n:02}" for n in range(5, 10)]
    assert await database.files.list_by_owner(7, NOW, 3) == ([], 23)
    assert await database.files.list_by_owner(9, NOW, 0) == ([], 0)
    with pytest.raises(ValueError):
        await database.files.list_by_owner(7, NOW, -1)


async def test_count_live(database):
    await database.files.insert_confirmed(stored("a"))
    await database.files.insert_confirmed(stored("b", expires_in=None))
    await database.files.insert_confirmed(stored("c", expires_in=-5))
    assert await database.files.count_live(NOW) == 2


async def test_find_expiring_and_expired(database):
    await database.files.insert_confirmed(stored("soon", expires_in=300))
    await database.files.insert_confirmed(stored("sooner", expires_in=60))
    await database.files.insert_confirmed(stored("later", expires_in=3600))
    await database.files.insert_confirmed(stored("never", expires_in=None))
    await database.files.insert_confirmed(stored("past", expires_in=-60))
    expiring = await database.files.find_expiring(NOW, timedelta(minutes=10))
    assert [f.id for f in expiring] == ["sooner", "soon"]
    assert await database.files.mark_notice("sooner", "warning", NOW)
    expiring = await database.files.find_expiring(NOW, timedelta(minutes=10), without_notice="warning")
    assert [f.id for f in expiring] == ["soon"]
    assert [f.id for f in await database.files.find_expired(NOW)] == ["past"]
    assert await database.files.mark_notice("past", "expired")
    assert await database.files.find_expired(NOW, without_notice="expired") == []


async def test_mark_notice_once_only_across_instances(database, database_url, database_name):
    await database.files.insert_confirmed(stored("n"))
    other = await Database.connect(database_url, database_name)
    try:
        results = await asyncio.gather(
            *(db.files.mark_notice("n", "warning", NOW) for db in [database, other] * 5)
        )
    finally:
        await other.close()
    assert sorted(results) == [False] * 9 + [True]
    assert await database.files.mark_notice("n", "expired") is True  # another kind is separate
    assert await database.files.mark_notice("missing", "warning") is False
    with pytest.raises(ValueError):
        await database.files.mark_notice("n", "bad.kind")


async def test_link_message(database):
    await database.files.insert_confirmed(stored("l"))
    assert await database.files.link_message("l") is None
    assert await database.files.set_link_message("l", 555, 42) is True
    assert await database.files.link_message("l") == LinkMessage(chat_id=555, message_id=42)
    assert await database.files.get("l") == stored("l")  # the record itself is unchanged
    assert await database.files.set_link_message("missing", 1, 2) is False


async def test_ttl_monitor_removes_only_records_whose_copies_are_confirmed_gone(database_url, database_name):
    db = await Database.connect(database_url, database_name, keep_expired=timedelta(0))
    try:
        await db.files.insert_confirmed(stored("dead", expires_in=-1))
        await db.files.insert_confirmed(stored("copy-still-there", expires_in=-86400 * 30))
        await db.files.insert_confirmed(stored("forever", expires_in=None))
        await db.files.mark_copies_gone(["dead"], NOW - timedelta(seconds=1))
        async def dead_is_gone():
            return await db.files.get("dead") is None

        await wait_for_ttl_removal(dead_is_gone, "the expired record", db.db.client)
        assert await db.files.get("forever") is not None
        assert await db.files.get("copy-still-there") is not None, "its copy may still be in the channel"
    finally:
        await db.close()


async def test_indexes(database):
    info = await database.db.files.index_information()
    assert info["copies_gone_ttl"]["expireAfterSeconds"] == 86400
    assert info["pending_ttl"]["expireAfterSeconds"] == PENDING_KEPT.total_seconds()
    assert "expireAfterSeconds" not in info["expires_at"] and "expires_at_ttl" not in info


async def test_deep_link_keys_are_unique_and_files_without_one_have_none(database):
    shared = dataclasses.replace(stored("shared000000000a", owner_id=None), deep_link_key="k" * 22)
    await database.files.insert_confirmed(shared)
    for n in range(2):
        await database.files.insert_confirmed(stored(f"private00000000{n}"))  # no key: any number of them
    assert await database.files.get_by_deep_link_key("k" * 22, NOW) == shared
    assert await database.files.get_by_deep_link_key("x" * 22, NOW) is None
    assert (await database.files.get("private000000000")).deep_link_key is None
    with pytest.raises(DuplicateKeyError):
        await database.files.insert_confirmed(dataclasses.replace(stored("other0000000000a"), deep_link_key="k" * 22))


async def test_a_database_made_before_keeps_no_ttl_on_expiry_once_the_indexes_are_made_again(database):
    files = database.db.files
    await files.drop_index("expires_at")
    await files.create_index("expires_at", name="expires_at_ttl", expireAfterSeconds=86400)   # the old TTL
    await database.files.ensure_indexes()
    info = await files.index_information()
    assert "expires_at_ttl" not in info and "expireAfterSeconds" not in info["expires_at"]


async def test_a_record_confirmed_in_time_shows_like_any_other(database):
    file = stored("confirmed0000000")
    await database.files.insert_confirmed(file)
    assert await database.files.get(file.id) == file
    assert await database.files.list_by_owner(7, NOW, 0) == ([file], 1)
    assert "pending_since" not in await database.db.files.find_one({"_id": file.id}), "the TTL never takes it"


async def everything_readers_see(database, now: datetime) -> dict[str, object]:
    """What each reader of the files collection finds, by reader."""
    files, copies = database.files, database.copies
    return {
        "list": await files.list_by_owner(7, now, 0),
        "count": await files.count_live(now),
        "expiring": await files.find_expiring(now, timedelta(days=3650)),
        "expired": await files.find_expired(now + timedelta(days=3650)),
        "next expiry": await files.next_expiry(),
        "needing copy": await files.ids_needing_copy(now),
        "recorded": await files.recorded_messages(-1001, [99]),
        "without mirror": await copies.without_mirror(now, -1009),
        "mirror progress": await copies.count_mirror_progress(now),
        "sampler": await copies.next_batch(None, 10),
    }


async def test_a_record_whose_confirm_the_database_applies_too_late_shows_to_no_reader(database):
    """A placeholder whose confirm never came (the intake gave up) and one whose confirm the
    database applied after its window: neither is seen by any reader, by id or by query."""
    nothing = await everything_readers_see(database, NOW)
    never = stored("neverconfirmed00")
    await database.files.add_placeholder(never.id)
    late = dataclasses.replace(stored("confirmedtoolate"), deep_link_key="k" * 22)
    await database.files.add_placeholder(late.id)
    with pytest.raises(NotConfirmed):
        # A window already over when the database applies it: what a confirm applied after
        # a freeze finds.
        await database.files.confirm(late, window=-1.0, give_up_after=5)
    for file in (never, late):
        assert await database.files.get(file.id) is None
        assert await database.files.get_live(file.id, NOW) is None
        assert await database.files.get_many([file.id]) == {}
        assert await database.files.copy_task(file.id) is None
        assert await database.copies.get(file.id) is None
    assert await database.files.get_by_deep_link_key("k" * 22, NOW) is None
    assert await everything_readers_see(database, NOW) == nothing
    assert await database.db.files.count_documents({}) == 2, "both wait for the TTL monitor"


async def test_a_placeholder_never_hides_a_record_that_has_its_id(database):
    file = stored("taken00000000000")
    await database.files.insert_confirmed(file)
    with pytest.raises(DuplicateKeyError):
        await database.files.add_placeholder(file.id)
    assert await database.files.get(file.id) == file


def from_message(file_id: str, message_id: int = 41, *, expires_in: int | None = 3600) -> StoredFile:
    return dataclasses.replace(stored(file_id, expires_in=expires_in), origin_chat_id=7, origin_message_id=message_id)


async def test_a_confirmed_record_is_found_by_the_message_it_came_from(database):
    file = from_message("frommessage00000")
    await database.files.insert_confirmed(file)
    assert await database.files.from_origin(7, 41, NOW) == file
    assert await database.files.from_origin(7, 42, NOW) is None, "another message"
    assert await database.files.from_origin(8, 41, NOW) is None, "the same id in another chat"


async def test_a_placeholder_or_a_record_written_without_the_intake_is_not_found_by_its_message(database):
    await database.files.add_placeholder("placeholder00000")
    # A migrated record, as migrate_files writes it (the record's document, in one insert).
    await database.db["files"].insert_one(file_document(from_message("insertedplainly0")))
    assert await database.files.from_origin(7, 41, NOW) is None
    # Neither holds the message: the intake's record of it confirms.
    file = from_message("intakerecord0000")
    await database.files.insert_confirmed(file)
    assert await database.files.from_origin(7, 41, NOW) == file


async def test_only_one_confirmed_record_may_come_from_one_message(database):
    first = from_message("firstofmessage00")
    await database.files.insert_confirmed(first)
    second = from_message("secondofmessage0")
    with pytest.raises(DuplicateKeyError):
        await database.files.insert_confirmed(second)
    assert await database.files.get(second.id) is None, "the loser never shows"
    assert await database.files.from_origin(7, 41, NOW) == first
    # Files without a message (uploads) are never in each other's way.
    for n in range(2):
        await database.files.insert_confirmed(stored(f"upload000000000{n}"))


async def test_an_expired_record_gives_its_message_up_to_a_new_one(database):
    old = from_message("expiredrecord000", expires_in=-10)
    await database.files.insert_confirmed(old)
    assert await database.files.from_origin(7, 41, NOW) is None, "not live: not reused"
    new = from_message("newrecord0000000")
    await database.files.insert_confirmed(new)
    assert await database.files.from_origin(7, 41, NOW) == new
    assert await database.files.get(old.id) == old, "the expired record stays for the expiry job"


async def test_the_index_by_message_is_unique_and_leaves_out_records_without_one(database):
    info = await database.db.files.index_information()
    assert info["one_record_per_origin"]["unique"] and info["one_record_per_origin"]["sparse"]
