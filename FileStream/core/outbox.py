"""The rules of one chat's queue of replies waiting to be sent: which wait, which fold into one,
which are dropped when the chat is behind, and when the person is told they are too fast.

Replies come in three kinds:

- MUST: links, files, the result of something the person asked for. Always sent, in order.
- CHATTER: answers a later message repeats anyway ("I am busy with your file", "send me a
  file", help, "unknown command", "try again shortly"). Dropped when the chat is behind.
- NOTICE: "you are sending faster than I can answer", said at most once per `notice_gap`.

A reply offered with the key of one still waiting takes that one's place (the newest text of
a status message wins; the same answer twice is sent once). A chat is behind when
`behind_at` replies already wait for it: then a new CHATTER reply and every waiting one are
dropped, and the notice takes their place.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Generic, TypeVar

P = TypeVar("P")

# Replies already waiting for one chat when it counts as behind. The bot sends to one
# person about once a second after a short burst, so three waiting is three seconds late.
BEHIND_AT = 3
# The "too fast" notice is not repeated within this many seconds to one chat.
NOTICE_GAP = 60.0


class Kind(StrEnum):
    MUST = "must"
    CHATTER = "chatter"
    NOTICE = "notice"


@dataclass(eq=False)
class Waiting(Generic[P]):
    """One reply in the queue; `payload` is whatever the sender needs to send it."""

    payload: P
    kind: Kind
    key: Hashable | None = None


@dataclass
class Placed(Generic[P]):
    """What `offer` did: the new reply waits as `waiting` (its own entry, or the one it folded
    into, or None when it was dropped); `dropped` lists every entry that will never be sent,
    the new one included; `replaced` is the payload a fold displaced."""

    waiting: Waiting[P] | None
    dropped: list[Waiting[P]] = field(default_factory=list)
    replaced: P | None = None
    folded: bool = False


class ChatBacklog(Generic[P]):
    """The replies waiting for one chat. `notice()` makes the payload of a "too fast" notice.

    Time is seconds from any monotonic clock, passed in.
    """

    def __init__(self, notice: Callable[[], P], *, behind_at: int = BEHIND_AT,
                 notice_gap: float = NOTICE_GAP) -> None:
        if behind_at < 1:
            raise ValueError(f"behind_at must be >= 1, got {behind_at}")
        self._notice = notice
        self.behind_at = behind_at
        self.notice_gap = notice_gap
        self._waiting: deque[Waiting[P]] = deque()
        self._noticed_at: float | None = None

    def __len__(self) -> int:
        return len(self._waiting)

    def count(self, kind: Kind) -> int:
        """Replies of `kind` waiting."""
        return sum(waiting.kind == kind for waiting in self._waiting)

    @property
    def behind(self) -> bool:
        return len(self._waiting) >= self.behind_at

    def offer(self, payload: P, kind: Kind, now: float, key: Hashable | None = None) -> Placed[P]:
        """Queue a reply, fold it into the waiting one with the same key, or drop it."""
        if key is not None:
            for waiting in self._waiting:
                if waiting.key == key:
                    replaced, waiting.payload = waiting.payload, payload
                    if kind == Kind.MUST:
                        waiting.kind = Kind.MUST   # the stronger promise of the two holds
                    return Placed(waiting, replaced=replaced, folded=True)
        new = Waiting(payload, kind, key)
        if kind == Kind.NOTICE:
            return Placed(new) if self._queue_notice(new, now) else Placed(None, [new])
        if kind == Kind.CHATTER and self.behind:
            dropped = [w for w in self._waiting if w.kind == Kind.CHATTER]
            self._waiting = deque(w for w in self._waiting if w.kind != Kind.CHATTER)
            self._queue_notice(Waiting(self._notice(), Kind.NOTICE), now)
            return Placed(None, [*dropped, new])
        self._waiting.append(new)
        return Placed(new)

    def _queue_notice(self, notice: Waiting[P], now: float) -> bool:
        if self._noticed_at is not None and now - self._noticed_at < self.notice_gap:
            return False
        self._noticed_at = now
        self._waiting.append(notice)
        return True

    def take(self) -> Waiting[P] | None:
        """The next reply to send (it no longer counts as waiting), or None."""
        return self._waiting.popleft() if self._waiting else None

    def drop_all(self) -> list[Waiting[P]]:
        """Empty the queue (shutting down); what was still waiting."""
        dropped, self._waiting = list(self._waiting), deque()
        return dropped

    def forgettable(self, now: float) -> bool:
        """Nothing waits and no notice is remembered: the chat's state may be dropped."""
        return not self._waiting and (self._noticed_at is None or now - self._noticed_at >= self.notice_gap)
