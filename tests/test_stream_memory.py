"""How far a stream fetches ahead (its window) and the memory every stream shares (the budget)."""

from __future__ import annotations

import asyncio
import random

import pytest

from FileStream.core.prefetch import PrefetchWindow
from FileStream.telegram.memory_budget import MemoryBudget, MemoryWaitTimeout

MIB = 1 << 20


# ------------------------------------------------------------------ the window

def test_the_window_grows_past_8_up_to_32_while_the_reader_keeps_up():
    window = PrefetchWindow(initial=2, maximum=32)
    sizes = []
    for _ in range(60):
        window.taken(ready_behind=0)  # the reader waits on Telegram every time
        sizes.append(window.limit)
    assert sizes[:3] == [3, 4, 5]
    assert max(sizes) == 32 == window.limit and window.peak == 32
    assert sizes == sorted(sizes)


def test_the_window_halves_when_the_reader_stalls_and_grows_again_when_it_reads():
    window = PrefetchWindow(initial=32, maximum=32)
    # The reader comes back after a pause: everything in flight has arrived meanwhile.
    window.taken(ready_behind=31)
    assert window.limit == 16
    window.taken(ready_behind=15)
    window.taken(ready_behind=7)
    window.taken(ready_behind=3)
    assert window.limit == 2 and window.shrunk == 4
    window.taken(ready_behind=1)   # one block ready behind the one taken: holds
    assert window.limit == 2
    for _ in range(5):
        window.taken(ready_behind=0)
    assert window.limit == 7


def test_a_reader_that_waited_grows_the_window_even_when_blocks_behind_arrived_together():
    window = PrefetchWindow(initial=4, maximum=32)
    window.taken(ready_behind=3, waited=True)  # four connections answered at once
    assert window.limit == 5


def test_a_reader_a_little_slower_than_telegram_costs_one_block_at_a_time():
    window = PrefetchWindow(initial=20, maximum=32)
    window.taken(ready_behind=10)
    assert window.limit == 19
    window.taken(ready_behind=3)   # a few ready: holds
    assert window.limit == 19 and window.shrunk == 1


def test_a_reader_slower_than_telegram_keeps_the_window_small():
    window = PrefetchWindow(initial=2, maximum=32)
    for _ in range(200):
        # Telegram fills the window long before the slow reader takes the next block.
        window.taken(ready_behind=window.limit - 1)
        assert window.limit <= 3
    assert window.peak <= 3


def test_a_seek_or_a_probe_starts_small():
    assert PrefetchWindow(initial=2, maximum=32).limit == 2
    assert PrefetchWindow(initial=2, maximum=1, minimum=1).limit == 1
    with pytest.raises(ValueError):
        PrefetchWindow(minimum=4, maximum=2)


def test_a_window_grows_only_after_its_reader_took_a_whole_block():
    window = PrefetchWindow(initial=2, maximum=32)
    window.asked(ready_behind=0, waited=True)    # the first block: the stream had to wait for it
    assert window.limit == 2                     # a client that reads the headers and leaves: no more
    window.consumed()                            # ...this one took it
    window.asked(ready_behind=0, waited=True)
    assert window.limit == 3 and window.grown == 1


def test_a_reader_back_from_a_pause_forfeits_what_its_last_block_earned_and_the_window_halves():
    window = PrefetchWindow(initial=20, maximum=32)
    window.asked(ready_behind=0, waited=True)    # Telegram was the slower side for this block...
    window.consumed()                            # ...which the reader took only after a long pause:
    window.asked(ready_behind=18)                # everything behind the next one is ready
    assert window.limit == 10 and window.grown == 0


def test_a_download_grows_by_its_step_and_a_blocked_stream_goes_back_to_the_minimum():
    window = PrefetchWindow(initial=2, maximum=32, step=2)
    for _ in range(5):
        window.taken(ready_behind=0, waited=True)
    assert window.limit == 12
    window.reset()
    assert window.limit == 2 and window.shrunk == 1
    with pytest.raises(ValueError):
        PrefetchWindow(step=0)


# ------------------------------------------------------------------ the budget

async def test_growing_streams_never_hold_more_than_the_budget_and_each_gets_a_fair_share():
    budget = MemoryBudget(20 * MIB, min_share=2)
    leases = [budget.lease() for _ in range(4)]
    for lease in leases:
        await lease.admit()
    rng = random.Random(3)
    for _ in range(500):
        lease = rng.choice(leases)
        if rng.random() < 0.7:
            lease.try_grow()
        else:
            lease.release(1)
        assert budget.used == sum(l.held for l in leases) <= budget.limit == 20
    for lease in leases:
        while lease.try_grow():
            pass
    # Four streams sharing the 18 blocks outside the reserve (2 of 20): four each, nobody more.
    assert budget.reserve == 2
    assert [l.held for l in leases] == [4, 4, 4, 4]
    assert budget.peak <= budget.limit


async def test_every_stream_starts_with_two_blocks_or_waits_its_turn_for_them():
    budget = MemoryBudget(5 * MIB, min_share=2)
    first, second = budget.lease(), budget.lease()
    for lease in (first, second):
        await lease.admit()
        assert lease.held == 2
    third = budget.lease()
    waiting = asyncio.ensure_future(third.admit(timeout=10))
    await asyncio.sleep(0)
    assert not waiting.done() and budget.waiting == 1 and budget.used == 4
    assert not first.try_grow()  # the fifth block is the waiting stream's
    first.release(1)             # the first stream's reader took a block: now two are free
    await waiting
    assert third.held == 2 and budget.used == 5 and budget.waiting == 0
    assert budget.peak == 5 and budget.waited == 1
    tiny = budget.lease()
    second.release(1)
    await tiny.admit(units=1)    # a one-block range needs one block
    assert tiny.held == 1 and budget.used == 5


async def test_a_stream_over_its_fair_share_gives_blocks_back_to_a_new_one():
    budget = MemoryBudget(8 * MIB, min_share=2, reserve=0)   # no reserve: the new one must wait
    shed_to = []
    greedy = budget.lease(shed=lambda keep: (shed_to.append(keep), greedy.release(greedy.held - keep)))
    await greedy.admit()
    while greedy.try_grow():
        pass
    assert greedy.held == 8  # alone, one stream may use the whole budget
    newcomer = budget.lease()
    await asyncio.wait_for(newcomer.admit(), 5)
    assert shed_to == [4]    # two streams: four blocks each
    assert greedy.held == 4 and newcomer.held == 2
    assert budget.used <= budget.limit
    assert newcomer.try_grow() and newcomer.try_grow() and not newcomer.try_grow()
    assert newcomer.held == 4


async def test_a_stream_that_cannot_get_memory_in_time_is_told_so():
    budget = MemoryBudget(2 * MIB, min_share=2)
    holder = budget.lease()
    await holder.admit()
    late = budget.lease()
    with pytest.raises(MemoryWaitTimeout):
        await late.admit(timeout=0.01)
    assert budget.waiting == 0 and late.held == 0
    holder.close()
    assert budget.used == 0


def test_a_budget_smaller_than_two_blocks_is_refused():
    with pytest.raises(ValueError):
        MemoryBudget(MIB, min_share=2)


def test_an_eighth_of_the_budget_is_kept_for_new_streams_but_never_a_running_streams_minimum():
    assert MemoryBudget(256 * MIB).reserve == 32
    assert MemoryBudget(8 * MIB).reserve == 2          # at least one new stream's two blocks
    assert MemoryBudget(3 * MIB).reserve == 1          # a running stream keeps its two
    assert MemoryBudget(2 * MIB).reserve == 0
    assert MemoryBudget(8 * MIB, reserve=100).reserve == 6


async def test_a_new_stream_starts_at_once_however_far_the_running_streams_have_grown():
    budget = MemoryBudget(16 * MIB, min_share=2)        # 2 blocks in reserve
    running = [budget.lease() for _ in range(2)]
    for lease in running:
        await lease.admit()
    while any([lease.try_grow() for lease in running]):
        pass
    assert budget.used == budget.limit - budget.reserve == 14   # growing stopped short of the reserve
    newcomer = budget.lease()
    await asyncio.wait_for(newcomer.admit(), 0.001)     # no waiting, nobody asked to give back
    assert newcomer.held == 2 and budget.waited == 0 and budget.shed_requests == 0
    assert not newcomer.try_grow()                      # the reserve is for starts, not for growing


async def test_a_stream_blocked_in_a_write_leaves_its_share_to_the_streams_that_read():
    budget = MemoryBudget(34 * MIB, min_share=2)        # 4 in reserve, 30 to share
    stalled = [budget.lease() for _ in range(10)]
    reader = budget.lease()
    for lease in [*stalled, reader]:
        await lease.admit()
    assert budget.fair_share() == 2                     # eleven streams: 30 // 11
    for lease in stalled:
        lease.release(1)                                # each keeps the block in its write
        lease.blocked = True
    assert budget.fair_share() == 20                    # 30 - 10 held by the blocked, for the one reader
    while reader.try_grow():
        pass
    assert reader.held == 20 and budget.used == 30
