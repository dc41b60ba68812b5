"""TelegramServer: DCs on loopback ports, auth keys, sessions, RPC dispatch, update delivery."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Coroutine

from pyrogram import raw
from pyrogram.raw.core import TLObject

from . import crypto, render
from .errors import RpcFail
from .faults import Faults
from .handshake import Handshake
from .home import Home
from .limits import Limits
from .mtproto import (AuthKey, Connection, MsgIdClock, Serialized, ServerSession, new_session_created,
                      serialize_result)
from .tl import SerializationBug, check_roundtrip, method_name, normalize, peel
from .world import Account, Event, User, World

log = logging.getLogger("tgserver")


# What one difference holds: Telegram's figures are not published; 100 keeps tests able to reach them.
DIFFERENCE_LIMIT = 100
CHANNEL_DIFFERENCE_LIMIT = 100


@dataclass(frozen=True)
class RpcCall:
    method: str  # "upload.GetFile", "auth.ExportAuthorization", ...
    dc_id: int
    at: float  # time.monotonic() when the request arrived
    account_id: int | None  # the account the auth key belongs to (now: login calls count too)
    error: str | None = None  # the rpc_error message, if the answer was an error


class DataCenter:
    def __init__(self, server: TelegramServer, dc_id: int, host: str):
        self.server = server
        self.dc_id = dc_id
        self.host = host
        self.port = 0
        self.handshake = Handshake(server.rsa_key, self._new_auth_key)
        self.connections: set[Connection] = set()
        self.refusing = False
        self._listener: asyncio.base_events.Server | None = None
        self._socket: socket.socket | None = None

    def _new_auth_key(self, key: bytes) -> None:
        key_id = crypto.auth_key_id_of(key)
        self.server.auth_keys[key_id] = AuthKey(key=key, key_id=key_id, dc_id=self.dc_id)

    def _bind(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        sock.listen(128)
        sock.setblocking(False)
        self.port = sock.getsockname()[1]
        self._socket = sock

    async def start(self) -> None:
        self._bind()
        await self._listen()

    async def _listen(self) -> None:
        sock = self._socket
        if sock is None:
            return
        try:
            listener = await asyncio.start_server(self._accept, sock=sock, limit=1 << 22)
        except OSError:  # refused again (socket closed) before the loop got here
            return
        if self._socket is sock and not self.refusing:
            self._listener = listener
        else:
            listener.close()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.refusing or self.server.stopping:
            writer.transport.abort()
            return
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        connection = Connection(self.server, self, reader, writer)
        self.connections.add(connection)
        await connection.serve()

    def set_refusing(self, refuse: bool) -> None:
        if refuse == self.refusing:
            return
        self.refusing = refuse
        if refuse:
            self._close_listener()
            for connection in list(self.connections):
                connection.close()
        else:
            # Listening again right away: connections wait in the backlog until the loop serves them.
            self._bind()
            self.server.spawn(self._listen())

    def _close_listener(self) -> None:
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        if self._socket is not None:
            self._socket.close()
            self._socket = None

    async def stop(self) -> None:
        self._close_listener()
        for connection in list(self.connections):
            connection.close()


class Ctx:
    """What a method handler knows about the request it answers."""

    def __init__(self, server: TelegramServer, connection: Connection, session: ServerSession, msg_id: int,
                 without_updates: bool):
        self.server = server
        self.world = server.world
        self.connection = connection
        self.session = session
        self.msg_id = msg_id
        self.without_updates = without_updates
        self.dc_id = connection.dc.dc_id

    @property
    def auth_key(self) -> AuthKey:
        return self.session.auth_key

    @property
    def account(self) -> Account | None:
        return self.session.auth_key.account

    @property
    def me(self) -> Account:
        account = self.session.auth_key.account
        if account is None:
            raise RpcFail(401, "AUTH_KEY_UNREGISTERED")
        return account


class TelegramServer:
    """A small Telegram: `dc_count` DCs on 127.0.0.1, a world, actors, faults, an RPC log.

    server = TelegramServer(dc_count=5); await server.start() ... await server.stop()
    or `async with TelegramServer() as server:`.
    """

    def __init__(self, dc_count: int = 5, *, rsa_key: crypto.RsaKey | None = None, verify_outgoing: bool = True,
                 host: str = "127.0.0.1", world: World | None = None):
        from .methods import HANDLERS  # registers every handler module

        self.handlers = HANDLERS
        self.dc_count = dc_count
        self.host = host
        self.rsa_key = rsa_key or crypto.session_rsa_key()
        self.verify_outgoing = verify_outgoing
        self.world = world or World(dc_count=dc_count)
        self.world.deliver = self._deliver
        self.faults = Faults(self)
        self.limits = Limits()  # Telegram's sending limits, strict unless a test relaxes them
        self.msg_ids = MsgIdClock()
        self.auth_keys: dict[bytes, AuthKey] = {}
        self.sessions: dict[tuple[bytes, bytes], ServerSession] = {}
        self.subscriptions: dict[int, list[ServerSession]] = {}
        # Pushes that found no connection and were forgotten, as Telegram forgets them.
        self.forgotten_updates = 0
        # What one difference holds (updates.getDifference slices beyond it; a channel's
        # difference is "too long" beyond it: the client starts over from the channel's pts).
        self.difference_limit = DIFFERENCE_LIMIT
        self.channel_difference_limit = CHANNEL_DIFFERENCE_LIMIT
        self.rpc_calls: list[tuple[str, int, float, AuthKey]] = []
        self.rpc_errors: dict[int, str] = {}  # index in rpc_calls -> error message
        self.bugs: list[str] = []
        self._bugged: set[tuple[bytes, bytes, str]] = set()
        self.exported_authorizations: dict[bytes, tuple[Account, int]] = {}
        self.uploads: dict[tuple[int, int], dict[int, bytes]] = {}
        self.crypto_pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="tgserver-crypto")
        self.dcs = {dc_id: DataCenter(self, dc_id, host) for dc_id in range(1, dc_count + 1)}
        self.started = False
        self.stopping = False
        self._tasks: set[asyncio.Task] = set()
        self._persons: dict[int, Any] = {}
        self.clients: list[Any] = []  # pyrogram clients made by make_bot_client, stopped on stop()

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> TelegramServer:
        self.world.home = Home.here()
        for dc in self.dcs.values():
            await dc.start()
        self.started = True
        log.info("Telegram test server on %s", self.ports)
        return self

    async def stop(self) -> None:
        from .client import stop_client

        for client in list(self.clients):
            await stop_client(client)
        self.clients.clear()
        self.stopping = True
        self.faults.stop()
        for dc in self.dcs.values():
            await dc.stop()
        tasks = [t for t in self._tasks if not t.done()]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=2)
        self.crypto_pool.shutdown(wait=False)
        self.started = False

    async def __aenter__(self) -> TelegramServer:
        return await self.start()

    async def __aexit__(self, *exc: Any) -> None:
        await self.stop()

    @property
    def ports(self) -> dict[int, int]:
        return {dc_id: dc.port for dc_id, dc in self.dcs.items()}

    @property
    def rsa_public_key_pem(self) -> str:
        return self.rsa_key.public_pem

    def connection_info(self) -> dict[str, Any]:
        """What another process needs to point pyrogram here (see client_patch.install)."""
        return {"host": self.host, "ports": {str(k): v for k, v in self.ports.items()},
                "rsa_public_key_pem": self.rsa_public_key_pem}

    def write_connection_file(self, path: str | Path, extra: dict[str, Any] | None = None) -> Path:
        path = Path(path)
        data = self.connection_info() | (extra or {})
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(json.dumps(data, indent=2))
        tmp.replace(path)
        return path

    # ------------------------------------------------------------------ plumbing
    def spawn(self, coro: Coroutine) -> asyncio.Task:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def record_bug(self, what: str) -> None:
        self.bugs.append(what)

    def get_session(self, auth_key: AuthKey, session_id: bytes, first_msg_id: int, connection: Connection) -> ServerSession:
        key = (auth_key.key_id, session_id)
        session = self.sessions.get(key)
        if session is None:
            session = self.sessions[key] = ServerSession(self, auth_key, session_id)
            body = new_session_created(first_msg_id)
            self.spawn(connection.send_message(session, body, content_related=True, response=False))
        return session

    # ------------------------------------------------------------------ RPC
    async def dispatch(self, connection: Connection, session: ServerSession, msg_id: int, query: TLObject) -> None:
        inner, without_updates = peel(query)
        name = method_name(inner)
        index = len(self.rpc_calls)
        self.rpc_calls.append((name, connection.dc.dc_id, time.monotonic(), session.auth_key))
        try:
            await self.faults.delay()
            handler = self.handlers.get(type(inner))
            if handler is None:
                raise RpcFail(400, f"METHOD_NOT_SUPPORTED_{name}")
            if handler.needs_auth and session.auth_key.account is None:
                raise RpcFail(401, "AUTH_KEY_UNREGISTERED")
            await self.faults.before_answer(session.auth_key.account, name, inner, connection.dc.dc_id)
            # A client message id holds the time the client made it (seconds * 2**32).
            self.limits.check(session.auth_key.account, inner, name, sent_at=msg_id / 2**32)
            ctx = Ctx(self, connection, session, msg_id, without_updates)
            result = await handler.fn(ctx, inner)
            if isinstance(result, Serialized):
                body: bytes | Serialized = result
            else:
                normalize(result)
                body = serialize_result(result)
                if self.verify_outgoing and isinstance(result, TLObject):
                    check_roundtrip(body, name)
        except RpcFail as e:
            self.rpc_errors[index] = e.message
            body = raw.types.RpcError(error_code=e.code, error_message=e.message).write()
        except asyncio.CancelledError:
            raise
        except Exception as e:
            if isinstance(e, SerializationBug):
                log.error("tgserver bug answering %s: %s", name, e)
            else:
                log.exception("tgserver bug answering %s", name)
            self.record_bug(f"{name}: {type(e).__name__}: {e}")
            code, message = self._bug_answer(session, name)
            self.rpc_errors[index] = message
            body = raw.types.RpcError(error_code=code, error_message=message).write()
        if index in self.rpc_errors:
            self.world.notify()  # so a test can wait_until an error shows in rpc_log
        target = connection if not connection.closed else session.connection
        if target is not None:
            await target.send_rpc_result(session, msg_id, body)

    def _bug_answer(self, session: ServerSession, name: str) -> tuple[int, str]:
        """500 as Telegram would; the client retries a 500 ten times a second apart, so the
        retry of the same method on the same session gets a 400 that it raises at once."""
        key = (session.auth_key.key_id, session.session_id, name)
        if key in self._bugged:
            return 400, f"SERVER_BUG_IN_{name}"
        self._bugged.add(key)
        return 500, "INTERNAL_SERVER_BUG"

    def rpc_log(self, account: Account | None = None, method: str | None = None,
                dc_id: int | None = None) -> list[RpcCall]:
        """Calls made by `account` (any if None), optionally of one method / on one DC.

        A call counts for an account when the auth key that made it belongs to it now, so the
        calls that logged the key in are in it too."""
        calls = []
        for index, (name, call_dc, at, auth_key) in enumerate(self.rpc_calls):
            owner = auth_key.account
            if account is not None and owner is not account:
                continue
            if method is not None and name != method:
                continue
            if dc_id is not None and call_dc != dc_id:
                continue
            calls.append(RpcCall(name, call_dc, at, owner.id if owner is not None else None,
                                 self.rpc_errors.get(index)))
        return calls

    # ------------------------------------------------------------------ updates
    def subscribe(self, session: ServerSession) -> None:
        account = session.auth_key.account
        if account is None:
            return
        sessions = self.subscriptions.setdefault(account.id, [])
        if session not in sessions:
            sessions.append(session)
        session.subscribed_account = account

    def _deliver(self, account: Account, event: Event) -> None:
        if event.kind in ("new", "edit") and event.channel is None:
            event = Event(event.kind, message=event.message)
            event.pts = account.next_pts(event)
        elif event.kind == "delete" and event.channel is None:
            event = Event("delete", message_ids=event.message_ids)
            account.pts += len(event.message_ids) - 1
            event.pts = account.next_pts(event)
        peers = render.Peers(account)
        update = render.update_for(event, account, peers)
        self.push_updates(account, render.updates([update], peers))

    def push_updates(self, account: Account, updates: TLObject) -> None:
        sessions = [s for s in self.subscriptions.get(account.id, []) if s.auth_key.account is account]
        if not sessions:
            return
        normalize(updates)
        body = updates.write()
        if self.verify_outgoing:
            try:
                check_roundtrip(body, f"updates for {account.name}")
            except SerializationBug as e:
                log.error("tgserver bug: %s", e)
                self.record_bug(str(e))
                return
        for session in sessions:
            session.queue_update(body)

    def drop_connections(self, account: Account | None = None, dc_id: int | None = None) -> int:
        dropped = 0
        for dc in self.dcs.values():
            if dc_id is not None and dc.dc_id != dc_id:
                continue
            for connection in list(dc.connections):
                owners = {s.auth_key.account for s in connection.sessions}
                if account is None or account in owners:
                    connection.close()
                    dropped += 1
        return dropped

    # ------------------------------------------------------------------ test conveniences
    def person(self, user: User):
        from .actors import Person

        actor = self._persons.get(user.id)
        if actor is None:
            actor = self._persons[user.id] = Person(self, user)
        return actor

    async def wait_until(self, predicate: Callable[[], Any], timeout: float = 10.0) -> Any:
        return await self.world.wait_until(predicate, timeout)

    async def wait_for_buttons(self, channel: Any, message_id: int, timeout: float = 10.0) -> list:
        """The inline buttons of a channel post, once it has any (a bot edits them in)."""
        return await self.wait_until(lambda: self.world.channel_message(channel, message_id).buttons, timeout)

    async def wait_for_edit(self, message: Any, timeout: float = 10.0, after_version: int | None = None) -> Any:
        """Waits until `message` (a world Message) is edited after `after_version` (default: now)."""
        version = message.version if after_version is None else after_version
        await self.wait_until(lambda: message.version > version, timeout)
        return message

    def connections_of(self, account: Account) -> list[Connection]:
        return [c for dc in self.dcs.values() for c in dc.connections
                if any(s.auth_key.account is account for s in c.sessions)]
