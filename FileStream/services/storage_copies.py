"""Storage copies of migrated files, made once, the first time a file is needed.

The web layer and the bot call `ready(file)` before they use a record's storage message.
A file that has one is returned as it is. For one that has none (migrated from
FileStreamBot), the bot an old file id was made for re-sends it into BIN_CHANNEL by that
id, the new message is recorded, and the updated record is returned.

Exactly once per file across instances: the job is claimed in MongoDB with one atomic
update; callers on the instance that holds the claim wait on its task, callers elsewhere
watch the record until the copy (or the refusal) is there. A claim left behind by an
instance that stopped goes stale and is taken over. A file whose every id Telegram refuses
is marked so once (one log line), and from then on `ready` raises CopyRefused at once.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from FileStream.core.models import StoredFile
from FileStream.core.storage_copy import CopyNotNow, CopyRefused, sends_to_try
from FileStream.core.tokens import log_ref
from FileStream.store.copy_intents import LATE
from FileStream.telegram.pool import BotPool, PoolMember
from FileStream.telegram.storage import FileIdRefused, SendLater, send_by_file_id

log = logging.getLogger(__name__)


@dataclass
class PendingCopies:
    """What `make_pending` did."""

    made: int = 0
    refused: int = 0
    already: int = 0   # made meanwhile by a running service, or gone


class StorageCopies:
    """Makes the missing storage copies (implements web's StorageCopies port).

    files: store.files.FileStore. pool: whose bots may send (the main bot first).
    bin_channel: where copies go. clock: timezone-aware UTC now, for claims.
    claim_timeout: a claim older than this is taken over (its instance stopped mid-send).
    wait_timeout: how long a caller waits for another instance's send before CopyNotNow.
    lane: services.channel_copies.ChannelLane of bin_channel (the service's): the copy waits
    for its owner's turn there and is written down first, so a crash leaves no stray copy.
    None (the migration script) sends at once.
    """

    def __init__(self, files, pool: BotPool, bin_channel: int, clock: Callable[[], datetime], *,
                 claim_timeout: float = 120.0, wait_timeout: float = 60.0, claimant: str | None = None,
                 lane=None) -> None:
        self.files = files
        self.pool = pool
        self.bin_channel = bin_channel
        self.clock = clock
        self.claim_timeout = timedelta(seconds=claim_timeout)
        self.wait_timeout = wait_timeout
        self.claimant = claimant or secrets.token_hex(8)  # this instance, in the claims it takes
        self.lane = lane
        self._jobs: dict[str, asyncio.Future[StoredFile]] = {}

    async def ready(self, file: StoredFile) -> StoredFile:
        """`file` with a storage copy, made now if it has none.

        Raises CopyRefused (Telegram will never accept its ids) or CopyNotNow (try later).
        """
        if file.has_storage_copy:
            return file
        job = self._jobs.get(file.id)
        if job is None:
            # Its own task: a caller that goes away (a closed browser tab) does not stop
            # a send that others wait for, or leave a message sent but not recorded.
            job = self._jobs[file.id] = asyncio.ensure_future(self._settle(file.id))
            job.add_done_callback(lambda done, key=file.id: self._finished(key, done))
        return await asyncio.shield(job)

    def _finished(self, file_id: str, job: asyncio.Future[StoredFile]) -> None:
        self._jobs.pop(file_id, None)
        if not job.cancelled():
            job.exception()  # retrieved here: every caller may have gone before it ended

    async def close(self) -> None:
        """Stop jobs under way (shutdown); their claims are released or go stale."""
        jobs = list(self._jobs.values())
        for job in jobs:
            job.cancel()
        await asyncio.gather(*jobs, return_exceptions=True)

    async def _settle(self, file_id: str) -> StoredFile:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.wait_timeout
        pause = 0.05
        while True:
            task = await self.files.copy_task(file_id)
            if task is None:
                raise CopyRefused("the file was deleted")
            if task.file.has_storage_copy:
                return task.file
            if task.claim is not None and task.claim.state == "refused":
                raise CopyRefused(task.claim.reason)
            now = self.clock()
            if await self.files.claim_copy(file_id, self.claimant, now, now - self.claim_timeout):
                if self.lane is not None and task.claim is not None:
                    # Taken over from a claimant that stopped: its copy, if made, is adopted.
                    try:
                        await self.lane.reconcile_file(file_id, stale_after=self.claim_timeout)
                    except Exception as error:  # noqa: BLE001 - try again later, sending nothing twice
                        await self.files.release_copy(file_id, self.claimant)
                        raise CopyNotNow(f"file {log_ref(file_id)}: {error!r}", 30) from error
                    task = await self.files.copy_task(file_id)
                    if task is None or task.file.has_storage_copy:
                        await self.files.release_copy(file_id, self.claimant)
                        continue
                return await self._make(task)
            # Another instance is sending: watch the record (no change feed on every MongoDB).
            if loop.time() >= deadline:
                raise CopyNotNow(f"file {log_ref(file_id)}: another instance is still making its storage copy", 10)
            await asyncio.sleep(pause)
            pause = min(pause * 2, 1.0)

    async def _make(self, task) -> StoredFile:
        file = task.file
        refusals: list[str] = []
        try:
            sent = await self._send(task, refusals)
        except SendLater as later:
            await self.files.release_copy(file.id, self.claimant)
            raise CopyNotNow(f"file {file.ref}: Telegram asks to wait {later.retry_after} s", later.retry_after) from later
        except BaseException as error:
            # Network trouble, rights in the channel, a shutdown: nothing is decided about
            # the file itself, so the claim goes back for the next request.
            await asyncio.shield(self.files.release_copy(file.id, self.claimant))
            if isinstance(error, Exception):
                log.warning("File %s: its storage copy could not be made now: %r", file.ref, error)
                raise CopyNotNow(f"file {file.ref}: {error!r}", 30) from error
            raise
        if sent is not None:
            return await self._keep(file, *sent)
        reason = "; ".join(refusals) or "no file id of it was made for a bot of ours"
        if await self.files.refuse_copy(file.id, self.claimant, reason, self.clock()):
            log.warning("File %s (%s) can no longer be fetched: Telegram refused its file id (%s); "
                        "its links answer 410 Gone", file.ref, file.file_name, reason)
        raise CopyRefused(reason)

    async def _send(self, task, refusals: list[str]) -> tuple[PoolMember, int, int, object] | None:
        """Try each known id with the bot it was made for; the first that Telegram takes wins."""
        members = {m.bot_id: m for m in self.pool.members if m.bot_id}
        main_id = self.pool.main.bot_id
        members.setdefault(main_id, self.pool.main)
        for bot_id, file_id in sends_to_try(task.known_ids, main_id, members):
            member = members[bot_id]
            try:
                message_id, dc_id, posted = await self._send_one(task.file, member, file_id)
            except FileIdRefused as refused:
                refusals.append(f"{refused.error_id} for @{member.username or member.name}")
                continue
            return member, message_id, dc_id, posted
        return None

    async def _send_one(self, file: StoredFile, member: PoolMember, file_id: str) -> tuple[int, int, object]:
        if self.lane is None:
            return *await send_by_file_id(member.client, self.bin_channel, file_id), None
        dc = [0]

        async def send() -> int:
            message_id, dc[0] = await send_by_file_id(member.client, self.bin_channel, file_id)
            return message_id
        key = ("person", file.owner_id) if file.owner_id is not None else ("file", file.id)
        posted = await self.lane.post(key, send, unique_id=file.file_unique_id or None, kind=LATE, file_id=file.id)
        return posted.message_id, dc[0], posted

    async def _keep(self, file: StoredFile, member: PoolMember, message_id: int, dc_id: int,
                    posted=None) -> StoredFile:
        if not await self.files.record_copy(file.id, self.bin_channel, message_id, dc_id or file.dc_id):
            # Our claim was taken over as stale and the other copy was recorded first.
            try:
                await member.client.delete_messages(self.bin_channel, message_id)
            except Exception as error:  # noqa: BLE001 - its intent stays: the next start deletes it
                log.warning("File %s: could not delete a spare storage copy %s: %r", file.ref, message_id, error)
            else:
                if posted is not None:
                    await self.lane.settle(posted)
        else:
            if posted is not None:
                await self.lane.settle(posted)
            log.info("File %s (%s): storage copy made by %s as message %s", file.ref, file.file_name,
                     member.name, message_id)
        task = await self.files.copy_task(file.id)
        if task is None or not task.file.has_storage_copy:
            raise CopyRefused("the file was deleted")
        return task.file

    async def make_pending(self, *, per_minute: float = 20.0, on_done: Callable[[str], object] | None = None,
                           max_waits: int = 5) -> PendingCopies:
        """Make every missing copy now, paced (Telegram lets a bot post about 20 messages a
        minute into one channel), instead of on first use. Safe beside a running service
        (same claims) and resumable: a second run only finds what is still missing.

        on_done(outcome) is called after each file: "made", "refused" or "already".
        """
        result = PendingCopies()
        pause = 60.0 / per_minute
        loop = asyncio.get_running_loop()
        next_send = loop.time()
        for file_id in await self.files.ids_needing_copy(self.clock()):
            outcome = "already"
            for _ in range(max_waits):
                task = await self.files.copy_task(file_id)
                if task is None or task.file.has_storage_copy:
                    break
                await asyncio.sleep(max(0.0, next_send - loop.time()))
                next_send = loop.time() + pause
                try:
                    await self.ready(task.file)
                    outcome = "made"
                except CopyRefused:
                    outcome = "refused"
                except CopyNotNow as later:
                    log.info("File %s: waiting %s s before trying again (%s)", log_ref(file_id), later.retry_after, later)
                    next_send = loop.time() + later.retry_after
                    continue
                break
            else:
                raise CopyNotNow(f"file {log_ref(file_id)}: Telegram kept asking to wait; run again later", 60)
            setattr(result, outcome, getattr(result, outcome) + 1)
            if on_done is not None:
                on_done(outcome)
        return result
