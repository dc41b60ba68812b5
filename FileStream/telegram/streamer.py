"""Turns (file, byte range) into ordered bytes from upload.GetFile, fetched ahead and striped.

A stream requests blocks ahead of its reader and hands them out in order. How far ahead
is its window (core/prefetch.py: it starts at two blocks, grows only as the reader takes
whole blocks and shrinks when the reader stalls) within the memory budget every stream
shares (memory_budget.py). A reader that takes nothing for `blocked_after` seconds (blocked
in a write to its client) keeps only the block it is writing: the rest goes back to the
budget, and is fetched again if it reads on. Each
block goes to the least busy media connection (media_sessions.py: several per bot and
DC) of the least busy bot, so one download uses every connection of every bot.

A stream may cover several ranges of several files one after another (a bundle's ZIP):
they are one run of blocks, so the window it has learned carries on into the next file
and that file's first blocks are on their way while the last ones of the current arrive.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import math
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass

from pyrogram import raw
from pyrogram.errors import FileReferenceExpired, Flood, RPCError, Unauthorized

from FileStream.core.blocks import Block, ShortBlockError, plan_blocks
from FileStream.core.models import StoredFile
from FileStream.core.prefetch import PrefetchWindow
from FileStream.telegram.media import LocationCache, location_of
from FileStream.telegram.media_sessions import MediaConnection, MediaSessions
from FileStream.telegram.memory_budget import MemoryBudget, MemoryWaitTimeout
from FileStream.telegram.pool import BotPool, NoClientAvailable, PoolMember

log = logging.getLogger(__name__)

# A stream's window never shrinks below this many blocks: one being sent, one on its way.
MIN_WINDOW = 2
# Seconds a new stream is told to wait when every unit of stream memory is held.
MEMORY_RETRY_AFTER = 5


class StreamError(Exception):
    """The bytes of a block could not be delivered; the response must be cut, not faked.

    `retry_after`: seconds until the stream could be served, when that is why (no bot can
    serve yet, or no stream memory is free); the web layer then answers 503 with
    Retry-After before the first byte.
    """

    def __init__(self, message: str, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class FileGone(StreamError):
    """The stored message or its media no longer exists."""


class NotReadableHere(Exception):
    """This bot can read no copy of the file right now (another bot may: the block goes to it)."""


class _ConnectionFailed(Exception):
    """A request failed because of its connection (now being replaced); the block goes elsewhere."""

    def __init__(self, connection: MediaConnection) -> None:
        super().__init__(f"media connection {connection.index} failed")
        self.connection = connection


class _NoConnection(Exception):
    """The client has no media connection ready to the DC (all are being replaced)."""


class _CannotConnect(Exception):
    """The client could not make its first media connection to the DC."""


@dataclass(frozen=True)
class StreamTuning:
    prefetch: int = 32                # most blocks one stream holds (its window's ceiling)
    initial_window: int = 2           # blocks a stream holds at its start, before its reader took any
    download_step: int = 3            # blocks a whole download's window grows by per block taken (1 for a Range)
    blocked_after: float = 2.0        # seconds in one write after which the reader counts as blocked
    stripe: bool = True               # spread one stream's blocks over the pool
    per_connection_requests: int = 8  # GetFile in flight per media connection, all streams together
    block_timeout: float = 20.0       # seconds one GetFile may take before another connection is tried
    max_attempts: int = 6             # tries per block, across connections and clients
    max_request_errors: int = 2       # 400-class answers about a block before the stream fails
    max_flood_wait: float = 60.0      # longer FLOOD_WAITs with no other client fail the stream
    memory_wait: float = 30.0         # seconds a new stream waits for memory before a 503


class Streamer:
    """Reads byte ranges of stored files through the bot pool (`stream` and `stream_parts` of
    web's ByteSource; the service counts its streams around it, service.ActiveStreams).

    `on_change`: called (no arguments) when one of its streams starts or ends, a block it
    fetched ahead arrives (or fails, or is dropped), it starts writing a block to its reader,
    the reader took that block, or the reader is found blocked: observers (metrics, tests)
    learn of it without polling. A few calls per block at most, none per piece written.
    """

    def __init__(self, pool: BotPool, sessions: MediaSessions, tuning: StreamTuning = StreamTuning(),
                 metrics=None, budget: MemoryBudget | None = None, locate=None) -> None:
        """`locate(member, file) -> (location, dc_id)`: where `member` reads the file's bytes, from
        whichever copy of it still exists (services/healing.py); None: its storage message only."""
        self.pool = pool
        self.locate = locate
        self.metrics = metrics  # FileStream.metrics.Metrics, optional
        self.sessions = sessions
        self.tuning = tuning
        self.budget = budget if budget is not None else MemoryBudget(256 << 20)
        self.locations = LocationCache()
        self.active: set[_Prefetch] = set()
        self.blocks_moved = 0  # blocks tried again on another connection after theirs failed
        self.on_change: list[Callable[[], object]] = []
        self._location_reads: dict[tuple[str, int, int], asyncio.Future] = {}
        self._request_slots: dict[str, asyncio.Semaphore] = {}

    def stream(self, file: StoredFile, start: int, end: int, *, whole: bool = False) -> AsyncIterator[bytes]:
        """Bytes `start`..`end` (inclusive) of `file`, in order (`whole`: see stream_parts)."""
        return self.stream_parts(((file, start, end),), whole=whole)

    async def stream_parts(self, parts: Iterable[tuple[StoredFile, int, int]], *,
                           whole: bool = False) -> AsyncIterator[bytes]:
        """The bytes of every (file, start, end) part in turn, as one stream: one window, one
        memory lease, fetched ahead across the parts' boundaries. No chunk spans two parts.

        `whole`: a download asked for without a Range, read to its end as a rule: once its
        reader takes bytes its window grows faster (`download_step` per block taken) than a
        player's Range request does. Both start at `initial_window`: a client that reads the
        headers and leaves costs that many blocks, whatever it asked for."""
        parts = [(file, start, end) for file, start, end in parts if end >= start]
        if not parts:
            return
        try:
            primary = self.pool.pick()
        except NoClientAvailable as error:
            raise self._no_client(error) from error
        with self.pool.stream_lease(primary):
            prefetch = _Prefetch(self, parts, primary, whole=whole)
            self.active.add(prefetch)
            self._changed()
            try:
                await prefetch.begin()
                while (data := await prefetch.next()) is not None:
                    prefetch.writing()
                    yield data
                    prefetch.sent()
            finally:
                self.active.discard(prefetch)
                self._changed()
                await prefetch.close()

    def blocks_ahead(self) -> int:
        """Blocks requested ahead by every running stream (in flight or waiting for their reader)."""
        return sum(len(p.slots) for p in self.active)

    def blocked(self) -> int:
        """Running streams whose reader is blocked in a write (it takes no bytes just now)."""
        return sum(1 for p in self.active if p.blocked)

    def _changed(self) -> None:
        for call in self.on_change:
            call()

    def _no_client(self, error: Exception) -> StreamError:
        wait = self.pool.earliest_available_in()
        return StreamError(str(error), retry_after=max(1, math.ceil(wait)))

    # -- one block --------------------------------------------------------------------------
    async def _fetch(self, file: StoredFile, block: Block, primary: PoolMember) -> bytes:
        """The block's bytes; however its fetch ends, `on_change` hears of it."""
        try:
            return await self._fetch_block(file, block, primary)
        finally:
            # Called while the task is still running: observers woken by it run after it is done.
            self._changed()

    async def _fetch_block(self, file: StoredFile, block: Block, primary: PoolMember) -> bytes:
        tried: set[PoolMember] = set()
        avoid: set[MediaConnection] = set()
        request_errors = 0
        last_error: BaseException | None = None
        reader: PoolMember | None = None   # set when only the main bot can read the file now
        for _attempt in range(self.tuning.max_attempts):
            member = reader or await self._choose(file, primary, frozenset(tried))
            with self.pool.request_lease(member):
                async with self._slots(member):
                    try:
                        data = await self._get_file(member, file, block, frozenset(avoid))
                    except FileReferenceExpired as error:
                        # The reference aged out: read the message again, same offset.
                        self.locations.evict(self._location_key(member, file))
                        last_error = error
                        continue
                    except Flood as error:
                        seconds = float(getattr(error, "value", None) or 1)
                        self.pool.record_flood(member, seconds)
                        if self.metrics is not None:
                            self.metrics.flood_wait(member.name, seconds)
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
                    except NotReadableHere as error:
                        # This bot can read no copy now; the main bot reads every message it got
                        # (the person's original too), so it gets the block.
                        if member is self.pool.main:
                            raise StreamError(str(error)) from error
                        tried.add(member)
                        reader = self.pool.main
                        last_error = error
                        continue
                    except _ConnectionFailed as failure:
                        # Only that connection is replaced; the client stays in the pool.
                        avoid.add(failure.connection)
                        self.blocks_moved += 1
                        last_error = failure.__cause__
                        continue
                    except _NoConnection as error:
                        tried.add(member)
                        last_error = error
                        continue
                    except _CannotConnect as error:
                        self.pool.record_failure(member, error)
                        tried.add(member)
                        last_error = error
                        continue
                    except RPCError as error:
                        # About this request, not the client (a bad location, a 400 about one
                        # file): the client stays healthy; its location is read again.
                        self.locations.evict(self._location_key(member, file))
                        tried.add(member)
                        last_error = error
                        request_errors += 1
                        if request_errors >= self.tuning.max_request_errors:
                            break
                        continue
            self.pool.record_success(member, len(data))
            return data
        raise StreamError(f"block at {block.offset} of file {file.id} failed: {last_error!r}")

    def _slots(self, member: PoolMember) -> asyncio.Semaphore:
        """The member's GetFile slots, shared by every stream (Telegram limits per connection)."""
        slots = self._request_slots.get(member.name)
        if slots is None:
            size = self.sessions.connections * self.tuning.per_connection_requests
            slots = self._request_slots[member.name] = asyncio.Semaphore(size)
        return slots

    async def _choose(self, file: StoredFile, primary: PoolMember, tried: frozenset[PoolMember]) -> PoolMember:
        def load(member: PoolMember) -> float:
            return self.sessions.load(member.name, file.dc_id)

        while True:
            try:
                if self.tuning.stripe:
                    return self.pool.pick_for_block(primary, exclude=tried, load=load)
                if primary not in tried and primary.available(self.pool.clock()):
                    return primary
                return self.pool.pick(exclude=tried)
            except NoClientAvailable as error:
                wait = self.pool.earliest_available_in()
                if wait > self.tuning.max_flood_wait:
                    raise self._no_client(error) from error
                # Every client waits out a FLOOD_WAIT or a backoff: a short pause beats failing.
                await asyncio.sleep(max(wait, 0.05))

    async def _get_file(self, member: PoolMember, file: StoredFile, block: Block,
                        avoid: frozenset[MediaConnection]) -> bytes:
        location, dc_id = await self._location(member, file)
        try:
            connections = await self.sessions.get(member.name, member.client, dc_id)
        except (OSError, ConnectionError) as error:
            raise _CannotConnect(f"{member.name} cannot connect to DC{dc_id}: {error}") from error
        connection = connections.pick(avoid)
        if connection is None:
            if not await connections.wait_ready(self.tuning.block_timeout):
                raise _NoConnection(f"{member.name} has no media connection to DC{dc_id} ready")
            connection = connections.pick(avoid)
            if connection is None:
                raise _NoConnection(f"{member.name} has no media connection to DC{dc_id} ready")
        session = connection.session
        precise = not (block.offset % 4096 == 0 and block.limit % 4096 == 0 and (1 << 20) % block.limit == 0)
        with connections.lease(connection):
            began = time.perf_counter()
            try:
                answer = await session.invoke(
                    raw.functions.upload.GetFile(location=location, offset=block.offset, limit=block.limit,
                                                 precise=precise or None),
                    retries=1, timeout=self.tuning.block_timeout, sleep_threshold=0, retry_delay=0)
            except (OSError, ConnectionError) as error:
                # No answer in time, a dropped socket, or (after the library's own retry) a 500:
                # that connection is replaced and the block tried on another one.
                connections.failed(connection, session, error)
                raise _ConnectionFailed(connection) from error
        connections.succeeded(connection)
        if self.metrics is not None:
            self.metrics.getfile(member.name, dc_id, time.perf_counter() - began)
        try:
            return block.cut(answer.bytes)
        except ShortBlockError as error:
            raise FileGone(f"{error}; the stored file is shorter than its record") from error

    # -- where a bot reads the file -----------------------------------------------------------
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
            read = self._read_location if self.locate is None else self._located
            pending = asyncio.ensure_future(read(member, file))
            self._location_reads[key] = pending
            pending.add_done_callback(lambda done: self._location_read(key, done))
        return await asyncio.shield(pending)

    def _location_read(self, key, done: asyncio.Future) -> None:
        self._location_reads.pop(key, None)
        if not done.cancelled():
            done.exception()  # retrieved here: every block that waited for it may have been cancelled

    async def _located(self, member: PoolMember, file: StoredFile):
        entry = await self.locate(member, file)
        self.locations.put(self._location_key(member, file), entry)
        return entry

    async def _read_location(self, member: PoolMember, file: StoredFile):
        message = await member.client.get_messages(file.storage_chat_id, file.storage_message_id)
        location, dc_id = location_of(message) if message and not getattr(message, "empty", False) else (None, 0)
        if location is None:
            raise FileGone(f"stored message {file.storage_message_id} of file {file.id} has no media")
        entry = (location, dc_id)
        self.locations.put(self._location_key(member, file), entry)
        return entry


@dataclass(eq=False)
class _Slot:
    file: StoredFile
    block: Block
    task: asyncio.Task


class _Prefetch:
    """One stream's blocks (of one file or of several in turn): requested ahead within its window
    and its memory lease, handed out in order. Parts are planned into blocks as the window
    reaches them (a ZIP of a hundred large files would otherwise list a million blocks).

    The window counts the blocks the stream holds: requested and not yet handed out, plus the
    one being written to the reader; it changes when the reader has taken a whole block
    (`sent`). Memory units (memory_budget.py) held = the same blocks. A unit freed by the
    reader is reused for the next block while the stream holds no more than its fair share,
    else given back. A write that takes longer than `blocked_after` marks the stream blocked:
    it gives back every block but the one being written until the reader takes it.
    """

    def __init__(self, streamer: Streamer, parts: list[tuple[StoredFile, int, int]], primary: PoolMember, *,
                 whole: bool = False) -> None:
        self._streamer = streamer
        self._primary = primary
        tuning = streamer.tuning
        self._parts = deque(parts)                       # not planned into blocks yet
        # planned, not requested yet (shed blocks come back first)
        self.pending: deque[tuple[StoredFile, Block]] = deque()
        self.slots: deque[_Slot] = deque()               # requested, in order
        minimum = min(MIN_WINDOW, tuning.prefetch)
        self.window = PrefetchWindow(initial=max(minimum, tuning.initial_window), maximum=tuning.prefetch,
                                     minimum=minimum, step=max(1, tuning.download_step) if whole else 1)
        self.memory = streamer.budget.lease(self._shed)
        self.sending = 0
        self.blocked = False
        self._blocked_timer: asyncio.TimerHandle | None = None

    async def begin(self) -> None:
        self._planned(min(MIN_WINDOW, self.window.limit))
        try:
            await self.memory.admit(len(self.pending), self._streamer.tuning.memory_wait)
        except MemoryWaitTimeout as error:
            raise StreamError(str(error), retry_after=MEMORY_RETRY_AFTER) from error
        self._top_up()

    async def next(self) -> bytes | None:
        """The next block's bytes in order, or None at the end."""
        # Blocks requested before the reader came back for this one: how many of them are
        # ready tells whether it took its time (those requested now cannot be ready yet).
        earlier = len(self.slots) - 1
        # The unit of the block the reader just took goes to the next one, in flight while we wait.
        self._top_up()
        if not self.slots:
            return None
        head = self.slots[0]
        waited = not head.task.done()
        data = await head.task
        self.slots.popleft()
        self.sending = 1
        ready = sum(1 for slot in itertools.islice(self.slots, max(0, earlier)) if slot.task.done())
        self.window.asked(ready_behind=ready, waited=waited)
        # A window that shrank gives its spare units back (nothing is requested: the window
        # counts the block being written, so the next request waits until the reader took it).
        self._top_up()
        return data

    def writing(self) -> None:
        """The block just handed out is being written to the reader."""
        self._blocked_timer = asyncio.get_running_loop().call_later(
            self._streamer.tuning.blocked_after, self._block)
        self._streamer._changed()

    def sent(self) -> None:
        """The reader took the whole block: its unit goes to the next block or back, and the
        window learns from it (only now: bytes the reader never takes never grow it)."""
        self._cancel_timer()
        self.sending = 0
        if self.blocked:
            # It reads on after a pause: from the minimum again, as the window was reset.
            self.blocked = self.memory.blocked = False
        else:
            self.window.consumed()
        self._streamer._changed()
        # Its unit is reused by `next`, which the reader calls at once.

    def _block(self) -> None:
        """The reader took nothing for `blocked_after` seconds: keep only the block being written."""
        self._blocked_timer = None
        self.blocked = self.memory.blocked = True
        self.window.reset()
        while self.slots:
            self._give_back(self.slots.pop())
        self.memory.release(self._free_units())
        self._streamer._changed()

    def _cancel_timer(self) -> None:
        if self._blocked_timer is not None:
            self._blocked_timer.cancel()
            self._blocked_timer = None

    def _free_units(self) -> int:
        return self.memory.held - len(self.slots) - self.sending

    def _top_up(self) -> None:
        share = self._streamer.budget.fair_share()
        while len(self.slots) + self.sending < self.window.limit and self._planned(1):
            if self._free_units() > 0 and (self.memory.held <= share or not self.slots):
                pass  # a unit this stream holds already
            elif not self.memory.try_grow():
                break
            self._start(*self.pending.popleft())
        # Units neither holding a block nor the reader's go back to the other streams.
        self.memory.release(self._free_units())

    def _planned(self, wanted: int) -> bool:
        """Whether a block is planned and waits to be requested, planning parts until `wanted` are
        (or every part is)."""
        while len(self.pending) < wanted and self._parts:
            file, start, end = self._parts.popleft()
            self.pending.extend((file, block) for block in plan_blocks(start, end, file.file_size))
        return bool(self.pending)

    def _start(self, file: StoredFile, block: Block) -> None:
        task = asyncio.ensure_future(self._streamer._fetch(file, block, self._primary))
        self.slots.append(_Slot(file, block, task))

    def _give_back(self, slot: _Slot) -> None:
        """A block requested ahead goes back to be requested again later; its unit is freed."""
        if slot.task.done():
            if not slot.task.cancelled():
                slot.task.exception()  # retrieved: a dropped block's failure is nobody's news
        else:
            slot.task.cancel()
        self.pending.appendleft((slot.file, slot.block))
        self.memory.release(1)

    def _shed(self, keep: int) -> None:
        """Asked by the budget: drop the farthest blocks (never the next one) until holding `keep` units."""
        while len(self.slots) > 1 and self.memory.held > keep:
            self._give_back(self.slots.pop())

    async def close(self) -> None:
        self._cancel_timer()
        tasks = [slot.task for slot in self.slots]
        self.slots.clear()
        for task in tasks:
            task.cancel()
        try:
            if tasks:
                await asyncio.gather(*tasks, return_exceptions=True)
        finally:
            self.memory.close()
