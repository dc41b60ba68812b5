"""The request state machine: forward one step, or end; nothing leaves an ending."""

from __future__ import annotations

import pytest

from FileStream.core.requests import INITIAL, TERMINAL, RequestState, can_move, is_terminal, sources_of

S = RequestState


def test_happy_path():
    assert INITIAL is S.PROCESSING
    assert can_move("processing", "generating_link")
    assert can_move("generating_link", "completed")


def test_no_skipping_or_going_back():
    assert not can_move("processing", "completed")
    assert not can_move("generating_link", "processing")
    assert not can_move("processing", "processing")


@pytest.mark.parametrize("ending", ["failed", "revoked", "timed_out"])
@pytest.mark.parametrize("live", ["processing", "generating_link"])
def test_any_live_state_may_end(live, ending):
    assert can_move(live, ending)


@pytest.mark.parametrize("terminal", sorted(TERMINAL))
def test_terminal_states_are_final(terminal):
    assert is_terminal(terminal)
    assert not any(can_move(terminal, target) for target in S)


def test_unknown_states():
    assert not can_move("processing", "teleported")
    assert not can_move("teleported", "failed")
    assert sources_of("teleported") == frozenset()
    assert not is_terminal("teleported")


def test_sources_of():
    assert sources_of("completed") == {S.GENERATING_LINK}
    assert sources_of("timed_out") == {S.PROCESSING, S.GENERATING_LINK}
    assert sources_of("processing") == frozenset()


def test_values_are_the_stored_strings():
    assert [s.value for s in S] == [
        "processing", "generating_link", "completed", "failed", "revoked", "timed_out",
    ]
