"""In-memory FileLookup, BundleLookup and ByteSource: test doubles for the web layer (never shipped in FileStream/)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import aclosing, contextmanager
from dataclasses import dataclass, field
from typing import AsyncIterator

from FileStream.core.models import Bundle, StoredFile


@dataclass
class MemoryFiles:
    """A FileLookup over a dict of records."""

    records: dict[str, StoredFile] = field(default_factory=dict)

    def add(self, file: StoredFile) -> StoredFile:
        self.records[file.id] = file
        return file

    async def get_file(self, file_id: str) -> StoredFile | None:
        return self.records.get(file_id)


@dataclass
class MemoryBytes:
    """A ByteSource over bytes kept per file id.

    `chunk_size` shapes the stream; `fail_after` makes it raise once that many bytes of
    a stream were yielded (0: before the first byte); `delay` sleeps before each chunk.
    It records every stream it opened (each part of `stream_parts` as one), whether it was
    closed and where a failure struck (`failed`: the stream and the bytes yielded before
    it), and how many responses hold it (`held`), for tests to inspect.
    """

    contents: dict[str, bytes] = field(default_factory=dict)
    chunk_size: int = 64 * 1024
    fail_after: int | None = None
    delay: float = 0.0
    opened: list[tuple[str, int, int]] = field(default_factory=list)
    closed: list[tuple[str, int, int]] = field(default_factory=list)
    failed: list[tuple[tuple[str, int, int], int]] = field(default_factory=list)
    held: int = 0   # responses holding the source (hold()) right now
    wholes: list[bool] = field(default_factory=list)   # `whole` of each stream() call
    parts_joined: bool = False   # stream_parts cuts its parts' bytes, joined, into chunks across their edges

    def stream(self, file: StoredFile, start: int, end: int, *, whole: bool = False) -> AsyncIterator[bytes]:
        self.wholes.append(whole)
        return self._stream(file, start, end)

    async def stream_parts(self, parts, *, whole: bool = False) -> AsyncIterator[bytes]:
        if self.parts_joined:
            joined = b"".join(self.contents[file.id][start:end + 1] for file, start, end in parts)
            for offset in range(0, len(joined), self.chunk_size):
                yield joined[offset:offset + self.chunk_size]
            return
        for file, start, end in parts:
            async with aclosing(self._stream(file, start, end)) as chunks:
                async for chunk in chunks:
                    yield chunk

    @contextmanager
    def hold(self) -> Iterator[None]:
        self.held += 1
        try:
            yield
        finally:
            self.held -= 1

    async def _stream(self, file: StoredFile, start: int, end: int) -> AsyncIterator[bytes]:
        key = (file.id, start, end)
        self.opened.append(key)
        data = memoryview(self.contents[file.id])
        yielded = 0
        try:
            position = start
            while position <= end:
                if self.fail_after is not None and yielded >= self.fail_after:
                    self.failed.append((key, yielded))
                    raise ConnectionError("fake source failure")
                if self.delay:
                    await asyncio.sleep(self.delay)
                stop = min(position + self.chunk_size, end + 1)
                if self.fail_after is not None:
                    stop = min(stop, start + self.fail_after) if yielded < self.fail_after else stop
                chunk = bytes(data[position:stop])
                yielded += len(chunk)
                position = stop
                yield chunk
        finally:
            self.closed.append(key)


@dataclass
class MemoryBundles:
    """A BundleLookup over dicts: bundles, the MemoryFiles they point into, and kept CRC-32s (by file_unique_id)."""

    files: MemoryFiles
    bundles: dict[str, Bundle] = field(default_factory=dict)
    crcs: dict[str, int] = field(default_factory=dict)

    def add(self, bundle: Bundle) -> Bundle:
        self.bundles[bundle.id] = bundle
        return bundle

    async def get_bundle(self, bundle_id: str) -> Bundle | None:
        return self.bundles.get(bundle_id)

    async def get_files(self, file_ids) -> dict[str, StoredFile]:
        return {i: self.files.records[i] for i in file_ids if i in self.files.records}

    async def get_crc32s(self, file_unique_ids) -> dict[str, int]:
        return {key: self.crcs[key] for key in file_unique_ids if key in self.crcs}

    async def set_crc32(self, file_unique_id: str, crc: int) -> None:
        self.crcs[file_unique_id] = crc


@dataclass
class MemoryThumbnails:
    """Thumbnails kept per file id; `fail` makes every call raise; `calls` counts them."""

    images: dict[str, bytes] = field(default_factory=dict)
    fail: bool = False
    calls: int = 0

    async def thumbnail(self, file: StoredFile) -> bytes | None:
        self.calls += 1
        if self.fail:
            raise ConnectionError("fake thumbnail failure")
        return self.images.get(file.id)
