"""The life of a file request as a state machine: which state may follow which."""

from __future__ import annotations

from enum import StrEnum


class RequestState(StrEnum):
    """Where a person's file request stands; the value is what MongoDB stores."""

    PROCESSING = "processing"            # file received, being copied to the storage channel
    GENERATING_LINK = "generating_link"  # stored, links being made and sent
    COMPLETED = "completed"
    FAILED = "failed"
    REVOKED = "revoked"                  # the person (or the owner) cancelled it
    TIMED_OUT = "timed_out"              # REQUEST_TIMEOUT passed without an outcome


TERMINAL: frozenset[RequestState] = frozenset(
    {RequestState.COMPLETED, RequestState.FAILED, RequestState.REVOKED, RequestState.TIMED_OUT}
)

# Every way out of a live request: forward one step, or end it badly. Nothing leaves a
# terminal state, so a late "completed" cannot resurrect a request that already timed out.
_ENDINGS = frozenset({RequestState.FAILED, RequestState.REVOKED, RequestState.TIMED_OUT})
TRANSITIONS: dict[RequestState, frozenset[RequestState]] = {
    RequestState.PROCESSING: frozenset({RequestState.GENERATING_LINK}) | _ENDINGS,
    RequestState.GENERATING_LINK: frozenset({RequestState.COMPLETED}) | _ENDINGS,
    RequestState.COMPLETED: frozenset(),
    RequestState.FAILED: frozenset(),
    RequestState.REVOKED: frozenset(),
    RequestState.TIMED_OUT: frozenset(),
}

INITIAL = RequestState.PROCESSING


def is_terminal(state: str) -> bool:
    """True when nothing may follow `state` (an unknown state counts as not terminal)."""
    return state in TERMINAL


def can_move(current: str, target: str) -> bool:
    """True when a request in `current` may move to `target`; unknown states never may."""
    try:
        return RequestState(target) in TRANSITIONS[RequestState(current)]
    except ValueError:
        return False


def sources_of(target: str) -> frozenset[RequestState]:
    """The states from which `target` may be reached (empty for an unknown target).

    The store puts these in its update condition so the check and the write are one
    atomic operation, even with several instances racing on the same request.
    """
    try:
        wanted = RequestState(target)
    except ValueError:
        return frozenset()
    return frozenset(state for state, nexts in TRANSITIONS.items() if wanted in nexts)
