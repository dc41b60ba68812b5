"""Storage copies made late: which bot re-sends which old file id, and the outcomes in words.

A file migrated from FileStreamBot has no message in the storage channel, only the file
ids FileStreamBot's bots got. The first time it is needed, one of our bots re-sends it into
BIN_CHANNEL by such an id (Telegram copies it, no bytes are uploaded) and the record keeps
the new message. File ids are per bot token, so an id is tried only with the bot it was
made for: FileStreamBot's `file_id` belongs to its main bot (ours, if the token is the
same), each `file_ids` entry to the bot whose user id keys it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

# Telegram's answers that mean "this id will never work for this bot" (as opposed to
# "not now"): the id belongs to another token, the media is unknown, or its reference
# aged out with no message left to read a fresh one from.
REFUSALS = frozenset({
    "FILE_ID_INVALID", "MEDIA_INVALID", "MEDIA_EMPTY", "FILE_REFERENCE_EXPIRED", "FILE_REFERENCE_INVALID",
    "PHOTO_INVALID", "DOCUMENT_INVALID",
})

@dataclass(frozen=True, slots=True)
class KnownFileId:
    """A file id FileStreamBot kept, and the user id of the bot it was made for (None: its main bot)."""

    file_id: str
    bot_id: int | None = None


@dataclass(frozen=True, slots=True)
class CopyClaim:
    """Who is making a file's storage copy, or why none can be made."""

    state: str                  # "sending" or "refused"
    by: str = ""                # the claimant (one per service instance)
    at: datetime | None = None  # when the claim was taken or the refusal recorded
    reason: str = ""            # refused: Telegram's answers, for the log and the owner

    def is_stale(self, stale_before: datetime) -> bool:
        """A claim older than this was left by an instance that stopped mid-way."""
        return self.state == "sending" and (self.at is None or self.at < stale_before)


class CopyRefused(Exception):
    """Telegram refused every known id of the file: it cannot be fetched any more."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class CopyNotNow(Exception):
    """The copy cannot be made right now (Telegram asks to wait, a network error, another
    instance still sending); `retry_after` seconds is a fair time to try again."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def known_file_ids(file_id: object, file_ids: object) -> list[KnownFileId]:
    """The ids of a FileStreamBot record: `file_id` (its main bot's), then `file_ids` {bot user id: id}."""
    known: list[KnownFileId] = []
    if isinstance(file_id, str) and file_id:
        known.append(KnownFileId(file_id))
    if isinstance(file_ids, dict):
        for key, value in file_ids.items():
            try:
                bot_id: int | None = int(key)
            except (TypeError, ValueError):
                bot_id = None
            if isinstance(value, str) and value and all(value != k.file_id for k in known):
                known.append(KnownFileId(value, bot_id))
    return known


def sends_to_try(known: Sequence[KnownFileId], main_bot_id: int, bot_ids: Iterable[int]) -> list[tuple[int, str]]:
    """(bot user id, file id) pairs to try in order: the main bot's own ids first, then each
    other bot of ours with the ids made for it. Ids of bots we do not run are left out."""
    ours = [main_bot_id, *(b for b in bot_ids if b != main_bot_id)]
    sends = [(main_bot_id, k.file_id) for k in known if k.bot_id in (None, main_bot_id)]
    for bot_id in ours[1:]:
        sends += [(bot_id, k.file_id) for k in known if k.bot_id == bot_id]
    return sends
