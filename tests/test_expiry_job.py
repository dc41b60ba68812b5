"""jobs.expiry and jobs.runner: warn once, mark links expired once, delete; the loop that runs jobs."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import datetime, timedelta

import pytest
from clocks import Clock, real_now

from FileStream.core.models import StoredFile
from FileStream.jobs.expiry import CopiesRefused, ExpiryJob, ExpiryReport, ExpiryTexts
from FileStream.jobs.runner import PeriodicJob
from FileStream.store.database import Database

T0 = real_now()  # the real time: the TTL index runs on the real clock




class Telegram:
    """Records what the job sends and edits; some chats refuse."""

    def __init__(self, refuse: frozenset[int] = frozenset()) -> None:
        self.sent: list[tuple[int, str]] = []
        self.edited: list[tuple[int, int, str]] = []
        self.refuse = refuse
        self.refused: list[tuple[str, int]] = []  # (error, chat) of every refusal raised to the job

    async def send(self, chat_id: int, text: str) -> None:
        if chat_id in self.refuse:
            self._refuse("USER_IS_BLOCKED", chat_id)
        self.sent.append((chat_id, text))

    async def edit(self, chat_id: int, message_id: int, text: str) -> None:
        if chat_id in self.refuse:
            self._refuse("MESSAGE_ID_INVALID", chat_id)
        self.edited.append((chat_id, message_id, text))

    def _refuse(self, error: str, chat_id: int) -> None:
        self.refused.append((error, chat_id))
        raise RuntimeError(error)


def stored(n: int, owner: int | None, *, created: datetime, expires: datetime | None, name: str = "") -> StoredFile:
    return StoredFile(
        id=f"file{n:012d}", file_name=name or f"video{n}.mkv", file_size=1000, mime_type="video/x-matroska",
        file_unique_id=f"u{n}", media_type="video", dc_id=2, storage_chat_id=-1001, storage_message_id=n,
        created_at=created, expires_at=expires, owner_id=owner,
    )


async def add(database: Database, file: StoredFile, link: tuple[int, int] | None = None) -> StoredFile:
    await database.files.insert_confirmed(file)
    if link:
        await database.files.set_link_message(file.id, *link)
    return file


HOUR = timedelta(hours=1)


@pytest.fixture
def clock() -> Clock:
    return Clock(T0)


async def test_warns_once_then_marks_expired_and_deletes(database, clock):
    tg = Telegram()
    job = ExpiryJob(database.files, tg.send, tg.edit, clock, warning_seconds=600)
    later = await add(database, stored(1, 7, created=T0 - 45 * timedelta(minutes=1), expires=T0 + timedelta(minutes=15)),
                      link=(7, 101))
    soon = await add(database, stored(2, 8, created=T0 - HOUR, expires=T0 + timedelta(minutes=5), name="<a&b>.mkv"),
                     link=(8, 102))
    channel = await add(database, stored(3, None, created=T0 - HOUR, expires=T0 + timedelta(minutes=5)))
    short = await add(database, stored(4, 9, created=T0, expires=T0 + timedelta(minutes=5)), link=(9, 104))
    forever = await add(database, stored(5, 7, created=T0 - HOUR, expires=None), link=(7, 105))

    assert await job.run_once() == ExpiryReport(warned=1)
    assert tg.sent == [(8, "The links for <b>&lt;a&amp;b&gt;.mkv</b> expire in 5 min. Finish watching or "
                           "downloading before then; send the file again later for new links.")]
    # Once only, also for a new job instance (a restart).
    assert await job.run_once() == ExpiryReport()
    assert await ExpiryJob(database.files, tg.send, tg.edit, clock).run_once() == ExpiryReport()

    clock.advance(minutes=6)
    report = await job.run_once()
    assert report == ExpiryReport(warned=1, edited=2, deleted=3)
    assert tg.sent[1][0] == 7 and "expire in 9 min" in tg.sent[1][1]
    assert sorted(tg.edited) == [
        (8, 102, "<b>&lt;a&amp;b&gt;.mkv</b>\n\nThese links have expired. Send the file again for new ones."),
        (9, 104, "<b>video4.mkv</b>\n\nThese links have expired. Send the file again for new ones."),
    ]
    for gone in (soon, channel, short):
        assert await database.files.get(gone.id) is None
    assert await database.files.get(later.id) is not None
    assert await job.run_once() == ExpiryReport()

    clock.advance(minutes=10)
    assert await job.run_once() == ExpiryReport(edited=1, deleted=1)
    assert tg.edited[-1][:2] == (7, 101)
    assert len(tg.sent) == 2  # warnings never repeat
    assert await database.files.get(forever.id) is not None


async def test_refused_messages_never_block_the_others(database, clock):
    tg = Telegram(refuse=frozenset({7}))
    job = ExpiryJob(database.files, tg.send, tg.edit, clock, warning_seconds=600)
    await add(database, stored(1, 7, created=T0 - HOUR, expires=T0 + timedelta(minutes=2)), link=(7, 1))
    await add(database, stored(2, 8, created=T0 - HOUR, expires=T0 + timedelta(minutes=3)), link=(8, 2))
    assert await job.run_once() == ExpiryReport(warned=1, warn_failed=1)
    assert tg.refused == [("USER_IS_BLOCKED", 7)]
    clock.advance(minutes=5)
    assert await job.run_once() == ExpiryReport(edited=1, edit_failed=1, deleted=2)
    assert tg.refused == [("USER_IS_BLOCKED", 7), ("MESSAGE_ID_INVALID", 7)]
    assert [chat for chat, _ in tg.sent] == [8]
    assert [chat for chat, _, _ in tg.edited] == [8]


async def test_two_instances_tell_each_person_once(database, database_url, database_name, clock):
    tg = Telegram()
    for n in range(1, 31):
        await add(database, stored(n, 1000 + n, created=T0 - HOUR, expires=T0 + timedelta(seconds=30 * n)),
                  link=(1000 + n, n))
    other = await Database.connect(database_url, database_name)
    try:
        jobs = [ExpiryJob(db.files, tg.send, tg.edit, clock, warning_seconds=600, batch=7) for db in (database, other)]
        await asyncio.gather(*(job.run_once() for job in jobs * 2))
        clock.advance(minutes=16)
        await asyncio.gather(*(job.run_once() for job in jobs * 2))
    finally:
        await other.close()
    # Files 1..20 were within 10 min at the first pass; all 30 expired by the second, so
    # 21..30 get no late warning, only the "expired" edit.
    assert sorted(chat for chat, _ in tg.sent) == [1000 + n for n in range(1, 21)]
    assert sorted(chat for chat, _, _ in tg.edited) == [1000 + n for n in range(1, 31)]
    assert await database.files.count_live(clock()) == 0


async def test_custom_texts_and_no_warning(database, clock):
    tg = Telegram()
    texts = ExpiryTexts(warning=lambda f, now: f"soon: {f.id}", expired=lambda f: f"gone: {f.id}")
    job = ExpiryJob(database.files, tg.send, tg.edit, clock, warning_seconds=0, texts=texts)
    file = await add(database, stored(1, 7, created=T0 - HOUR, expires=T0 + timedelta(minutes=1)), link=(7, 9))
    assert await job.run_once() == ExpiryReport()
    clock.advance(minutes=1)
    assert await job.run_once() == ExpiryReport(edited=1, deleted=1)
    assert tg.edited == [(7, 9, f"gone: {file.id}")] and tg.sent == []


async def test_database_errors_are_reported_not_raised(clock):
    class BrokenFiles:
        raised = 0

        async def find_expiring(self, *args, **kwargs):
            self.raised += 1
            raise ConnectionError("database unreachable")

        find_expired = find_expiring

    tg, files = Telegram(), BrokenFiles()
    assert await ExpiryJob(files, tg.send, tg.edit, clock).run_once() == ExpiryReport(errors=1)
    assert files.raised >= 1, "the job met the database error"


# -- jobs.runner ----------------------------------------------------------------------------


async def test_periodic_job_runs_on_start_and_on_wake(database, clock):
    tg = Telegram()
    expiry = ExpiryJob(database.files, tg.send, tg.edit, clock)
    await add(database, stored(1, 7, created=T0 - HOUR, expires=T0 + timedelta(minutes=20)), link=(7, 1))
    job = PeriodicJob("expiry", expiry.run_once, interval_seconds=3600)
    job.start()
    try:
        assert await job.next_pass() == ExpiryReport()
        clock.advance(minutes=15)
        job.wake()
        assert await job.next_pass() == ExpiryReport(warned=1)
        clock.advance(minutes=10)
        job.wake()
        assert await job.next_pass() == ExpiryReport(edited=1, deleted=1)
        assert job.passes == 3 and job.failures == 0
    finally:
        await job.stop()
    assert not job.running


async def test_periodic_job_survives_failures_and_stops_promptly():
    calls = 0
    blocked = asyncio.Event()

    async def flaky() -> int:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise ValueError("one bad pass")
        if calls == 4:
            blocked.set()
            await asyncio.Event().wait()  # a pass that would never end by itself
        return calls

    job = PeriodicJob("flaky", flaky, interval_seconds=3600)
    job.start()
    assert await job.next_pass() == 1
    job.wake()
    assert await job.next_pass() is None  # it raised, was logged, and the loop went on
    job.wake()
    assert await job.next_pass() == 3
    assert job.failures == 1 and job.running
    job.wake()
    await blocked.wait()
    waiter = asyncio.create_task(job.next_pass())
    await job.stop()  # cancels the pass in progress instead of waiting for it
    assert await waiter is None
    assert not job.running and job.passes == 3
    await job.stop()  # twice is fine


async def test_a_stop_whose_cancellation_a_library_swallowed_still_ends_the_job():
    """Python 3.11's asyncio.wait_for returns its inner call's result when that call finished
    just as the cancellation came: a pass that uses it (the client library, the database
    driver) can swallow the stop. The job must end all the same, not run on forever."""
    in_pass = asyncio.Event()

    async def swallowing() -> str:
        in_pass.set()
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            pass  # what the race in wait_for amounts to
        return "done"

    job = PeriodicJob("swallowing", swallowing, interval_seconds=3600)
    job.start()
    loop_task = job._task
    await in_pass.wait()
    stopping = asyncio.create_task(job.stop())
    done, _ = await asyncio.wait({stopping}, timeout=5)
    assert stopping in done and loop_task.done(), "stop() returned, and the job's loop ended"


async def test_periodic_job_rejects_a_bad_interval():
    async def nothing() -> None:
        return None

    with pytest.raises(ValueError):
        PeriodicJob("x", nothing, 0)


# -- due times ------------------------------------------------------------------------------


async def test_the_job_knows_when_its_next_work_falls_due(database, clock):
    tg = Telegram()
    job = ExpiryJob(database.files, tg.send, tg.edit, clock, warning_seconds=600)
    assert await job.next_due() is None  # no file expires: nothing to wake for
    forever = await add(database, stored(1, 7, created=T0, expires=None))
    late = await add(database, stored(2, 7, created=T0, expires=T0 + 2 * HOUR))
    soon = await add(database, stored(3, 8, created=T0, expires=T0 + HOUR), link=(8, 1))
    assert job.due_times(forever) == []
    assert sorted(job.due_times(soon)) == [soon.expires_at - timedelta(minutes=10), soon.expires_at]
    short = stored(4, 9, created=T0, expires=T0 + timedelta(minutes=5))
    assert job.due_times(short) == [short.expires_at], "a life shorter than the warning gets no warning"

    assert await job.next_due() == soon.expires_at - timedelta(minutes=10)
    clock.advance(minutes=50)
    assert await job.run_once() == ExpiryReport(warned=1)
    assert await job.next_due() == soon.expires_at  # warned: next is its expiry
    clock.advance(minutes=10)
    assert await job.run_once() == ExpiryReport(edited=1, deleted=1)
    assert await job.next_due() == late.expires_at - timedelta(minutes=10)


async def test_expired_copies_are_deleted_a_hundred_per_call_unless_telegram_refuses(database, clock):
    tg = Telegram()
    calls: list[tuple[int, list[int]]] = []
    refuse = {-1002}

    async def delete_copies(chat_id: int, message_ids: list[int]) -> None:
        if chat_id in refuse:
            raise CopiesRefused("CHAT_ADMIN_REQUIRED")
        if chat_id == -1003:
            raise ConnectionError("network down")
        calls.append((chat_id, message_ids))

    await asyncio.gather(*(add(database, stored(n, 7, created=T0 - HOUR, expires=T0 - timedelta(seconds=n)))
                           for n in range(1, 151)))
    await add(database, dataclasses.replace(stored(200, 7, created=T0 - HOUR, expires=T0), storage_chat_id=-1002))
    away = await add(database, dataclasses.replace(stored(300, 7, created=T0 - HOUR, expires=T0), storage_chat_id=-1003))
    job = ExpiryJob(database.files, tg.send, tg.edit, clock, warning_seconds=0, batch=500, delete_copies=delete_copies)

    report = await job.run_once()
    assert report == ExpiryReport(deleted=151, copies_deleted=150, copies_kept=1)
    assert [len(ids) for _, ids in calls] == [100, 50]
    assert sorted(i for _, ids in calls for i in ids) == list(range(1, 151))
    # A copy that could not be deleted for a passing reason keeps its record for the next pass.
    assert await database.files.get(away.id) is not None
    calls.clear()

    async def works_now(chat_id: int, message_ids: list[int]) -> None:
        calls.append((chat_id, message_ids))

    job = ExpiryJob(database.files, tg.send, tg.edit, clock, warning_seconds=0, delete_copies=works_now)
    assert await job.run_once() == ExpiryReport(deleted=1, copies_deleted=1)
    assert calls == [(-1003, [300])]
    assert await database.files.get(away.id) is None


async def test_without_delete_copies_the_copies_stay(database, clock):
    tg = Telegram()
    await add(database, stored(1, 7, created=T0 - HOUR, expires=T0))
    job = ExpiryJob(database.files, tg.send, tg.edit, clock, warning_seconds=0)
    assert await job.run_once() == ExpiryReport(deleted=1)


async def test_a_sleeping_job_is_woken_early_by_new_work_and_runs_when_it_falls_due():
    passes = asyncio.Queue()
    due: list[datetime] = []

    async def run_once() -> None:
        now = real_now()
        due[:] = [when for when in due if when > now]  # the pass does what is due
        await passes.put(now)

    async def next_due():
        return min(due, default=None)

    job = PeriodicJob("due", run_once, interval_seconds=3600, next_due=next_due, clock=real_now)
    job.start()
    try:
        await asyncio.wait_for(passes.get(), 10)  # the first pass, at start; then nothing is due for an hour
        when = real_now() + timedelta(milliseconds=200)
        due.append(when)
        job.due_at(when)
        ran_at = await asyncio.wait_for(passes.get(), 10)
        assert ran_at >= when, "not before it is due"
        assert not due
    finally:
        await job.stop()


async def test_work_that_stays_due_is_retried_after_a_pause_not_in_a_spin(monkeypatch):
    monkeypatch.setattr("FileStream.jobs.runner.RETRY_SECONDS", 0.3)
    times: list[float] = []
    loop = asyncio.get_running_loop()

    async def run_once() -> None:
        times.append(loop.time())

    async def next_due():
        return real_now() - timedelta(seconds=1)  # a pass never gets it done

    job = PeriodicJob("stuck", run_once, interval_seconds=3600, next_due=next_due, clock=real_now)
    job.start()
    try:
        while len(times) < 4:
            await job.next_pass()
    finally:
        await job.stop()
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert gaps[0] < 0.3 and all(gap >= 0.3 for gap in gaps[1:]), gaps


async def test_an_expired_file_that_never_had_a_stored_copy_needs_no_delete(database, clock):
    tg = Telegram()
    calls = []

    async def delete_copies(chat_id, message_ids):
        calls.append((chat_id, message_ids))

    # A file migrated from FileStreamBot and never used: its copy was never made.
    never_copied = dataclasses.replace(stored(1, 7, created=T0 - HOUR, expires=T0), storage_chat_id=None,
                                       storage_message_id=None)
    await add(database, never_copied)
    job = ExpiryJob(database.files, tg.send, tg.edit, clock, warning_seconds=0, delete_copies=delete_copies)
    assert await job.run_once() == ExpiryReport(deleted=1)
    assert calls == []
