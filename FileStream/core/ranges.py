"""Parsing a Range header and choosing which bytes of a file to send (RFC 9110 §14)."""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

# No Telegram file comes near this; numbers with more digits are treated as "beyond any
# file" instead of being converted (Python refuses int() on very long digit strings).
_HUGE = 10**18
_MAX_DIGITS = 18

_INT_RANGE = re.compile(r"^([0-9]+)-([0-9]*)$")
_SUFFIX_RANGE = re.compile(r"^-([0-9]+)$")
_OWS = " \t"


@dataclass(frozen=True, slots=True, order=True)
class ByteWindow:
    """Bytes start..end of a file, both inclusive (the Content-Range convention)."""

    start: int
    end: int

    def __post_init__(self) -> None:
        if self.start < 0 or self.end < self.start:
            raise ValueError(f"empty or negative byte window {self.start}-{self.end}")

    @property
    def length(self) -> int:
        return self.end - self.start + 1


@dataclass(frozen=True, slots=True)
class RangeSpec:
    """One range-spec as written by the client, before it meets the file size.

    `first` is None for a suffix-range (`-n`), and then `last` is n; an int-range with
    no last-pos (`a-`) has `last` None.
    """

    first: int | None
    last: int | None


class RangeKind(enum.Enum):
    FULL = "full"                    # no usable Range: send the whole body with 200
    PARTIAL = "partial"              # send `window` with 206
    UNSATISFIABLE = "unsatisfiable"  # 416 with Content-Range: bytes */size


@dataclass(frozen=True, slots=True)
class RangeChoice:
    kind: RangeKind
    window: ByteWindow | None = None


def _number(digits: str) -> int:
    digits = digits.lstrip("0") or "0"
    return _HUGE if len(digits) > _MAX_DIGITS else int(digits)


def parse_range(value: str | None) -> list[RangeSpec] | None:
    """The range-specs of a `Range` header, or None when absent or not valid bytes ranges.

    RFC 9110 §14.2: a server ignores a Range it cannot parse or whose unit it does not
    support, so None simply means "serve the whole representation".
    """
    if value is None:
        return None
    unit, sep, range_set = value.strip(_OWS).partition("=")
    # §14.1: range units are case-insensitive; the grammar has no whitespace around "=".
    if not sep or unit.lower() != "bytes":
        return None
    specs: list[RangeSpec] = []
    # §5.6.1: a #list may contain empty elements, which recipients ignore.
    for element in range_set.split(","):
        element = element.strip(_OWS)
        if not element:
            continue
        if m := _INT_RANGE.match(element):
            first = _number(m.group(1))
            last = _number(m.group(2)) if m.group(2) else None
            if last is not None and last < first:
                # §14.1.1: last-pos < first-pos makes the whole header invalid.
                return None
            specs.append(RangeSpec(first, last))
        elif m := _SUFFIX_RANGE.match(element):
            specs.append(RangeSpec(None, _number(m.group(1))))
        else:
            return None
    return specs or None


def _resolve(spec: RangeSpec, size: int) -> ByteWindow | None:
    """The bytes one spec selects in a file of `size` bytes, or None if unsatisfiable (§14.1.1)."""
    if size == 0:
        # Nothing can be cut out of an empty representation; we answer 416 to any range
        # (RFC 9110 would let `-n` select "the whole empty body", which 206 cannot express).
        return None
    if spec.first is None:
        suffix = spec.last or 0
        if suffix == 0:
            return None
        return ByteWindow(max(size - suffix, 0), size - 1)
    if spec.first >= size:
        return None
    # An end past the last byte is clamped, not rejected (§14.1.1).
    last = size - 1 if spec.last is None else min(spec.last, size - 1)
    return ByteWindow(spec.first, last)


def choose_range(specs: list[RangeSpec] | None, size: int) -> RangeChoice:
    """Decide between the whole body, one byte window, or 416 for a file of `size` bytes.

    Several ranges (§14.2) are never an error. We do not speak multipart/byteranges:
    players only ever ask for one range, and download managers cope with a 200. So the
    satisfiable ranges are sorted and merged when they overlap or touch; if that leaves
    one window we answer 206 for it, otherwise we send the whole body with 200 (which
    §14.2 allows: a server may ignore Range). Unsatisfiable members are dropped; only
    when none is satisfiable do we answer 416.
    """
    if not specs:
        return RangeChoice(RangeKind.FULL)
    windows = sorted(w for w in (_resolve(s, size) for s in specs) if w is not None)
    if not windows:
        return RangeChoice(RangeKind.UNSATISFIABLE)
    merged = windows[0]
    for window in windows[1:]:
        if window.start > merged.end + 1:
            return RangeChoice(RangeKind.FULL)
        merged = ByteWindow(merged.start, max(merged.end, window.end))
    return RangeChoice(RangeKind.PARTIAL, merged)
