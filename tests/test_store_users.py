"""UserStore: first and last seen, bans, blocked people, broadcast audience."""

from __future__ import annotations

from datetime import timedelta

from clocks import real_now

T0 = real_now()  # the real time: the TTL index runs on the real clock
T1 = T0 + timedelta(hours=1)


async def test_touch_creates_then_updates(database):
    assert await database.users.touch(5, "Ann", "ann", T0) is True
    assert await database.users.touch(5, "Annie", None, T1) is False
    user = await database.users.get(5)
    assert (user.id, user.first_name, user.username) == (5, "Annie", None)
    assert (user.first_seen, user.last_active) == (T0, T1)
    assert not user.blocked and not user.banned
    assert await database.users.get(6) is None


async def test_names_are_stored_as_given(database):
    await database.users.touch(5, "$last_active", "$$ROOT", T0)
    user = await database.users.get(5)
    assert (user.first_name, user.username) == ("$last_active", "$$ROOT")


async def test_ban_and_unban(database):
    await database.users.touch(5, "Ann", "ann", T0)
    assert await database.users.ban(5, "spam", T1) is True
    assert await database.users.ban(5, "again", T1) is False
    user = await database.users.get(5)
    assert user.banned and (user.ban_reason, user.banned_at) == ("spam", T1)
    assert await database.users.is_banned(5)
    assert await database.users.unban(5) is True
    assert await database.users.unban(5) is False
    assert not await database.users.is_banned(5)
    assert (await database.users.get(5)).first_name == "Ann"


async def test_ban_someone_never_seen(database):
    assert await database.users.ban(77, "known abuser", T0) is True
    assert await database.users.is_banned(77)
    assert (await database.users.get(77)).first_seen is None
    assert await database.users.touch(77, "Eve", None, T1) is True  # first time they write
    assert await database.users.is_banned(77)


async def test_blocked_and_writing_again(database):
    await database.users.touch(5, "Ann", None, T0)
    await database.users.mark_blocked(5, True)
    assert (await database.users.get(5)).blocked
    await database.users.touch(5, "Ann", None, T1)
    assert not (await database.users.get(5)).blocked


async def test_count_and_active_ids(database):
    for uid in (30, 10, 20, 40, 50):
        await database.users.touch(uid, None, None, T0)
    await database.users.ban(20, "x", T0)
    await database.users.mark_blocked(40, True)
    assert await database.users.count() == 5
    assert [uid async for uid in database.users.iter_active_ids()] == [10, 30, 50]
    assert [uid async for uid in database.users.iter_active_ids(after=10)] == [30, 50]
