"""Test helpers for ZIPs made from a layout: whole archives in memory, and archives too big for
memory read as a virtual file (headers rendered, file data computed on demand)."""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import tempfile
import subprocess
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from FileStream.core.zip_layout import ZipLayout

Data = Callable[[int, int, int], bytes]   # (entry, offset, length) -> bytes


def crcs_of(datas: Sequence[bytes]) -> dict[int, int]:
    return {index: zlib.crc32(data) for index, data in enumerate(datas)}


def render_whole(layout: ZipLayout, datas: Sequence[bytes]) -> bytes:
    """The archive the way a full download sends it."""
    crcs = crcs_of(datas)
    out = bytearray()
    for segment in layout.segments:
        out += datas[segment.entry] if segment.kind == "data" else layout.render(segment, crcs)
    assert len(out) == layout.size
    return bytes(out)


class VirtualZip(io.RawIOBase):
    """A read-only file holding a layout's archive, never built whole: headers are rendered and
    data comes from `data(entry, offset, length)` when read."""

    def __init__(self, layout: ZipLayout, crcs: dict[int, int], data: Data) -> None:
        self.layout, self.crcs, self.data = layout, crcs, data
        self.position = 0
        self._rendered: dict[int, bytes] = {}

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.position

    def seek(self, offset: int, whence: int = 0) -> int:
        base = {0: 0, 1: self.position, 2: self.layout.size}[whence]
        self.position = max(0, base + offset)
        return self.position

    def readinto(self, buffer) -> int:
        if self.position >= self.layout.size or len(buffer) == 0:
            return 0
        last = min(self.layout.size, self.position + len(buffer)) - 1
        chunk = self.read_range(self.position, last)
        buffer[: len(chunk)] = chunk
        self.position += len(chunk)
        return len(chunk)

    def read_range(self, first: int, last: int) -> bytes:
        out = bytearray()
        for piece in self.layout.pieces(first, last):
            segment = piece.segment
            if segment.kind == "data":
                out += self.data(segment.entry, piece.first, piece.last - piece.first + 1)
            else:
                if segment.offset not in self._rendered:
                    self._rendered[segment.offset] = self.layout.render(segment, self.crcs)
                out += self._rendered[segment.offset][piece.first : piece.last + 1]
        return bytes(out)


def zeros(_entry: int, _offset: int, length: int) -> bytes:
    return bytes(length)


def require_unzip() -> str:
    path = shutil.which("unzip")
    if path is None:
        pytest.skip("Debian's `unzip` is not installed (apt-get install unzip; .ci/run installs it)")
    return path


def unzip_test(path: Path, *members: str) -> str:
    """`unzip -t` on a file (only `members` when given); fails the test with unzip's own words
    unless it found no errors."""
    result = subprocess.run([require_unzip(), "-t", str(path), *members], capture_output=True, text=True,
                            timeout=600)
    output = result.stdout + result.stderr
    assert result.returncode == 0 and "No errors detected" in output, output
    return output


# CRC-32 of long runs of zero bytes without reading them: appending n zeros to a message is a
# linear map on its CRC register, x^(8n) mod P in GF(2) (the method of zlib's crc32_combine).
_POLY = 0xEDB88320


def _multmodp(a: int, b: int) -> int:
    m, p = 1 << 31, 0
    while True:
        if a & m:
            p ^= b
            if (a & (m - 1)) == 0:
                return p
        m >>= 1
        b = (b >> 1) ^ _POLY if b & 1 else b >> 1


def _x8nmodp(n: int) -> int:
    p, power = 1 << 31, 1 << 30   # x^0, and x^1 squared step by step
    squares = []
    for _ in range(64):
        squares.append(power)
        power = _multmodp(power, power)
    k = 3
    while n:
        if n & 1:
            p = _multmodp(squares[k % 64], p)
        n >>= 1
        k += 1
    return p


def crc32_of_zeros(length: int) -> int:
    """zlib.crc32(bytes(length)), for lengths too big to materialise."""
    # crc(zeros(n)) = crc(empty message) shifted through n zero bytes, with zlib's pre/post inversion.
    return _multmodp(_x8nmodp(length), 0xFFFFFFFF) ^ 0xFFFFFFFF


@contextlib.contextmanager
def sparse_file_dir(fallback: Path):
    """A directory for a big sparse file: tmpfs (/dev/shm) when there is one, where reading the
    holes back costs almost nothing (on a disk file system, 4 GiB of holes take seconds)."""
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK):
        with tempfile.TemporaryDirectory(prefix="filestream-zip64-", dir=shm) as path:
            yield Path(path)
    else:
        yield fallback


def unzip_list(path: Path) -> dict[str, int]:
    """Names and sizes as `unzip -l` reads them from the central directory."""
    result = subprocess.run([require_unzip(), "-l", str(path)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    sizes = {}
    for line in result.stdout.splitlines():
        parts = line.split(maxsplit=3)
        if len(parts) == 4 and parts[0].isdigit() and ":" in parts[2]:
            sizes[parts[3]] = int(parts[0])
    return sizes
