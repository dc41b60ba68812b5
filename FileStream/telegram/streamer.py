"""Turns (file, byte range) into ordered bytes from upload.GetFile, fetched ahead and striped.

A stream keeps up to `prefetch` blocks in flight and yields them in order, so it is not
limited to one block per round trip; with striping on, each block goes to the pool
member with the fewest GetFile requests in flight, so one download can use several
bots' connections at once. Memory per stream is bounded by the prefetch window.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import deque
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

from pyrogram import raw
from pyrogram.errors import FileReferenceExpired, FloodWait, RPCError, Unauthorized

from FileStream.core.blocks import Block, ShortBlockError, plan_blocks
from FileStream.core.models import StoredFile
from FileStream.telegram.media import LocationCache, location_of
from FileStream.telegram.media_sessions import MediaSessions
from FileStream.telegram.pool import BotPool, NoClientAvailable, PoolMember

log = logging.getLogger(__name__)


class StreamError(Exception):
    """The bytes of a block could not be delivered; the response must be cut, not faked.

    `retry_after`: seconds until a bot can serve again, when that is why (the web layer
    then answers 503 with Retry-After before the first byte).
    """

    def __init__(self, message: str, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class FileGone(StreamError):
    """The stored message or its media no longer exists."""


@dataclass(frozen=True)
class StreamTuning:
    prefetch: int = 8               # blocks in flight per stream, at most
    initial_window: int = 2         # blocks in flight at a stream's start; one more per block sent
    stripe: bool = True             # spread one stream's blocks over the pool
    per_client_requests: int = 8    # GetFile in flight per bot client, all streams together
    block_timeout: float = 20.0     # seconds one GetFile may take before another client is tried
    max_attempts: int = 6           # tries per block, across clients
    max_flood_wait: float = 60.0    # longer FLOOD_WAITs with no other client fail the stream


class Streamer:
    """Reads byte ranges of stored files through the bot pool (implements web's ByteSource)."""

    def __init__(self, pool: BotPool, sessions: MediaSessions, tuning: StreamTuning = StreamTuning(),
                 metrics=None) -> None:
        self.pool = pool
        self.metrics = metrics  # FileStream.metrics.Metrics, optional
        self.sessions = sessions
        self.tuning = tuning
        self.locations = LocationCache()
        self._location_reads: dict[tuple[str, int, int], asyncio.Future] = {}
        self._request_slots: dict[str, asyncio.Semaphore] = {}

    async def stream(self, file: StoredFile, start: int, end: int) -> AsyncIterator[bytes]:
        if end < start:
            return
        blocks = iter(plan_blocks(start, end, file.file_size))
        primary = self.pool.pick()
        # The window opens small and grows by one block per block sent (up to `prefetch`):
        # players probe and seek with requests they abandon after a few bytes, and every block
        # still in flight then is sent by Telegram anyway, ahead of the next request's answers.
        limit = max(1, min(self.tuning.initial_window, self.tuning.prefetch))
        with self.pool.stream_lease(primary):
            window: deque[asyncio.Task] = deque()
            try:
                self._fill(window, limit, blocks, file, primary)
                while window:
                    data = await window.popleft()
                    limit = min(limit + 1, self.tuning.prefetch)
                    # Refilled before the chunk goes out, so the next requests run meanwhile.
                    self._fill(window, limit, blocks, file, primary)
                    yield data
            finally:
                for task in window:
                    task.cancel()
                if window:
                    await asyncio.gather(*window, return_exceptions=True)

    def _fill(self, window: deque[asyncio.Task], limit: int, blocks: Iterator[Block], file: StoredFile,
              primary: PoolMember) -> None:
        while len(window) < limit:
            block = next(blocks, None)
            if block is None:
                return
            window.append(asyncio.ensure_future(self._fetch(file, block, primary)))

    async def _fetch(self, file: StoredFile, block: Block, primary: PoolMember) -> bytes:
        tried: set[PoolMember] = set()
        last_error: BaseException | None = None
        for _attempt in range(self.tuning.max_attempts):
            member = await self._choose(primary, frozenset(tried))
            with self.pool.request_lease(member):
                async with self._slots(member):
                    try:
                        data = await self._get_file(member, file, block)
                    except FileReferenceExpired as error:
                        # The reference aged out: read the message again, same offset.
                        self.locations.evict(self._location_key(member, file))
                        last_error = error
                        continue
                    except FloodWait as error:
                        self.pool.record_flood(member, float(error.value or 1))
                        if self.metrics is not None:
                            self.metrics.flood_wait(member.name, float(error.value or 1))
                        tried.add(member)
                        last_error = error
                        continue
                    except Unauthorized as error:
                        self.pool.record_failure(member, error)
                        await self.sessions.drop(member.name, member.client, file.dc_id)
                        tried.add(member)
                        last_error = error
                        continue
                    except FileGone:
                        raise
                    except (TimeoutError, OSError, ConnectionError, RPCError) as error:
                        self.pool.record_failure(member, error)
                        tried.add(member)
                        last_error = error
                        continue
            self.pool.record_success(member, len(data))
            return data
        raise StreamError(f"block at {block.offset} of file {file.id} failed: {last_error!r}")

    def _slots(self, member: PoolMember) -> asyncio.Semaphore:
        """The member's GetFile slots, shared by every stream (Telegram limits per connection)."""
        slots = self._request_slots.get(member.name)
        if slots is None:
            slots = self._request_slots[member.name] = asyncio.Semaphore(self.tuning.per_client_requests)
        return slots

    async def _choose(self, primary: PoolMember, tried: frozenset[PoolMember]) -> PoolMember:
        while True:
            try:
                if self.tuning.stripe:
                    return self.pool.pick_for_block(primary, exclude=tried)
                if primary not in tried and primary.available(self.pool.clock()):
                    return primary
                return self.pool.pick(exclude=tried)
            except NoClientAvailable as error:
                wait = self.pool.earliest_available_in()
                if wait > self.tuning.max_flood_wait:
                    raise StreamError(str(error), retry_after=math.ceil(wait)) from error
                # Every client waits out a FLOOD_WAIT or a backoff: a short pause beats failing.
                await asyncio.sleep(max(wait, 0.05))

    async def _get_file(self, member: PoolMember, file: StoredFile, block: Block) -> bytes:
        location, dc_id = await self._location(member, file)
        session = await self.sessions.get(member.name, member.client, dc_id)
        began = time.perf_counter()
        precise = not (block.offset % 4096 == 0 and block.limit % 4096 == 0 and (1 << 20) % block.limit == 0)
        answer = await session.invoke(
            raw.functions.upload.GetFile(location=location, offset=block.offset, limit=block.limit, precise=precise or None),
            retries=1, timeout=self.tuning.block_timeout, sleep_threshold=0)
        if self.metrics is not None:
            self.metrics.getfile(member.name, dc_id, time.perf_counter() - began)
        try:
            return block.cut(answer.bytes)
        except ShortBlockError as error:
            raise FileGone(f"{error}; the stored file is shorter than its record") from error

    def _location_key(self, member: PoolMember, file: StoredFile) -> tuple[str, int, int]:
        return (member.name, file.storage_chat_id, file.storage_message_id)

    async def _location(self, member: PoolMember, file: StoredFile):
        key = self._location_key(member, file)
        cached = self.locations.get(key)
        if cached is not None:
            return cached
        # Blocks fetched ahead all miss at once: read the message once for all of them.
        pending = self._location_reads.get(key)
        if pending is None:
            pending = asyncio.ensure_future(self._read_location(member, file))
            self._location_reads[key] = pending
            pending.add_done_callback(lambda _f: self._location_reads.pop(key, None))
        return await asyncio.shield(pending)

    async def _read_location(self, member: PoolMember, file: StoredFile):
        message = await member.client.get_messages(file.storage_chat_id, file.storage_message_id)
        location, dc_id = location_of(message) if message and not getattr(message, "empty", False) else (None, 0)
        if location is None:
            raise FileGone(f"stored message {file.storage_message_id} of file {file.id} has no media")
        entry = (location, dc_id)
        self.locations.put(self._location_key(member, file), entry)
        return entry
