"""Deep links into the bot (t.me/<bot>?start=<payload>): what a payload asks for and who may have it."""

from __future__ import annotations

import re
from dataclasses import dataclass

from FileStream.core.models import StoredFile

# `file_<key>`: send the original message; `stream_<key>`: send fresh links.
SEND_FILE = "file"
SEND_LINKS = "stream"

# Telegram allows 64 characters of [A-Za-z0-9_-] in a start parameter; the longest
# prefix ("stream_") leaves 57 for the key.
_PAYLOAD = re.compile(r"(file|stream)_([A-Za-z0-9_-]{1,57})")


@dataclass(frozen=True, slots=True)
class DeepLinkPayload:
    action: str   # SEND_FILE or SEND_LINKS
    key: str      # whatever names the file; looked up by services.deep_links.DeepLinks.find_file


def parse_payload(text: str) -> DeepLinkPayload | None:
    """The request a /start payload makes; None for anything that is not a deep link of ours."""
    match = _PAYLOAD.fullmatch(text or "")
    return None if match is None else DeepLinkPayload(match.group(1), match.group(2))


def make_payload(action: str, key: str) -> str:
    if action not in (SEND_FILE, SEND_LINKS):
        raise ValueError(f"unknown deep-link action {action!r}")
    payload = f"{action}_{key}"
    if not _PAYLOAD.fullmatch(payload):
        raise ValueError("a deep-link key is 1 to 57 characters of A-Z a-z 0-9 _ -")
    return payload


def may_open(file: StoredFile, person_id: int | None) -> bool:
    """A file with an owner (sent in private, uploaded) goes only to that owner; files without
    one (auth channel posts) are meant to be shared and go to anyone holding the deep link."""
    return file.owner_id is None or file.owner_id == person_id
