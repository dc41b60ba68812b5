"""Who gets one of a few costly places (a video conversion): a share per client, the client's newest request first."""

from __future__ import annotations

from enum import Enum


class Decision(Enum):
    TAKE = "take"                      # a free place, within the client's share
    REPLACE_OLDEST = "replace oldest"  # the client's share is full: its oldest place goes to this request
    BUSY = "busy"                      # no free place, and this client holds less than its share


def share_per_client(places: int) -> int:
    """Half of the places, rounded up: two people can always each have one, one person never all
    of several (one place is one person's: whoever comes first has it)."""
    return max(1, -(-places // 2))


def decide(places: int, taken: int, held_by_client: int) -> Decision:
    """What a new request of a client holding `held_by_client` of the `taken` places gets.

    A client at its share replaces its own oldest place instead of being refused: that request
    is a seek, a reload or another tab of the same viewer, whose old response is being abandoned
    (the browser may open the new one before the old one's end reaches us). So piling up requests
    never takes more than the share, and never pushes anyone else out."""
    if places <= 0:
        return Decision.BUSY
    if held_by_client >= share_per_client(places):
        return Decision.REPLACE_OLDEST
    if taken >= places:
        return Decision.BUSY
    return Decision.TAKE
