"""The bytes of an uncompressed ZIP made on the fly: where every header and file sits, from names and sizes alone.

Every entry is stored (method 0, no compression) with a data descriptor (flag bit 3), so
no header in front of a file's data needs its CRC-32: a full download computes each CRC
while the data passes and writes it right after, in the descriptor. The layout (offsets,
sizes, total length) depends only on the names, sizes and dates, so Content-Length is
known before the first byte and a Range request can start anywhere: the pieces it covers
that carry a CRC (a data descriptor, the central directory) name the entries whose CRCs
the caller must supply (`Segment.needs`). The end records (the ZIP64 end record and
locator when present, and the end-of-central-directory record) are a segment of their own
that needs none: a reader's first request, the archive's last bytes, costs no file bytes.

ZIP64 fields appear exactly where a size or offset does not fit in 32 bits (APPNOTE 6.3.10,
section 4.5.3): a file of 4 GiB or more gets them in its local header, descriptor and
central header; a file whose local header starts at or beyond 4 GiB gets them in its
central header; the end records get the ZIP64 end record and locator when the central
directory starts (or ends) beyond 32 bits. Names are UTF-8 with flag bit 11.
"""

from __future__ import annotations

import hashlib
import struct
import unicodedata
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone

from FileStream.core.http_plan import clean_file_name

# A 32-bit field holding this value means "see the ZIP64 field" (APPNOTE 4.4.8), so values
# equal to it need ZIP64 as well.
ZIP64_LIMIT = 0xFFFFFFFF
MAX_ENTRIES = 0xFFFE          # more would need ZIP64 entry counts; bundles hold at most 100
MAX_NAME_BYTES = 240          # well below the 16-bit field and common file-system limits

_LOCAL = struct.Struct("<IHHHHHIIIHH")             # 30 bytes, then name and extra
_CENTRAL = struct.Struct("<IHHHHHHIIIHHHHHII")     # 46 bytes, then name and extra
_DESCRIPTOR = struct.Struct("<IIII")               # signature, crc, sizes (32-bit)
_DESCRIPTOR64 = struct.Struct("<IIQQ")             # signature, crc, sizes (64-bit)
_END = struct.Struct("<IHHHHIIH")                  # 22 bytes
_END64 = struct.Struct("<IQHHIIQQQQ")              # 56 bytes
_LOCATOR64 = struct.Struct("<IIQI")                # 20 bytes
_EXTRA_HEADER = struct.Struct("<HH")

_LOCAL_SIGNATURE = 0x04034B50
_CENTRAL_SIGNATURE = 0x02014B50
_DESCRIPTOR_SIGNATURE = 0x08074B50
_END_SIGNATURE = 0x06054B50
_END64_SIGNATURE = 0x06064B50
_LOCATOR64_SIGNATURE = 0x07064B50
_ZIP64_EXTRA_ID = 0x0001

_FLAGS = 0x0008 | 0x0800       # bit 3: sizes and CRC in a data descriptor; bit 11: UTF-8 names
_STORED = 0
_VERSION = 20                  # 2.0: data descriptors
_VERSION_ZIP64 = 45            # 4.5: ZIP64 fields
_MADE_BY_UNIX = 3 << 8         # so the external attributes below are read as Unix modes
_REGULAR_FILE = 0o100644 << 16

# Bumped whenever the bytes for the same entries would change, so validators change too.
LAYOUT_VERSION = "zip-v1"


@dataclass(frozen=True, slots=True)
class ZipEntry:
    """One file in the archive: its name inside the ZIP (see `zip_names`), size and date."""

    name: str
    size: int
    modified: datetime


@dataclass(frozen=True, slots=True)
class Segment:
    """A run of bytes of the archive: a local header, a file's data, its data descriptor, the
    central directory, or the end records. `entry` is the entry's index (-1 for the central
    directory and the end records); `needs` are the entries whose CRC-32 the bytes contain."""

    kind: str      # "local", "data", "descriptor", "central" or "end"
    entry: int
    offset: int
    length: int
    needs: tuple[int, ...] = ()

    @property
    def end(self) -> int:
        """Offset just past the segment."""
        return self.offset + self.length


@dataclass(frozen=True, slots=True)
class Piece:
    """The part of one segment that a byte window covers: `first`..`last` inclusive, relative to the segment."""

    segment: Segment
    first: int
    last: int

    @property
    def whole(self) -> bool:
        return self.first == 0 and self.last == self.segment.length - 1


@dataclass(frozen=True, slots=True)
class _Placed:
    name: bytes
    size: int
    dos_time: int
    dos_date: int
    header_offset: int

    @property
    def large(self) -> bool:
        return self.size >= ZIP64_LIMIT

    @property
    def far(self) -> bool:
        return self.header_offset >= ZIP64_LIMIT

    @property
    def version(self) -> int:
        return _VERSION_ZIP64 if self.large or self.far else _VERSION

    def local_extra(self) -> bytes:
        # With bit 3 the local header carries no sizes; a large entry still gets the ZIP64
        # field (zeros) so readers know its descriptor has 64-bit sizes (APPNOTE 4.3.9.2).
        return _zip64_extra([0, 0]) if self.large else b""

    def central_extra(self) -> bytes:
        values = [self.size, self.size] if self.large else []
        if self.far:
            values.append(self.header_offset)
        return _zip64_extra(values) if values else b""

    @property
    def local_length(self) -> int:
        return _LOCAL.size + len(self.name) + len(self.local_extra())

    @property
    def descriptor_length(self) -> int:
        return (_DESCRIPTOR64 if self.large else _DESCRIPTOR).size

    @property
    def central_length(self) -> int:
        return _CENTRAL.size + len(self.name) + len(self.central_extra())


def _zip64_extra(values: list[int]) -> bytes:
    return _EXTRA_HEADER.pack(_ZIP64_EXTRA_ID, 8 * len(values)) + struct.pack(f"<{len(values)}Q", *values)


def dos_date_time(moment: datetime) -> tuple[int, int]:
    """(time, date) in MS-DOS format (2-second steps, years 1980-2107), from the UTC time.

    ZIP stores local time without a zone; UTC is the only time we know for sure.
    """
    utc = moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)
    if utc.year < 1980:
        return 0, (1 << 5) | 1                       # 1980-01-01 00:00:00
    if utc.year > 2107:
        return (23 << 11) | (59 << 5) | 29, (127 << 9) | (12 << 5) | 31
    return ((utc.hour << 11) | (utc.minute << 5) | (utc.second // 2),
            ((utc.year - 1980) << 9) | (utc.month << 5) | utc.day)


def zip_names(file_names: Sequence[str]) -> list[str]:
    """Names for the entries: cleaned (no paths, controls or bidi tricks), at most
    MAX_NAME_BYTES of UTF-8, and unique even on case-insensitive file systems
    (`a.mp4`, `a (2).mp4`)."""
    taken: set[str] = set()
    names = []
    for file_name in file_names:
        base = _fit(clean_file_name(file_name))
        name, number = base, 1
        while _key(name) in taken:
            number += 1
            name = _numbered(base, number)
        taken.add(_key(name))
        names.append(name)
    return names


def _key(name: str) -> str:
    return unicodedata.normalize("NFC", name).casefold()


def _split_extension(name: str) -> tuple[str, str]:
    stem, dot, extension = name.rpartition(".")
    if not dot or not stem or len(extension) > 16:
        return name, ""
    return stem, "." + extension


def _fit(name: str, limit: int = MAX_NAME_BYTES) -> str:
    if len(name.encode("utf-8")) <= limit:
        return name
    stem, extension = _split_extension(name)
    room = max(1, limit - len(extension.encode("utf-8")))
    cut = stem.encode("utf-8")[:room].decode("utf-8", "ignore")
    return cut + extension


def _numbered(name: str, number: int) -> str:
    stem, extension = _split_extension(name)
    suffix = f" ({number}){extension}"
    cut = stem.encode("utf-8")[: MAX_NAME_BYTES - len(suffix.encode("utf-8"))].decode("utf-8", "ignore")
    return cut + suffix


class ZipLayout:
    """Where everything of the archive for `entries` sits, and the bytes of every header.

    `segments` cover 0..size-1 in order, without gaps. Data segments are the files' own
    bytes (the caller streams them); every other segment is rendered by `render`.
    """

    def __init__(self, entries: Sequence[ZipEntry]) -> None:
        if len(entries) > MAX_ENTRIES:
            raise ValueError(f"at most {MAX_ENTRIES} entries, got {len(entries)}")
        self.entries = tuple(entries)
        placed: list[_Placed] = []
        segments: list[Segment] = []
        offset = 0
        for index, entry in enumerate(self.entries):
            name = entry.name.encode("utf-8")
            if not name or len(name) > 0xFFFF:
                raise ValueError(f"entry {index}: a name of 1 to 65535 UTF-8 bytes is needed")
            if entry.size < 0:
                raise ValueError(f"entry {index}: negative size {entry.size}")
            dos_time, dos_date = dos_date_time(entry.modified)
            item = _Placed(name, entry.size, dos_time, dos_date, offset)
            placed.append(item)
            segments.append(Segment("local", index, offset, item.local_length))
            offset += item.local_length
            segments.append(Segment("data", index, offset, entry.size))
            offset += entry.size
            segments.append(Segment("descriptor", index, offset, item.descriptor_length, (index,)))
            offset += item.descriptor_length
        self._placed = tuple(placed)
        self.central_offset = offset
        self.central_size = sum(item.central_length for item in placed)
        central_end = offset + self.central_size
        self.zip64_end = central_end >= ZIP64_LIMIT or self.central_size >= ZIP64_LIMIT
        end_length = _END.size + ((_END64.size + _LOCATOR64.size) if self.zip64_end else 0)
        segments.append(Segment("central", -1, offset, self.central_size, tuple(range(len(placed)))))
        segments.append(Segment("end", -1, central_end, end_length))
        # Empty files never reach a data segment; an empty segment would only get in the way.
        self.segments = tuple(s for s in segments if s.length > 0)
        self.size = central_end + end_length

    # -- finding bytes ---------------------------------------------------------------------

    def pieces(self, first: int, last: int) -> Iterator[Piece]:
        """The segments that bytes `first`..`last` (inclusive) of the archive cover, in order."""
        if not 0 <= first <= last < self.size:
            raise ValueError(f"bytes {first}-{last} are not inside an archive of {self.size} bytes")
        for segment in self.segments:
            if segment.end <= first:
                continue
            if segment.offset > last:
                return
            yield Piece(segment, max(first, segment.offset) - segment.offset, min(last, segment.end - 1) - segment.offset)

    def data_segment(self, index: int) -> Segment | None:
        """The data of entry `index` (None for an empty file)."""
        return next((s for s in self.segments if s.kind == "data" and s.entry == index), None)

    # -- rendering -------------------------------------------------------------------------

    def render(self, segment: Segment, crcs: Mapping[int, int]) -> bytes:
        """The bytes of a header segment; `crcs` must hold every entry in `segment.needs`
        (empty files may be left out: their CRC-32 is 0)."""
        if segment.kind == "local":
            return self._local_header(self._placed[segment.entry])
        if segment.kind == "descriptor":
            return self._descriptor(self._placed[segment.entry], self._crc(crcs, segment.entry))
        if segment.kind == "central":
            return self._central_directory(crcs)
        if segment.kind == "end":
            return self._end_records()
        raise ValueError(f"{segment.kind} segments are file data: stream them, they are not rendered")

    def _crc(self, crcs: Mapping[int, int], index: int) -> int:
        if self._placed[index].size == 0:
            return 0
        try:
            return crcs[index]
        except KeyError:
            raise KeyError(f"the CRC-32 of entry {index} is needed for these bytes") from None

    def _local_header(self, item: _Placed) -> bytes:
        extra = item.local_extra()
        sizes = ZIP64_LIMIT if item.large else 0
        return _LOCAL.pack(_LOCAL_SIGNATURE, item.version, _FLAGS, _STORED, item.dos_time, item.dos_date,
                           0, sizes, sizes, len(item.name), len(extra)) + item.name + extra

    def _descriptor(self, item: _Placed, crc: int) -> bytes:
        if item.large:
            return _DESCRIPTOR64.pack(_DESCRIPTOR_SIGNATURE, crc, item.size, item.size)
        return _DESCRIPTOR.pack(_DESCRIPTOR_SIGNATURE, crc, item.size, item.size)

    def _central_directory(self, crcs: Mapping[int, int]) -> bytes:
        parts = []
        for index, item in enumerate(self._placed):
            extra = item.central_extra()
            size = ZIP64_LIMIT if item.large else item.size
            offset = ZIP64_LIMIT if item.far else item.header_offset
            parts.append(_CENTRAL.pack(
                _CENTRAL_SIGNATURE, _MADE_BY_UNIX | item.version, item.version, _FLAGS, _STORED,
                item.dos_time, item.dos_date, self._crc(crcs, index), size, size, len(item.name), len(extra),
                0, 0, 0, _REGULAR_FILE, offset))
            parts.append(item.name)
            parts.append(extra)
        return b"".join(parts)

    def _end_records(self) -> bytes:
        parts = []
        count = len(self._placed)
        if self.zip64_end:
            end64_offset = self.central_offset + self.central_size
            parts.append(_END64.pack(_END64_SIGNATURE, _END64.size - 12, _MADE_BY_UNIX | _VERSION_ZIP64,
                                     _VERSION_ZIP64, 0, 0, count, count, self.central_size, self.central_offset))
            parts.append(_LOCATOR64.pack(_LOCATOR64_SIGNATURE, 0, end64_offset, 1))
        parts.append(_END.pack(_END_SIGNATURE, 0, 0, count, count, min(self.central_size, ZIP64_LIMIT),
                               min(self.central_offset, ZIP64_LIMIT), 0))
        return b"".join(parts)

    def fingerprint(self) -> str:
        """A digest of everything the layout depends on (names, sizes, dates, format version)."""
        digest = hashlib.sha256(LAYOUT_VERSION.encode())
        for item in self._placed:
            digest.update(struct.pack("<QHHH", item.size, item.dos_time, item.dos_date, len(item.name)))
            digest.update(item.name)
        return digest.hexdigest()
