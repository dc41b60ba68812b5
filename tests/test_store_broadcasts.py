"""BroadcastStore: one running broadcast at a time, resumable progress, cancellation."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from clocks import real_now

from FileStream.store.database import Database

T0 = real_now()  # the real time: the TTL index runs on the real clock
T1 = T0 + timedelta(minutes=1)


async def test_create_refuses_a_second_running_one(database, database_url, database_name):
    other = await Database.connect(database_url, database_name)
    try:
        ids = await asyncio.gather(*(db.broadcasts.create(111, 5, T0) for db in [database, other] * 3))
    finally:
        await other.close()
    assert sum(i is not None for i in ids) == 1
    bid = next(i for i in ids if i is not None)
    running = await database.broadcasts.running()
    assert running["id"] == bid and running["state"] == "running"
    assert (running["source_chat_id"], running["source_message_id"]) == (111, 5)
    assert await database.broadcasts.finish(bid, T1)
    assert await database.broadcasts.running() is None
    assert await database.broadcasts.create(111, 6, T1) is not None


async def test_a_cancelled_broadcast_cannot_be_finished_or_cancelled_again(database):
    bid = await database.broadcasts.create(111, 5, T0)
    assert await database.broadcasts.cancel(bid, T1)
    assert not await database.broadcasts.finish(bid, T1)
    assert not await database.broadcasts.cancel(bid, T1)
    b = await database.broadcasts.get(bid)
    assert b["state"] == "cancelled" and b["sent"] == 0 and b["finished_at"] == T1
    with pytest.raises(ValueError):
        await database.broadcasts.finish(bid, T1, state="running")
    assert await database.broadcasts.get("bogus") is None


async def test_progress_saves_are_whole_counts_and_a_late_older_save_changes_nothing(database):
    bid = await database.broadcasts.create(111, 5, T0, owner_chat_id=9)
    assert (await database.broadcasts.get(bid))["owner_chat_id"] == 9
    assert await database.broadcasts.save_progress(bid, 1, T0, last_user_id=10, ahead=[], sent=1, failed=0, blocked=0)
    # Saved again (a retry after a timeout that did reach the server): nothing is counted twice.
    assert await database.broadcasts.save_progress(bid, 2, T0, last_user_id=10, ahead=[12], sent=1, failed=0, blocked=1)
    assert await database.broadcasts.save_progress(bid, 3, T1, last_user_id=20, ahead=[], sent=3, failed=0, blocked=1)
    # The first try of save 2 arrives late: it matches nothing.
    assert not await database.broadcasts.save_progress(bid, 2, T1, last_user_id=10, ahead=[12], sent=1, failed=0,
                                                       blocked=1)
    doc = await database.broadcasts.get(bid)
    assert (doc["last_user_id"], doc["ahead"], doc["sent"], doc["blocked"], doc["save_seq"]) == (20, [], 3, 1, 3)
    assert await database.broadcasts.cancel(bid, T1)
    assert not await database.broadcasts.save_progress(bid, 4, T1, last_user_id=30, ahead=[], sent=4, failed=0,
                                                       blocked=1)
