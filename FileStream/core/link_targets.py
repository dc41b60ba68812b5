"""What a link or id pasted into a command names: a file, a bundle, a file migrated from FileStreamBot, or a deep-link key.

Recognised, with or without the scheme and host (any host: links are made for PUBLIC_URL,
which may have changed) and with anything after the token (a file name, ?query):
- our file links /dl/<token>, /stream/<token>, /watch/<token>, a bare file token, a file id;
- bundle links /b/<token> (the page, /zip and /m3u too) and a bare bundle token;
- FileStreamBot's links of migrated files: /dl/<ObjectId>, /watch/<ObjectId> and the bare
  ObjectId (24 lowercase hex digits), as they served while LEGACY_LINKS is on;
- deep links t.me/<bot>?start=file_<key> or stream_<key>: our key, or an old ObjectId.
Tokens are checked (HMAC): a forged or mistyped token names nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from FileStream.core.deep_links import parse_payload
from FileStream.core.tokens import read_bundle_token, read_link_token

FILE = "file"            # `key` is our file id
BUNDLE = "bundle"        # `key` is a bundle id
OLD_FILE = "old file"    # `key` is FileStreamBot's id of a migrated file (an ObjectId in hex)
DEEP_LINK = "deep link"  # `key` is a deep-link key of ours

_FILE_ID = re.compile(r"[A-Za-z0-9_-]{16}")
_OLD_ID = re.compile(r"[0-9a-f]{24}")
_FILE_ROUTES = ("dl", "stream", "watch")
_OLD_ROUTES = ("dl", "watch")   # FileStreamBot had no /stream/
_BUNDLE_ROUTE = "b"


@dataclass(frozen=True, slots=True)
class LinkTarget:
    kind: str   # FILE, BUNDLE, OLD_FILE or DEEP_LINK
    key: str


def link_target(text: str, secret: bytes) -> LinkTarget | None:
    """What `text` names; None when it is none of the shapes above or its token is forged."""
    text = text.strip()
    if _FILE_ID.fullmatch(text):
        return LinkTarget(FILE, text)
    if _OLD_ID.fullmatch(text):
        return LinkTarget(OLD_FILE, text)
    try:
        parts = urlsplit(text)
        start = parse_qs(parts.query).get("start", [])
    except ValueError:  # not a URL at all, like "http://[" (an unclosed IPv6 host)
        return None
    if start:
        return _deep_link(start[0])
    segments = [segment for segment in parts.path.split("/") if segment]
    for route, token in zip(segments, segments[1:]):
        if route == _BUNDLE_ROUTE and (bundle := read_bundle_token(secret, token)) is not None:
            return LinkTarget(BUNDLE, bundle.bundle_id)
        if route in _FILE_ROUTES and (file := read_link_token(secret, token)) is not None:
            return LinkTarget(FILE, file.file_id)
        if route in _OLD_ROUTES and _OLD_ID.fullmatch(token):
            return LinkTarget(OLD_FILE, token)
    if (file := read_link_token(secret, text)) is not None:
        return LinkTarget(FILE, file.file_id)
    if (bundle := read_bundle_token(secret, text)) is not None:
        return LinkTarget(BUNDLE, bundle.bundle_id)
    return None


def _deep_link(payload: str) -> LinkTarget | None:
    request = parse_payload(payload)
    if request is None:
        return None
    if _OLD_ID.fullmatch(request.key):
        return LinkTarget(OLD_FILE, request.key)
    return LinkTarget(DEEP_LINK, request.key)
