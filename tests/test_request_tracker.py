"""services.requests and jobs.stale_requests: one active request per person, revoke, timeout."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from clocks import Clock, real_now
from pymongo.errors import NetworkTimeout

from FileStream.core.requests import RequestState
from FileStream.jobs.stale_requests import StaleReport, StaleRequestJob
from FileStream.services.requests import RequestTracker
from FileStream.store.database import Database

T0 = real_now()  # the real time: the TTL index runs on the real clock




class Work:
    """A request's work that runs until told to finish (or is cancelled)."""

    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.release = asyncio.Event()
        self.cancelled = False

    async def __call__(self, result: str = "done") -> str:
        self.started.set()
        try:
            await self.release.wait()
        except asyncio.CancelledError:
            self.cancelled = True
            raise
        return result


class Inbox:
    def __init__(self, fail_for: frozenset[int] = frozenset()) -> None:
        self.messages: list[tuple[int, str]] = []
        self.fail_for = fail_for
        self.refused: list[int] = []  # people whose notice raised USER_IS_BLOCKED

    async def __call__(self, user_id: int, text: str) -> None:
        if user_id in self.fail_for:
            self.refused.append(user_id)
            raise RuntimeError("USER_IS_BLOCKED")
        self.messages.append((user_id, text))


@pytest.fixture
def clock() -> Clock:
    return Clock(T0)


@pytest.fixture
def tracker(database, clock) -> RequestTracker:
    return RequestTracker(database.requests, clock, timeout_seconds=300)


async def test_one_active_request_per_person(tracker, clock):
    first = await tracker.begin(7, "film.mkv")
    assert first is not None
    assert (first.user_id, first.file_name, first.state) == (7, "film.mkv", RequestState.PROCESSING)
    assert first.started_at == T0 and first.timeout_at == T0 + timedelta(seconds=300) and first.active
    assert await tracker.begin(7, "other.mkv") is None
    assert await tracker.begin(8, "other.mkv") is not None
    assert (await tracker.status(7)).id == first.id

    assert await tracker.advance(first.id, RequestState.GENERATING_LINK)
    assert not await tracker.advance(first.id, RequestState.PROCESSING)  # no going back
    clock.advance(seconds=5)
    assert await tracker.advance(first.id, RequestState.COMPLETED)
    done = await tracker.get(first.id)
    assert done.state == RequestState.COMPLETED and done.finished_at == T0 + timedelta(seconds=5)
    assert not done.active
    assert await tracker.status(7) is None
    # Ended requests stay ended; the person may start a new one.
    assert not await tracker.advance(first.id, RequestState.FAILED)
    assert await tracker.begin(7, "again.mkv") is not None


async def test_rule_holds_across_instances(database, database_url, database_name, clock):
    other = await Database.connect(database_url, database_name)
    try:
        trackers = [RequestTracker(db.requests, clock, 300) for db in (database, other)] * 4
        got = await asyncio.gather(*(t.begin(7, f"{n}.mkv") for n, t in enumerate(trackers)))
    finally:
        await other.close()
    assert sum(r is not None for r in got) == 1


async def test_revoke_cancels_the_local_work_and_stops_the_worker(tracker):
    request = await tracker.begin(7, "film.mkv")
    work = Work()
    guarded = asyncio.create_task(tracker.run_guarded(request.id, work()))
    await work.started.wait()
    assert tracker.local_request_ids == {request.id}

    revoked = await tracker.revoke(7)
    assert revoked is not None and revoked.id == request.id and revoked.state == RequestState.REVOKED
    assert await guarded is None
    assert work.cancelled
    assert tracker.local_request_ids == frozenset()
    # A late step of the worker finds the request ended.
    assert not await tracker.advance(request.id, RequestState.GENERATING_LINK)
    assert await tracker.revoke(7) is None
    assert await tracker.status(7) is None


async def test_run_guarded_returns_result_and_fails_on_error(tracker):
    request = await tracker.begin(7, "film.mkv")
    work = Work()
    work.release.set()
    assert await tracker.run_guarded(request.id, work("links")) == "links"
    assert await tracker.advance(request.id, RequestState.GENERATING_LINK)

    async def broken() -> None:
        raise OSError("storage channel unreachable")

    with pytest.raises(OSError):
        await tracker.run_guarded(request.id, broken())
    failed = await tracker.get(request.id)
    assert failed.state == RequestState.FAILED and not failed.active


class AwayOnce:
    """The real requests store, except that the database does not answer the next `away`
    state moves (frozen), and then does again."""

    def __init__(self, requests, away: int) -> None:
        self._requests = requests
        self.away = away

    def __getattr__(self, name):
        return getattr(self._requests, name)

    async def set_state(self, *args, **kwargs):
        if self.away > 0:
            self.away -= 1
            raise NetworkTimeout("timed out")
        return await self._requests.set_state(*args, **kwargs)


async def test_a_failure_the_database_could_not_take_is_recorded_once_it_answers_and_the_person_may_send_again(
        database, clock):
    store = AwayOnce(database.requests, away=2)
    tracker = RequestTracker(store, clock, timeout_seconds=300)
    request = await tracker.begin(7, "film.mkv")

    async def broken() -> None:
        raise OSError("storage channel unreachable")

    with pytest.raises(OSError):   # the work's own error, for the person's words
        await tracker.run_guarded(request.id, broken())
    assert (await tracker.get(request.id)).active, "the failure could not be written"
    assert not await tracker.record_failures(), "the database is still away"
    again = await tracker.begin(7, "film.mkv")   # it answers again: the failure is written first
    assert again is not None and again.id != request.id
    assert (await tracker.get(request.id)).state == RequestState.FAILED
    assert not await tracker.record_failures(), "nothing is left to write"


async def test_cancelling_the_caller_cancels_the_work(tracker):
    request = await tracker.begin(7, "film.mkv")
    work = Work()
    caller = asyncio.create_task(tracker.run_guarded(request.id, work()))
    await work.started.wait()
    caller.cancel()
    with pytest.raises(asyncio.CancelledError):
        await caller
    assert work.cancelled


async def test_stale_job_times_out_cancels_and_tells_once(tracker, clock):
    inbox = Inbox()
    job = StaleRequestJob(tracker, inbox)
    old = await tracker.begin(7, "<b>film</b>.mkv")
    work = Work()
    guarded = asyncio.create_task(tracker.run_guarded(old.id, work()))
    await work.started.wait()
    clock.advance(seconds=200)
    young = await tracker.begin(8, "young.mkv")

    assert await job.run_once() == StaleReport()
    clock.advance(seconds=100)  # the first one is exactly at its deadline
    report = await job.run_once()
    assert report == StaleReport(timed_out=1, notified=1, cancelled_local=1)
    assert await guarded is None and work.cancelled
    assert inbox.messages == [
        (7, "Your request for <b>&lt;b&gt;film&lt;/b&gt;.mkv</b> timed out after 5 min, so I stopped "
            "working on it. Please send the file again.")
    ]
    assert (await tracker.get(old.id)).state == RequestState.TIMED_OUT
    assert (await tracker.get(young.id)).state == RequestState.PROCESSING
    # Once only, and the person may start again.
    assert await job.run_once() == StaleReport()
    assert len(inbox.messages) == 1
    assert await tracker.begin(7, "again.mkv") is not None


async def test_stale_job_on_two_instances_tells_once(database, database_url, database_name, clock):
    other = await Database.connect(database_url, database_name)
    inbox = Inbox()
    try:
        jobs = [StaleRequestJob(RequestTracker(db.requests, clock, 300), inbox) for db in (database, other)]
        for user_id in range(1, 11):
            assert await jobs[0].tracker.begin(user_id, f"{user_id}.mkv") is not None
        clock.advance(seconds=301)
        reports = await asyncio.gather(*(job.run_once() for job in jobs * 2))
    finally:
        await other.close()
    assert sum(r.timed_out for r in reports) == 10
    assert sorted(user_id for user_id, _ in inbox.messages) == list(range(1, 11))


async def test_stale_job_survives_failed_notices(tracker, clock):
    inbox = Inbox(fail_for=frozenset({7}))
    job = StaleRequestJob(tracker, inbox)
    await tracker.begin(7, "a.mkv")
    await tracker.begin(8, "b.mkv")
    clock.advance(seconds=301)
    assert await job.run_once() == StaleReport(timed_out=2, notified=1, notify_failed=1)
    assert [user_id for user_id, _ in inbox.messages] == [8]
    assert inbox.refused == [7]


async def test_work_ended_on_another_instance_is_cancelled_here(database, database_url, database_name, clock):
    here = RequestTracker(database.requests, clock, 300)
    other = await Database.connect(database_url, database_name)
    try:
        there = RequestTracker(other.requests, clock, 300)
        request = await here.begin(7, "film.mkv")
        work = Work()
        guarded = asyncio.create_task(here.run_guarded(request.id, work()))
        await work.started.wait()
        # The person revokes through the other instance, which does not run the work.
        assert (await there.revoke(7)).id == request.id
        assert not work.cancelled
        report = await StaleRequestJob(here, Inbox()).run_once()
    finally:
        await other.close()
    assert report == StaleReport(cancelled_local=1)
    assert await guarded is None and work.cancelled


async def test_the_stale_job_knows_the_next_deadline_and_hears_of_new_requests(tracker, clock):
    job = StaleRequestJob(tracker, Inbox())
    opened = []
    tracker.on_opened.append(opened.append)
    assert await job.next_due() is None
    first = await tracker.begin(7, "a.mkv")
    clock.advance(seconds=30)
    second = await tracker.begin(8, "b.mkv")
    assert [r.id for r in opened] == [first.id, second.id]
    assert await job.next_due() == first.timeout_at == T0 + timedelta(seconds=300)
    clock.advance(seconds=271)
    assert (await job.run_once()).timed_out == 1
    assert await job.next_due() == second.timeout_at


class OpeningUnanswered:
    """The real requests store, except that the next opening gets no answer: `applied`
    says whether the database took it before the answer was lost; otherwise `late` holds
    it, for the test to apply when the database would."""

    def __init__(self, requests, *, applied: bool) -> None:
        self._requests = requests
        self.applied = applied
        self.unanswered = 1
        self.late = None

    def __getattr__(self, name):
        return getattr(self._requests, name)

    async def start(self, *args, **kwargs):
        if self.unanswered:
            self.unanswered -= 1
            if self.applied:
                await self._requests.start(*args, **kwargs)
            else:
                self.late = lambda: self._requests.start(*args, **kwargs)
            raise NetworkTimeout("timed out")
        return await self._requests.start(*args, **kwargs)


@pytest.mark.parametrize("applied", [True, False], ids=["applied-before-its-answer-was-lost", "applied-late"])
async def test_an_opening_without_an_answer_never_leaves_the_person_busy(database, clock, applied):
    store = OpeningUnanswered(database.requests, applied=applied)
    tracker = RequestTracker(store, clock, timeout_seconds=300)
    with pytest.raises(NetworkTimeout):   # the person is told to try again
        await tracker.begin(7, "film.mkv")
    again = await tracker.begin(7, "film.mkv")
    assert again is not None and again.active, "the person's next try opens at once"
    assert (await tracker.status(7)).id == again.id
    if store.late is not None:
        # The first opening comes after the second one ended: it finds its id voided.
        assert await tracker.revoke(7) is not None
        assert await store.late() is None, "the opening, applied after its void, opened nothing"
        assert await tracker.status(7) is None, "the late opening holds the person up"
    assert not await tracker.record_failures(), "nothing is left to void"
