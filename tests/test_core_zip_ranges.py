"""What a Range of a streamed ZIP costs in CRC-32s: the end records cost nothing, a segment that
starts inside a file reads that file once, and a window that would read much more than it sends
is not worth serving as asked."""

from __future__ import annotations

from datetime import datetime, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from FileStream.core.zip_layout import ZipEntry, ZipLayout
from FileStream.core.zip_ranges import EXTRA_BYTES_FLOOR, plan_crcs

MIB = 1 << 20
WHEN = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)


def layout_of(sizes: list[int]) -> ZipLayout:
    return ZipLayout([ZipEntry(f"file{i}.bin", size, WHEN) for i, size in enumerate(sizes)])


def test_the_last_22_bytes_of_a_fresh_hundred_file_bundle_need_no_crc_at_all():
    layout = layout_of([2 * MIB] * 100)
    plan = plan_crcs(layout, layout.size - 22, layout.size - 1, known=())
    assert plan.passes == () and plan.from_start is None and plan.extra_bytes == 0
    assert plan.worth_serving(22)


def test_the_end_of_a_fresh_big_bundle_is_not_worth_serving_as_asked_but_a_small_ones_is():
    big = layout_of([2 * MIB] * 100)
    plan = plan_crcs(big, big.size - 100, big.size - 1, known=())
    assert plan.passes == tuple(range(100)) and plan.extra_bytes == 200 * MIB
    assert not plan.worth_serving(100)
    assert plan_crcs(big, big.size - 100, big.size - 1, known=range(100)).extra_bytes == 0, "all kept: free"
    small = layout_of([MIB, 700_000, 0, 12_345])
    plan = plan_crcs(small, small.size - 200, small.size - 1, known=())
    assert plan.passes == (0, 1, 3) and plan.worth_serving(200), "a small bundle's passes are within the floor"


def test_a_segment_starting_inside_a_file_reads_that_file_from_its_start_and_nothing_else():
    layout = layout_of([8 * MIB, 8 * MIB, 8 * MIB])
    second = layout.data_segment(1)
    first, last = second.offset + 3 * MIB, layout.data_segment(2).offset + MIB
    plan = plan_crcs(layout, first, last, known=())
    assert plan.from_start == 1 and plan.passes == () and plan.extra_bytes == 3 * MIB
    assert plan.worth_serving(last - first + 1)
    # Ending inside the file, its descriptor is not in the window: nothing to compute.
    assert plan_crcs(layout, first, second.end - 1, known=()).extra_bytes == 0


def test_a_tail_of_a_file_with_its_descriptor_costs_a_pass_when_reading_from_its_start_would_cost_more():
    layout = layout_of([80 * MIB, 1000])
    data = layout.data_segment(0)
    plan = plan_crcs(layout, data.end - 10, data.end + 15, known=())
    assert plan.from_start is None and plan.passes == (0,) and plan.extra_bytes == 80 * MIB
    assert not plan.worth_serving(26)


@settings(max_examples=200, deadline=None)
@given(sizes=st.lists(st.integers(0, 5 * MIB), min_size=1, max_size=8), start=st.floats(0, 1), length=st.floats(0, 1),
       known=st.sets(st.integers(0, 7)))
def test_every_crc_a_window_needs_is_known_computed_on_the_way_or_planned(sizes, start, length, known):
    layout = layout_of(sizes)
    first = min(layout.size - 1, int(start * layout.size))
    last = min(layout.size - 1, first + int(length * layout.size))
    plan = plan_crcs(layout, first, last, known=known)
    pieces = list(layout.pieces(first, last))
    whole = {p.segment.entry for p in pieces if p.segment.kind == "data" and p.whole}
    for piece in pieces:
        for index in piece.segment.needs:
            assert (index in known or sizes[index] == 0 or index in whole or index == plan.from_start
                    or index in plan.passes)
    assert not set(plan.passes) & set(known)
    assert plan.extra_bytes <= sum(sizes)
    if plan.extra_bytes <= EXTRA_BYTES_FLOOR:
        assert plan.worth_serving(1)
