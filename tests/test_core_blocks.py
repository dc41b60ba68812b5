"""getFile block planning: every block legal, small ranges small, bytes reassembled exactly."""

import random

import pytest

from FileStream.core.blocks import MIB, Block, ShortBlockError, is_legal_block, plan_blocks

KIB = 1024


def get_file(data: bytes, offset: int, limit: int) -> bytes:
    """What Telegram answers: at most `limit` bytes from `offset`, fewer at the end of the file."""
    assert is_legal_block(offset, limit), (offset, limit)
    return data[offset:offset + limit]


def reassemble(data: bytes, start: int, end: int, max_block: int = MIB) -> tuple[bytes, list[Block]]:
    blocks = plan_blocks(start, end, len(data), max_block)
    out = bytearray()
    for block in blocks:
        assert is_legal_block(block.offset, block.limit)
        assert is_legal_block(block.offset, block.limit, precise=True)
        assert block.limit <= max_block
        assert block.take > 0 and 0 <= block.skip_head < block.limit
        assert block.skip_head + block.take <= block.limit
        out += block.cut(get_file(data, block.offset, block.limit))
    return bytes(out), blocks


def check(data: bytes, start: int, end: int, max_block: int = MIB) -> list[Block]:
    got, blocks = reassemble(data, start, end, max_block)
    assert got == data[start:end + 1], (start, end, blocks)
    # Blocks are in order, do not overlap in what they keep, and keep exactly the range.
    position = start
    for block in blocks:
        assert block.offset + block.skip_head == position
        position += block.take
    assert position == end + 1
    return blocks


@pytest.fixture(scope="module")
def data():
    rng = random.Random(4096)
    return rng.randbytes(3 * MIB + 12345)


def test_rules_oracle():
    assert is_legal_block(0, 4096) and is_legal_block(MIB, MIB) and is_legal_block(MIB - 4096, 4096)
    assert not is_legal_block(0, 3 * 4096)          # 1 MiB % limit != 0
    assert not is_legal_block(1024, 4096)           # offset not 4 KiB aligned
    assert not is_legal_block(MIB - 4096, 8192)     # crosses a MiB boundary
    assert not is_legal_block(0, 2 * MIB)
    assert is_legal_block(1024, 3 * 1024, precise=True)
    assert not is_legal_block(MIB - 1024, 2048, precise=True)
    assert not is_legal_block(0, 0)


def test_first_byte_fetches_one_small_block(data):
    assert check(data, 0, 0) == [Block(0, 4096, 0, 1)]


def test_mib_boundary_is_not_off_by_one(data):
    # The field bug: bytes=0-1048576 must deliver 1048577 bytes, in two blocks.
    blocks = check(data, 0, MIB)
    assert blocks == [Block(0, MIB, 0, MIB), Block(MIB, 4096, 0, 1)]
    assert sum(b.take for b in blocks) == MIB + 1


def test_few_bytes_across_a_big_alignment_boundary_do_not_fetch_a_mib(data):
    blocks = check(data, MIB // 2 - 1, MIB // 2)
    assert sum(b.limit for b in blocks) == 2 * 4096
    blocks = check(data, MIB - 1, MIB)
    assert [b.limit for b in blocks] == [4096, 4096]


def test_large_range_uses_mib_blocks_after_a_lead_in(data):
    blocks = check(data, 5000, 3 * MIB + 100)
    assert blocks[0].offset + blocks[0].limit == MIB      # lead-in ends on the MiB boundary
    assert [b.limit for b in blocks[1:-1]] == [MIB, MIB]
    assert blocks[-1].offset == 3 * MIB and blocks[-1].limit == 4096


def test_whole_file_and_end_of_file_short_answers(data):
    blocks = check(data, 0, len(data) - 1)
    last = blocks[-1]
    assert len(get_file(data, last.offset, last.limit)) < last.limit   # Telegram's short final answer
    check(data, len(data) - 1, len(data) - 1)


def test_all_small_ranges_around_boundaries(data):
    points = set()
    for boundary in (0, 4096, 8192, 65536, MIB // 2, MIB, 2 * MIB, 3 * MIB, len(data)):
        for delta in (-4097, -4096, -4095, -2, -1, 0, 1, 2, 4095, 4096, 4097):
            if 0 <= boundary + delta < len(data):
                points.add(boundary + delta)
    points = sorted(points)
    for start in points:
        for end in points:
            if start <= end:
                check(data, start, end)


def test_overfetch_is_bounded(data):
    rng = random.Random(7)
    for _ in range(2000):
        start = rng.randrange(len(data))
        end = min(len(data) - 1, start + rng.choice([0, 1, 100, 4095, 4096, 70000, rng.randrange(MIB)]))
        blocks = check(data, start, end)
        need = end - start + 1
        fetched = sum(b.limit for b in blocks)
        # At most the range rounded up to 4 KiB pages, doubled at each end, plus whole blocks between.
        assert fetched <= 4 * max(need, 4096) + 2 * 4096, (start, end, blocks)


def test_random_ranges_reassemble_exactly(data):
    rng = random.Random(20)
    for _ in range(3000):
        start = rng.randrange(len(data))
        end = rng.randrange(start, len(data))
        check(data, start, end)


@pytest.mark.parametrize("max_block", [4096, 65536, 512 * KIB])
def test_smaller_max_block(data, max_block):
    rng = random.Random(max_block)
    for _ in range(300):
        start = rng.randrange(len(data))
        end = rng.randrange(start, min(len(data), start + 3 * MIB))
        check(data, start, end, max_block)


@pytest.mark.parametrize("args", [(5, 4, 10), (-1, 0, 10), (0, 10, 10), (0, 0, 0)])
def test_rejects_ranges_outside_the_file(args):
    with pytest.raises(ValueError):
        plan_blocks(*args)


@pytest.mark.parametrize("max_block", [0, 1024, 3 * 4096, 2 * MIB])
def test_rejects_illegal_max_block(max_block):
    with pytest.raises(ValueError):
        plan_blocks(0, 10, 100, max_block)


def test_cut_without_copies_and_short_answers():
    block = Block(0, 4096, 10, 5)
    data = bytes(range(100))
    piece = block.cut(data)
    assert isinstance(piece, memoryview) and bytes(piece) == data[10:15]
    whole = Block(0, 4096, 0, 100)
    assert whole.cut(data) is data
    with pytest.raises(ShortBlockError):
        Block(0, 4096, 90, 20).cut(data)
