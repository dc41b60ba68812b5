"""Background pass over expiring files: warn the person once, then mark the links expired, delete the
stored copy and drop the record."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from FileStream.core.formatting import escape_html
from FileStream.core.models import Bundle, StoredFile
from FileStream.i18n import _, duration, ngettext
from FileStream.store.database import is_unavailable

log = logging.getLogger(__name__)

# Notice kinds marked on the file record (store.files.FileStore.mark_notice).
WARNED = "expiry_warning"
EXPIRED = "expired"

# Channels take up to 100 message ids per delete call.
DELETE_BATCH = 100

Send = Callable[[int, str], Awaitable[object]]
Edit = Callable[[int, int, str], Awaitable[object]]
DeleteCopies = Callable[[int, list[int]], Awaitable[object]]
# speak_to(user_id): the texts built next are in that person's language (FileStream.i18n).
SpeakTo = Callable[[int], Awaitable[object]]


class CopiesRefused(Exception):
    """Telegram refused to delete stored copies (no right to delete, say): asking again will not help."""


def warning_text(file: StoredFile, now: datetime) -> str:
    """The warning a person gets shortly before a file's links stop working (Telegram HTML)."""
    # To the nearest second: sent on time, "10 s" left must not read "9 s".
    left = timedelta(seconds=round((file.expires_at - now).total_seconds())) if file.expires_at else timedelta(0)
    return _(
        "The links for <b>{file_name}</b> expire in {duration}. "
        "Finish watching or downloading before then; send the file again later for new links."
    ).format(file_name=escape_html(file.file_name), duration=duration(left))


def bundle_warning_text(bundle: Bundle, now: datetime) -> str:
    """The warning before a bundle's links stop working: once for the bundle, not per file."""
    left = timedelta(seconds=round((bundle.expires_at - now).total_seconds())) if bundle.expires_at else timedelta(0)
    return ngettext(
        "The links of your bundle <b>{title}</b> ({count} file) expire in {duration}. "
        "Finish watching or downloading before then.",
        "The links of your bundle <b>{title}</b> ({count} files) expire in {duration}. "
        "Finish watching or downloading before then.",
        len(bundle.file_ids),
    ).format(title=escape_html(bundle.title), count=len(bundle.file_ids), duration=duration(left))


def bundle_expired_text(bundle: Bundle) -> str:
    return f"<b>{escape_html(bundle.title)}</b>\n\n" + _("These links have expired. Send the files again for new ones.")


def expired_text(file: StoredFile) -> str:
    """What the bot's link message becomes once the links expired (Telegram HTML)."""
    return f"<b>{escape_html(file.file_name)}</b>\n\n" + _("These links have expired. Send the file again for new ones.")


@dataclass(frozen=True, slots=True)
class ExpiryTexts:
    warning: Callable[[StoredFile, datetime], str] = warning_text
    expired: Callable[[StoredFile], str] = expired_text
    bundle_warning: Callable[[Bundle, datetime], str] = bundle_warning_text
    bundle_expired: Callable[[Bundle], str] = bundle_expired_text


@dataclass(frozen=True, slots=True)
class ExpiryReport:
    """What one pass did."""

    warned: int = 0          # warnings sent
    warn_failed: int = 0     # warnings that could not be sent
    edited: int = 0          # link messages changed to "expired"
    edit_failed: int = 0     # link messages that could not be edited
    deleted: int = 0         # expired records removed
    copies_deleted: int = 0  # stored copies removed from BIN_CHANNEL
    copies_kept: int = 0     # stored copies Telegram refused to delete (left there)
    errors: int = 0          # database errors (the pass went on or stopped early)


class ExpiryJob:
    """`run_once()` warns each owner once, `warning_seconds` before their file expires, and
    once a file expired edits the bot's link message to say so, deletes its stored copy
    (`delete_copies`; None keeps copies) and then the record. `next_due()` says when the
    next of these falls due, `due_times(file)` when a new file's do.

    "Once" is the store's atomic notice mark, claimed before sending: it survives restarts
    and holds across instances, at the price that a crash between mark and send loses that
    one message (better than sending it twice). Files whose whole life is shorter than
    the warning window get no warning: the link message already says when they expire.

    `send(chat_id, text)` and `edit(chat_id, message_id, text)` speak Telegram HTML; their
    errors (blocked bot, deleted message) are logged and never stop the pass.
    `delete_copies(chat_id, message_ids)` deletes up to DELETE_BATCH messages in one call
    and raises CopiesRefused when Telegram will not (those copies are left, in words in the
    log); on any other error the records stay and the next pass tries again. run_once never
    raises (except on cancellation).
    """

    def __init__(
        self,
        files: Any,
        send: Send,
        edit: Edit,
        clock: Callable[[], datetime],
        *,
        warning_seconds: int = 600,
        texts: ExpiryTexts | None = None,
        batch: int = 200,
        delete_copies: DeleteCopies | None = None,
        bundles: Any = None,
        speak_to: SpeakTo | None = None,
    ) -> None:
        self.files = files  # store.files.FileStore
        self.bundles = bundles  # store.bundles.BundleStore: files of a bundle are warned about as one
        self._send = send
        self._edit = edit
        self._delete_copies = delete_copies
        self._clock = clock
        self.warning = timedelta(seconds=max(0, warning_seconds))
        self.texts = texts or ExpiryTexts()
        self._batch = batch
        self._speak_to = speak_to

    async def run_once(self) -> ExpiryReport:
        counts = dict.fromkeys(ExpiryReport.__dataclass_fields__, 0)
        try:
            if self.warning:
                await self._warn(counts)
            await self._expire(counts)
            await self._clean_up(counts)
        except Exception as error:  # noqa: BLE001 - a pass must not die; the next one retries
            counts["errors"] += 1
            if is_unavailable(error):   # an outage, not a bug: said in a line
                log.warning("Expiry pass stopped early, the database did not answer: %r", error)
            else:
                log.exception("Expiry pass stopped early on a database error")
        report = ExpiryReport(**counts)
        if any(counts.values()):
            log.info("Expiry pass: %s", report)
        return report

    async def next_due(self) -> datetime | None:
        """When the next warning or expiry falls due; None when no file will ever expire."""
        now = self._clock()
        due = []
        if self.warning:
            expires = await self.files.next_expiry(after=now, without_notice=WARNED)
            if expires is not None:
                due.append(expires - self.warning)
        expires = await self.files.next_expiry(without_notice=EXPIRED)
        if expires is not None:
            due.append(expires)
        return min(due, default=None)

    def due_times(self, file: StoredFile) -> list[datetime]:
        """When a new file needs this job: its warning (if it gets one) and its expiry."""
        if file.expires_at is None:
            return []
        times = [file.expires_at]
        if self.warning and file.expires_at - file.created_at > self.warning:
            times.append(file.expires_at - self.warning)
        return times

    async def _warn(self, counts: dict[str, int]) -> None:
        while True:
            now = self._clock()
            due = await self.files.find_expiring(now, self.warning, without_notice=WARNED, limit=self._batch)
            for file in due:
                if not await self.files.mark_notice(file.id, WARNED, now):
                    continue  # another instance (or an earlier pass) has it
                if file.owner_id is None or file.expires_at - file.created_at <= self.warning:
                    continue  # nobody to tell, or the link message already said it
                bundle = await self._bundle_of(file)
                if bundle is not None and not await self.bundles.mark_notice(bundle.id, WARNED, now):
                    continue  # another file of the bundle carried the warning
                try:
                    await self._in_language_of(file.owner_id)
                    text = self.texts.bundle_warning(bundle, now) if bundle else self.texts.warning(file, now)
                    await self._send(file.owner_id, text)
                    counts["warned"] += 1
                    log.info("Warned %s that file %s expires at %s", file.owner_id, file.ref, file.expires_at)
                except Exception as error:  # noqa: BLE001 - blocked bot and the like
                    counts["warn_failed"] += 1
                    log.warning("Could not warn %s about file %s: %r", file.owner_id, file.ref, error)
            # Every file listed got marked (by us or by someone), so the next query moves on.
            if len(due) < self._batch:
                return

    async def _expire(self, counts: dict[str, int]) -> None:
        while True:
            now = self._clock()
            expired = await self.files.find_expired(now, without_notice=EXPIRED, limit=self._batch)
            for file in expired:
                if await self.files.mark_notice(file.id, EXPIRED, now):
                    await self._edit_link_message(file, counts)
            if len(expired) < self._batch:
                return

    async def _clean_up(self, counts: dict[str, int]) -> None:
        """Files marked expired (here or by another instance): their copies, then their records.

        A record whose copy could not be deleted for a reason that may pass stays for the
        next pass: a record is removed only after its copies are confirmed gone (marked
        first, so the TTL index removes it should this instance stop before it does).
        """
        while True:
            done = await self.files.find_expired(self._clock(), with_notice=EXPIRED, limit=self._batch)
            gone = await self._remove_copies(done, counts) if self._delete_copies else done
            if self._delete_copies:
                await self._remove_mirror_copies(gone)
            if gone:
                await self.files.mark_copies_gone([file.id for file in gone], self._clock())
            for file in gone:
                if await self.files.delete(file.id):
                    counts["deleted"] += 1
                    log.info("File %s expired; record deleted", file.ref)
            if len(done) < self._batch or len(gone) < len(done):
                return

    async def _remove_copies(self, files: list[StoredFile], counts: dict[str, int]) -> list[StoredFile]:
        """Delete the stored copies, DELETE_BATCH per call; the files whose copies are dealt with."""
        by_chat: dict[int, list[StoredFile]] = {}
        dealt_with: list[StoredFile] = []
        for file in files:
            if file.has_storage_copy:
                by_chat.setdefault(file.storage_chat_id, []).append(file)
            else:
                dealt_with.append(file)  # migrated and never used: nothing was stored
        for chat_id, chat_files in by_chat.items():
            for start in range(0, len(chat_files), DELETE_BATCH):
                batch = chat_files[start:start + DELETE_BATCH]
                try:
                    await self._delete_copies(chat_id, [f.storage_message_id for f in batch])
                    counts["copies_deleted"] += len(batch)
                except CopiesRefused as refused:
                    counts["copies_kept"] += len(batch)
                    log.warning("Telegram refused to delete the stored copies of %d expired file(s) in %s (%s); "
                                "they stay there. Give the bot the right to delete messages in BIN_CHANNEL.",
                                len(batch), chat_id, refused)
                except Exception as error:  # noqa: BLE001 - network trouble: the next pass tries again
                    log.warning("Could not delete the stored copies of %d expired file(s) in %s: %r; trying again later",
                                len(batch), chat_id, error)
                    continue
                dealt_with.extend(batch)
        return dealt_with

    async def _in_language_of(self, person: int | None) -> None:
        """The texts that follow are in this person's language (speak_to; errors only logged)."""
        if self._speak_to is None or person is None:
            return
        try:
            await self._speak_to(person)
        except Exception as error:  # noqa: BLE001 - they are told in the language we had
            log.warning("Could not look up the language of %s: %r", person, error)
    async def _remove_mirror_copies(self, files: list[StoredFile]) -> None:
        """Mirror copies go with the storage copies (best effort: a leftover one opens nothing)."""
        by_chat: dict[int, list[int]] = {}
        for file in files:
            if file.has_mirror_copy and file.mirror_chat_id != file.storage_chat_id:
                by_chat.setdefault(file.mirror_chat_id, []).append(file.mirror_message_id)
        for chat_id, message_ids in by_chat.items():
            for start in range(0, len(message_ids), DELETE_BATCH):
                try:
                    await self._delete_copies(chat_id, message_ids[start:start + DELETE_BATCH])
                except Exception as error:  # noqa: BLE001 - they stay in the mirror channel
                    log.warning("Could not delete %d mirror copies of expired files in %s: %r",
                                len(message_ids[start:start + DELETE_BATCH]), chat_id, error)

    async def _bundle_of(self, file: StoredFile) -> Bundle | None:
        if file.bundle_id is None or self.bundles is None:
            return None
        return await self.bundles.get(file.bundle_id)

    async def _edit_link_message(self, file: StoredFile, counts: dict[str, int]) -> None:
        bundle = await self._bundle_of(file)
        await self._in_language_of(file.owner_id)
        if bundle is not None:
            # One edit for the bundle's message, by whichever of its files expires first here.
            if not await self.bundles.mark_notice(bundle.id, EXPIRED):
                return
            where, text = await self.bundles.link_message(bundle.id), self.texts.bundle_expired(bundle)
        else:
            where, text = await self.files.link_message(file.id), self.texts.expired(file)
        if where is None:
            return  # channel files and files whose reply was never recorded
        try:
            await self._edit(where.chat_id, where.message_id, text)
            counts["edited"] += 1
        except Exception as error:  # noqa: BLE001 - message deleted, chat gone, blocked
            counts["edit_failed"] += 1
            log.warning("Could not mark the link message of file %s as expired: %r", file.ref, error)
