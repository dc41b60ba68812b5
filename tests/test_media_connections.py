"""A bot's media connections to one DC: least busy first, a failed one replaced after a growing backoff."""

from __future__ import annotations

import pytest

from FileStream.telegram.media_sessions import BACKOFF_FIRST, ConnectionSet


class FakeClock:
    def __init__(self) -> None:
        self.now = 500.0

    def __call__(self) -> float:
        return self.now


class FakeSession:
    def __init__(self, name: str) -> None:
        self.name = name
        self.stopped = False

    async def stop(self) -> None:
        self.stopped = True


class Opener:
    """Opens fake sessions over the key it is given; fails the next `failures` opens."""

    def __init__(self) -> None:
        self.keys: list[bytes] = []
        self.failures = 0

    async def __call__(self, auth_key: bytes) -> FakeSession:
        self.keys.append(auth_key)
        if self.failures:
            self.failures -= 1
            raise ConnectionError("connection refused")
        return FakeSession(f"session{len(self.keys)}")


@pytest.fixture
def connections():
    clock, opener, slept = FakeClock(), Opener(), []

    async def sleep(seconds: float) -> None:  # time passes at once, and is written down
        slept.append(seconds)
        clock.now += seconds

    made = ConnectionSet("backend1", 4, b"key", opener, 3, clock=clock, sleep=sleep)
    return made, opener, slept, clock


async def test_every_connection_reuses_the_authorised_key_and_blocks_go_to_the_least_busy(connections):
    made, opener, _slept, _clock = connections
    made.start(FakeSession("authorised"))
    await made.settle()
    assert len(made.ready) == 3
    assert opener.keys == [b"key", b"key"]  # no new key, no new authorisation: the same key twice more
    chosen = []
    leases = []
    for _ in range(6):
        connection = made.pick()
        lease = made.lease(connection)
        lease.__enter__()
        leases.append(lease)
        chosen.append(connection.index)
    assert sorted(chosen) == [0, 0, 1, 1, 2, 2]
    for lease in leases:
        lease.__exit__(None, None, None)
    assert made.load() == 0


async def test_a_failed_connection_is_replaced_after_a_backoff_that_doubles_while_it_keeps_failing(connections):
    made, opener, slept, clock = connections
    first = FakeSession("authorised")
    made.start(first)
    await made.settle()
    broken = made.connections[0]
    failed_at = clock.now

    made.failed(broken, first, TimeoutError("no answer"))
    made.failed(broken, first, TimeoutError("no answer"))  # its other requests fail too: counted once
    assert not broken.ready and broken.failures == 1
    assert broken.retry_at == failed_at + BACKOFF_FIRST
    # Meanwhile its blocks go to the other connections.
    assert made.pick(frozenset({broken})) is not broken and made.pick() is not broken

    opener.failures = 1  # the first replacement cannot connect either
    await made.settle()
    assert first.stopped
    assert slept == [BACKOFF_FIRST, 2 * BACKOFF_FIRST]
    assert broken.ready and broken.opened == 2 and broken.failures == 2
    assert broken.session.name == "session4"

    made.succeeded(broken)  # a request went through: the next failure starts from the first backoff
    made.failed(broken, broken.session, OSError("reset"))
    await made.settle()
    assert slept[-1] == BACKOFF_FIRST and broken.ready


async def test_closing_stops_every_connection_and_cancels_replacements(connections):
    made, opener, slept, _clock = connections
    first = FakeSession("authorised")
    made.start(first)
    await made.settle()
    sessions = [c.session for c in made.connections]
    made.failed(made.connections[1], sessions[1], OSError("reset"))
    await made.close()
    assert all(s.stopped for s in sessions)
    assert not made.ready and made.load() == float("inf")
