"""Serving a file from whichever copy of it still exists, and copying a lost one again, once.

A file's bytes are read through a message that holds it: its storage copy (BIN_CHANNEL), its
mirror copy (MIRROR_CHANNEL), or the message it was first sent in (the person's message in
their chat with the main bot, or the auth-channel post). `locate` is what the streamer asks
for a bot's file location: the storage copy as a rule; when Telegram says that copy is gone
(the message was deleted, the channel deleted, the bots removed), the mirror copy serves
while a new storage copy is made in the background; with no mirror copy left, the new copy
is made first (from the original message) and then read. When nothing is left, FileLost: the
link answers 410.

A lost copy is replaced once across instances: the job is claimed on the file's record in
MongoDB with one atomic update; the others watch the record until the new copy is there.
Only the instance holding the posting lease (services/posting_lease.py) posts; the others
write their wish on the record, and the holder's heal queue makes the copy. The new copy
goes through the target channel's lane (services/channel_copies.py): in the owner's turn
within the channel's pace, its intent written first, so a crash between posting and
recording leaves nothing the next lease holder does not account for.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable
from datetime import datetime, timedelta

from pyrogram.errors import RPCError

from FileStream.core.models import StoredFile
from FileStream.core.storage_channels import LOST_TITLE, LOST_WORDS, Copy, copies_of, gone_kind
from FileStream.services.channel_copies import NotSent, turn_key
from FileStream.store.copy_intents import HEAL
from FileStream.telegram.media import location_of, media_of
from FileStream.telegram.pool import BotPool, PoolMember
from FileStream.telegram.streamer import FileGone, NotReadableHere, StreamError

log = logging.getLogger(__name__)


class FileLost(FileGone):
    """Every copy of the file and the message it was sent in are gone: its links answer 410."""

    http_status = 410
    title = LOST_TITLE
    words = LOST_WORDS


class CopyGone(Exception):
    """One copy is gone; `kind` is "copy" (that message) or "channel" (the whole channel)."""

    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(reason)
        self.kind = kind
        self.reason = reason


def storage_of(file: StoredFile) -> tuple[int, int] | None:
    return (file.storage_chat_id, file.storage_message_id) if file.has_storage_copy else None


class CopyKeeper:
    """store: store.copies.CopyStore. channels: services.storage_channels.StorageChannels.
    may_post(): whether this instance posts into storage channels (holds the posting lease).
    claim_timeout: a heal claim older than this was left by a stopped instance.
    wait_timeout: how long a stream waits for another instance's heal.
    lane_for(chat_id): the ChannelLane of a storage channel (service.Service.lane_for); None:
    copies are posted directly (unit tests)."""

    def __init__(self, store, pool: BotPool, channels, clock: Callable[[], datetime], *,
                 may_post: Callable[[], bool] = lambda: True, claim_timeout: float = 120.0,
                 wait_timeout: float = 60.0, metrics=None, lane_for=None) -> None:
        self.store = store
        self.lane_for = lane_for
        self.metrics = metrics  # FileStream.metrics.Metrics, optional
        self.pool = pool
        self.channels = channels
        self.clock = clock
        self.may_post = may_post
        self.claim_timeout = timedelta(seconds=claim_timeout)
        self.wait_timeout = wait_timeout
        self.claimant = secrets.token_hex(8)
        self.healed = 0            # storage copies this instance made again (/metrics)
        # Told when a mirror copy was found lost or a storage copy made again: the mirror pass wakes.
        self.on_copies_changed: list[Callable[[], object]] = []
        self._jobs: dict[str, asyncio.Future[StoredFile]] = {}
        self._background: set[asyncio.Task] = set()

    # -- where a bot reads the bytes ----------------------------------------------------------
    async def locate(self, member: PoolMember, file: StoredFile):
        """(location, dc_id) of the file for `member`, from a copy that exists."""
        return location_of(await self.readable(member, file))

    async def readable(self, member: PoolMember, file: StoredFile):
        """A message holding the file that `member` can read: its storage copy, else its mirror
        copy (the storage copy is made again meanwhile), else a storage copy made again now,
        else (the main bot only, when no storage channel works) the message it was sent in.
        Raises FileLost when nothing is left, NotReadableHere when only another bot could read it."""
        lost: list[Copy] = []
        stored = copies_of(storage_of(file) or (None, None),
                           (file.mirror_chat_id, file.mirror_message_id), (None, None))
        for copy in stored:
            found = await self._try(member, copy, lost)
            if found is not None:
                if lost:
                    self._after_losses(file, lost)
                return found
        # No stored copy can be read: make the storage copy again (from the original message)
        # and read that.
        storage_lost = next((c for c in lost if c.role == "storage"), None)
        if storage_lost is not None:
            self._after_losses(file, [c for c in lost if c.role != "storage"])
            try:
                healed = await self.heal(file, storage_lost)
            except FileLost:
                raise
            except StreamError as error:
                if not file.origin_message_id:
                    raise
                if member is not self.pool.main:
                    raise NotReadableHere(f"{member.name} cannot read the original of file {file.ref}") from error
                # No storage channel takes a copy now: the main bot reads the original itself.
                origin = Copy(file.origin_chat_id, file.origin_message_id, "origin")
                found = await self._try(member, origin, [])
                if found is None:
                    raise
                return found
            copy = Copy(healed.storage_chat_id, healed.storage_message_id, "storage")
            found = await self._try(member, copy, [])
            if found is not None:
                return found
        if not stored:
            raise NotReadableHere(f"file {file.ref} has no stored copy")
        raise NotReadableHere(f"{member.name} can read no copy of file {file.ref}")

    async def _try(self, member: PoolMember, copy: Copy, lost: list[Copy]):
        """The message of `copy` read by `member`, or None (noted in `lost`) when it is gone."""
        if copy.role != "origin" and self.channels.is_unusable(copy.chat_id):
            lost.append(copy)
            return None
        try:
            return await read_copy(member.client, copy)
        except CopyGone as gone:
            if gone.kind == "channel" and copy.role != "origin":
                if member is self.pool.main or await self._main_agrees(copy):
                    await self.channels.lost(copy.chat_id, gone.reason)
                else:
                    raise NotReadableHere(f"{member.name} cannot read channel {copy.chat_id}: {gone.reason}") from gone
            lost.append(copy)
            return None

    async def _main_agrees(self, copy: Copy) -> bool:
        """A backend bot lost a channel: the whole channel is lost only if the main bot lost it too."""
        try:
            await read_copy(self.pool.main.client, copy)
        except CopyGone as gone:
            return gone.kind == "channel"
        except Exception:  # noqa: BLE001 - undecided: not lost
            return False
        return False

    def _after_losses(self, file: StoredFile, lost: list[Copy]) -> None:
        for copy in lost:
            if copy.role == "storage":
                self._spawn(self.heal(file, copy))
            elif copy.role == "mirror":
                self._spawn(self.forget_mirror(file, copy))

    async def forget_mirror(self, file: StoredFile, copy: Copy) -> StoredFile:
        if await self.store.forget_mirror(file.id, (copy.chat_id, copy.message_id)):
            log.info("File %s: its mirror copy is gone; the mirror pass makes another", file.ref)
            self._copies_changed()
        return file

    def _copies_changed(self) -> None:
        for wake in self.on_copies_changed:
            wake()

    def heal_later(self, file: StoredFile, lost: Copy) -> None:
        """Make the lost storage copy again in the background."""
        self._spawn(self.heal(file, lost))

    async def heal_wanted_pass(self) -> int:
        """The lease holder makes the copies other instances asked for; how many it handled."""
        if not self.may_post():
            return 0
        wanted = await self.store.heals_wanted()
        for file in wanted:
            lost = Copy(file.storage_chat_id, file.storage_message_id, "storage")
            try:
                await self.heal(file, lost)
            except FileLost:
                pass  # said in the log; the asking instance answers 410
            except (StreamError, NotReadableHere, RPCError) as error:
                # Not retried every second: the instance that asks again (its next request) wishes again.
                await self.store.drop_heal_wish(file.id)
                log.info("File %s: a copy asked for could not be made now: %s", file.ref, error)
        return len(wanted)

    def _spawn(self, coro) -> None:
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background_done)

    def _background_done(self, task: asyncio.Task) -> None:
        self._background.discard(task)
        if not task.cancelled() and task.exception() is not None:
            error = task.exception()
            if isinstance(error, (StreamError, NotReadableHere)):
                log.info("A copy could not be made again now: %s", error)
            else:
                log.warning("Healing a copy failed: %r", error)

    # -- making a lost storage copy again ------------------------------------------------------------
    async def heal(self, file: StoredFile, lost: Copy) -> StoredFile:
        """The record with a storage copy in place of `lost`, made now (once across instances)
        unless another instance made it. Raises FileLost when nothing is left to copy from,
        StreamError (with retry_after) when it cannot be made now."""
        key = f"{file.id}:{lost.chat_id}:{lost.message_id}"
        job = self._jobs.get(key)
        if job is None:
            # Its own task: a stream that goes away does not leave a copy sent but not recorded.
            job = self._jobs[key] = asyncio.ensure_future(self._settle(file.id, lost))
            job.add_done_callback(lambda done, k=key: self._finished(k, done))
        return await asyncio.shield(job)

    def _finished(self, key: str, job: asyncio.Future) -> None:
        self._jobs.pop(key, None)
        if not job.cancelled():
            job.exception()  # retrieved here: every caller may have gone

    async def _settle(self, file_id: str, lost: Copy) -> StoredFile:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.wait_timeout
        pause = 0.05
        wished = False
        where = (lost.chat_id, lost.message_id)
        while True:
            current = await self.store.get(file_id)
            if current is None:
                raise FileLost(f"file {file_id[:4]}…: its record was deleted")
            if storage_of(current) != where:
                return current
            if self.may_post():
                now = self.clock()
                if await self.store.claim_heal(file_id, where, self.claimant, now, now - self.claim_timeout):
                    return await self._replace(current, lost)
            elif not wished:
                # Only the lease holder posts: ask it through the database.
                await self.store.want_heal(file_id, where, self.clock())
                wished = True
            if loop.time() >= deadline:
                raise StreamError(f"file {current.ref}: its storage copy is being made again elsewhere", retry_after=10)
            await asyncio.sleep(pause)
            pause = min(pause * 2, 0.5)

    async def _replace(self, file: StoredFile, lost: Copy) -> StoredFile:
        where = (lost.chat_id, lost.message_id)
        try:
            made = await self._copy_again(file, lost)
        except BaseException:
            await asyncio.shield(self.store.release_heal(file.id, self.claimant))
            raise
        if made is None:
            await self.store.release_heal(file.id, self.claimant)
            await self.store.drop_heal_wish(file.id)
            log.warning("File %s (%s): every copy and the message it was sent in are gone; its links answer 410",
                        file.ref, file.file_name)
            raise FileLost(f"file {file.ref}: no copy left")
        chat_id, message_id, placed = made
        try:
            recorded = await self.store.record_heal(file.id, where, self.claimant, chat_id, message_id)
        except BaseException:
            if placed is not None:   # its intent stays if it cannot be deleted: the next holder does
                await asyncio.shield(placed.discard())
            raise
        if not recorded:
            if placed is not None:
                await placed.discard()
            else:
                await delete_quietly(self.pool.main.client, chat_id, message_id)
        else:
            if placed is not None:
                await placed.settle()
            self.healed += 1
            if self.metrics is not None:
                self.metrics.copies_healed.inc()
            self._copies_changed()
            log.info("File %s (%s): its lost storage copy (%s in %s) was made again as message %s in %s",
                     file.ref, file.file_name, lost.message_id, lost.chat_id, message_id, chat_id)
        current = await self.store.get(file.id)
        if current is None or storage_of(current) is None:
            raise FileLost(f"file {file.ref}: its record was deleted")
        return current

    async def _copy_again(self, file: StoredFile, lost: Copy) -> tuple[int, int, Placed | None] | None:
        """Post the file into a working storage channel from its mirror copy or its original
        message: (channel, new message id, its lane's Placed or None when nothing new was
        posted), or None when neither exists."""
        client = self.pool.main.client
        sources = copies_of((None, None), (file.mirror_chat_id, file.mirror_message_id),
                            (file.origin_chat_id, file.origin_message_id))
        for source in sources:
            if source.role == "mirror" and self.channels.is_unusable(source.chat_id):
                continue
            try:
                message = await read_copy(client, source)
            except CopyGone as gone:
                if gone.kind == "channel":
                    await self.channels.lost(source.chat_id, gone.reason)
                if source.role == "mirror":
                    await self.forget_mirror(file, source)
                continue
            if source.role == "mirror" and self.channels.new_copy_target() == source.chat_id:
                # No BIN_CHANNEL works: the mirror copy itself serves as the storage copy.
                return source.chat_id, source.message_id, None
            return await post_copy(client, message, self.channels, file, lane_for=self.lane_for,
                                   may_post=self.may_post)
        return None

    async def close(self) -> None:
        tasks = [*self._jobs.values(), *self._background]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


class Placed:
    """A copy posted through a lane, to settle once recorded (or discard when not)."""

    def __init__(self, lane, posted) -> None:
        self.lane = lane
        self.posted = posted

    async def settle(self) -> None:
        await self.lane.settle(self.posted)

    async def discard(self) -> None:
        await self.lane.discard(self.posted.message_id, self.posted)


async def post_copy(client, message, channels, file: StoredFile, *, lane_for=None,
                    may_post: Callable[[], bool] = lambda: True) -> tuple[int, int, Placed | None]:
    """Copy `message` into the first usable storage channel that takes it: (channel, message id,
    Placed to settle once recorded; None without lanes). Raises StreamError (retry later) when
    none does. Channels known unusable are not tried (every stream of every lost file would):
    the copy check notices when one works again. With `lane_for` the copy waits for the
    owner's turn in the channel's lane, and is not posted once this instance lost the lease."""
    for target in channels.copy_targets():
        if channels.is_unusable(target):
            continue
        try:
            if lane_for is None:
                return target, (await message.copy(target)).id, None
            lane = lane_for(target)

            async def send(target=target) -> int:
                if not may_post():
                    raise NotSent("this instance no longer holds the posting lease")
                return (await message.copy(target)).id
            posted = await lane.post(turn_key(file.owner_id), send, unique_id=file.file_unique_id or None,
                                     kind=HEAL, file_id=file.id)
            return target, posted.message_id, Placed(lane, posted)
        except NotSent as error:
            raise StreamError(f"file {file.ref}: {error}", retry_after=10) from error
        except RPCError as error:
            if gone_kind(getattr(error, "ID", None)) == "channel":
                await channels.lost(target, str(error.ID))
                continue
            raise
    raise StreamError(f"file {file.ref}: no storage channel in BIN_CHANNEL takes copies", retry_after=60)


async def read_copy(client, copy: Copy):
    """The message of `copy`, with its media; CopyGone when Telegram says it (or its channel) is gone."""
    try:
        message = await client.get_messages(copy.chat_id, copy.message_id)
    except RPCError as error:
        kind = gone_kind(getattr(error, "ID", None))
        if kind is None:
            raise
        raise CopyGone(kind, str(error.ID)) from error
    except (KeyError, ValueError) as error:
        # The client library does not know the channel at all (never met, or forgotten).
        raise CopyGone("channel", "PEER_ID_INVALID") from error
    if message is None or getattr(message, "empty", False) or media_of(message)[0] is None:
        raise CopyGone("copy", "MESSAGE_EMPTY")
    return message


async def delete_quietly(client, chat_id: int, message_id: int) -> None:
    try:
        await client.delete_messages(chat_id, message_id)
    except Exception as error:  # noqa: BLE001 - a spare copy harms nobody
        log.warning("Could not delete a spare copy %s in %s: %r", message_id, chat_id, error)
