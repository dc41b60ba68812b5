"""Taking turns: one queue per person, served round-robin, so one busy person delays the others by one turn at most."""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
T = TypeVar("T")


class Turns(Generic[K, T]):
    """Items waiting per key, handed out one key at a time in a ring.

    `push(key, item)` queues an item behind that key's others; `pop()` gives the oldest
    item of the key whose turn it is and moves that key to the back of the ring. A key
    with nothing left leaves the ring; a key that comes (back) joins at the back, but
    ahead of the key served last, which has just had its turn. So between two items of
    one key, every other key that was waiting gets at most one: a person who arrives
    behind someone else's 60 items waits only for the one under way when they came.
    """

    def __init__(self) -> None:
        self._ring: OrderedDict[K, deque[T]] = OrderedDict()   # first key: whose turn it is
        self._count = 0
        self._last_served: K | None = None

    def __len__(self) -> int:
        return self._count

    def __bool__(self) -> bool:
        return self._count > 0

    @property
    def keys(self) -> list[K]:
        """The keys waiting, in the order they will be served."""
        return list(self._ring)

    def waiting(self, key: K) -> int:
        queue = self._ring.get(key)
        return 0 if queue is None else len(queue)

    def push(self, key: K, item: T) -> None:
        queue = self._ring.get(key)
        if queue is None:
            queue = self._ring[key] = deque()   # a new key joins at the back of the ring...
            last = self._last_served
            if last is not None and last != key and last in self._ring:
                self._ring.move_to_end(last)    # ...behind the one whose turn just came
        queue.append(item)
        self._count += 1

    def pop(self) -> tuple[K, T] | None:
        """The next (key, item) in turn; None when nothing waits."""
        if not self._ring:
            return None
        key, queue = next(iter(self._ring.items()))
        item = queue.popleft()
        self._count -= 1
        self._last_served = key
        if queue:
            self._ring.move_to_end(key)
        else:
            del self._ring[key]
        return key, item

    def remove(self, key: K, item: T) -> bool:
        """Take a waiting item out (its owner gave up); False when it was not waiting."""
        queue = self._ring.get(key)
        if queue is None:
            return False
        try:
            queue.remove(item)
        except ValueError:
            return False
        self._count -= 1
        if not queue:
            del self._ring[key]
        return True
