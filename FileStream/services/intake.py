"""Taking a file in: copy it to the storage channel, have a backend read it, record it."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from pymongo.errors import DuplicateKeyError, PyMongoError
from pyrogram.errors import RPCError

from FileStream.core.models import StoredFile
from FileStream.core.storage_channels import gone_kind
from FileStream.core.tokens import new_deep_link_key, new_file_id
from FileStream.i18n import _
from FileStream.services.mirror import delete_mirror_copy
from FileStream.store.database import is_unavailable
from FileStream.store.files import CONFIRM_WINDOW, ConfirmUnanswered, NotConfirmed
from FileStream.telegram.media import facts_of
from FileStream.telegram.pool import BotPool, NoClientAvailable

log = logging.getLogger(__name__)


class IntakeError(Exception):
    """The file could not be stored; `reason` says why in words a person understands (in their language)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class FileIntake:
    main_client: object          # pyrogram.Client of the main bot
    pool: BotPool
    files: object                # store.files.FileStore
    bin_channel: int
    clock: Callable[[], datetime]
    lane: object                 # services.channel_copies.ChannelLane of bin_channel: copies in turns
    # Told about every file stored here (the expiry job wakes for its warning and expiry).
    on_stored: list[Callable[[StoredFile], object]] = field(default_factory=list)
    # services.storage_channels.StorageChannels: picks the storage channel (several in
    # BIN_CHANNEL, one unusable: the next); None: always bin_channel.
    channels: object | None = None
    # The lane of any storage channel (service.Service.lane_for); None: `lane` only.
    lane_for: Callable[[int], object] | None = None
    # How long the database may take to confirm a new record (store.files.insert_confirmed).
    confirm_window: float = CONFIRM_WINDOW
    # Ids of records to remove that the database did not take the removal of (a confirm
    # gone unanswered, see _record; a discard): removed at the next intake, once it answers.
    _in_doubt: set[str] = field(default_factory=set)

    async def take(self, message, *, owner_id: int | None, source: str, ttl_seconds: int,
                   bundle_id: str | None = None, shareable: bool = False,
                   request_id: str | None = None) -> StoredFile:
        """Store the message's file and return its record; leaves nothing half-made on failure.

        `bundle_id`: the bundle the file is sent in (it is then listed with the bundle, not alone).
        `shareable`: give it a deep-link key, for files meant to be passed around by deep
        link (auth channel posts); private files never get one.
        A message stored before (a live record names it, see store.files.ORIGIN) is not
        stored again: that record is returned.
        """
        await self._remove_in_doubt()
        # The message may have been stored already: a stop (kill -9 included) between its
        # record and its answer (the request completed, the post's buttons) hands it to us
        # again at the next start. Its record is then the answer: a second copy and record
        # would be an orphan in the person's /files they never got links for.
        origin = (message.chat.id, message.id) if source != "upload" and message.chat else None
        if (origin is not None and (stored := await self.files.from_origin(*origin, self.clock())) is not None
                and stored.id not in self._in_doubt):   # one being discarded is no answer
            log.info("File %s of message %s was stored before (a stop cut its handling short): reused",
                     stored.ref, message.id)
            return stored
        sent = facts_of(message)
        # Whose turn the copy waits for: the person's, or the channel's that posted it.
        key = ("person", owner_id) if owner_id is not None else ("chat", getattr(message.chat, "id", 0))
        chat_id, lane, posted = await self._copy_to_storage(message, key, sent)
        try:
            facts = await self._read_back(chat_id, posted.message_id)
            now = self.clock()
            record = StoredFile(
                id=new_file_id(),
                file_name=facts.file_name,
                file_size=facts.file_size,
                mime_type=facts.mime_type,
                file_unique_id=facts.file_unique_id,
                media_type=facts.kind,
                dc_id=facts.dc_id,
                storage_chat_id=chat_id,
                storage_message_id=posted.message_id,
                created_at=now,
                expires_at=now + timedelta(seconds=ttl_seconds) if ttl_seconds > 0 else None,
                owner_id=owner_id,
                source=source,
                duration=facts.duration,
                bundle_id=bundle_id,
                deep_link_key=new_deep_link_key() if shareable else None,
                # The message it came in: a lost storage copy is made again from it. An upload's
                # own message is removed once stored, so it has none.
                origin_chat_id=origin[0] if origin is not None else None,
                origin_message_id=origin[1] if origin is not None else None,
            )
            await self._record(record, request_id)
        except DuplicateKeyError:
            # Another intake of the same message (an instance handling it again at the same
            # time) confirmed its record first: ours never shows; theirs is the answer.
            await asyncio.shield(lane.discard(posted.message_id, posted))
            winner = await self.files.from_origin(*origin, self.clock()) if origin is not None else None
            if winner is None:
                raise
            await self._unrecord(record)   # our placeholder; its TTL would remove it too
            log.info("File %s of message %s was stored by another intake at the same time: reused",
                     winner.ref, message.id)
            return winner
        except BaseException:
            await asyncio.shield(lane.discard(posted.message_id, posted))
            raise
        try:
            await lane.settle(posted)
        except Exception as error:  # noqa: BLE001 - the file is stored; the intent is settled later
            # The record holds the copy, so the next start's reconcile keeps it and drops the
            # intent. Failing here would tell the person their stored file failed.
            log.warning("File %s is stored; could not drop its copy intent: %r", record.ref, error)
        for hook in self.on_stored:
            hook(record)
        return record

    async def _record(self, record: StoredFile, request_id: str | None = None) -> None:
        """Write the record so that it shows only if the database confirmed it in time: a
        write that timed out here and is applied later by the database (one that froze and
        thawed) must never make a record appear for a file its person was told had failed."""
        try:
            await self.files.insert_confirmed(record, self.confirm_window, request_id=request_id)
        except NotConfirmed as late:
            log.warning("File %s was not recorded: %s", record.ref, late)
            raise IntakeError(_("I could not store your file right now. Please try again in a minute.")) from late
        except ConfirmUnanswered as unanswered:
            # Most likely the record never showed. Should the confirm have been applied in
            # time with only its answer lost, the record goes now: this delete is sent after
            # we gave up on the confirm, so after any confirm the database still applies,
            # and if it too waits in a stalled server's socket, it is applied in that order.
            log.warning("File %s was not recorded, the database did not answer in time: %r",
                        record.ref, unanswered.__cause__)
            await asyncio.shield(self._unrecord(record))
            raise IntakeError(_("I could not store your file right now. Please try again in a minute.")) from unanswered
        except PyMongoError as error:
            if not is_unavailable(error):
                raise
            # The placeholder's write: a placeholder the database applies later never shows.
            log.warning("File %s was not recorded, the database did not answer in time: %r", record.ref, error)
            raise IntakeError(_("I could not store your file right now. Please try again in a minute.")) from error

    async def _unrecord(self, record: StoredFile) -> None:
        try:
            await self.files.delete(record.id)
        except Exception as error:  # noqa: BLE001 - see _record: most likely there is nothing to remove
            log.warning("Could not make sure file %s has no record yet (tried again at the next intake): %r",
                        record.ref, error)
            self._in_doubt.add(record.id)

    async def _remove_in_doubt(self) -> None:
        for file_id in list(self._in_doubt):
            try:
                await self.files.delete(file_id)
            except Exception:  # noqa: BLE001 - still away: the next intake tries again
                return
            self._in_doubt.discard(file_id)

    async def forget_unfinished(self, request_ids: list[str]) -> int:
        """Discard the records stored for requests that ended without their links (their
        people were told they failed). Removals this process could not make when they were
        due are kept only in memory (`_in_doubt`); a start runs this over the requests that
        ended unfinished, so a restart in between leaves no such record. How many went."""
        records = await self.files.of_requests(request_ids) if request_ids else []
        for record in records:
            log.info("File %s: its request ended without its links; its record goes now", record.ref)
            await self.discard(record)
        return len(records)

    async def _copy_to_storage(self, message, key, sent) -> tuple[int, object, object]:
        """Copy the message into the storage channel that takes it, in its lane's turns:
        (channel, its lane, the lane's Posted)."""
        targets = [self.bin_channel] if self.channels is None else self.channels.copy_targets()
        for target in targets:
            lane = self.lane if self.lane_for is None or target == self.bin_channel else self.lane_for(target)
            try:
                posted = await lane.post(key, lambda target=target: self._copy(message, target),
                                         unique_id=sent.file_unique_id if sent is not None else None)
            except RPCError as error:
                if self.channels is not None and gone_kind(getattr(error, "ID", None)) == "channel":
                    await self.channels.lost(target, str(error.ID))
                    continue  # the next storage channel takes over
                log.error("Copying message %s to storage channel %s failed: %s", message.id, target, error)
                raise IntakeError(_("I could not store your file right now. Please try again in a minute.")) from error
            except Exception as error:  # noqa: BLE001 - said in words, logged with cause
                log.error("Copying message %s to storage channel %s failed: %s", message.id, target, error)
                raise IntakeError(_("I could not store your file right now. Please try again in a minute.")) from error
            if self.channels is not None and self.channels.is_unusable(target):
                await self.channels.works_again(target)
            return target, lane, posted
        log.error("No storage channel takes copies (BIN_CHANNEL and MIRROR_CHANNEL): message %s cannot be stored",
                  message.id)
        raise IntakeError(_("I could not store your file right now. Please try again in a minute."))

    async def _copy(self, message, chat_id: int) -> int:
        return (await message.copy(chat_id)).id

    async def _read_back(self, chat_id: int, message_id: int):
        """Each bot needs its own file id, so a backend must be able to read the copy."""
        tried = set()
        last_error: Exception | None = None
        for _attempt in range(len(self.pool.members)):
            try:
                member = self.pool.pick(exclude=frozenset(tried))
            except NoClientAvailable as error:
                raise IntakeError(_("All our bots are busy or resting right now. Please try again in a minute.")) from error
            if member in tried:
                break
            tried.add(member)
            try:
                message = await member.client.get_messages(chat_id, message_id)
            except Exception as error:  # noqa: BLE001 - next client, then words
                self.pool.record_failure(member, error)
                last_error = error
                continue
            facts = facts_of(message) if message is not None else None
            if facts is None:
                raise IntakeError(_("That message has no file I can stream."))
            return facts
        log.error("No bot client could read stored message %s: %s", message_id, last_error)
        raise IntakeError(_("I could not read your file back from storage. Please try again in a minute."))

    async def discard(self, record: StoredFile) -> None:
        """Undo a stored file: its links stop at once, its stored copy is deleted, and only then
        its record, then its mirror copy; a copy that cannot be deleted now leaves the record expired, for the
        expiry job to try again (a record is the only way to find its copy)."""
        try:
            await self.main_client.delete_messages(record.storage_chat_id or self.bin_channel,
                                                   record.storage_message_id)
        except Exception as error:  # noqa: BLE001 - the expiry job tries again
            log.warning("Could not delete the stored copy of file %s now (%s); the expiry job will", record.ref, error)
            try:
                await self.files.expire_now(record.id, self.clock())
            except Exception as later:  # noqa: BLE001 - it expires by itself
                log.warning("Could not mark file %s expired: %s", record.ref, later)
            return
        try:
            # Taken out as it is now: a mirror copy recorded since `record` was read goes too
            # (one recorded after this finds no record and is deleted by the mirror pass).
            taken = await self.files.take_out(record.id)
        except Exception as error:  # noqa: BLE001 - removed at the next intake; say so
            # Its copy is gone and its person is told it failed (or revoked it): the record
            # must not stay in their /files until it expires.
            log.warning("Could not delete the record of file %s now (tried again at the next intake): %r",
                        record.ref, error)
            self._in_doubt.add(record.id)
            return
        if taken is not None:
            await delete_mirror_copy(self.main_client, taken)
