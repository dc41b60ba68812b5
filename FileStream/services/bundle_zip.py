"""A bundle as one ZIP made on the fly: headers from the layout, file bytes from the byte source, CRC-32s
computed while the bytes pass (or once per file, by streaming it, and kept in MongoDB)."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass

from FileStream.core.models import StoredFile
from FileStream.core.tokens import log_ref
from FileStream.core.zip_layout import ZipEntry, ZipLayout, zip_names

log = logging.getLogger(__name__)

LoadCrc = Callable[[str], Awaitable[int | None]]
SaveCrc = Callable[[str, int], Awaitable[None]]


class Crc32Keeper:
    """The CRC-32 of stored files: from the record when known, else computed once by streaming
    the file through the byte source and kept (`save`), so the next Range request that needs
    it finds it. Concurrent needs of one file in this process wait for one computation.

    `source` is the web layer's ByteSource (`stream(file, start, end)`); `load(file_id)` and
    `save(file_id, crc)` read and write the kept value.
    """

    def __init__(self, source, load: LoadCrc, save: SaveCrc) -> None:
        self._source = source
        self._load = load
        self._save = save
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    async def crc_of(self, file: StoredFile) -> int:
        if file.file_size == 0:
            return 0
        if file.crc32 is not None:
            return file.crc32
        lock = self._enter(file.id)
        try:
            async with lock:
                known = await self._load(file.id)
                if known is not None:
                    return known
                crc = await self._compute(file)
                await self.remember(file.id, crc)
                return crc
        finally:
            self._leave(file.id)

    async def remember(self, file_id: str, crc: int) -> None:
        """Keep a CRC computed elsewhere (a full pass of the file in a ZIP); failures are only logged."""
        try:
            await self._save(file_id, crc)
        except Exception as error:  # noqa: BLE001 - it is computed again next time, nothing is lost
            log.warning("Could not keep the CRC-32 of file %s: %r", log_ref(file_id), error)

    async def _compute(self, file: StoredFile) -> int:
        log.info("Computing the CRC-32 of file %s (%d bytes) for a ZIP", file.ref, file.file_size)
        crc = 0
        seen = 0
        chunks = self._source.stream(file, 0, file.file_size - 1)
        try:
            async for chunk in chunks:
                crc = zlib.crc32(chunk, crc)
                seen += len(chunk)
        finally:
            await chunks.aclose()
        if seen != file.file_size:
            raise OSError(f"file {file.ref}: {seen} of {file.file_size} bytes arrived for its CRC-32")
        return crc

    def _enter(self, file_id: str) -> asyncio.Lock:
        lock, users = self._locks.get(file_id, (None, 0))
        lock = lock or asyncio.Lock()
        self._locks[file_id] = (lock, users + 1)
        return lock

    def _leave(self, file_id: str) -> None:
        lock, users = self._locks[file_id]
        if users <= 1:
            del self._locks[file_id]
        else:
            self._locks[file_id] = (lock, users - 1)


@dataclass(frozen=True)
class BundleArchive:
    """The ZIP of some stored files: entry i is files[i]."""

    bundle_id: str
    files: tuple[StoredFile, ...]
    layout: ZipLayout

    @classmethod
    def of(cls, bundle_id: str, files: Sequence[StoredFile]) -> BundleArchive:
        names = zip_names([file.file_name for file in files])
        entries = [ZipEntry(name, file.file_size, file.created_at) for name, file in zip(names, files)]
        return cls(bundle_id, tuple(files), ZipLayout(entries))

    @property
    def size(self) -> int:
        return self.layout.size

    def etag_id(self) -> str:
        """An opaque id of these exact bytes: the layout and the identity of every file's bytes."""
        digest = hashlib.sha256(self.bundle_id.encode())
        digest.update(self.layout.fingerprint().encode())
        for file in self.files:
            digest.update(b"\0" + file.file_unique_id.encode("utf-8", "surrogatepass"))
        return "zip-" + digest.hexdigest()[:40]

    async def stream(self, first: int, last: int, source, crcs: Crc32Keeper, observer) -> AsyncIterator[bytes]:
        """Bytes `first`..`last` (inclusive) of the archive, exactly as a full download has them.

        The files' data in the window are read as one stream of the source (`stream_parts`),
        so what it fetches ahead runs on from one file into the next instead of starting
        again at every file; the whole response is one running stream for a shutdown
        (`source.hold()`). A file whose data this window covers whole gets its CRC-32
        computed on the way (and kept, while the next bytes go out); a descriptor or central directory that needs one it
        does not know gets it from the keeper just before those bytes go out.

        `observer.part(file, first, last)` hears each file's part (download counts, bytes
        served): a context around its bytes, told `handing(size)` before each chunk goes out.
        """
        pieces = list(self.layout.pieces(first, last))
        parts = [(self.files[p.segment.entry], p.first, p.last) for p in pieces if p.segment.kind == "data"]
        known = {index: file.crc32 for index, file in enumerate(self.files) if file.crc32 is not None}
        rendered: dict[int, bytes] = {}
        saving: list[asyncio.Task] = []   # CRC-32s being kept: the next file's bytes do not wait for the database
        with source.hold():
            data = _PartReader(source.stream_parts(parts)) if parts else None
            try:
                for piece in pieces:
                    segment = piece.segment
                    if segment.kind == "data":
                        assert data is not None
                        file = self.files[segment.entry]
                        crc = 0 if piece.whole and segment.entry not in known else None
                        left = piece.last - piece.first + 1
                        with observer.part(file, piece.first, piece.last) as told:
                            while left > 0:
                                chunk = await data.next(left, file)
                                left -= len(chunk)
                                if crc is not None:
                                    crc = zlib.crc32(chunk, crc)
                                told.handing(len(chunk))
                                yield chunk
                        if crc is not None:
                            saving.append(asyncio.ensure_future(crcs.remember(file.id, crc)))
                            known[segment.entry] = crc
                        continue
                    for index in segment.needs:
                        if index not in known:
                            known[index] = await crcs.crc_of(self.files[index])
                    if segment.offset not in rendered:
                        rendered[segment.offset] = self.layout.render(segment, known)
                    yield rendered[segment.offset][piece.first:piece.last + 1]
            finally:
                if data is not None:
                    await data.aclose()
                if saving:
                    await asyncio.gather(*saving)


class _PartReader:
    """Reads the parts of one `stream_parts` stream one after another, by their lengths (a
    chunk that runs into the next part is split)."""

    def __init__(self, chunks: AsyncIterator[bytes]) -> None:
        self._chunks = chunks
        self._left = b""

    async def next(self, most: int, file: StoredFile) -> bytes | memoryview:
        """The next chunk, at most `most` bytes of the current part (of `file`, named if the stream ends)."""
        chunk, self._left = self._left, b""
        if not chunk:
            try:
                chunk = await anext(self._chunks)
            except StopAsyncIteration:
                raise OSError(f"file {file.ref}: the stream ended {most} bytes short") from None
        if len(chunk) > most:
            view = memoryview(chunk)
            chunk, self._left = view[:most], view[most:]
        return chunk

    async def aclose(self) -> None:
        await self._chunks.aclose()
