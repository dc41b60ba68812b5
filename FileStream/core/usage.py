"""Download counts: which responses count as a download or play, and the tallies kept per file."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

# A response that starts at byte 0 but asks for fewer bytes than this, and not the whole
# file, is a probe. Download managers and players send such requests before the real one
# (`bytes=0-0` or `0-1` to learn the size and whether ranges work, a few KiB to read a
# container header); counting them would turn one download into two or three. A browser's
# <video>/<audio> asks for `bytes=0-` (the rest of the file), a download manager for the
# whole file or for large parts, so 64 KiB sits well between the two.
PROBE_BYTES = 64 * 1024


def is_probe(start: int, end: int, file_size: int) -> bool:
    """True for a response window (inclusive bytes start..end) that only peeks at the file's start."""
    return start == 0 and end - start + 1 < PROBE_BYTES and end < file_size - 1


def counts_as_download(start: int, end: int, file_size: int) -> bool:
    """A download or play started: a body from byte 0 that is not a probe. Seeks, resumed
    downloads and the later parts of a segmented download start elsewhere and do not count."""
    return start == 0 and not is_probe(start, end, file_size)


def day_of(moment: datetime) -> datetime:
    """The UTC day a moment falls in, as its midnight (the key of the per-day tallies)."""
    utc = moment.astimezone(timezone.utc)
    return datetime(utc.year, utc.month, utc.day, tzinfo=timezone.utc)


@dataclass(frozen=True, slots=True)
class FileUsage:
    """What the /files card says of one file: downloads started, bytes sent, last access."""

    downloads: int = 0
    bytes_served: int = 0
    last_access: datetime | None = None


@dataclass(frozen=True, slots=True)
class DailyFileUsage:
    """One file's downloads and bytes on one UTC day (for "top files today")."""

    file_id: str
    file_name: str
    downloads: int
    bytes_served: int


@dataclass(slots=True)
class UsageDelta:
    """Counts gathered in memory for one file and day, added to the database in one batch."""

    file_id: str
    file_name: str
    day: datetime
    downloads: int = 0
    bytes_served: int = 0
    last_access: datetime | None = None

    def add(self, downloads: int, bytes_served: int, at: datetime) -> None:
        self.downloads += downloads
        self.bytes_served += bytes_served
        if self.last_access is None or at > self.last_access:
            self.last_access = at

    def merge(self, other: UsageDelta) -> None:
        """Take `other`'s counts too (a batch that could not be written goes back in)."""
        self.downloads += other.downloads
        self.bytes_served += other.bytes_served
        if other.last_access is not None:
            self.add(0, 0, other.last_access)
