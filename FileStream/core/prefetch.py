"""How many blocks one stream keeps fetched ahead: grows while its reader keeps up, shrinks when it stalls.

The reader is the HTTP client behind the response. Each time it takes the next block, the
stream learns which side is slower:
- the reader had to wait for this block, or nothing after it is ready yet: Telegram is the
  slower side, and more requests in flight would help: the window grows by one block.
  Growing by one per block taken doubles the window every round trip, like TCP's slow start.
  (Blocks fetched over several connections arrive together, so blocks ready behind the
  one taken do not mean the reader is slow when it still had to wait.)
- the whole window is ready and waiting: the reader stalled (a paused player, a slow
  link), and those blocks only cost memory: the window halves.
- half of it or more is ready: the reader is a little slower than Telegram just now
  (a busy CPU makes both sides jitter): the window gives back one block.
- otherwise it holds.
A new request starts small (players probe and seek with requests they drop after a few
bytes, and every block still in flight then is sent by Telegram anyway).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class PrefetchWindow:
    """The number of blocks one stream may have requested and not yet handed to its reader."""

    initial: int = 2
    maximum: int = 32
    minimum: int = 2
    limit: int = 0          # current window; set from `initial` at creation
    grown: int = 0          # how often it grew and shrank (for tests and stats)
    shrunk: int = 0
    peak: int = 0

    def __post_init__(self) -> None:
        if not 1 <= self.minimum <= self.maximum:
            raise ValueError(f"window bounds must satisfy 1 <= minimum <= maximum, got {self.minimum}..{self.maximum}")
        self.limit = max(self.minimum, min(self.initial, self.maximum))
        self.peak = self.limit

    def taken(self, *, ready_behind: int, waited: bool = False) -> None:
        """The reader took the next block (`waited`: it was not there yet when asked for);
        `ready_behind` blocks after it were already fetched."""
        if waited or ready_behind == 0:
            if self.limit < self.maximum:
                self.limit += 1
                self.grown += 1
                self.peak = max(self.peak, self.limit)
        elif ready_behind >= max(2, self.limit // 2) and self.limit > self.minimum:
            stalled = ready_behind >= self.limit - 1
            self.limit = max(self.minimum, self.limit // 2 if stalled else self.limit - 1)
            self.shrunk += 1
