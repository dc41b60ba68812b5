"""Server-side MTProto crypto: the throwaway RSA key, the DH handshake maths, message keys."""

from __future__ import annotations

import functools
import hashlib
import os
from dataclasses import dataclass

import tgcrypto
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa as crypto_rsa

from pyrogram.crypto.prime import CURRENT_DH_PRIME

DH_PRIME = CURRENT_DH_PRIME
DH_PRIME_BYTES = DH_PRIME.to_bytes(256, "big")
DH_G = 3
# The client insists on 2^(2048-64) < g_a < p - 2^(2048-64).
_DH_SAFETY_MARGIN = 1 << (2048 - 64)

# core.telegram.org/mtproto/samples-auth_key: a pq that the client factors in a blink.
SAMPLE_P = 1229739323
SAMPLE_Q = 1402015859
SAMPLE_PQ = (SAMPLE_P * SAMPLE_Q).to_bytes(8, "big")


def _tl_bytes(value: bytes) -> bytes:
    length = len(value)
    if length <= 253:
        return bytes([length]) + value + bytes(-(length + 1) % 4)
    return bytes([254]) + length.to_bytes(3, "little") + value + bytes(-length % 4)


@dataclass(frozen=True)
class RsaKey:
    """A 2048-bit key pair in the shape both sides of the handshake need."""

    n: int
    e: int
    d: int
    fingerprint: int
    public_pem: str

    @classmethod
    def generate(cls) -> RsaKey:
        private = crypto_rsa.generate_private_key(public_exponent=65537, key_size=2048)
        numbers = private.private_numbers()
        n, e = numbers.public_numbers.n, numbers.public_numbers.e
        pem = private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.PKCS1
        ).decode()
        return cls(n=n, e=e, d=numbers.d, fingerprint=fingerprint_of(n, e), public_pem=pem)

    def decrypt_raw(self, data: bytes) -> bytes:
        """Textbook RSA, as pyrogram encrypts req_DH_params' inner data (no OAEP, no RSA_PAD)."""
        return pow(int.from_bytes(data, "big"), self.d, self.n).to_bytes(256, "big")


def fingerprint_of(n: int, e: int) -> int:
    """Low 64 bits of sha1(TL bytes(n) + TL bytes(e)), as a signed little-endian long."""
    n_bytes = n.to_bytes((n.bit_length() + 7) // 8, "big")
    e_bytes = e.to_bytes((e.bit_length() + 7) // 8, "big")
    digest = hashlib.sha1(_tl_bytes(n_bytes) + _tl_bytes(e_bytes)).digest()
    return int.from_bytes(digest[-8:], "little", signed=True)


def public_numbers_from_pem(pem: str) -> tuple[int, int]:
    key = serialization.load_pem_public_key(pem.encode())
    numbers = key.public_numbers()
    return numbers.n, numbers.e


@functools.cache
def session_rsa_key() -> RsaKey:
    """One throwaway key per process: generating costs tens of milliseconds."""
    return RsaKey.generate()


def new_dh_secret() -> tuple[int, bytes]:
    """A server DH exponent `a` and g^a that the client's range checks accept."""
    while True:
        a = int.from_bytes(os.urandom(256), "big")
        g_a = pow(DH_G, a, DH_PRIME)
        if _DH_SAFETY_MARGIN < g_a < DH_PRIME - _DH_SAFETY_MARGIN:
            return a, g_a.to_bytes(256, "big")


def tmp_aes_key_iv(new_nonce: bytes, server_nonce: bytes) -> tuple[bytes, bytes]:
    key = (
        hashlib.sha1(new_nonce + server_nonce).digest()
        + hashlib.sha1(server_nonce + new_nonce).digest()[:12]
    )
    iv = (
        hashlib.sha1(server_nonce + new_nonce).digest()[12:]
        + hashlib.sha1(new_nonce + new_nonce).digest()
        + new_nonce[:4]
    )
    return key, iv


def auth_key_id_of(auth_key: bytes) -> bytes:
    return hashlib.sha1(auth_key).digest()[-8:]


def kdf(auth_key: bytes, msg_key: bytes, x: int) -> tuple[bytes, bytes]:
    """MTProto 2.0 key derivation; x = 0 for client->server, 8 for server->client."""
    sha256_a = hashlib.sha256(msg_key + auth_key[x : x + 36]).digest()
    sha256_b = hashlib.sha256(auth_key[x + 40 : x + 76] + msg_key).digest()
    aes_key = sha256_a[:8] + sha256_b[8:24] + sha256_a[24:32]
    aes_iv = sha256_b[:8] + sha256_a[8:24] + sha256_b[24:32]
    return aes_key, aes_iv


class DecryptError(Exception):
    pass


def decrypt_client_message(auth_key: bytes, msg_key: bytes, encrypted: bytes) -> bytes:
    """The plaintext (salt, session_id, msg_id, seq_no, length, body, padding) after checks."""
    if len(encrypted) % 16 or not encrypted:
        raise DecryptError("encrypted part is not a whole number of AES blocks")
    aes_key, aes_iv = kdf(auth_key, msg_key, 0)
    plain = tgcrypto.ige256_decrypt(encrypted, aes_key, aes_iv)
    digest = hashlib.sha256(auth_key[88:120])
    digest.update(plain)
    if digest.digest()[8:24] != msg_key:
        raise DecryptError("msg_key does not match the plaintext")
    return plain


def encrypt_server_message(auth_key: bytes, auth_key_id: bytes, plain: bytearray) -> tuple[bytes, bytes]:
    """Pads `plain` in place (12..1024 random bytes, multiple of 16) and returns (head, encrypted).

    head is auth_key_id + msg_key: callers write it and the ciphertext separately, so a
    megabyte of file data is not copied once more just to prepend 24 bytes.
    """
    plain += os.urandom(-(len(plain) + 12) % 16 + 12)
    digest = hashlib.sha256(auth_key[96:128])
    digest.update(plain)
    msg_key = digest.digest()[8:24]
    aes_key, aes_iv = kdf(auth_key, msg_key, 8)
    return auth_key_id + msg_key, tgcrypto.ige256_encrypt(plain, aes_key, aes_iv)
