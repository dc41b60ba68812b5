"""Range header parsing and range choice (RFC 9110 §14.1, §14.2), case by case and by random model checking."""

import random

import pytest

from FileStream.core.ranges import ByteWindow, RangeChoice, RangeKind, RangeSpec, choose_range, parse_range

FULL = RangeChoice(RangeKind.FULL)
UNSAT = RangeChoice(RangeKind.UNSATISFIABLE)


def partial(start: int, end: int) -> RangeChoice:
    return RangeChoice(RangeKind.PARTIAL, ByteWindow(start, end))


# ------------------------------------------------------------ parsing (§14.1.1, §14.2)

@pytest.mark.parametrize("value, specs", [
    ("bytes=0-0", [RangeSpec(0, 0)]),
    ("bytes=0-499", [RangeSpec(0, 499)]),
    ("bytes=500-", [RangeSpec(500, None)]),
    ("bytes=-500", [RangeSpec(None, 500)]),
    ("bytes=-0", [RangeSpec(None, 0)]),
    ("BYTES=1-2", [RangeSpec(1, 2)]),            # §14.1: units are case-insensitive
    ("bytes=0-1, 5-6", [RangeSpec(0, 1), RangeSpec(5, 6)]),
    ("bytes=0-1,,5-6,", [RangeSpec(0, 1), RangeSpec(5, 6)]),  # §5.6.1: empty list elements ignored
    ("bytes= 0-1 ,\t-3", [RangeSpec(0, 1), RangeSpec(None, 3)]),
    ("bytes=007-010", [RangeSpec(7, 10)]),
    ("bytes=0-" + "9" * 40, [RangeSpec(0, 10**18)]),  # huge numbers: "beyond any file"
])
def test_parse_valid(value, specs):
    assert parse_range(value) == specs


@pytest.mark.parametrize("value", [
    None, "", "bytes", "bytes=", "bytes=,", "bytes=abc", "bytes=1-0",  # last < first: §14.1.1 invalid
    "bytes=0-1,3-2", "bytes=--1", "bytes=1--2", "bytes=-", "bytes=1", "bytes=0x10-", "bytes=+1-2",
    "items=0-1", "bytes 0-1", "bytes =0-1", "bytes=0-1;x", "bytes=1.5-2", "bytes=٣-٤",  # non-ASCII digits
])
def test_parse_invalid_or_absent_is_none(value):
    # §14.2: an invalid Range is ignored, so it means "whole body".
    assert parse_range(value) is None


# ------------------------------------------------------------ choice (§14.1.1, §14.1.2, §15.5.17)

@pytest.mark.parametrize("value, size, expected", [
    (None, 10, FULL),
    ("bytes=0-0", 10, partial(0, 0)),
    ("bytes=0-9", 10, partial(0, 9)),
    ("bytes=0-", 10, partial(0, 9)),
    ("bytes=3-", 10, partial(3, 9)),
    ("bytes=9-", 10, partial(9, 9)),
    ("bytes=5-100", 10, partial(5, 9)),          # end past the end is clamped
    ("bytes=-3", 10, partial(7, 9)),
    ("bytes=-10", 10, partial(0, 9)),
    ("bytes=-1000", 10, partial(0, 9)),          # suffix longer than the file: whole file
    ("bytes=10-", 10, UNSAT),                    # first byte >= size
    ("bytes=10-20", 10, UNSAT),
    ("bytes=-0", 10, UNSAT),                     # suffix of zero
    ("bytes=0-0", 0, UNSAT),                     # nothing to cut from an empty file
    ("bytes=-5", 0, UNSAT),
    ("bytes=0-", 0, UNSAT),
    ("bytes=0-" + "9" * 5000, 10, partial(0, 9)),  # longer than int() accepts
    ("bytes=" + "9" * 5000 + "-", 10, UNSAT),
    ("bytes=abc", 10, FULL),
])
def test_single_range(value, size, expected):
    assert choose_range(parse_range(value), size) == expected


@pytest.mark.parametrize("value, expected", [
    ("bytes=0-4,5-9", partial(0, 9)),        # adjacent: one window
    ("bytes=0-5,3-7", partial(0, 7)),        # overlapping: one window
    ("bytes=5-7,0-5", partial(0, 7)),        # order does not matter
    ("bytes=0-0,-1", FULL),                  # disjoint: whole body with 200 (our documented choice)
    ("bytes=0-1,4-5", FULL),
    ("bytes=0-1,50-60", partial(0, 1)),      # unsatisfiable members are dropped
    ("bytes=50-60,-0", UNSAT),               # none satisfiable
    ("bytes=2-3,0-9,4-4", partial(0, 9)),
])
def test_multi_range_never_an_error(value, expected):
    assert choose_range(parse_range(value), 10) == expected


def test_window_rejects_nonsense():
    with pytest.raises(ValueError):
        ByteWindow(5, 4)
    with pytest.raises(ValueError):
        ByteWindow(-1, 4)
    assert ByteWindow(3, 3).length == 1


# ------------------------------------------------------------ property: a brute-force model

def _model(specs_text: list[tuple[int | None, int | None]], size: int) -> RangeChoice:
    """Independent model: the set of byte indices each spec names, straight from §14.1.1."""
    chosen: set[int] = set()
    for first, last in specs_text:
        if first is None:
            chosen |= set(range(max(size - last, 0), size)) if last else set()
        else:
            stop = size if last is None else min(last + 1, size)
            chosen |= set(range(first, stop))
    if not chosen:
        return UNSAT
    lo, hi = min(chosen), max(chosen)
    if len(chosen) == hi - lo + 1:
        return partial(lo, hi)
    return FULL


def _render(first: int | None, last: int | None) -> str:
    if first is None:
        return f"-{last}"
    return f"{first}-" if last is None else f"{first}-{last}"


def test_random_ranges_match_model():
    rng = random.Random(9110)
    for _ in range(5000):
        size = rng.choice([0, 1, 2, 7, 64, rng.randrange(0, 200)])
        specs = []
        for _ in range(rng.choice([1, 1, 1, 2, 3])):
            kind = rng.randrange(3)
            if kind == 0:
                first = rng.randrange(0, size + 5)
                specs.append((first, rng.randrange(first, size + 10)))
            elif kind == 1:
                specs.append((rng.randrange(0, size + 5), None))
            else:
                specs.append((None, rng.randrange(0, size + 5)))
        header = "bytes=" + ",".join(_render(*s) for s in specs)
        got = choose_range(parse_range(header), size)
        assert got == _model(specs, size), header
        if got.kind is RangeKind.PARTIAL:
            assert 0 <= got.window.start <= got.window.end < size


def test_random_large_single_ranges():
    # The arithmetic at real sizes, around MiB boundaries, against the plain definition.
    rng = random.Random(14)
    mib = 1 << 20
    for _ in range(5000):
        size = rng.choice([mib, mib + 1, 2 * mib - 1, rng.randrange(1, 5 * mib)])
        first = min(rng.choice([0, mib - 1, mib, mib + 1, size - 1, rng.randrange(0, size)]), size - 1)
        last = first + rng.choice([0, 1, mib - 1, mib, rng.randrange(0, 3 * mib)])
        got = choose_range(parse_range(f"bytes={first}-{last}"), size)
        assert got == partial(first, min(last, size - 1))
        assert choose_range(parse_range(f"bytes={size}-{last + size}"), size) == UNSAT
        n = rng.randrange(1, size + 3)
        assert choose_range(parse_range(f"bytes=-{n}"), size) == partial(max(size - n, 0), size - 1)
