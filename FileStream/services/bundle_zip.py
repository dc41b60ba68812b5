"""A bundle as one ZIP made on the fly: headers from the layout, file bytes from the byte source, CRC-32s
computed while the bytes pass (or once per file, by a detached pass that streams it, and kept in MongoDB)."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass

from FileStream.core.models import StoredFile
from FileStream.core.tokens import log_ref
from FileStream.core.zip_layout import ZipEntry, ZipLayout, zip_names
from FileStream.core.zip_ranges import CrcPlan, plan_crcs

log = logging.getLogger(__name__)

LoadCrcs = Callable[[list[str]], Awaitable[dict[str, int]]]
SaveCrc = Callable[[str, int], Awaitable[None]]

# CRC-32 passes running at once in this process, whoever asked: each reads a whole file
# from Telegram for nobody, so a flood of Range requests over many bundles queues here
# instead of taking every GetFile slot.
CONCURRENT_PASSES = 2


class Crc32Keeper:
    """The CRC-32 of stored files, by Telegram's file_unique_id (the bytes' identity, so a copy
    of the same file sent again finds it): from the record when known, else computed once by
    a pass that streams the file through the byte source, and kept (`save`).

    A pass is detached from the request that needed it: it runs as a task of its own (at most
    `concurrent_passes` at once), concurrent needs of one file wait for the same pass, and it
    runs to its end and is kept even when every client that needed it has gone, so asking
    again and leaving costs nothing more. `source` is the web layer's ByteSource;
    `load(unique_ids)` returns the kept values it has, `save(unique_id, crc)` keeps one.
    """

    def __init__(self, source, load: LoadCrcs, save: SaveCrc, *, concurrent_passes: int = CONCURRENT_PASSES) -> None:
        self._source = source
        self._load = load
        self._save = save
        self._slots = asyncio.Semaphore(concurrent_passes)
        self._passes: dict[str, asyncio.Task[int]] = {}
        self.passes_run = 0   # passes that read a file (for tests and logs)

    async def known(self, files: Sequence[StoredFile]) -> dict[int, int]:
        """The CRC-32s at hand for `files`, by index: on their records, kept, or nothing to compute (empty)."""
        found = {index: file.crc32 if file.file_size else 0 for index, file in enumerate(files)
                 if file.crc32 is not None or file.file_size == 0}
        missing = {file.file_unique_id for index, file in enumerate(files) if index not in found}
        if missing:
            try:
                kept = await self._load(sorted(missing))
            except Exception as error:  # noqa: BLE001 - unknown is safe: the plan counts the cost
                log.warning("Could not read kept CRC-32s: %r", error)
                kept = {}
            for index, file in enumerate(files):
                if index not in found and file.file_unique_id in kept:
                    found[index] = kept[file.file_unique_id]
        return found

    def start(self, file: StoredFile) -> asyncio.Task[int]:
        """The pass that computes the file's CRC-32 (running already, or started now)."""
        key = file.file_unique_id
        task = self._passes.get(key)
        if task is None:
            task = self._passes[key] = asyncio.get_running_loop().create_task(
                self._pass(file), name=f"crc32:{log_ref(file.id)}")
            task.add_done_callback(lambda done, key=key: self._finished(key, done))
        return task

    async def crc_of(self, file: StoredFile) -> int:
        """The file's CRC-32; waiting for its pass, which goes on if this caller is cancelled."""
        if file.file_size == 0:
            return 0
        if file.crc32 is not None:
            return file.crc32
        return await asyncio.shield(self.start(file))

    async def remember(self, file: StoredFile, crc: int) -> None:
        """Keep a CRC computed elsewhere (a full pass of the file in a ZIP); failures are only logged."""
        try:
            await self._save(file.file_unique_id, crc)
        except Exception as error:  # noqa: BLE001 - it is computed again next time, nothing is lost
            log.warning("Could not keep the CRC-32 of file %s: %r", log_ref(file.id), error)

    async def settled(self) -> None:
        """Until no pass is running (those that failed included)."""
        while self._passes:
            await asyncio.gather(*list(self._passes.values()), return_exceptions=True)

    async def aclose(self) -> None:
        """Stop the passes still running (shutdown): they are computed again when next needed."""
        running = list(self._passes.values())
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)

    def _finished(self, key: str, task: asyncio.Task[int]) -> None:
        if self._passes.get(key) is task:
            del self._passes[key]
        if not task.cancelled() and task.exception() is not None:
            # Said here once; every waiter gets the exception too.
            log.warning("CRC-32 pass failed: %r", task.exception())

    async def _pass(self, file: StoredFile) -> int:
        async with self._slots:
            try:
                kept = await self._load([file.file_unique_id])   # another instance may have kept it meanwhile
            except Exception:  # noqa: BLE001 - then it is computed here
                kept = {}
            if file.file_unique_id in kept:
                return kept[file.file_unique_id]
            self.passes_run += 1
            crc = await self._compute(file)
        await self.remember(file, crc)
        return crc

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

    def crc_plan(self, first: int, last: int, known: Mapping[int, int]) -> CrcPlan:
        """What the CRC-32s of bytes `first`..`last` cost, with `known` at hand (core.zip_ranges)."""
        return plan_crcs(self.layout, first, last, known.keys())

    async def stream(self, first: int, last: int, source, crcs: Crc32Keeper, observer,
                     known: Mapping[int, int] | None = None) -> AsyncIterator[bytes]:
        """Bytes `first`..`last` (inclusive) of the archive, exactly as a full download has them.

        The files' data in the window are read as one stream of the source (`stream_parts`),
        so what it fetches ahead runs on from one file into the next instead of starting
        again at every file; the whole response is one running stream for a shutdown
        (`source.hold()`). A file whose data this window covers whole gets its CRC-32
        computed on the way (and kept, while the next bytes go out); so does the file the
        window starts inside when its descriptor is in the window and the plan says so (it
        is read from its byte 0, the part before the window for the CRC-32 alone). Any other
        CRC-32 a descriptor or the central directory needs comes from the keeper's detached
        pass, started at once so it runs while the bytes before it go out.

        `known`: CRC-32s at hand by entry (`crcs.known(files)`); the records' own when None.
        `observer.part(file, first, last)` hears each file's part (download counts, bytes
        served): a context around its bytes, told `handing(size)` before each chunk goes out.
        """
        known = dict(known) if known is not None else {
            index: file.crc32 for index, file in enumerate(self.files) if file.crc32 is not None}
        plan = self.crc_plan(first, last, known)
        pieces = list(self.layout.pieces(first, last))
        parts = [(self.files[p.segment.entry], 0 if p.segment.entry == plan.from_start else p.first, p.last)
                 for p in pieces if p.segment.kind == "data"]
        rendered: dict[int, bytes] = {}
        saving: list[asyncio.Task] = []   # CRC-32s being kept: the next file's bytes do not wait for the database
        passes = {index: crcs.start(self.files[index]) for index in plan.passes}
        with source.hold():
            data = _PartReader(source.stream_parts(parts)) if parts else None
            try:
                for piece in pieces:
                    segment = piece.segment
                    if segment.kind == "data":
                        assert data is not None
                        file = self.files[segment.entry]
                        from_start = segment.entry == plan.from_start
                        crc = 0 if (piece.whole or from_start) and segment.entry not in known else None
                        skip = piece.first if from_start else 0
                        while skip > 0:   # before the window: for the CRC-32 only, sent to nobody
                            chunk = await data.next(skip, file)
                            skip -= len(chunk)
                            crc = zlib.crc32(chunk, crc)
                        left = piece.last - piece.first + 1
                        with observer.part(file, piece.first, piece.last) as told:
                            while left > 0:
                                chunk = await data.next(left, file)
                                left -= len(chunk)
                                if crc is not None:
                                    crc = zlib.crc32(chunk, crc)
                                told.handing(len(chunk))
                                yield chunk
                        if crc is not None and piece.last == segment.length - 1:
                            saving.append(asyncio.ensure_future(crcs.remember(file, crc)))
                            known[segment.entry] = crc
                        continue
                    for index in segment.needs:
                        if index not in known:
                            pending = passes.get(index)
                            known[index] = await (asyncio.shield(pending) if pending is not None
                                                  else crcs.crc_of(self.files[index]))
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

    async def settled(self) -> None:
        """Until no pass is running (those that failed included)."""
        while self._passes:
            await asyncio.gather(*list(self._passes.values()), return_exceptions=True)

    async def aclose(self) -> None:
        await self._chunks.aclose()
