"""The unencrypted half of MTProto: creating an auth key with the client (req_pq .. dh_gen_ok)."""

from __future__ import annotations

import hashlib
import os
import time
from dataclasses import dataclass, field
from io import BytesIO

import tgcrypto
from pyrogram import raw
from pyrogram.raw.core import TLObject

from . import crypto


class HandshakeError(Exception):
    """The client sent something the auth-key exchange cannot accept: drop the connection."""


@dataclass
class _Pending:
    nonce: int
    server_nonce: int
    new_nonce: bytes = b""
    a: int = 0
    created: float = field(default_factory=time.monotonic)


class Handshake:
    """Auth-key exchange state for one DC. Finished keys go to `on_key(auth_key)`."""

    def __init__(self, rsa_key: crypto.RsaKey, on_key):
        self.rsa_key = rsa_key
        self.on_key = on_key
        self._pending: dict[int, _Pending] = {}

    def handle(self, request: TLObject) -> TLObject:
        if isinstance(request, (raw.functions.ReqPqMulti, raw.functions.ReqPq)):
            return self._req_pq(request)
        if isinstance(request, raw.functions.ReqDHParams):
            return self._req_dh_params(request)
        if isinstance(request, raw.functions.SetClientDHParams):
            return self._set_client_dh_params(request)
        raise HandshakeError(f"unexpected unencrypted message {type(request).__name__}")

    def _state(self, nonce: int, server_nonce: int) -> _Pending:
        state = self._pending.get(nonce)
        if state is None or state.server_nonce != server_nonce:
            raise HandshakeError("unknown nonce / server_nonce")
        return state

    def _req_pq(self, request) -> TLObject:
        # Forget exchanges the client abandoned long ago.
        now = time.monotonic()
        for nonce in [n for n, s in self._pending.items() if now - s.created > 60]:
            del self._pending[nonce]
        server_nonce = int.from_bytes(os.urandom(16), "little", signed=True)
        self._pending[request.nonce] = _Pending(request.nonce, server_nonce)
        return raw.types.ResPQ(
            nonce=request.nonce,
            server_nonce=server_nonce,
            pq=crypto.SAMPLE_PQ,
            server_public_key_fingerprints=[self.rsa_key.fingerprint],
        )

    def _req_dh_params(self, request) -> TLObject:
        state = self._state(request.nonce, request.server_nonce)
        if request.public_key_fingerprint != self.rsa_key.fingerprint:
            raise HandshakeError("unknown public key fingerprint")
        plain = self.rsa_key.decrypt_raw(request.encrypted_data)
        # pyrogram pads sha1 + data to 255 bytes; the 256-byte integer has a zero first byte.
        plain = plain[1:]
        digest, body = plain[:20], plain[20:]
        inner = TLObject.read(BytesIO(body))
        if not isinstance(inner, (raw.types.PQInnerData, raw.types.PQInnerDataDc)):
            raise HandshakeError(f"unexpected inner data {type(inner).__name__}")
        if hashlib.sha1(inner.write()).digest() != digest:
            raise HandshakeError("p_q_inner_data hash mismatch")
        if inner.nonce != state.nonce or inner.server_nonce != state.server_nonce:
            raise HandshakeError("p_q_inner_data nonce mismatch")
        if int.from_bytes(inner.p, "big") * int.from_bytes(inner.q, "big") != int.from_bytes(
            crypto.SAMPLE_PQ, "big"
        ):
            raise HandshakeError("wrong p, q")

        state.new_nonce = inner.new_nonce.to_bytes(32, "little", signed=True)
        state.a, g_a = crypto.new_dh_secret()
        answer = raw.types.ServerDHInnerData(
            nonce=state.nonce,
            server_nonce=state.server_nonce,
            g=crypto.DH_G,
            dh_prime=crypto.DH_PRIME_BYTES,
            g_a=g_a,
            server_time=int(time.time()),
        ).write()
        with_hash = hashlib.sha1(answer).digest() + answer
        with_hash += os.urandom(-len(with_hash) % 16)
        key, iv = crypto.tmp_aes_key_iv(state.new_nonce, self._server_nonce_bytes(state))
        return raw.types.ServerDHParamsOk(
            nonce=state.nonce,
            server_nonce=state.server_nonce,
            encrypted_answer=tgcrypto.ige256_encrypt(with_hash, key, iv),
        )

    def _set_client_dh_params(self, request) -> TLObject:
        state = self._state(request.nonce, request.server_nonce)
        if not state.new_nonce:
            raise HandshakeError("set_client_DH_params before req_DH_params")
        key, iv = crypto.tmp_aes_key_iv(state.new_nonce, self._server_nonce_bytes(state))
        plain = tgcrypto.ige256_decrypt(request.encrypted_data, key, iv)
        inner = TLObject.read(BytesIO(plain[20:]))
        if not isinstance(inner, raw.types.ClientDHInnerData):
            raise HandshakeError(f"unexpected client DH data {type(inner).__name__}")
        if hashlib.sha1(inner.write()).digest() != plain[:20]:
            raise HandshakeError("client_DH_inner_data hash mismatch")
        g_b = int.from_bytes(inner.g_b, "big")
        if not 1 < g_b < crypto.DH_PRIME - 1:
            raise HandshakeError("g_b out of range")
        auth_key = pow(g_b, state.a, crypto.DH_PRIME).to_bytes(256, "big")
        del self._pending[state.nonce]
        self.on_key(auth_key)
        aux_hash = hashlib.sha1(auth_key).digest()[:8]
        new_nonce_hash1 = hashlib.sha1(state.new_nonce + b"\x01" + aux_hash).digest()[-16:]
        return raw.types.DhGenOk(
            nonce=state.nonce,
            server_nonce=state.server_nonce,
            new_nonce_hash1=int.from_bytes(new_nonce_hash1, "little", signed=True),
        )

    @staticmethod
    def _server_nonce_bytes(state: _Pending) -> bytes:
        return state.server_nonce.to_bytes(16, "little", signed=True)
