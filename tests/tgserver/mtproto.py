"""One TCP connection of the test server: framing, the encrypted layer, sessions and sending."""

from __future__ import annotations

import asyncio
import collections
import logging
import os
import struct
import time
from dataclasses import dataclass, field
from io import BytesIO
from typing import TYPE_CHECKING, Any

from pyrogram import raw
from pyrogram.raw.core import MsgContainer, TLObject

from . import crypto
from .handshake import HandshakeError

if TYPE_CHECKING:
    from .server import DataCenter, TelegramServer
    from .world import Account

log = logging.getLogger("tgserver.mtproto")

RPC_RESULT_ID = struct.pack("<I", 0xF35C6D01)
BOOL_TRUE = struct.pack("<I", 0x997275B5)
BOOL_FALSE = struct.pack("<I", 0xBC799737)
VECTOR_ID = struct.pack("<I", 0x1CB5C415)
# Outgoing payloads above this size are encrypted on a worker thread (tgcrypto releases the
# GIL), so a few big getFile answers do not stall everything else on the loop.
THREAD_CRYPTO_THRESHOLD = 64 * 1024
MAX_PACKET = 16 * 1024 * 1024
MAX_QUEUED_UPDATES = 10_000


class MsgIdClock:
    """Server msg_ids: time-based, strictly increasing, odd (1 mod 4 answers, 3 mod 4 others)."""

    def __init__(self) -> None:
        self._last = 0

    def next(self, response: bool) -> int:
        base = int(time.time() * 2**32) & ~0b11
        if base <= self._last:
            base = self._last + 4
        self._last = base
        return base | (0b01 if response else 0b11)


@dataclass(eq=False)
class AuthKey:
    key: bytes
    key_id: bytes
    dc_id: int
    account: Account | None = None
    created: float = field(default_factory=time.time)


@dataclass(eq=False)
class Serialized:
    """An answer already in wire form, as pieces (avoids copying big file blocks)."""

    parts: list[Any]

    def __len__(self) -> int:
        return sum(len(p) for p in self.parts)


class ServerSession:
    """A client session: (auth key, session_id). Survives reconnects; pushes updates only while connected."""

    def __init__(self, server: TelegramServer, auth_key: AuthKey, session_id: bytes):
        self.server = server
        self.auth_key = auth_key
        self.session_id = session_id
        self.connection: Connection | None = None
        self.content_sent = 0
        self.subscribed_account: Account | None = None
        self.outbox: collections.deque[bytes] = collections.deque()
        self._flushing = False

    @property
    def account(self) -> Account | None:
        return self.auth_key.account

    def next_seq_no(self, content_related: bool) -> int:
        seq = self.content_sent * 2 + (1 if content_related else 0)
        if content_related:
            self.content_sent += 1
        return seq

    def attach(self, connection: Connection) -> None:
        if self.connection is not connection:
            self.connection = connection
            connection.sessions.add(self)
            self.kick()
            self.server.world.notify()

    def queue_update(self, body: bytes) -> None:
        # Telegram forgets a push it could not deliver: a client that was away asks for the
        # difference (updates.getDifference / getChannelDifference) instead.
        if self.connection is None or self.connection.closed:
            self.server.forgotten_updates += 1
            return
        if len(self.outbox) >= MAX_QUEUED_UPDATES:
            self.outbox.popleft()
        self.outbox.append(body)
        self.kick()

    def kick(self) -> None:
        if self.outbox and not self._flushing and self.connection is not None:
            self._flushing = True
            self.server.spawn(self._flush())

    async def _flush(self) -> None:
        try:
            while self.outbox:
                connection = self.connection
                if connection is None or connection.closed:
                    self.server.forgotten_updates += len(self.outbox)
                    self.outbox.clear()
                    return
                body = self.outbox[0]
                if not await connection.send_message(self, body, content_related=True, response=False):
                    self.server.forgotten_updates += len(self.outbox)
                    self.outbox.clear()
                    return
                if self.outbox and self.outbox[0] is body:
                    self.outbox.popleft()
        finally:
            self._flushing = False
            if self.outbox and self.connection is not None and not self.connection.closed:
                self.kick()


def serialize_result(result: Any) -> bytes | Serialized:
    """Bytes of an RPC answer: TL objects, bools, vectors (lists) of objects."""
    if isinstance(result, Serialized):
        return result
    if result is True:
        return BOOL_TRUE
    if result is False:
        return BOOL_FALSE
    if isinstance(result, list):
        body = [VECTOR_ID, struct.pack("<i", len(result))]
        for item in result:
            if isinstance(item, int):
                body.append(struct.pack("<q", item))
            else:
                body.append(item.write())
        return b"".join(body)
    return result.write()


class Connection:
    """One accepted TCP connection on one DC."""

    def __init__(self, server: TelegramServer, dc: DataCenter, reader: asyncio.StreamReader,
                 writer: asyncio.StreamWriter):
        self.server = server
        self.dc = dc
        self.reader = reader
        self.writer = writer
        self.transport_kind = "?"
        self.closed = False
        self.sessions: set[ServerSession] = set()
        self.send_lock = asyncio.Lock()
        self._next_free = 0.0  # bandwidth pacing per connection (faults.pace): when the link is free again
        self.bytes_sent = 0
        peer = writer.get_extra_info("peername")
        self.peer = f"{peer[0]}:{peer[1]}" if peer else "?"

    # ----------------------------------------------------------------- lifecycle
    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        transport = self.writer.transport
        if transport is not None:
            transport.abort()
        for session in self.sessions:
            if session.connection is self:
                session.connection = None
        self.sessions.clear()

    async def serve(self) -> None:
        try:
            first = await self.reader.readexactly(1)
            if first == b"\xef":
                self.transport_kind = "abridged"
            elif first == b"\xee" and await self.reader.readexactly(3) == b"\xee" * 3:
                self.transport_kind = "intermediate"
            elif first == b"\xdd" and await self.reader.readexactly(3) == b"\xdd" * 3:
                self.transport_kind = "padded"
            else:
                log.warning("DC%s: unsupported transport (first byte %r)", self.dc.dc_id, first)
                return
            while not self.closed:
                packet = await self._read_packet()
                await self._handle_packet(packet)
        except (asyncio.IncompleteReadError, ConnectionError, HandshakeError) as e:
            if isinstance(e, HandshakeError):
                log.warning("DC%s: handshake refused: %s", self.dc.dc_id, e)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("DC%s: connection %s crashed", self.dc.dc_id, self.peer)
            self.server.record_bug("connection loop crashed")
        finally:
            self.close()
            self.dc.connections.discard(self)

    async def _read_packet(self) -> bytes:
        if self.transport_kind == "abridged":
            head = await self.reader.readexactly(1)
            length = head[0]
            if length >= 0x7F:
                length = int.from_bytes(await self.reader.readexactly(3), "little")
            length *= 4
        else:
            length = struct.unpack("<i", await self.reader.readexactly(4))[0]
        if not 0 < length <= MAX_PACKET:
            raise ConnectionError(f"bad packet length {length}")
        packet = await self.reader.readexactly(length)
        if self.transport_kind == "padded":
            # Random padding makes the length arbitrary; MTProto messages are 8 mod 16 long
            # (encrypted) or carry their own length (unencrypted).
            if packet[:8] != bytes(8):
                packet = packet[: 24 + (len(packet) - 24) // 16 * 16]
        return packet

    # ----------------------------------------------------------------- incoming
    async def _handle_packet(self, packet: bytes) -> None:
        if packet[:8] == bytes(8):
            await self._handle_unencrypted(packet)
            return
        auth_key = self.server.auth_keys.get(packet[:8])
        if auth_key is None or auth_key.dc_id != self.dc.dc_id:
            await self.send_transport_error(404)
            self.close()
            return
        try:
            plain = crypto.decrypt_client_message(auth_key.key, packet[8:24], packet[24:])
        except crypto.DecryptError as e:
            log.warning("DC%s: dropping undecryptable packet: %s", self.dc.dc_id, e)
            self.close()
            return
        session_id = plain[8:16]
        msg_id, seq_no, length = struct.unpack_from("<qii", plain, 16)
        if length < 0 or 32 + length > len(plain) or not 12 <= len(plain) - 32 - length <= 1024:
            log.warning("DC%s: bad message length %s", self.dc.dc_id, length)
            self.close()
            return
        session = self.server.get_session(auth_key, session_id, first_msg_id=msg_id, connection=self)
        session.attach(self)
        body = plain[32 : 32 + length]
        try:
            obj = TLObject.read(BytesIO(body))
        except Exception as e:  # noqa: BLE001 - unknown constructor or truncated body
            constructor = body[:4][::-1].hex()
            log.warning("DC%s: cannot parse message 0x%s: %s", self.dc.dc_id, constructor, e)
            await self.send_rpc_error(session, msg_id, 400, f"INPUT_CONSTRUCTOR_INVALID_{constructor.upper()}")
            return
        self._handle_message(session, msg_id, obj)

    def _handle_message(self, session: ServerSession, msg_id: int, obj: TLObject) -> None:
        if isinstance(obj, MsgContainer):
            for message in obj.messages:
                self._handle_message(session, message.msg_id, message.body)
            return
        if isinstance(obj, (raw.types.MsgsAck, raw.types.HttpWait, raw.types.MsgsStateReq,
                            raw.types.MsgResendReq, raw.types.MsgsAllInfo)):
            return
        if isinstance(obj, (raw.functions.Ping, raw.functions.PingDelayDisconnect)):
            pong = raw.types.Pong(msg_id=msg_id, ping_id=obj.ping_id).write()
            self.server.spawn(self.send_message(session, pong, content_related=False, response=True))
            return
        if isinstance(obj, raw.functions.DestroySession):
            answer = raw.types.DestroySessionOk(session_id=obj.session_id)
            self.server.spawn(self.send_rpc_result(session, msg_id, answer.write()))
            return
        if isinstance(obj, raw.functions.RpcDropAnswer):
            self.server.spawn(self.send_rpc_result(session, msg_id, raw.types.RpcAnswerUnknown().write()))
            return
        self.server.spawn(self.server.dispatch(self, session, msg_id, obj))

    async def _handle_unencrypted(self, packet: bytes) -> None:
        length = struct.unpack_from("<i", packet, 16)[0]
        request = TLObject.read(BytesIO(packet[20 : 20 + length]))
        answer = self.dc.handshake.handle(request).write()
        msg_id = self.server.msg_ids.next(response=True)
        await self._write([bytes(8), struct.pack("<qi", msg_id, len(answer)), answer])

    # ----------------------------------------------------------------- outgoing
    async def send_rpc_result(self, session: ServerSession, req_msg_id: int, result: bytes | Serialized) -> bool:
        head = RPC_RESULT_ID + struct.pack("<q", req_msg_id)
        body = Serialized([head, *result.parts]) if isinstance(result, Serialized) else head + result
        return await self.send_message(session, body, content_related=True, response=True)

    async def send_rpc_error(self, session: ServerSession, req_msg_id: int, code: int, message: str) -> bool:
        error = raw.types.RpcError(error_code=code, error_message=message).write()
        return await self.send_rpc_result(session, req_msg_id, error)

    async def send_message(self, session: ServerSession, body: bytes | Serialized, *,
                           content_related: bool, response: bool) -> bool:
        """Encrypts and writes one message; False if the connection is gone."""
        if self.closed:
            return False
        auth_key = session.auth_key
        async with self.send_lock:
            if self.closed:
                return False
            msg_id = self.server.msg_ids.next(response=response)
            seq_no = session.next_seq_no(content_related)
            plain = bytearray(struct.pack("<q", 0))  # salt: the client never checks it
            plain += session.session_id
            if isinstance(body, Serialized):
                plain += struct.pack("<qii", msg_id, seq_no, len(body))
                for part in body.parts:
                    plain += part
            else:
                plain += struct.pack("<qii", msg_id, seq_no, len(body))
                plain += body
            if len(plain) > THREAD_CRYPTO_THRESHOLD:
                head, encrypted = await asyncio.get_running_loop().run_in_executor(
                    self.server.crypto_pool, crypto.encrypt_server_message,
                    auth_key.key, auth_key.key_id, plain)
            else:
                head, encrypted = crypto.encrypt_server_message(auth_key.key, auth_key.key_id, plain)
            return await self._write_locked([head, encrypted])

    async def send_transport_error(self, code: int) -> None:
        await self._write([struct.pack("<i", -code)])

    async def _write(self, parts: list[bytes]) -> bool:
        async with self.send_lock:
            return await self._write_locked(parts)

    async def _write_locked(self, parts: list[bytes]) -> bool:
        if self.closed:
            return False
        size = sum(len(p) for p in parts)
        if self.transport_kind == "abridged":
            words = size // 4
            prefix = bytes([words]) if words < 0x7F else b"\x7f" + words.to_bytes(3, "little")
        else:
            prefix = struct.pack("<i", size)
        wait = self.server.faults.pace(self, size + len(prefix), asyncio.get_running_loop().time())
        if wait > 0:
            await asyncio.sleep(wait)
            if self.closed:
                return False
        try:
            self.writer.write(prefix)
            for part in parts:
                self.writer.write(part)
            await self.writer.drain()
        except (ConnectionError, RuntimeError):
            self.close()
            return False
        self.bytes_sent += size + len(prefix)
        return True


def new_session_created(first_msg_id: int) -> bytes:
    return raw.types.NewSessionCreated(
        first_msg_id=first_msg_id,
        unique_id=int.from_bytes(os.urandom(8), "little", signed=True),
        server_salt=0,
    ).write()
