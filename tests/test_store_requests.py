"""RequestStore: one active request per person, enforced by the database, and the states."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from clocks import real_now

from FileStream.store.database import Database
from FileStream.store.requests import new_request_id

T0 = real_now()  # the real time: the TTL index runs on the real clock
LATER = T0 + timedelta(minutes=5)


async def start(db, user_id=1, name="a.mkv", now=T0):
    return await db.requests.start(user_id, name, now, now + timedelta(minutes=5))


async def test_one_active_request_per_person(database):
    first = await start(database)
    assert first is not None
    assert await start(database) is None
    assert await start(database, user_id=2) is not None  # others are not affected
    active = await database.requests.active_for(1)
    assert active["id"] == first and active["state"] == "processing" and active["file_name"] == "a.mkv"
    assert await database.requests.set_state(first, "revoked", T0)
    assert await database.requests.active_for(1) is None
    assert await start(database) is not None


async def test_one_active_request_across_two_instances(database, database_url, database_name):
    other = await Database.connect(database_url, database_name)
    try:
        ids = await asyncio.gather(*(start(db, user_id=9) for db in [database, other] * 5))
        assert sum(i is not None for i in ids) == 1
        winner = next(i for i in ids if i is not None)
        # The other instance sees it, can finish it, and then either may start anew.
        assert (await other.requests.active_for(9))["id"] == winner
        assert await other.requests.set_state(winner, "failed", T0, error="no space")
        assert await start(database, user_id=9) is not None
        assert await start(other, user_id=9) is None
    finally:
        await other.close()


async def test_state_machine_in_the_store(database):
    rid = await start(database)
    assert not await database.requests.set_state(rid, "completed", T0)  # must make the link first
    assert await database.requests.set_state(rid, "generating_link", T0, file_id="F" * 16)
    assert await database.requests.set_state(rid, "completed", LATER)
    request = await database.requests.get(rid)
    assert request["state"] == "completed" and request["active"] is False
    assert request["file_id"] == "F" * 16 and request["finished_at"] == LATER
    # Nothing leaves a terminal state: a late timeout does not overwrite the outcome.
    assert not await database.requests.set_state(rid, "timed_out", LATER)
    assert not await database.requests.set_state(rid, "generating_link", LATER)
    assert (await database.requests.get(rid))["state"] == "completed"


async def test_concurrent_endings_only_one_wins(database):
    rid = await start(database)
    results = await asyncio.gather(
        *(database.requests.set_state(rid, state, T0) for state in ["failed", "revoked", "timed_out"] * 3)
    )
    assert sum(results) == 1


async def test_bad_input(database):
    assert await database.requests.set_state("not-an-id", "failed", T0) is False
    assert await database.requests.set_state("0" * 24, "failed", T0) is False
    assert await database.requests.get("nope") is None
    rid = await start(database)
    with pytest.raises(ValueError):
        await database.requests.set_state(rid, "teleported", T0)
    with pytest.raises(ValueError):
        await database.requests.set_state(rid, "failed", T0, active=True)


async def test_find_timed_out(database):
    a = await database.requests.start(1, "a", T0, T0 + timedelta(minutes=1))
    b = await database.requests.start(2, "b", T0, T0 + timedelta(minutes=10))
    c = await database.requests.start(3, "c", T0, T0 + timedelta(seconds=30))
    await database.requests.set_state(c, "failed", T0)
    now = T0 + timedelta(minutes=2)
    assert [r["id"] for r in await database.requests.find_timed_out(now)] == [a]
    await database.requests.set_state(a, "timed_out", now)
    assert await database.requests.find_timed_out(now) == []
    assert [r["id"] for r in await database.requests.find_timed_out(T0 + timedelta(hours=1))] == [b]


async def test_counts_and_completion_rate(database):
    old = await database.requests.start(50, "old", T0 - timedelta(days=2), T0)
    await database.requests.set_state(old, "failed", T0)
    for uid in range(5):
        rid = await start(database, user_id=uid)
        if uid < 3:
            await database.requests.set_state(rid, "generating_link", T0)
            await database.requests.set_state(rid, "completed", T0)
        elif uid == 3:
            await database.requests.set_state(rid, "failed", T0)
    since = T0 - timedelta(days=1)
    counts = await database.requests.counts_by_state(since)
    assert counts == {
        "processing": 1, "generating_link": 0, "completed": 3, "failed": 1, "revoked": 0, "timed_out": 0,
    }
    assert await database.requests.completion_rate(since) == (3, 5)
    assert await database.requests.completion_rate(T0 + timedelta(days=1)) == (0, 0)


async def test_a_voided_opening_applied_late_never_holds_the_person_up(database):
    """The database applies an opening after the service gave up on it: the void, sent
    after, is right in either order."""
    rid = new_request_id()
    assert await database.requests.void(rid, 1, "a.mkv", T0, "no answer") is False, "nothing was open yet"
    # The opening arrives after its void: it finds its id taken and opens nothing.
    assert await database.requests.start(1, "a.mkv", T0, LATER, request_id=rid) is None
    assert await database.requests.active_for(1) is None
    ended = await database.requests.get(rid)
    assert ended["state"] == "failed" and ended["active"] is False and ended["user_id"] == 1
    assert await start(database) is not None, "the person may open a request at once"


async def test_a_void_after_its_opening_ends_the_request_and_nothing_else(database):
    rid = new_request_id()
    assert await database.requests.start(2, "b.mkv", T0, LATER, request_id=rid) == rid
    assert await database.requests.void(rid, 2, "b.mkv", T0, "no answer") is True
    assert await database.requests.active_for(2) is None
    assert (await database.requests.get(rid))["state"] == "failed"
    # Voiding again, or voiding a request that ended otherwise, changes nothing.
    assert await database.requests.void(rid, 2, "b.mkv", LATER, "no answer") is False
    done = await start(database, user_id=3)
    assert await database.requests.set_state(done, "revoked", T0)
    assert await database.requests.void(done, 3, "a.mkv", LATER, "no answer") is False
    assert (await database.requests.get(done))["state"] == "revoked"
