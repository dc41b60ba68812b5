"""Planning upload.getFile calls that cover a byte range within Telegram's alignment rules.

Telegram's rules for upload.getFile (https://core.telegram.org/api/files#downloading-files):
- normal: offset % 4096 == 0, limit % 4096 == 0 and 1048576 % limit == 0;
- precise: offset % 1024 == 0, limit % 1024 == 0 and limit <= 1048576;
- either way a request never crosses a 1 MiB boundary:
  offset // 2**20 == (offset + limit - 1) // 2**20.

Every block planned here is an aligned power-of-two window (offset % limit == 0, 4 KiB <=
limit <= max_block), which satisfies the normal rules (and the precise ones) and cannot
cross a MiB boundary. At the end of a file Telegram answers with fewer bytes than `limit`;
the plan only ever keeps bytes that exist, so a shorter answer is fine as long as it still
holds `skip_head + take` bytes (`Block.cut` checks that).
"""

from __future__ import annotations

from dataclasses import dataclass

MIB = 1 << 20
MIN_BLOCK = 4096


class ShortBlockError(ValueError):
    """Telegram answered a block with fewer bytes than the range needs from it."""


@dataclass(frozen=True, slots=True)
class Block:
    """One getFile(offset, limit); of its answer keep `take` bytes after skipping `skip_head`."""

    offset: int
    limit: int
    skip_head: int
    take: int

    def cut(self, data: bytes) -> bytes | memoryview:
        """The bytes to send from this block's answer; no copy is made.

        Returns `data` itself when it is exactly the wanted bytes, else a memoryview
        slice. Raises ShortBlockError if the answer is too short to hold them.
        """
        stop = self.skip_head + self.take
        if len(data) < stop:
            raise ShortBlockError(
                f"getFile(offset={self.offset}, limit={self.limit}) returned {len(data)} bytes,"
                f" {stop} needed"
            )
        if self.skip_head == 0 and len(data) == stop:
            return data
        return memoryview(data)[self.skip_head : stop]


def is_legal_block(offset: int, limit: int, *, precise: bool = False) -> bool:
    """Whether Telegram accepts upload.getFile with this offset and limit."""
    if offset < 0 or limit <= 0:
        return False
    if precise:
        aligned = offset % 1024 == 0 and limit % 1024 == 0 and limit <= MIB
    else:
        aligned = offset % 4096 == 0 and limit % 4096 == 0 and MIB % limit == 0
    return aligned and offset // MIB == (offset + limit - 1) // MIB


def _pow2_at_least(n: int) -> int:
    return 1 << max(n - 1, 0).bit_length()


def _smallest_aligned_window(first: int, last: int) -> int:
    """The smallest power-of-two size >= 4 KiB whose aligned window holds first..last."""
    size = MIN_BLOCK
    while first // size != last // size:
        size *= 2
    return size


def _block(size: int, first: int, last: int) -> Block:
    offset = first - first % size
    return Block(offset=offset, limit=size, skip_head=first - offset, take=last - first + 1)


def _cover(first: int, last: int) -> list[Block]:
    """Blocks for first..last, which lie inside one max_block-aligned window."""
    need = last - first + 1
    size = _smallest_aligned_window(first, last)
    # A few bytes straddling a big alignment boundary (say 524287-524288) would otherwise
    # fetch a whole MiB. Past 2x the tightest possible block we split at that boundary
    # instead: each half then touches an aligned edge and fetches less than twice its need.
    if size <= 2 * _pow2_at_least(max(need, MIN_BLOCK)):
        return [_block(size, first, last)]
    half = size // 2
    boundary = last - last % half
    left, right = boundary - first, last - boundary + 1
    return [
        _block(max(_pow2_at_least(left), MIN_BLOCK), first, boundary - 1),
        _block(max(_pow2_at_least(right), MIN_BLOCK), boundary, last),
    ]


def plan_blocks(start: int, end_inclusive: int, file_size: int, max_block: int = MIB) -> list[Block]:
    """The getFile calls, in order, that deliver bytes start..end_inclusive of a file.

    Small ranges fetch the smallest legal block around them (bytes=0-0 is one 4 KiB
    block). Large ranges get a lead-in block ending on a `max_block` boundary, then whole
    aligned `max_block` blocks, then a tail block starting on a boundary.
    """
    if not 0 <= start <= end_inclusive < file_size:
        raise ValueError(f"range {start}-{end_inclusive} is not inside a file of {file_size} bytes")
    if max_block < MIN_BLOCK or max_block > MIB or max_block & (max_block - 1):
        raise ValueError(f"max_block must be a power of two between 4 KiB and 1 MiB, not {max_block}")
    blocks: list[Block] = []
    first = start
    while first <= end_inclusive:
        window_end = first - first % max_block + max_block - 1
        last = min(end_inclusive, window_end)
        blocks.extend(_cover(first, last))
        first = last + 1
    return blocks
