"""The bot pool: least-loaded choice, fallback to the main bot, counters always released."""

import pytest

from FileStream.telegram.pool import BotPool, NoClientAvailable, PoolMember


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def make_pool(backends=3):
    clock = FakeClock()
    pool = BotPool(main=PoolMember("main", None, is_main=True),
                   backends=[PoolMember(f"backend{n}", None) for n in range(1, backends + 1)], clock=clock)
    return pool, clock


def test_streams_spread_evenly_over_equal_backends():
    pool, _ = make_pool()
    leases = []
    for _ in range(12):
        member = pool.pick()
        lease = pool.stream_lease(member)
        lease.__enter__()
        leases.append(lease)
    counts = [m.streams for m in pool.backends]
    assert max(counts) - min(counts) <= 1
    assert pool.main.streams == 0
    for lease in leases:
        lease.__exit__(None, None, None)
    assert all(m.streams == 0 for m in pool.members)


def test_counters_are_released_when_work_fails_or_is_cancelled():
    pool, _ = make_pool(1)
    member = pool.pick()
    with pytest.raises(RuntimeError):
        with pool.stream_lease(member), pool.request_lease(member):
            raise RuntimeError("client went away")
    assert member.streams == 0 and member.in_flight == 0


def test_main_bot_serves_only_when_no_backend_can():
    pool, clock = make_pool(2)
    for member in pool.backends:
        pool.record_failure(member, OSError("connection reset"))
    assert pool.pick() is pool.main
    clock.now += 2  # past the first backoff: backends are retried
    assert pool.pick() is not pool.main


def test_flood_wait_rests_a_client_and_nothing_left_raises():
    pool, clock = make_pool(1)
    pool.record_flood(pool.backends[0], 30)
    pool.record_flood(pool.main, 10)
    with pytest.raises(NoClientAvailable):
        pool.pick()
    assert pool.earliest_available_in() == pytest.approx(10)
    clock.now += 10
    assert pool.pick() is pool.main


def test_failure_backoff_grows_and_success_heals():
    pool, clock = make_pool(1)
    member = pool.backends[0]
    pool.record_failure(member, "timeout")
    first = member.retry_at - clock.now
    pool.record_failure(member, "timeout")
    assert member.retry_at - clock.now == 2 * first
    pool.record_success(member, 10)
    assert member.healthy and member.failures_in_row == 0 and member.bytes_sent == 10


def test_blocks_of_a_striped_stream_go_to_the_least_busy_client():
    pool, _ = make_pool(3)
    primary = pool.backends[0]
    chosen, leases = [], []
    for _ in range(6):
        member = pool.pick_for_block(primary)
        lease = pool.request_lease(member)
        lease.__enter__()
        leases.append(lease)
        chosen.append(member.name)
    assert sorted(chosen) == sorted(["backend1", "backend2", "backend3"] * 2)
    assert chosen[0] == "backend1"  # ties go to the stream's own client


def test_a_block_goes_to_the_client_whose_least_busy_connection_is_least_busy():
    pool, _ = make_pool(3)
    primary, second, third = pool.backends
    # Requests in flight on each client's least busy connection to the file's DC.
    loads = {primary: 3, second: 1, third: 1}
    second.in_flight, third.in_flight = 4, 2
    assert pool.pick_for_block(primary, load=loads.get) is third  # equal connections: fewer requests overall
    assert pool.pick_for_block(primary, exclude=frozenset({third}), load=loads.get) is second
    loads[primary] = 0
    assert pool.pick_for_block(primary, load=loads.get) is primary
