"""Copies into one storage channel: one at a time, people served in turns, each written down before it is sent.

Telegram lets a bot post about 20 messages a minute into one channel, so copies wait.
Each person (or channel, or job) has its own queue and the lane serves them round-robin
(core/turns.py): one person's 60-file bundle delays another person's file by the copy
under way at most. One lane per destination channel; a second channel (a mirror) gets
a lane of its own and its own turns.

Before a copy is sent its intent is written to MongoDB (store/copy_intents.py), and once
the caller has recorded the copy (or deleted it) the intent goes. A process that dies
in between leaves the intent; the next start (`reconcile`) finds the copy, by the
message id if Telegram's answer was noted, else by looking through the channel's
messages after the newest one known before the copy for the same media, and adopts it
(a late copy whose record still needs one) or deletes it. Copies only the posting lease
holder makes (a lost copy made again, a mirror copy) are accounted for by the next holder
when it takes the lease (`reconcile_leased`), before it posts anything.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from FileStream.core.turns import Turns
from FileStream.store.copy_intents import INTAKE, LATE, LEASED

log = logging.getLogger(__name__)

# Looking for a copy whose id was never noted: how far back from the channel's newest
# message when the intent knew no earlier id, and how many ids one read asks for.
SCAN_BACK = 300
READ_BATCH = 100


# Whose turn a copy made for no person waits for (channel posts made again, the mirror's
# backfill): it takes its turn like a person, so it can never starve one.
SYSTEM_KEY = ("system", "storage")


def turn_key(owner_id: int | None) -> Hashable:
    """The lane key of a copy of a file: its owner's turn, or the system's for channel files."""
    return ("person", owner_id) if owner_id is not None else SYSTEM_KEY


class NotSent(Exception):
    """The send callable decided not to post (this instance no longer holds the posting lease)."""


@dataclass(frozen=True, slots=True)
class Posted:
    """A copy the lane sent: its message id, and the intent to settle once it is recorded."""

    message_id: int
    intent_id: str | None


@dataclass(eq=False)
class _Job:
    send: Callable[[], Awaitable[int]]
    kind: str
    unique_id: str | None
    file_id: str | None
    done: asyncio.Future = field(default_factory=lambda: asyncio.get_running_loop().create_future())
    abandoned: bool = False


class ChannelTools(Protocol):
    """What the lane needs of Telegram for one channel (telegram/storage.ChannelReader)."""

    async def delete(self, message_ids: list[int]) -> None:
        """Delete these messages of the channel."""

    async def newest_id(self) -> int:
        """The id of the channel's newest message."""

    async def media_of(self, message_ids: list[int]) -> dict[int, tuple[str, int]]:
        """{message id: (media unique id, DC)} of those that exist and carry media."""

    def never_sent(self, error: BaseException) -> bool:
        """True when a send that raised `error` surely posted nothing (Telegram refused it)."""

    async def ready(self) -> None:
        """Return once a message to the channel would go at once (its pace, any FLOOD_WAIT)."""


class ChannelLane:
    """The copies into `channel`, in turns.

    `tools`: ChannelTools for the channel. `intents`: store.copy_intents.CopyIntentStore.
    `files`: store.files.FileStore (which messages are recorded; adopting late copies).
    `instance`: this process, in the intents it writes. `clock`: aware UTC now.
    `on_change`: called (no arguments) when a copy joins the queue or leaves it (its turn
    came, or its caller went first), so an observer of `waiting` learns of it without polling.
    """

    def __init__(self, channel: int, tools: Any, intents: Any, files: Any, instance: str,
                 clock: Callable[[], datetime]) -> None:
        self.channel = channel
        self.tools = tools
        self.intents = intents
        self.files = files
        self.instance = instance
        self.clock = clock
        self._turns: Turns[Hashable, _Job] = Turns()
        self._worker: asyncio.Task | None = None
        self._cleanups: set[asyncio.Task] = set()
        self.newest_known: int | None = None   # the channel's newest message id this process saw
        self.sent = 0
        self.on_change: list[Callable[[], object]] = []

    @property
    def waiting(self) -> int:
        return len(self._turns)

    async def post(self, key: Hashable, send: Callable[[], Awaitable[int]], *, unique_id: str | None,
                   kind: str = INTAKE, file_id: str | None = None) -> Posted:
        """Send one copy when `key`'s turn comes: `send()` posts it and returns its message id.

        The caller records the copy and then calls `settle(posted)`. A caller cancelled
        before its turn leaves the queue; one cancelled while its copy is being sent
        leaves the copy to the lane, which deletes it.
        """
        job = _Job(send, kind, unique_id, file_id)
        self._turns.push(key, job)
        self._changed()
        if self._worker is None or self._worker.done():
            self._worker = asyncio.get_running_loop().create_task(self._serve(), name=f"copies into {self.channel}")
        try:
            return await asyncio.shield(job.done)
        except asyncio.CancelledError:
            if self._turns.remove(key, job):
                self._changed()
                raise
            done = job.done
            if done.done() and not done.cancelled() and done.exception() is None:
                # Sent just as the caller went: nobody will record it.
                cleanup = asyncio.get_running_loop().create_task(self.discard(done.result().message_id, done.result()))
                self._cleanups.add(cleanup)
                cleanup.add_done_callback(self._cleanups.discard)
            else:
                job.abandoned = True
            raise

    async def settle(self, posted: Posted) -> None:
        """The copy is recorded (or deleted): its intent goes."""
        if posted.intent_id is not None:
            await self.intents.settle(posted.intent_id)

    async def discard(self, message_id: int, posted: Posted | None = None) -> bool:
        """Delete a copy nobody will record; its intent goes only once the copy is gone."""
        try:
            await self.tools.delete([message_id])
        except Exception as error:  # noqa: BLE001 - the intent stays: the next start deletes it
            log.warning("Could not delete copy %s from channel %s: %r", message_id, self.channel, error)
            return False
        if posted is not None:
            try:
                await self.settle(posted)
            except Exception as error:  # noqa: BLE001 - the next start finds the copy gone and drops the intent
                log.warning("Copy %s is deleted from channel %s; could not drop its intent: %r",
                            message_id, self.channel, error)
        return True

    async def close(self) -> None:
        worker, self._worker = self._worker, None
        if worker is not None:
            worker.cancel()
            await asyncio.gather(worker, return_exceptions=True)
        while (left := self._turns.pop()) is not None:
            left[1].done.cancel()

    async def _serve(self) -> None:
        while self._turns:
            # Whose turn it is is decided only once the channel takes a message: someone who
            # comes while the lane waits for Telegram's pace goes next, not behind a copy
            # already picked and waiting.
            await self.tools.ready()
            turn = self._turns.pop()
            if turn is None:
                continue
            self._changed()
            _key, job = turn
            if job.done.done():
                continue
            try:
                posted = await self._send(job)
            except asyncio.CancelledError:
                job.done.cancel()
                raise
            except BaseException as error:  # noqa: BLE001 - the caller gets it
                if not job.done.done():
                    job.done.set_exception(error)
                continue
            if job.abandoned:
                await self.discard(posted.message_id, posted)
            elif not job.done.done():
                job.done.set_result(posted)

    def _changed(self) -> None:
        for call in self.on_change:
            call()

    async def _send(self, job: _Job) -> Posted:
        intent_id = None
        if self.intents is not None:
            intent_id = await self.intents.record(
                channel=self.channel, kind=job.kind, instance=self.instance, now=self.clock(),
                unique_id=job.unique_id, after_id=self.newest_known, file_id=job.file_id)
        try:
            message_id = await job.send()
        except BaseException as error:
            # A refusal posted nothing; after a lost answer a copy may exist: the intent stays.
            if intent_id is not None and (isinstance(error, NotSent) or self.tools.never_sent(error)):
                await asyncio.shield(self.intents.settle(intent_id))
            raise
        # From here on a crash leaves a copy: the intent says which one.
        self.sent += 1
        self.newest_known = max(self.newest_known or 0, message_id)
        if intent_id is not None:
            await self.intents.sent(intent_id, message_id)
        return Posted(message_id, intent_id)

    # -- after a crash ---------------------------------------------------------------------

    async def reconcile(self, *, intake: bool, stale_after: timedelta) -> dict[str, int]:
        """Account for the copies of intents other processes left: adopt or delete each.

        `intake`: this is the instance that takes files in (the bot), so every intake intent
        of another process is its dead predecessor's; late copies are left to others until
        `stale_after` old. An intent whose copies could not be dealt with stays for next time.
        """
        left = await self.intents.left_behind(self.channel, self.instance, kinds=[INTAKE]) if intake else []
        stale = await self.intents.left_behind(self.channel, self.instance, kinds=[LATE],
                                               older_than=self.clock() - stale_after)
        return await self._reconcile([*left, *stale])

    async def reconcile_leased(self, older_than: datetime | None = None) -> dict[str, int]:
        """This instance holds the posting lease: the heal and mirror copies other instances
        noted (only a lease holder makes them, so their maker stopped or lost the lease) are
        deleted unless a record holds them; the pass that made them makes them again.
        `older_than`: only intents written before it (the holder's later passes, which must
        not race a send the previous holder had under way as it lost the lease)."""
        return await self._reconcile(await self.intents.left_behind(self.channel, self.instance, kinds=list(LEASED),
                                                                    older_than=older_than))

    async def _reconcile(self, docs: list[dict[str, Any]]) -> dict[str, int]:
        intents = {doc["_id"]: doc for doc in docs}
        counts = {"intents": len(intents), "adopted": 0, "deleted": 0, "kept": 0}
        if not intents:
            return counts
        newest: int | None = None
        for doc in intents.values():
            if doc.get("message_id") is not None:
                candidates = [int(doc["message_id"])]
            else:
                if newest is None:
                    newest = await self.tools.newest_id()
                    self.newest_known = max(self.newest_known or 0, newest)
                candidates = await self._look_for(doc, newest)
            if await self._account_for(doc, candidates, counts):
                await self.intents.settle(doc["_id"])
            else:
                counts["kept"] += 1
        log.info("Copies left by a stopped process in channel %s: %s", self.channel, counts)
        return counts

    async def reconcile_file(self, file_id: str, *, stale_after: timedelta) -> None:
        """Before a late copy is made again for `file_id` (its claim went stale): the copy the
        stalled claimant may have made is adopted instead, or deleted."""
        counts = {"intents": 0, "adopted": 0, "deleted": 0, "kept": 0}
        for doc in await self.intents.for_file(file_id, self.instance, self.clock() - stale_after):
            candidates = ([int(doc["message_id"])] if doc.get("message_id") is not None
                          else await self._look_for(doc, await self.tools.newest_id()))
            if await self._account_for(doc, candidates, counts):
                await self.intents.settle(doc["_id"])

    async def _look_for(self, doc: dict[str, Any], newest: int) -> list[int]:
        """Messages after the intent's `after_id` that carry the same media (same unique id)."""
        unique_id = doc.get("unique_id")
        if not unique_id:
            return []
        low = doc.get("after_id")
        low = max(0, newest - SCAN_BACK) if low is None else int(low)
        found: list[int] = []
        for start in range(low + 1, newest + 1, READ_BATCH):
            ids = list(range(start, min(start + READ_BATCH, newest + 1)))
            media = await self.tools.media_of(ids)
            found += [mid for mid, (uid, _dc) in media.items() if uid == unique_id]
        return found

    async def _account_for(self, doc: dict[str, Any], candidates: list[int], counts: dict[str, int]) -> bool:
        if not candidates:
            return True
        recorded = await self.files.recorded_messages(self.channel, candidates)
        spare = [mid for mid in candidates if mid not in recorded]
        if doc["kind"] == LATE and doc.get("file_id") and spare:
            media = await self.tools.media_of(spare[:1])
            if spare[0] in media and await self.files.record_copy(doc["file_id"], self.channel, spare[0],
                                                                  media[spare[0]][1]):
                counts["adopted"] += 1
                log.info("Adopted copy %s in channel %s left by a stopped process", spare[0], self.channel)
                spare = spare[1:]
        if not spare:
            return True
        try:
            await self.tools.delete(spare)
        except Exception as error:  # noqa: BLE001 - kept for the next start
            log.warning("Could not delete copies %s left in channel %s: %r", spare, self.channel, error)
            return False
        counts["deleted"] += len(spare)
        log.info("Deleted copies %s left in channel %s by a stopped process", spare, self.channel)
        return True
