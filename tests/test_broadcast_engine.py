"""services.broadcast: paced, flood-aware, resumable broadcasts against the real test database."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta

import pytest
from clocks import real_now
from pyrogram.errors import ChatWriteForbidden, FloodWait, InputUserDeactivated, PeerIdInvalid, UserIsBlocked
from pymongo.errors import AutoReconnect

from FileStream.services.broadcast import Broadcast, BroadcastEngine, Progress, Watermark, progress_text
from FileStream.store.database import Database

T0 = real_now()  # the real time: the TTL index runs on the real clock
SECOND = timedelta(seconds=1)
USERS = [1000 + 7 * n for n in range(300)]          # not contiguous, to keep ids honest
BLOCKED = frozenset(USERS[5::15])                    # 20 people who blocked the bot
FLOODED = USERS[150]


class FakeTime:
    """The clock and the sleep of the engine; sleeping moves the clock and nothing else."""

    def __init__(self) -> None:
        self.now = T0
        self.slept = 0

    def __call__(self) -> datetime:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += timedelta(microseconds=round(seconds * 1_000_000))
        self.slept += 1
        await asyncio.sleep(0)


class FakeTelegram:
    """copy_to as Telegram would answer it, recording every call and every delivery."""

    def __init__(self, time: FakeTime, *, errors: dict[int, Exception] | None = None,
                 flood: dict[int, int] | None = None) -> None:
        self.time = time
        self.errors = errors or {}
        self.flood = dict(flood or {})        # user -> FLOOD_WAIT seconds, answered once
        self.calls: list[tuple[int, datetime]] = []
        self.floods: list[tuple[int, datetime]] = []
        self.raised: list[tuple[int, Exception]] = []  # every injected error, as the engine met it
        self.delivered: list[int] = []
        self.on_delivered: Callable[[int], None] | None = None

    async def copy_to(self, user_id: int, broadcast: Broadcast) -> None:
        assert (broadcast.source_chat_id, broadcast.source_message_id) == (-100555, 42)
        self.calls.append((user_id, self.time()))
        if user_id in self.flood:
            self.floods.append((user_id, self.time()))
            self.raise_(user_id, FloodWait(value=self.flood.pop(user_id)))
        if user_id in self.errors:
            self.raise_(user_id, self.errors[user_id])
        # A network round trip of varying length: other senders run meanwhile and
        # copies finish out of order.
        for _ in range(1 + user_id % 4):
            await asyncio.sleep(0)
        self.delivered.append(user_id)
        if self.on_delivered:
            self.on_delivered(len(self.delivered))


    def raise_(self, user_id: int, error: Exception) -> None:
        self.raised.append((user_id, error))
        raise error

    def raised_for(self, kind: type[Exception]) -> list[int]:
        return [user_id for user_id, error in self.raised if isinstance(error, kind)]


async def add_users(database: Database, ids: list[int]) -> None:
    for user_id in ids:
        await database.users.touch(user_id, f"user{user_id}", None, T0 - timedelta(days=1))


def blocked_errors(ids=BLOCKED) -> dict[int, Exception]:
    return {user_id: UserIsBlocked() for user_id in ids}


def engine_for(database: Database, tg: FakeTelegram, time: FakeTime, **options) -> BroadcastEngine:
    return BroadcastEngine(database, tg.copy_to, clock=time, sleep=time.sleep, **options)


def assert_paced(times: list[datetime], rate: int) -> None:
    """Never more than `rate` calls in any one-second window [t, t + 1 s)."""
    times = sorted(times)
    for earlier, later in zip(times, times[rate:]):
        assert later - earlier >= SECOND, (earlier, later)


async def test_broadcast_reaches_everyone_paced_through_a_flood_wait(database):
    await add_users(database, USERS)
    await database.users.ban(USERS[10], "spam", T0)
    await database.users.mark_blocked(USERS[11], True)
    time = FakeTime()
    tg = FakeTelegram(time, errors=blocked_errors(), flood={FLOODED: 7})
    reports: list[tuple[datetime, Progress]] = []

    async def progress(p: Progress) -> None:
        reports.append((time(), p))

    engine = engine_for(database, tg, time, rate_per_second=25, concurrency=8, progress=progress)
    broadcast = await engine.start(-100555, 42, owner_chat_id=1)
    assert broadcast is not None and broadcast.owner_chat_id == 1 and broadcast.state == "running"
    assert await engine.start(-100555, 43, owner_chat_id=1) is None  # one at a time

    final = await engine.run(broadcast)

    expected = [u for u in USERS if u not in (USERS[10], USERS[11])]
    reachable = [u for u in expected if u not in BLOCKED]
    assert (final.sent, final.failed, final.blocked, final.left) == (len(reachable), 0, 20, 0)
    assert final.state == "done" and final.finished
    # Everyone reachable got it exactly once; the banned and the known-blocked were skipped.
    assert sorted(tg.delivered) == reachable
    assert Counter(u for u, _ in tg.calls) == Counter({**{u: 1 for u in expected}, FLOODED: 2})
    for user_id in BLOCKED:
        assert (await database.users.get(user_id)).blocked
    assert [u async for u in database.users.iter_active_ids()] == reachable

    # Every injected refusal was met: each blocked person once, the flood wait once, mid-run.
    assert sorted(tg.raised_for(UserIsBlocked)) == sorted(BLOCKED)
    assert tg.raised_for(FloodWait) == [FLOODED]
    assert 0 < [u for u, _ in tg.calls].index(FLOODED) < len(tg.calls) - 1

    # The pace: never more than 25 calls in any second, the flood wait held everyone.
    times = [t for _, t in tg.calls]
    assert_paced(times, 25)
    (_, flood_at), = tg.floods
    assert not [t for t in times if flood_at < t < flood_at + 7 * SECOND]
    retry = [t for u, t in tg.calls if u == FLOODED][1]
    assert retry >= flood_at + 7 * SECOND
    # ...and no slower than it has to be: 280 + 20 + 1 calls at 25/s plus the 7 s pause.
    assert time() - T0 <= timedelta(seconds=(len(tg.calls) - 1) / 25 + 7) + SECOND

    # Progress: at most every 3 s while running, then a final report.
    running = [(t, p) for t, p in reports if not p.finished]
    assert len(running) >= 4
    for (a, _), (b, _) in zip(running, running[1:]):
        assert b - a >= 3 * SECOND
    assert reports[-1][1] == final
    _, middle = running[len(running) // 2]
    assert 0 < middle.left < len(expected) and middle.rate > 0 and middle.eta_seconds is not None
    assert middle.sent + middle.blocked + middle.left == len(expected)
    assert "Sent: 278" in progress_text(final) and "finished" in progress_text(final)

    stored = await database.broadcasts.get(broadcast.id)
    assert (stored["state"], stored["sent"], stored["blocked"], stored["failed"]) == ("done", 278, 20, 0)
    assert stored["last_user_id"] == expected[-1] and stored["ahead"] == []
    # Done means the next broadcast may start.
    assert await engine.start(-100555, 43, owner_chat_id=1) is not None


async def test_a_long_flood_wait_holds_only_that_persons_sender(database):
    """With the pacer's split (short waits may be the bot's overall limit, long ones are one
    chat's own), a long FLOOD_WAIT for one person does not stall everybody else."""
    users = USERS[:60]
    await add_users(database, users)
    verdict_over = asyncio.Event()

    class Time(FakeTime):
        async def sleep(self, seconds: float) -> None:
            if seconds >= 40:  # the flooded chat's wait: over when the test says so
                await verdict_over.wait()
            await super().sleep(seconds)

    time = Time()
    flooded = users[10]
    others_done = asyncio.Event()
    tg = FakeTelegram(time, flood={flooded: 40})
    tg.on_delivered = lambda n: others_done.set() if n == len(users) - 1 else None
    engine = engine_for(database, tg, time, rate_per_second=25, concurrency=8, pause_all_max_seconds=5.0)
    run = asyncio.create_task(engine.run(await engine.start(-100555, 42, owner_chat_id=1)))

    await asyncio.wait_for(others_done.wait(), 30)
    assert flooded not in tg.delivered, "everyone else got it while that chat's verdict held"
    verdict_over.set()
    final = await run
    assert (final.sent, final.failed) == (60, 0) and sorted(tg.delivered) == sorted(users)
    assert [u for u, _ in tg.calls].count(flooded) == 2


@pytest.mark.parametrize("crash_after", [1, 100, 279])
@pytest.mark.parametrize("concurrency", [1, 8])
async def test_resume_after_a_crash_sends_nobody_twice_and_misses_nobody(
    database, database_url, database_name, crash_after, concurrency
):
    await add_users(database, USERS)
    time = FakeTime()
    flood_user = USERS[120]
    tg = FakeTelegram(time, errors=blocked_errors(), flood={flood_user: 30})
    engine = engine_for(database, tg, time, concurrency=concurrency)
    broadcast = await engine.start(-100555, 42, owner_chat_id=1)
    run = asyncio.create_task(engine.run(broadcast))
    # The "crash": the task running the broadcast is cancelled in the middle of sending.
    tg.on_delivered = lambda n: run.cancel() if n == crash_after else None
    with pytest.raises(asyncio.CancelledError):
        await run
    assert len(tg.delivered) == crash_after
    calls_before = len(tg.calls)
    before = await database.broadcasts.get(broadcast.id)
    assert before["state"] == "running"
    assert before["sent"] == crash_after  # every finished copy was saved
    # What was saved describes exactly who was handled: everyone up to the mark plus
    # the few finished out of order above it.
    last, ahead = before["last_user_id"], before["ahead"]
    assert all(user_id > last for user_id in ahead)
    handled = {u for u in USERS if u <= last} | set(ahead)
    assert set(tg.delivered) <= handled <= set(tg.delivered) | BLOCKED

    # A new process: another connection, another engine, same database.
    tg.on_delivered = None
    other = await Database.connect(database_url, database_name)
    try:
        resumed = await engine_for(other, tg, time, concurrency=concurrency).resume_running()
    finally:
        await other.close()
    reachable = [u for u in USERS if u not in BLOCKED]
    assert resumed is not None and resumed.state == "done"
    assert (resumed.sent, resumed.blocked, resumed.failed) == (280, 20, 0)
    assert len(tg.delivered) == len(set(tg.delivered)) == 280
    assert sorted(tg.delivered) == reachable
    assert_paced([t for _, t in tg.calls[:calls_before]], 25)
    assert_paced([t for _, t in tg.calls[calls_before:]], 25)
    after = await database.broadcasts.get(broadcast.id)
    assert (after["state"], after["sent"], after["blocked"]) == ("done", 280, 20)
    # The injected refusals were met, across the two runs: every blocked person and the flood wait.
    assert set(tg.raised_for(UserIsBlocked)) == BLOCKED
    assert tg.raised_for(FloodWait) == [flood_user]
    assert await engine.resume_running() is None  # nothing left to resume


async def test_errors_are_sorted_into_failed_and_blocked(database):
    users = list(range(1, 11))
    await add_users(database, users)
    time = FakeTime()
    errors = {
        2: UserIsBlocked(),
        3: InputUserDeactivated(),
        4: PeerIdInvalid(),
        5: ChatWriteForbidden(),
        6: ValueError("a bug in copy_to"),
    }
    tg = FakeTelegram(time, errors=errors)
    # User 7 is flood-limited on every try: after the retries it counts as failed.
    always_flooding = tg.copy_to

    async def copy_to(user_id: int, broadcast: Broadcast) -> None:
        if user_id == 7:
            tg.calls.append((user_id, time()))
            tg.raise_(user_id, FloodWait(value=2))
        await always_flooding(user_id, broadcast)

    progress_failures = []

    async def broken_progress(p: Progress) -> None:
        progress_failures.append(p)
        raise RuntimeError("owner chat gone")

    engine = BroadcastEngine(database, copy_to, clock=time, sleep=time.sleep, concurrency=3,
                             max_flood_retries=2, progress=broken_progress)
    final = await engine.run(await engine.start(-100555, 42, owner_chat_id=1))
    assert (final.sent, final.failed, final.blocked) == (4, 4, 2)
    assert sorted(tg.delivered) == [1, 8, 9, 10]
    assert [u for u, _ in tg.calls].count(7) == 3
    assert [(await database.users.get(u)).blocked for u in (2, 3, 4, 5, 6)] == [True, True, False, False, False]
    # Every injected error was raised to the engine: once per person, three times for 7.
    assert [u for u, _ in tg.raised].count(7) == 3
    assert sorted({u: type(e) for u, e in tg.raised}.items()) == sorted(
        {**{u: type(e) for u, e in errors.items()}, 7: FloodWait}.items())
    assert progress_failures and progress_failures[-1] == final, "the broken progress report was tried to the end"


async def test_cancel_stops_sending_and_ends_the_broadcast(database):
    await add_users(database, USERS)
    time = FakeTime()
    tg = FakeTelegram(time)
    reached = asyncio.Event()
    tg.on_delivered = lambda n: reached.set() if n == 50 else None
    engine = engine_for(database, tg, time, concurrency=4)
    broadcast = await engine.start(-100555, 42, owner_chat_id=1)
    run = asyncio.create_task(engine.run(broadcast))
    await reached.wait()
    assert engine.current is not None and engine.current.id == broadcast.id
    assert await engine.cancel()
    calls_at_cancel = len(tg.calls)
    final = await run
    assert final.state == "cancelled" and final.sent == len(tg.delivered) < 300
    assert len(tg.calls) == calls_at_cancel  # nothing after cancel() returned
    stored = await database.broadcasts.get(broadcast.id)
    assert stored["state"] == "cancelled" and stored["sent"] == final.sent
    assert engine.current is None
    assert not await engine.cancel()  # nothing to cancel any more
    assert await engine.start(-100555, 43, owner_chat_id=1) is not None


async def test_cancel_from_another_instance_stops_this_one(database, database_url, database_name):
    await add_users(database, USERS)
    time = FakeTime()
    tg = FakeTelegram(time)
    reached = asyncio.Event()
    tg.on_delivered = lambda n: reached.set() if n == 20 else None
    engine = engine_for(database, tg, time, concurrency=4)
    run = asyncio.create_task(engine.run(await engine.start(-100555, 42, owner_chat_id=1)))
    await reached.wait()
    other = await Database.connect(database_url, database_name)
    try:
        assert await engine_for(other, FakeTelegram(time), time).cancel()
    finally:
        await other.close()
    final = await run
    assert final.state == "cancelled" and 20 <= final.sent < 300
    assert len(tg.delivered) == final.sent


async def test_a_finished_broadcast_is_not_run_again(database):
    await add_users(database, USERS[:5])
    time = FakeTime()
    tg = FakeTelegram(time)
    engine = engine_for(database, tg, time)
    broadcast = await engine.start(-100555, 42, owner_chat_id=1)
    assert (await engine.run(broadcast)).sent == 5
    again = await engine.run(broadcast)
    assert again.state == "done" and again.sent == 5 and len(tg.calls) == 5


def test_watermark_moves_only_over_contiguous_completions():
    mark = Watermark()
    for user_id in (10, 20, 30, 40):
        assert mark.dispatch(user_id)
    mark.complete(30)
    mark.complete(40)
    assert (mark.last, mark.ahead()) == (None, [30, 40])
    mark.complete(10)
    assert (mark.last, mark.ahead()) == (10, [30, 40])
    mark.complete(20)
    assert (mark.last, mark.ahead()) == (40, [])


def test_watermark_skips_what_an_earlier_run_did_and_keeps_the_rest():
    # An earlier run got up to 10 and had also finished 30 and 50 out of order.
    mark = Watermark(10, prior=[30, 50])
    assert mark.dispatch(20)
    assert not mark.dispatch(30)          # done before: skipped
    assert mark.ahead() == [30, 50]       # 50 is still remembered until reached
    assert mark.dispatch(40)
    mark.complete(40)
    assert (mark.last, mark.ahead()) == (10, [30, 40, 50])
    mark.complete(20)
    assert (mark.last, mark.ahead()) == (40, [50])
    assert mark.dispatch(60)              # 50 was not listed again (blocked meanwhile): dropped
    assert mark.ahead() == []
    mark.complete(60)
    assert mark.last == 60


async def test_a_database_outage_pauses_the_broadcast_and_it_goes_on_where_it_was(database):
    users = USERS[:60]
    await add_users(database, users)
    time = FakeTime()
    tg = FakeTelegram(time)
    saves = database.broadcasts.save_progress
    failures = {"left": 0}

    async def save_while_away(*args, **kwargs):
        if failures["left"]:
            failures["left"] -= 1
            if failures["left"] % 2:
                await saves(*args, **kwargs)  # it reached the server; only the answer was lost
            raise AutoReconnect("127.0.0.1:27017: connection refused")
        return await saves(*args, **kwargs)

    database.broadcasts.save_progress = save_while_away
    started_while_paused = []
    reports: list[Progress] = []

    async def copy_to(user_id, broadcast):
        if engine.outage is not None:
            started_while_paused.append(user_id)
        await tg.copy_to(user_id, broadcast)

    async def progress(p: Progress) -> None:
        reports.append(p)

    engine = BroadcastEngine(database, copy_to, clock=time, sleep=time.sleep, concurrency=4, progress=progress)
    tg.on_delivered = lambda n: failures.update(left=7) if n == 20 else None
    final = await engine.run(await engine.start(-100555, 42, owner_chat_id=1))

    assert failures["left"] == 0, "the outage happened"
    assert started_while_paused == []
    assert engine.outage is None
    assert (final.state, final.sent, final.failed, final.blocked) == ("done", 60, 0, 0)
    assert sorted(tg.delivered) == users, "everyone once, nobody twice"
    stored = await database.broadcasts.get(final.broadcast_id)
    assert (stored["state"], stored["sent"]) == ("done", 60), "a save that was tried again counted once"
    assert reports[-1] == final
