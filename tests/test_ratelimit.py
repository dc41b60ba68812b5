"""services.ratelimit: files per person per window, counted from MongoDB."""

from __future__ import annotations

from datetime import timedelta

from clocks import Clock, real_now

from FileStream.services.ratelimit import FileRateLimit
from FileStream.store.database import Database

T0 = real_now()  # the real time: the TTL index runs on the real clock




async def finish(database: Database, user_id: int, clock: Clock) -> None:
    """One file request, opened and completed at clock time (so the next may open)."""
    rid = await database.requests.start(user_id, "a.mkv", clock(), clock() + timedelta(minutes=5))
    assert rid is not None
    assert await database.requests.set_state(rid, "failed", clock())


async def test_limit_counts_requests_in_the_window(database):
    clock = Clock(T0)
    limit = FileRateLimit.on_requests(database, limit=3, window_seconds=60, clock=clock)
    for _ in range(3):
        assert await limit.check(7) is None
        await finish(database, 7, clock)
        clock.advance(seconds=10)
    # Requests at 0, 10, 20 s; now 30 s: the one at 0 leaves the window at 60 s.
    over = await limit.check(7)
    assert over is not None
    assert over.at == T0 + timedelta(seconds=60) and over.seconds == 30
    assert "3 files every 1 min" in over.text() and "wait 30 s" in over.text()
    assert await limit.check(8) is None  # other people are not affected
    clock.advance(seconds=29.5)
    assert (await limit.check(7)).seconds == 1  # rounded up, never "wait 0 s"
    clock.advance(seconds=0.5)
    assert await limit.check(7) is None


async def test_limit_holds_across_instances(database, database_url, database_name):
    clock = Clock(T0)
    other = await Database.connect(database_url, database_name)
    try:
        here = FileRateLimit.on_requests(database, limit=2, window_seconds=60, clock=clock)
        there = FileRateLimit.on_requests(other, limit=2, window_seconds=60, clock=clock)
        await finish(database, 7, clock)
        clock.advance(seconds=1)
        await finish(other, 7, clock)
        # A fresh instance (a restart) sees both.
        assert await here.check(7) is not None
        assert await there.check(7) is not None
        restarted = FileRateLimit.on_requests(other, limit=2, window_seconds=60, clock=clock)
        assert (await restarted.check(7)).at == T0 + timedelta(seconds=60)
    finally:
        await other.close()


async def test_a_limit_of_zero_lets_everything_through(database):
    clock = Clock(T0)
    for _ in range(3):
        await finish(database, 7, clock)
    off = FileRateLimit.on_requests(database, limit=0, window_seconds=60, clock=clock)
    assert await off.check(7) is None


async def test_files_sent_in_bundles_have_a_limit_of_their_own_counted_until_a_window_after_the_bundle(database):
    from FileStream.services.ratelimit import BundleFileLimit
    from FileStream.services.requests import RequestTracker

    clock = Clock(T0)
    limit = BundleFileLimit.on_requests(database, limit=100, window_seconds=3600, clock=clock)
    tracker = RequestTracker(database.requests, clock, 300)
    first = await tracker.begin(7, "Holiday", bundle_id="b1")
    for _ in range(60):
        assert await limit.check(7) is None
        await tracker.count(first.id, total=1)
    assert await limit.check(7, adding=40) is None
    assert await limit.room(7, "b1") == 100, "a bundle's own files are kept within the room by the database"
    assert await limit.room(7, "b2") == 40, "what the person's other bundles left"
    over = await limit.check(7, adding=41)
    assert over is not None and over.seconds == 3600, "an open bundle counts a whole window after it ends"
    assert "100 files in bundles every 1 h" in over.text()

    clock.advance(minutes=10)
    await tracker.advance(first.id, "failed")
    await finish(database, 7, clock)   # a single file is RATE_LIMIT_FILES' business, not this one's
    clock.advance(minutes=50)
    assert (await limit.check(7, adding=41)).seconds == 600, "free once the bundle is a window old"
    assert await limit.check(8, adding=100) is None, "other people are not affected"
    clock.advance(minutes=10)
    assert await limit.check(7, adding=100) is None
    assert await BundleFileLimit.on_requests(database, limit=0, window_seconds=60, clock=clock).check(7, 10**6) is None


async def test_a_request_a_restart_released_does_not_count_its_file_is_handled_again_under_a_new_one(database):
    clock = Clock(T0)
    limit = FileRateLimit.on_requests(database, limit=2, window_seconds=60, clock=clock)
    await finish(database, 7, clock)
    cut = await database.requests.start(7, "b.mkv", clock(), clock() + timedelta(minutes=5))
    assert await database.requests.set_state(cut, "failed", clock(), error="the service restarted", released=True)
    assert await limit.check(7) is None, "the released request is not a file of its own"
    await finish(database, 7, clock)   # the same file, handled again
    assert await limit.check(7) is not None
