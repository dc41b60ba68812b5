"""MIRROR_CHANNEL: a second copy of every stored file, made in the background and paced.

New files are mirrored right after they are stored (the intake wakes the pass); files stored
before the mirror was set, or whose mirror copy was lost, are found by the same pass, oldest
first. Every send goes through the bot's paced client, which keeps to Telegram's limit of
about 20 posts a minute into one channel, and only the instance holding the posting lease
runs the pass, so all instances together stay within one bot's limits.

Each copy goes through the mirror channel's lane (services/channel_copies.py): its intent is
written first (a crash between posting and recording leaves a note the next lease holder
accounts for), and it waits for its turn: the owner's for a file stored since this pass
began (new-file mirroring), the system's for the backfill of older files and channel files,
which takes its turn like one person and so never starves anyone.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime

from pyrogram.errors import FloodWait, RPCError

from FileStream.core.models import StoredFile
from FileStream.core.storage_channels import Copy, gone_kind
from FileStream.services.channel_copies import SYSTEM_KEY, NotSent, turn_key
from FileStream.services.healing import CopyGone, delete_quietly, read_copy
from FileStream.store.copy_intents import MIRROR

log = logging.getLogger(__name__)


class Mirror:
    """store: store.copies.CopyStore; channels: services.storage_channels.StorageChannels;
    keeper: services.healing.CopyKeeper (a storage copy found gone is made again).
    lane_for(chat_id): the ChannelLane of a channel (service.Service.lane_for); None: copies
    are posted directly (unit tests)."""

    def __init__(self, store, pool, channels, keeper, clock: Callable[[], datetime], *,
                 may_post: Callable[[], bool] = lambda: True, batch: int = 20, metrics=None,
                 lane_for=None) -> None:
        self.lane_for = lane_for
        self.started_at = clock()   # files stored since are new-file mirroring: their owner's turn
        self.metrics = metrics  # FileStream.metrics.Metrics, optional
        self.store = store
        self.pool = pool
        self.channels = channels
        self.keeper = keeper
        self.clock = clock
        self.may_post = may_post
        self.batch = batch
        self.made = 0   # mirror copies this instance made
        self._made_changed = asyncio.Condition()

    async def made_at_least(self, count: int) -> None:
        """Wait until this instance has made `count` mirror copies (recorded), so tests never sleep."""
        async with self._made_changed:
            await self._made_changed.wait_for(lambda: self.made >= count)

    @property
    def channel(self) -> int | None:
        return self.channels.mirror

    async def run_once(self) -> int:
        """Mirror every file that has no mirror copy yet; how many copies were made."""
        if self.channel is None or not self.may_post():
            return 0
        made = 0
        after = None
        while self.channels.mirror_usable and self.may_post():
            files = await self.store.without_mirror(self.clock(), self.channel, after=after, limit=self.batch)
            if not files:
                break
            for file in files:
                after = (file.created_at, file.id)
                if not self.channels.mirror_usable or not self.may_post():
                    break
                try:
                    if await self.copy_one(file):
                        made += 1
                except FloodWait as wait:
                    log.info("Mirroring waits %s s: Telegram asked to slow down", wait.value)
                    break
        if made:
            log.info("Mirror pass: %d file(s) mirrored", made)
        return made

    def turn_of(self, file: StoredFile):
        """Whose turn a file's mirror copy waits for in the lane."""
        if file.created_at is not None and file.created_at >= self.started_at:
            return turn_key(file.owner_id)
        return SYSTEM_KEY

    async def copy_one(self, file: StoredFile) -> bool:
        """Copy one file's storage copy into the mirror channel; True when a copy was made."""
        client = self.pool.main.client
        source = Copy(file.storage_chat_id, file.storage_message_id, "storage")
        if self.channels.is_unusable(source.chat_id):
            return False  # healed into a working channel first, then mirrored
        try:
            message = await read_copy(client, source)
        except CopyGone as gone:
            if gone.kind == "channel":
                await self.channels.lost(source.chat_id, gone.reason)
            self.keeper.heal_later(file, source)
            return False
        channel = self.channel
        lane = None if self.lane_for is None else self.lane_for(channel)

        async def send() -> int:
            if not self.may_post():
                raise NotSent("this instance no longer holds the posting lease")
            return (await message.copy(channel)).id
        try:
            if lane is None:
                posted, message_id = None, await send()
            else:
                posted = await lane.post(self.turn_of(file), send, unique_id=file.file_unique_id or None,
                                         kind=MIRROR, file_id=file.id)
                message_id = posted.message_id
        except NotSent:
            return False
        except RPCError as error:
            if gone_kind(getattr(error, "ID", None)) == "channel":
                await self.channels.lost(channel, str(error.ID))
                return False
            raise
        try:
            recorded = await self.store.record_mirror(file.id, channel, message_id, self.clock())
        except BaseException:
            if lane is not None:   # its intent stays if it cannot be deleted: the next holder does
                await asyncio.shield(lane.discard(message_id, posted))
            raise
        if not recorded:
            # The file was deleted (or mirrored elsewhere) meanwhile: nothing keeps this copy.
            if lane is not None:
                await lane.discard(message_id, posted)
            else:
                await delete_quietly(client, channel, message_id)
            return False
        if lane is not None:
            await lane.settle(posted)
        self.made += 1
        if self.metrics is not None:
            self.metrics.copies_mirrored.inc()
        async with self._made_changed:
            self._made_changed.notify_all()
        log.debug("File %s: mirrored as message %s", file.ref, message_id)
        return True


class CopyCheck:
    """Walks the stored files a batch at a time and confirms their copies exist, healing what is
    gone before a person finds out; also notices when an unusable channel works again."""

    def __init__(self, store, pool, channels, keeper, *, may_post: Callable[[], bool] = lambda: True,
                 batch: int = 20) -> None:
        self.store = store
        self.pool = pool
        self.channels = channels
        self.keeper = keeper
        self.may_post = may_post
        self.batch = batch
        self.checked = 0
        self.found_gone = 0
        self.rounds = 0          # walks through every stored file completed
        self._after: str | None = None

    async def run_once(self) -> int:
        """Check the next batch; how many copies were found gone."""
        if not self.may_post():
            return 0
        client = self.pool.main.client
        for chat_id in self.channels.unusable():
            try:
                await client.get_chat(chat_id)
            except Exception:  # noqa: BLE001 - still unusable
                continue
            await self.channels.works_again(chat_id)
        files = await self.store.next_batch(self._after, self.batch)
        if not files:
            self._after = None
            self.rounds += 1
            return 0
        self._after = files[-1].id
        by_chat: dict[int, list[tuple[StoredFile, Copy]]] = {}
        for file in files:
            by_chat.setdefault(file.storage_chat_id, []).append(
                (file, Copy(file.storage_chat_id, file.storage_message_id, "storage")))
            if file.has_mirror_copy:
                by_chat.setdefault(file.mirror_chat_id, []).append(
                    (file, Copy(file.mirror_chat_id, file.mirror_message_id, "mirror")))
        gone = 0
        for chat_id, items in by_chat.items():
            if self.channels.is_unusable(chat_id):
                continue
            try:
                messages = await client.get_messages(chat_id, [copy.message_id for _, copy in items])
            except RPCError as error:
                if gone_kind(getattr(error, "ID", None)) == "channel":
                    await self.channels.lost(chat_id, str(error.ID))
                continue
            for (file, copy), message in zip(items, messages):
                self.checked += 1
                if message is not None and not getattr(message, "empty", False):
                    continue
                gone += 1
                self.found_gone += 1
                log.info("File %s: its %s copy is gone; making it again", file.ref, copy.role)
                if copy.role == "mirror":
                    await self.keeper.forget_mirror(file, copy)
                else:
                    self.keeper.heal_later(file, copy)
        return gone


async def delete_mirror_copy(client, file: StoredFile) -> None:
    """Delete a file's mirror copy with its record (expiry, or the person or the owner deleted
    it): nothing of a deleted file stays in MIRROR_CHANNEL. A failure is logged, not raised."""
    if not file.has_mirror_copy or (file.mirror_chat_id, file.mirror_message_id) == (
            file.storage_chat_id, file.storage_message_id):
        return
    try:
        await client.delete_messages(file.mirror_chat_id, file.mirror_message_id)
    except Exception as error:  # noqa: BLE001 - the links ended with the record
        log.warning("File %s: could not delete its mirror copy %s in %s: %r", file.ref, file.mirror_message_id,
                    file.mirror_chat_id, error)
