"""How many blocks one stream holds (requested, or being written): grows only as its reader takes bytes.

The reader is the HTTP client behind the response. The window grows only once the client
has taken a whole block (its write finished: with the kernel's unsent bytes kept small,
that means the bytes left for the client), so a client that reads the headers and leaves
costs the two blocks a stream starts with, and a stalled one never makes its stream grow.
Each time the reader asks for the next block the stream learns which side is slower:
- the reader had to wait for this block, or nothing after it is ready yet: Telegram is the
  slower side, and more requests in flight would help: once the reader has taken the
  block, the window grows by `step` blocks (at the next ask, unless that one finds the
  reader slow after all). Growing by one per block taken doubles the window every round
  trip, like TCP's slow start; a download without Range (read to its end as a rule) grows
  by more. (Blocks fetched over several connections arrive together, so blocks ready
  behind the one taken do not mean the reader is slow when it still had to wait.)
- the whole window is ready and waiting: the reader stalled (a paused player, a slow
  link), and those blocks only cost memory: the window halves at once.
- half of it or more is ready: the reader is a little slower than Telegram just now
  (a busy CPU makes both sides jitter): the window gives back one block.
- otherwise it holds.
Every request starts small (players probe and seek with requests they drop after a few
bytes, and every block still in flight then is sent by Telegram anyway).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class PrefetchWindow:
    """The number of blocks one stream may hold: requested and not yet taken by its reader."""

    initial: int = 2
    maximum: int = 32
    minimum: int = 2
    step: int = 1           # blocks added per block taken while Telegram is the slower side
    limit: int = 0          # current window; set from `initial` at creation
    grown: int = 0          # how often it grew and shrank (for tests and stats)
    shrunk: int = 0
    peak: int = 0
    _earning: bool = False  # the block being taken was waited for: it earns growth once consumed
    _earned: bool = False   # the block before was consumed and earned growth (applied at the next ask)

    def __post_init__(self) -> None:
        if not 1 <= self.minimum <= self.maximum:
            raise ValueError(f"window bounds must satisfy 1 <= minimum <= maximum, got {self.minimum}..{self.maximum}")
        if self.step < 1:
            raise ValueError(f"the window grows by at least one block, got step {self.step}")
        self.limit = max(self.minimum, min(self.initial, self.maximum))
        self.peak = self.limit

    def reset(self) -> None:
        """Back to the minimum (the reader stopped taking bytes: what was ahead was given back)."""
        self._earning = self._earned = False
        if self.limit > self.minimum:
            self.limit = self.minimum
            self.shrunk += 1

    def taken(self, *, ready_behind: int, waited: bool = False) -> None:
        """The reader asked for a block and took all of it at once (`asked`, then `consumed`)."""
        self.asked(ready_behind=ready_behind, waited=waited)
        self.consumed()
        self._apply_growth()

    def asked(self, *, ready_behind: int, waited: bool = False) -> None:
        """The reader asked for the next block (`waited`: it was not there yet); `ready_behind`
        blocks after it were fetched already.

        A reader slower than Telegram shrinks the window at once (that costs nothing), and
        forfeits the growth the block before earned: one that took its block only after a
        pause finds everything ready. Otherwise that growth is applied now, and this block
        earns growth if Telegram was the slower side for it."""
        slower_reader = not (waited or ready_behind == 0)
        if slower_reader and ready_behind >= max(2, self.limit // 2) and self.limit > self.minimum:
            # Everything behind it is ready: the window less this block and the one just taken.
            stalled = ready_behind >= self.limit - 2
            self.limit = max(self.minimum, self.limit // 2 if stalled else self.limit - 1)
            self.shrunk += 1
            self._earned = False
        else:
            self._apply_growth()
        self._earning = not slower_reader

    def consumed(self) -> None:
        """The reader took the whole block it asked for last: what it earned counts at the next ask."""
        self._earned = self._earning
        self._earning = False

    def _apply_growth(self) -> None:
        if self._earned and self.limit < self.maximum:
            self.limit = min(self.maximum, self.limit + self.step)
            self.grown += 1
            self.peak = max(self.peak, self.limit)
        self._earned = False
