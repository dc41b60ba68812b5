"""One media session per (bot client, DC), created once and reused by every download.

Telegram answers repeated auth.exportAuthorization calls with FLOOD_WAIT, and a fresh
auth key costs a handshake, so the first download from a DC pays for both once and
every later request of the process reuses the session. The client library's own
`get_session(dc, is_media=True)` exports twice for a foreign DC and is not stopped by
`Client.stop()`, so FileStream keeps its own.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from pyrogram import raw
from pyrogram.session import Auth, Session

log = logging.getLogger(__name__)

# Loads / saves the auth key of a foreign DC so a restart does not export again.
KeyLoader = Callable[[int, int], Awaitable[bytes | None]]
KeySaver = Callable[[int, int, bytes], Awaitable[None]]


class FailFastSession(Session):
    """A media session whose waiting requests fail at once when its connection drops.

    The library's session keeps a request waiting for its full timeout after the
    socket is gone; a stream would stall that long before trying another client.
    """

    async def _stop(self) -> None:
        for result in list(self.results.values()):
            result.event.set()  # value stays None: send() raises TimeoutError now
        await super()._stop()


class MediaSessions:
    """The media sessions of one process, keyed by (client name, DC)."""

    def __init__(self, load_key: KeyLoader | None = None, save_key: KeySaver | None = None) -> None:
        self._sessions: dict[tuple[str, int], Session] = {}
        self._locks: dict[tuple[str, int], asyncio.Lock] = {}
        self._load_key = load_key
        self._save_key = save_key
        self.authorizations_imported = 0  # how many export/import pairs this process made

    async def get(self, name: str, client, dc_id: int) -> Session:
        key = (name, dc_id)
        session = self._sessions.get(key)
        if session is not None and not session._must_stay_stopped:
            return session
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            session = self._sessions.get(key)
            if session is None or session._must_stay_stopped:
                session = await self._create(client, dc_id)
                self._sessions[key] = session
            return session

    async def drop(self, name: str, client, dc_id: int) -> None:
        """Forget a session Telegram no longer accepts; the next use authorises afresh."""
        session = self._sessions.pop((name, dc_id), None)
        if session is not None:
            await session.stop()
        if self._save_key and dc_id != await client.storage.dc_id():
            await self._save_key(await client.storage.user_id(), dc_id, b"")

    async def _create(self, client, dc_id: int) -> Session:
        home_dc = await client.storage.dc_id()
        test_mode = await client.storage.test_mode()
        option = await client.get_dc_option(dc_id, is_media=True, ipv6=client.ipv6)
        if dc_id == home_dc:
            # The home auth key is already authorised: no export needed.
            session = FailFastSession(client, dc_id, option.ip_address, option.port,
                                      await client.storage.auth_key(), test_mode, is_media=True)
            await session.start()
            return session

        bot_id = await client.storage.user_id()
        stored_key = await self._load_key(bot_id, dc_id) if self._load_key else None
        if stored_key:
            # Authorised in an earlier run; if Telegram forgot it, the first request
            # fails with 401 and the caller drops the session (see drop()).
            session = FailFastSession(client, dc_id, option.ip_address, option.port, stored_key, test_mode, is_media=True)
            await session.start()
            return session

        auth_key = await Auth(client, dc_id, option.ip_address, option.port, test_mode).create()
        session = FailFastSession(client, dc_id, option.ip_address, option.port, auth_key, test_mode, is_media=True)
        await session.start()
        try:
            exported = await client.invoke(raw.functions.auth.ExportAuthorization(dc_id=dc_id))
            await session.invoke(raw.functions.auth.ImportAuthorization(id=exported.id, bytes=exported.bytes))
        except BaseException:
            await session.stop()
            raise
        self.authorizations_imported += 1
        if self._save_key:
            await self._save_key(bot_id, dc_id, auth_key)
        log.info("Media session for bot %s on DC%s authorised", bot_id, dc_id)
        return session

    async def close(self) -> None:
        sessions, self._sessions = list(self._sessions.values()), {}
        await asyncio.gather(*(s.stop() for s in sessions), return_exceptions=True)
