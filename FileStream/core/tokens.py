"""Link tokens: unguessable, unforgeable names for a file link, with the expiry inside."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timezone

# token = base64url_nopad(id_raw(12) || expires_unix(8, big-endian, 0 = never) || mac(16))
# mac   = HMAC-SHA256(secret, DOMAIN || id_raw || expires)[:16]
# The domain string keeps these MACs apart from anything else signed with the same secret;
# bump its version if the layout ever changes so old tokens stop verifying. Bundle links use
# the same layout under their own domain, so a file token never verifies as a bundle token
# (or the other way round), even though both carry a 12-byte id.
DOMAIN = b"filestream-link-v1"
BUNDLE_DOMAIN = b"filestream-bundle-v1"
ID_BYTES = 12
EXPIRY_BYTES = 8
MAC_BYTES = 16
TOKEN_LENGTH = 48   # 36 bytes -> exactly 48 base64 characters, no padding
FILE_ID_LENGTH = 16  # 12 bytes -> exactly 16 base64 characters, no padding
SECRET_BYTES = 32
DEEP_LINK_KEY_BYTES = 16  # 22 base64url characters: fits a Telegram start parameter with its prefix
_LOG_REF_DOMAIN = b"filestream-log-ref-v1"

# Whole groups of four characters decode to whole bytes, so every string matching these
# is canonical base64url (no ambiguous trailing bits, no padding, no "+" or "/").
_TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{48}$")
_FILE_ID_RE = re.compile(r"^[A-Za-z0-9_-]{16}$")


@dataclass(frozen=True, slots=True)
class LinkClaim:
    """What a verified token says: which file, and until when (None: never expires)."""

    file_id: str
    expires_at: datetime | None

    def is_expired(self, now: datetime) -> bool:
        return self.expires_at is not None and now >= self.expires_at


@dataclass(frozen=True, slots=True)
class BundleClaim:
    """What a verified bundle token says: which bundle, and until when (None: never expires)."""

    bundle_id: str
    expires_at: datetime | None

    def is_expired(self, now: datetime) -> bool:
        return self.expires_at is not None and now >= self.expires_at


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text)  # only called on strings checked by the regexes


def new_link_secret() -> bytes:
    """A fresh 32-byte secret for signing links (store it; changing it breaks every link)."""
    return secrets.token_bytes(SECRET_BYTES)


def new_file_id() -> str:
    """A fresh public file id: 12 random bytes as 16 base64url characters."""
    return _b64(secrets.token_bytes(ID_BYTES))


def new_deep_link_key() -> str:
    """A fresh key for a file's deep links (t.me/<bot>?start=file_<key>).

    Random on its own: nothing about it can be learnt from the file id or a link token,
    so holding a link never yields the deep link.
    """
    return _b64(secrets.token_bytes(DEEP_LINK_KEY_BYTES))


def log_ref(file_id: str) -> str:
    """How logs name a file: a short hash of its id, which opens nothing.

    The file id is part of every link token, so it never goes to a log itself.
    """
    return hashlib.sha256(_LOG_REF_DOMAIN + file_id.encode("utf-8", "replace")).hexdigest()[:12]


def _mac(secret: bytes, payload: bytes, domain: bytes = DOMAIN) -> bytes:
    return hmac.new(secret, domain + payload, hashlib.sha256).digest()[:MAC_BYTES]


def _file_id_bytes(file_id: str) -> bytes:
    if not isinstance(file_id, str) or not _FILE_ID_RE.match(file_id):
        raise ValueError(f"not a file id (16 base64url characters): {file_id!r}")
    return _unb64(file_id)


def make_link_token(secret: bytes, file_id: str, expires_at: datetime | None) -> str:
    """The 48-character token for a link to `file_id` valid until `expires_at` (None: forever).

    The expiry is stored in whole seconds, rounded down, so a link never outlives its file.
    """
    return _make(secret, DOMAIN, file_id, expires_at)


def make_bundle_token(secret: bytes, bundle_id: str, expires_at: datetime | None) -> str:
    """The 48-character token for a bundle's links (same layout, its own MAC domain)."""
    return _make(secret, BUNDLE_DOMAIN, bundle_id, expires_at)


def read_link_token(secret: bytes, token: str) -> LinkClaim | None:
    """The claim of a genuine token, or None when it is malformed or its MAC does not verify."""
    read = _read(secret, DOMAIN, token)
    return None if read is None else LinkClaim(file_id=read[0], expires_at=read[1])


def read_bundle_token(secret: bytes, token: str) -> BundleClaim | None:
    """The claim of a genuine bundle token; None for anything else, file tokens included."""
    read = _read(secret, BUNDLE_DOMAIN, token)
    return None if read is None else BundleClaim(bundle_id=read[0], expires_at=read[1])


def _make(secret: bytes, domain: bytes, item_id: str, expires_at: datetime | None) -> str:
    if not secret:
        raise ValueError("link secret is empty")
    id_raw = _file_id_bytes(item_id)
    if expires_at is None:
        expires = 0
    else:
        if expires_at.tzinfo is None:
            raise ValueError("expires_at must be timezone-aware")
        expires = int(expires_at.timestamp() // 1)
        if expires <= 0:
            raise ValueError("expires_at must be after 1970-01-01")
    payload = id_raw + expires.to_bytes(EXPIRY_BYTES, "big")
    return _b64(payload + _mac(secret, payload, domain))


def _read(secret: bytes, domain: bytes, token: str) -> tuple[str, datetime | None] | None:
    if not secret or not isinstance(token, str) or not _TOKEN_RE.match(token):
        return None
    raw = _unb64(token)
    payload, mac = raw[: ID_BYTES + EXPIRY_BYTES], raw[ID_BYTES + EXPIRY_BYTES :]
    if not hmac.compare_digest(mac, _mac(secret, payload, domain)):
        return None
    expires = int.from_bytes(payload[ID_BYTES:], "big")
    try:
        expires_at = None if expires == 0 else datetime.fromtimestamp(expires, timezone.utc)
    except (OverflowError, OSError, ValueError):
        return None  # only reachable with a forged-but-verifying token; treat as unknown
    return _b64(payload[:ID_BYTES]), expires_at
