"""Storage channels and the copies a file keeps in them: which of Telegram's answers mean a copy or a
whole channel is gone, where new copies go, and what the owner is told."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

# Answers about one message: that copy is gone, the channel still works.
COPY_GONE = frozenset({"MESSAGE_ID_INVALID", "MESSAGE_EMPTY", "MSG_ID_INVALID"})

# Answers about the channel as a whole, for the bot that asked: the channel was deleted, the
# bot was removed from it or lost its rights there. Nothing in it can be read or posted by it.
CHANNEL_LOST = frozenset({
    "CHANNEL_INVALID", "CHANNEL_PRIVATE", "CHAT_ADMIN_REQUIRED", "CHAT_WRITE_FORBIDDEN", "CHAT_FORBIDDEN",
    "CHANNEL_PUBLIC_GROUP_NA", "USER_BANNED_IN_CHANNEL", "CHAT_ID_INVALID", "PEER_ID_INVALID",
    "CHAT_SEND_MEDIA_FORBIDDEN", "CHAT_RESTRICTED", "CHAT_GUEST_SEND_FORBIDDEN",
})

# The answer when no copy of a file is left anywhere and its original message is gone too.
LOST_TITLE = "This file is gone"
LOST_WORDS = ("Every stored copy of this file was deleted from Telegram, and so was the message it was "
              "first sent in, so it cannot be fetched any more. Ask the person who shared it to send it "
              "to the bot again.")


def gone_kind(error_id: str | None) -> str | None:
    """"copy" when Telegram's answer means one stored message is gone, "channel" when the whole
    channel is (for the asking bot), None for anything else (network, flood: try again later)."""
    if error_id in COPY_GONE:
        return "copy"
    if error_id in CHANNEL_LOST:
        return "channel"
    return None


@dataclass(frozen=True, slots=True)
class Copy:
    """One stored message of a file: the channel (or chat) and the message id there."""

    chat_id: int
    message_id: int
    role: str  # "storage" (BIN_CHANNEL), "mirror" (MIRROR_CHANNEL) or "origin" (the message it was sent in)


def copies_of(storage: tuple[int | None, int | None], mirror: tuple[int | None, int | None],
              origin: tuple[int | None, int | None]) -> list[Copy]:
    """A file's copies in the order they are read: its storage copy, its mirror copy, then the
    message it was first sent in (the person's message to the bot, or the auth-channel post)."""
    found = []
    for role, (chat_id, message_id) in (("storage", storage), ("mirror", mirror), ("origin", origin)):
        if chat_id and message_id:
            found.append(Copy(int(chat_id), int(message_id), role))
    return found


def first_usable(channels: Sequence[int], unusable: Iterable[int]) -> int | None:
    """Where new copies go: the first listed channel not known to be unusable."""
    out = set(unusable)
    return next((chat_id for chat_id in channels if chat_id not in out), None)


@dataclass(frozen=True, slots=True)
class ChannelState:
    """What the service knows of one storage channel."""

    chat_id: int
    role: str                    # "storage" or "mirror"
    usable: bool = True
    reason: str = ""             # Telegram's answer that made it unusable
    since: datetime | None = None
    live_copies: int | None = None  # files whose copy is there (None: not counted)


def channel_lost_words(chat_id: int, role: str, reason: str, takes_over: int | None, has_mirror: bool) -> str:
    """The one message the owner gets when a whole storage channel becomes unusable."""
    what = {
        "CHANNEL_INVALID": "it no longer exists (deleted?)",
        "CHANNEL_PRIVATE": "the bot can no longer see it (removed from it, or the channel was deleted)",
        "CHAT_ADMIN_REQUIRED": "the bot is no longer an admin there, or may not post",
        "CHAT_WRITE_FORBIDDEN": "the bot may no longer post there",
    }.get(reason, f"Telegram answers {reason}")
    name = "Mirror channel" if role == "mirror" else "Storage channel"
    lines = [f"⚠️ {name} {chat_id} is unusable: {what}."]
    if role == "mirror":
        lines.append("Files are no longer mirrored; their storage copies still serve every link. "
                     "Make every bot an admin of the mirror channel again, or set MIRROR_CHANNEL to another one.")
    else:
        if takes_over is not None:
            lines.append(f"New files now go to channel {takes_over}.")
        else:
            lines.append("No other storage channel in BIN_CHANNEL works: new files cannot be stored until one does.")
        sources = "their mirror copies, or the messages they were sent in" if has_mirror else \
            "the messages they were sent in, when those still exist"
        lines.append(f"Links of files stored there are served from {sources}, and each is copied again "
                     "into a working storage channel the first time it is needed.")
    return "\n".join(lines)
