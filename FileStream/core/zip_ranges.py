"""What a byte window of a streamed ZIP costs in CRC-32s: which files must be read for them, and
whether that is worth it or the whole archive should be sent instead (no I/O).

A descriptor or the central directory holds CRC-32s; a window that covers one needs the
CRC-32 of each file it names. Three ways to get one, cheapest first:

- known already (kept from an earlier pass, or computed by a full download);
- on the way: the window sends the file's data whole, so its CRC-32 comes as the bytes pass;
  a window that starts inside a file's data (a download manager's segment, a resumed
  download) reads that file from its byte 0 instead of from the window's start, so the
  part before the window is read once, for the CRC-32 alone, and the file costs one read;
- a pass: the file is read whole on its own (a detached CRC pass, kept once done).

`extra_bytes` counts the file bytes read that the response does not send. A Range whose
extra bytes are much more than its own length is not worth serving as asked: the answer
is the whole archive (RFC 9110 §14.2 lets a server ignore Range), which reads nothing its
client does not get. So 22 bytes never cost a bundle.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from FileStream.core.zip_layout import ZipLayout

# A window may read up to this many times its own length for CRC-32s (at least
# EXTRA_BYTES_FLOOR): enough for a download manager's segment that starts inside a file,
# or the end of a small bundle read before the rest; far from the 100x of a bundle's end.
EXTRA_BYTES_RATIO = 4
EXTRA_BYTES_FLOOR = 64 << 20


@dataclass(frozen=True, slots=True)
class CrcPlan:
    """How the CRC-32s a window needs are found (entries by index)."""

    from_start: int | None      # the entry the window starts inside, read from its byte 0
    passes: tuple[int, ...]     # entries whose CRC-32 a pass of their own computes
    extra_bytes: int            # file bytes read that the response does not send

    def worth_serving(self, window_length: int) -> bool:
        """Whether the window may be served as asked (else the whole archive is the answer)."""
        return self.extra_bytes <= max(EXTRA_BYTES_RATIO * window_length, EXTRA_BYTES_FLOOR)


def plan_crcs(layout: ZipLayout, first: int, last: int, known: Collection[int]) -> CrcPlan:
    """The plan for bytes `first`..`last` (inclusive) when the CRC-32s of `known` are at hand."""
    pieces = list(layout.pieces(first, last))
    needed: set[int] = set()
    for piece in pieces:
        needed.update(piece.segment.needs)
    needed = {i for i in needed if i not in known and layout.entries[i].size > 0}
    on_the_way = {p.segment.entry for p in pieces if p.segment.kind == "data" and p.whole}
    window_length = last - first + 1
    from_start: int | None = None
    extra = 0
    opening = pieces[0]
    if opening.segment.kind == "data" and not opening.whole and opening.segment.entry in needed:
        skipped = opening.first
        if skipped <= window_length:
            # Reading the skipped part costs no more than sending the window does.
            from_start = opening.segment.entry
            extra += skipped
    passes = tuple(sorted(i for i in needed if i not in on_the_way and i != from_start))
    extra += sum(layout.entries[i].size for i in passes)
    return CrcPlan(from_start, passes, extra)
