"""The media connections of one process: several per (bot client, DC), authorised once, reused by every download.

Telegram limits what one connection carries, and its own apps download over several
connections per DC at once: Telegram Desktop opens up to 8 download sessions per DC
(`kMaxSessionsCount = 8` in Telegram/SourceFiles/storage/download_manager_mtproto.cpp),
adding one while requests succeed and removing one after repeated timeouts. FileStream
opens `size` connections per (bot, DC) once and keeps them: each is its own MTProto
session (its own session_id and TCP connection) over the same auth key, so the
authorisation is exported and imported once per bot and DC, as Telegram expects
(repeated auth.exportAuthorization calls get FLOOD_WAIT).

A connection that fails is put aside: its session is stopped, and a new one over the
same key is opened after a backoff that doubles per failure in a row; meanwhile the
blocks go to the bot's other connections (or other bots). The client library's own
`get_session(dc, is_media=True)` exports twice for a foreign DC and is not stopped by
`Client.stop()`, so FileStream keeps its own.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from pyrogram import raw
from pyrogram.session import Auth, Session

log = logging.getLogger(__name__)

# Loads / saves the auth key of a foreign DC so a restart does not export again.
KeyLoader = Callable[[int, int], Awaitable[bytes | None]]
KeySaver = Callable[[int, int, bytes], Awaitable[None]]
SessionOpener = Callable[[bytes], Awaitable[Session]]

# A failed connection is replaced after this long, doubling per failure in a row up to the cap.
BACKOFF_FIRST = 1.0
BACKOFF_CAP = 60.0


class _PendingResults(dict):
    """The library's requests awaiting answers by msg_id, noting which task asked for each.

    A request whose task is cancelled (a seek drops the blocks fetched ahead) leaves its
    entry behind in the library, and the answer that arrives later would be kept in it for
    the life of the session: 1 MiB per dropped block. Such entries are orphans: dropped as
    soon as their answer has arrived. Until then Telegram is still sending that answer on
    this connection, so orphans count as load when choosing a connection for a new block.

    `on_change`: called (no arguments) after a request ended (its entry gone, or left as an
    orphan) and after orphans were dropped, so an observer learns of it without polling.
    """

    def __init__(self) -> None:
        super().__init__()
        self.asked_by: dict[asyncio.Task, Any] = {}
        self.sent: set[Any] = set()      # requests written to the socket (Telegram will answer them)
        self.orphans: set[Any] = set()
        self.on_change: list[Callable[[], object]] = []

    def __setitem__(self, msg_id, result) -> None:
        super().__setitem__(msg_id, result)
        task = asyncio.current_task()
        if task is not None:
            self.asked_by[task] = msg_id

    def written(self, task: asyncio.Task | None) -> None:
        msg_id = self.asked_by.get(task)
        if msg_id is not None:
            self.sent.add(msg_id)

    def done_asking(self, task: asyncio.Task | None, cancelled: bool) -> None:
        msg_id = self.asked_by.pop(task, None)
        if msg_id is not None:
            if cancelled and msg_id in self.sent and msg_id in self:
                self.orphans.add(msg_id)   # its answer is on its way: dropped when it lands
            else:
                self.pop(msg_id, None)     # answered, or never sent: nothing will come
            self.sent.discard(msg_id)
        self.drop_answered_orphans()
        self._changed()

    def drop_answered_orphans(self) -> None:
        answered = [m for m in self.orphans if m not in self or self[m].event.is_set()]
        for msg_id in answered:
            self.orphans.discard(msg_id)
            self.pop(msg_id, None)
        if answered:
            self._changed()

    def _changed(self) -> None:
        for call in self.on_change:
            call()


class FailFastSession(Session):
    """A media session whose waiting requests fail at once when its connection drops.

    The library's session keeps a request waiting for its full timeout after the
    socket is gone; a stream would stall that long before trying another connection.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.results = _PendingResults()

    @property
    def orphans(self) -> int:
        """Answers Telegram is still sending for requests nobody waits for any more."""
        return len(self.results.orphans)

    async def send(self, *args, **kwargs):
        cancelled = False
        try:
            return await super().send(*args, **kwargs)
        except asyncio.CancelledError:
            cancelled = True
            raise
        finally:
            self.results.done_asking(asyncio.current_task(), cancelled)

    async def start(self) -> None:
        await super().start()
        connection = self.connection
        if connection is not None and not getattr(connection, "notes_writes", False):
            # Telegram answers only what reached it: a request cancelled before its bytes
            # were written leaves nothing to wait for.
            write = connection.send

            async def send(data: bytes) -> None:
                await write(data)
                self.results.written(asyncio.current_task())

            connection.send = send
            connection.notes_writes = True

    async def handle_packet(self, packet) -> None:
        await super().handle_packet(packet)
        if self.results.orphans:
            self.results.drop_answered_orphans()

    async def _stop(self) -> None:
        for result in list(self.results.values()):
            result.event.set()  # value stays None: send() raises TimeoutError now
        await super()._stop()
        self.results.drop_answered_orphans()


@dataclass(eq=False)
class MediaConnection:
    """One slot of a bot's connections to a DC and the session filling it now (None while replaced)."""

    index: int
    session: Session | None = None
    in_flight: int = 0
    requests: int = 0
    failures: int = 0
    failures_in_row: int = 0
    retry_at: float = 0.0     # monotonic time the replacement is (or was) opened
    opened: int = 0           # sessions this slot has had: 1 + replacements
    last_error: str = ""

    @property
    def ready(self) -> bool:
        return self.session is not None

    @property
    def load(self) -> int:
        """Answers this connection still carries: requests in flight, and dropped ones not yet answered."""
        return self.in_flight + getattr(self.session, "orphans", 0)


class ConnectionSet:
    """A bot's connections to one DC: `size` sessions over one auth key, least busy first.

    `on_change`: called (no arguments) when a request on one of its connections begins or
    ends (their `in_flight`), so an observer learns of it without polling.
    """

    def __init__(self, bot: str, dc_id: int, auth_key: bytes, open_session: SessionOpener, size: int,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self.bot = bot
        self.dc_id = dc_id
        self.auth_key = auth_key
        self.connections = [MediaConnection(index) for index in range(max(1, size))]
        self.closed = False
        self._open_session = open_session
        self._clock = clock
        self._sleep = sleep
        self._tasks: set[asyncio.Task] = set()        # opening and replacing connections
        self._stopping: set[asyncio.Task] = set()     # failed sessions being stopped
        self._any_ready = asyncio.Event()
        self.on_change: list[Callable[[], object]] = []

    def start(self, first: Session) -> None:
        """Take the session that authorised the key as connection 0; open the others in the background."""
        self._fill(self.connections[0], first)
        for connection in self.connections[1:]:
            self._spawn(self._keep_open(connection))

    # -- choosing ---------------------------------------------------------------------------
    @property
    def ready(self) -> list[MediaConnection]:
        return [c for c in self.connections if c.session is not None]

    def load(self) -> float:
        """Answers carried by the least busy ready connection (inf: none is ready)."""
        ready = self.ready
        return min(c.load for c in ready) if ready else math.inf

    def pick(self, avoid: frozenset[MediaConnection] = frozenset()) -> MediaConnection | None:
        """The ready connection carrying the fewest answers, preferring ones not in `avoid`."""
        ready = self.ready
        preferred = [c for c in ready if c not in avoid] or ready
        if not preferred:
            return None
        return min(preferred, key=lambda c: (c.load, c.requests))

    async def wait_ready(self, timeout: float) -> bool:
        """Wait until some connection is ready again; False after `timeout` seconds."""
        if self.ready:
            return True
        try:
            await asyncio.wait_for(self._any_ready.wait(), timeout)
        except asyncio.TimeoutError:
            return False
        return bool(self.ready)

    @contextmanager
    def lease(self, connection: MediaConnection) -> Iterator[MediaConnection]:
        connection.in_flight += 1
        connection.requests += 1
        self._changed()
        try:
            yield connection
        finally:
            connection.in_flight -= 1
            self._changed()

    def _changed(self) -> None:
        for call in self.on_change:
            call()

    # -- health -----------------------------------------------------------------------------
    def succeeded(self, connection: MediaConnection) -> None:
        connection.failures_in_row = 0

    def failed(self, connection: MediaConnection, session: Session, error: BaseException | str) -> None:
        """The request on `session` failed for a reason of the connection: replace it after a backoff."""
        if connection.session is not session or self.closed:
            return  # already being replaced (several requests fail together when a socket drops)
        connection.session = None
        if not self.ready:
            self._any_ready.clear()
        connection.failures += 1
        connection.failures_in_row += 1
        connection.last_error = str(error) or type(error).__name__
        backoff = self._backoff(connection)
        log.warning("Media connection %d of %s to DC%s failed (%s); replacing it in %.0f s",
                    connection.index, self.bot, self.dc_id, connection.last_error, backoff)
        stopping = asyncio.ensure_future(_stop_quietly(session))
        self._stopping.add(stopping)
        stopping.add_done_callback(self._stopping.discard)
        self._spawn(self._keep_open(connection))

    def _backoff(self, connection: MediaConnection) -> float:
        backoff = min(BACKOFF_CAP, BACKOFF_FIRST * 2 ** max(0, connection.failures_in_row - 1))
        connection.retry_at = self._clock() + backoff
        return backoff

    async def _keep_open(self, connection: MediaConnection) -> None:
        while not self.closed:
            wait = connection.retry_at - self._clock()
            if wait > 0:
                await self._sleep(wait)
            opening = asyncio.ensure_future(self._open_session(self.auth_key))
            try:
                # Shielded: a session cancelled halfway through its start would keep its socket.
                session = await asyncio.shield(opening)
            except asyncio.CancelledError:
                # Kept until it ends (a task nothing refers to may be collected mid-way).
                self._stopping.add(opening)
                opening.add_done_callback(self._stopping.discard)
                opening.add_done_callback(self._stop_when_opened)
                raise
            except Exception as error:  # noqa: BLE001 - any failure to open: try again later
                connection.failures += 1
                connection.failures_in_row += 1
                connection.last_error = f"could not open: {error}"
                backoff = self._backoff(connection)
                log.warning("Media connection %d of %s to DC%s could not open (%s); next try in %.0f s",
                            connection.index, self.bot, self.dc_id, error, backoff)
                continue
            if self.closed:
                await _stop_quietly(session)
                return
            self._fill(connection, session)
            return

    def _fill(self, connection: MediaConnection, session: Session) -> None:
        connection.session = session
        connection.opened += 1
        self._any_ready.set()

    def _stop_when_opened(self, opening: asyncio.Future) -> None:
        """A session whose opening was cancelled but finished anyway is stopped, its task kept."""
        if opening.cancelled() or opening.exception() is not None:
            return
        stopping = asyncio.ensure_future(_stop_quietly(opening.result()))
        self._stopping.add(stopping)
        stopping.add_done_callback(self._stopping.discard)

    def _spawn(self, coro) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def settle(self) -> None:
        """Wait until the connections being opened or replaced now are open (or the set is closed)."""
        while (self._tasks or self._stopping) and not self.closed:
            await asyncio.gather(*self._tasks, *self._stopping, return_exceptions=True)

    async def close(self) -> None:
        self.closed = True
        for task in list(self._tasks):
            task.cancel()
        sessions = [c.session for c in self.connections if c.session is not None]
        for connection in self.connections:
            connection.session = None
        await asyncio.gather(*self._tasks, *self._stopping, *(_stop_quietly(s) for s in sessions),
                             return_exceptions=True)

    def stats(self) -> dict[str, Any]:
        return {
            "bot": self.bot, "dc": self.dc_id, "size": len(self.connections), "ready": len(self.ready),
            "in_flight": sum(c.in_flight for c in self.connections),
            "requests": [c.requests for c in self.connections],
            "failures": sum(c.failures for c in self.connections),
            "replacements": sum(max(0, c.opened - 1) for c in self.connections),
        }




async def _stop_quietly(session: Session) -> None:
    try:
        await session.stop()
    except Exception as error:  # noqa: BLE001 - it is being thrown away
        log.debug("Stopping a media session failed: %r", error)


class MediaSessions:
    """The media connections of one process, keyed by (client name, DC)."""

    def __init__(self, load_key: KeyLoader | None = None, save_key: KeySaver | None = None,
                 connections: int = 4, clock: Callable[[], float] = time.monotonic) -> None:
        self._sets: dict[tuple[str, int], ConnectionSet] = {}
        self._locks: dict[tuple[str, int], asyncio.Lock] = {}
        self._load_key = load_key
        self._save_key = save_key
        self.connections = max(1, connections)
        self._clock = clock
        self.authorizations_imported = 0  # how many export/import pairs this process made

    async def get(self, name: str, client, dc_id: int) -> ConnectionSet:
        key = (name, dc_id)
        found = self._sets.get(key)
        if found is not None and not found.closed:
            return found
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            found = self._sets.get(key)
            if found is None or found.closed:
                found = await self._create(name, client, dc_id)
                self._sets[key] = found
            return found

    def load(self, name: str, dc_id: int) -> float:
        """Requests in flight on the bot's least busy connection to the DC; 0 before any is made."""
        found = self._sets.get((name, dc_id))
        if found is None or found.closed:
            return 0.0
        return found.load()

    async def drop(self, name: str, client, dc_id: int) -> None:
        """Forget connections whose key Telegram no longer accepts; the next use authorises afresh."""
        found = self._sets.pop((name, dc_id), None)
        if found is not None:
            await found.close()
        if self._save_key and dc_id != await client.storage.dc_id():
            await self._save_key(await client.storage.user_id(), dc_id, b"")

    async def _create(self, name: str, client, dc_id: int) -> ConnectionSet:
        async def open_session(auth_key: bytes) -> Session:
            return await _open(client, dc_id, auth_key)

        auth_key, first = await self._authorised_session(client, dc_id, open_session)
        connections = ConnectionSet(name, dc_id, auth_key, open_session, self.connections, self._clock)
        connections.start(first)
        return connections

    async def _authorised_session(self, client, dc_id: int, open_session: SessionOpener) -> tuple[bytes, Session]:
        if dc_id == await client.storage.dc_id():
            # The home auth key is already authorised: no export needed.
            auth_key = await client.storage.auth_key()
            return auth_key, await open_session(auth_key)

        bot_id = await client.storage.user_id()
        stored_key = await self._load_key(bot_id, dc_id) if self._load_key else None
        if stored_key:
            # Authorised in an earlier run; if Telegram forgot it, the first request
            # fails with 401 and the caller drops the connections (see drop()).
            return stored_key, await open_session(stored_key)

        test_mode = await client.storage.test_mode()
        option = await client.get_dc_option(dc_id, is_media=True, ipv6=client.ipv6)
        auth_key = await Auth(client, dc_id, option.ip_address, option.port, test_mode).create()
        session = await open_session(auth_key)
        try:
            exported = await client.invoke(raw.functions.auth.ExportAuthorization(dc_id=dc_id))
            await session.invoke(raw.functions.auth.ImportAuthorization(id=exported.id, bytes=exported.bytes))
        except BaseException:
            await _stop_quietly(session)
            raise
        self.authorizations_imported += 1
        if self._save_key:
            await self._save_key(bot_id, dc_id, auth_key)
        log.info("Media connections for bot %s on DC%s authorised", bot_id, dc_id)
        return auth_key, session

    def stats(self) -> list[dict[str, Any]]:
        return [s.stats() for s in self._sets.values() if not s.closed]

    async def close(self) -> None:
        sets, self._sets = list(self._sets.values()), {}
        await asyncio.gather(*(s.close() for s in sets), return_exceptions=True)


async def _open(client, dc_id: int, auth_key: bytes) -> Session:
    """A started media session to the DC over `auth_key` (a new session_id, a new TCP connection)."""
    test_mode = await client.storage.test_mode()
    option = await client.get_dc_option(dc_id, is_media=True, ipv6=client.ipv6)
    session = FailFastSession(client, dc_id, option.ip_address, option.port, auth_key, test_mode, is_media=True)
    await session.start()
    if not session.is_started.is_set():
        # The library answers a failed start by restarting in the background; we want to know now.
        await _stop_quietly(session)
        raise ConnectionError(f"the media connection to DC{dc_id} did not start")
    return session
