"""File contents for the simulated world: real bytes, or a seeded stream that never sits in memory whole."""

from __future__ import annotations

import functools
import hashlib
import random
from typing import Callable, Protocol, Union


class Content(Protocol):
    size: int

    def read(self, offset: int, limit: int) -> bytes | memoryview: ...


class BytesContent:
    """Bytes held in memory; reads are zero-copy slices."""

    def __init__(self, data: bytes):
        self.data = bytes(data)
        self.size = len(self.data)
        self._view = memoryview(self.data)

    def read(self, offset: int, limit: int) -> memoryview:
        return self._view[offset : offset + limit]

    def bytes(self) -> bytes:
        return self.data


# A prime period: shifting a window by any whole number of MiB changes its bytes, so a
# block served at the wrong offset never matches by accident.
SEEDED_PERIOD = 1_000_003


@functools.lru_cache(maxsize=8)
def _seeded_pattern(seed: int) -> memoryview:
    base = random.Random(seed).randbytes(SEEDED_PERIOD)
    # Three periods: every window of up to two periods is one contiguous slice.
    return memoryview(base * 3)


class SeededContent:
    """`size` bytes that are a pure function of `seed`: byte i is pattern(seed)[i % period]."""

    def __init__(self, size: int, seed: int = 0):
        if size < 0:
            raise ValueError("size must be >= 0")
        self.size = size
        self.seed = seed

    def read(self, offset: int, limit: int) -> memoryview:
        end = min(self.size, offset + limit)
        if offset >= end:
            return memoryview(b"")
        pattern = _seeded_pattern(self.seed)
        out = bytearray()
        while offset < end:
            start = offset % SEEDED_PERIOD
            take = min(end - offset, 2 * SEEDED_PERIOD)
            chunk = pattern[start : start + take]
            if offset + take >= end and not out:
                return chunk
            out += chunk
            offset += take
        return memoryview(out)

    def bytes(self) -> bytes:
        return bytes(self.read(0, self.size))


class CallableContent:
    """Any `read(offset, limit) -> bytes` function with a known size."""

    def __init__(self, size: int, read: Callable[[int, int], bytes]):
        self.size = size
        self._read = read

    def read(self, offset: int, limit: int) -> bytes:
        end = min(self.size, offset + limit)
        if offset >= end:
            return b""
        return self._read(offset, end - offset)

    def bytes(self) -> bytes:
        return bytes(self.read(0, self.size))


ContentLike = Union[bytes, bytearray, memoryview, "SeededSpec", BytesContent, SeededContent, CallableContent]


class SeededSpec:
    """What tests pass for a big file: `SeededSpec(size=1 << 30, seed=7)`."""

    def __init__(self, size: int, seed: int = 0):
        self.size = size
        self.seed = seed


def as_content(data) -> BytesContent | SeededContent | CallableContent:
    if isinstance(data, (BytesContent, SeededContent, CallableContent)):
        return data
    if isinstance(data, SeededSpec):
        return SeededContent(data.size, data.seed)
    if isinstance(data, (bytes, bytearray, memoryview)):
        return BytesContent(bytes(data))
    if isinstance(data, dict) and "size" in data:
        return SeededContent(int(data["size"]), int(data.get("seed", 0)))
    if isinstance(data, tuple) and len(data) == 2:
        return SeededContent(int(data[0]), int(data[1]))
    raise TypeError(f"cannot use {type(data).__name__} as file content")


def sha256_of(content, block: int = 1 << 20) -> str:
    """Digest of a whole content, streamed block by block."""
    digest = hashlib.sha256()
    for offset in range(0, content.size, block):
        digest.update(content.read(offset, block))
    return digest.hexdigest()
