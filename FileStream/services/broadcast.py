"""The broadcast engine: copy one message to every active user, paced, resumable, cancellable."""

from __future__ import annotations

import asyncio
import bisect
import dataclasses
import logging
from collections import deque
from array import array
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from pyrogram.errors import FloodWait, InputUserDeactivated, RPCError, UserIsBlocked

from FileStream.core.throttle import MICROSECONDS, TokenBucket, eta_seconds, measured_rate
from FileStream.store.broadcasts import CANCELLED, DONE, RUNNING
from FileStream.store.database import is_unavailable

log = logging.getLogger(__name__)

T = TypeVar("T")

# While the database is away a broadcast pauses and tries again after these many seconds,
# doubling up to the last.
RETRY_FIRST_SECONDS = 0.5
RETRY_MAX_SECONDS = 5.0
# The final report is tried this many times (a FLOOD_WAIT longer than the client sleeps
# through, a lost connection) before it is given up, in the log.
FINAL_REPORT_TRIES = 3

# Errors that mean the person is out of reach for good: they blocked the bot or their
# account is gone. They are marked blocked so later broadcasts skip them, and `touch`
# clears the mark when they write again.
_GONE: tuple[type[Exception], ...] = (UserIsBlocked, InputUserDeactivated)
try:  # kurigram also has a 403 form of "blocked"; pyrogram 2.0 does not
    from pyrogram.errors import UserIsBlocked403

    _GONE += (UserIsBlocked403,)
except ImportError:  # pragma: no cover - depends on the client library
    pass


@dataclass(frozen=True, slots=True)
class Broadcast:
    """A broadcast as stored: what to copy, to whom it was reported, and how far it got."""

    id: str
    source_chat_id: int
    source_message_id: int
    owner_chat_id: int | None
    state: str
    last_user_id: int | None      # everyone up to here (in id order) has been handled
    ahead: tuple[int, ...]        # handled ids above last_user_id (concurrent senders finish out of order)
    sent: int
    failed: int
    blocked: int
    started_at: datetime
    save_seq: int = 0             # the last progress save (store.broadcasts.save_progress)

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> Broadcast:
        return cls(
            id=doc["id"],
            source_chat_id=doc["source_chat_id"],
            source_message_id=doc["source_message_id"],
            owner_chat_id=doc.get("owner_chat_id"),
            state=doc["state"],
            last_user_id=doc.get("last_user_id"),
            ahead=tuple(doc.get("ahead") or ()),
            sent=doc.get("sent", 0),
            failed=doc.get("failed", 0),
            blocked=doc.get("blocked", 0),
            started_at=doc["started_at"],
            save_seq=doc.get("save_seq") or 0,
        )


@dataclass(frozen=True, slots=True)
class Progress:
    """A progress report; the last one of a run has `finished` set and the final state."""

    broadcast_id: str
    owner_chat_id: int | None
    state: str                    # running, done, cancelled
    sent: int
    failed: int
    blocked: int
    left: int                     # active users not handled yet (an estimate while running)
    rate: float                   # messages per second in this run
    eta_seconds: float | None     # None until a rate is known
    finished: bool = False

    @property
    def handled(self) -> int:
        return self.sent + self.failed + self.blocked


def progress_text(p: Progress) -> str:
    """A plain-text status line block for the owner (no markup needed)."""
    head = {RUNNING: "Broadcast running", DONE: "Broadcast finished", CANCELLED: "Broadcast cancelled"}.get(
        p.state, f"Broadcast {p.state}"
    )
    lines = [
        head,
        f"Sent: {p.sent}",
        f"Failed: {p.failed}",
        f"Blocked or deleted: {p.blocked}",
    ]
    if not p.finished:
        eta = "unknown" if p.eta_seconds is None else f"{int(p.eta_seconds // 60)} min {int(p.eta_seconds % 60)} s"
        lines += [f"Left: {p.left}", f"Rate: {p.rate:.1f}/s", f"Time left: {eta}"]
    return "\n".join(lines)


class Watermark:
    """Which users are handled, as "everyone up to `last`" plus the few done out of order.

    Ids are dispatched in ascending order and complete in any order; `last` only moves
    over a contiguous run of completed ids, so persisting (`last`, `ahead()`) is enough for
    a resume to skip exactly the handled users: nobody twice, nobody missed.
    `prior` is the `ahead` set of an earlier run, still to be skipped when reached.
    """

    def __init__(self, last: int | None = None, prior: Iterable[int] = ()) -> None:
        self.last = last
        self._prior = sorted(set(prior))
        self._pending: deque[int] = deque()   # dispatched, in order, not yet folded into `last`
        self._done: set[int] = set()          # completed ids still in _pending

    def dispatch(self, user_id: int) -> bool:
        """Note `user_id` as next in line; False when an earlier run already handled it."""
        # Prior ids below this one were not listed again (blocked or banned meanwhile): drop them.
        cut = bisect.bisect_left(self._prior, user_id)
        seen_before = cut < len(self._prior) and self._prior[cut] == user_id
        del self._prior[: cut + (1 if seen_before else 0)]
        self._pending.append(user_id)
        if seen_before:
            self.complete(user_id)
        return not seen_before

    def complete(self, user_id: int) -> None:
        self._done.add(user_id)
        while self._pending and self._pending[0] in self._done:
            self.last = self._pending.popleft()
            self._done.discard(self.last)

    def ahead(self) -> list[int]:
        """Handled ids above `last`, including earlier runs' ones not reached yet."""
        return sorted(self._done.union(self._prior))


@dataclass(frozen=True, slots=True)
class Outage:
    """A pause of a broadcast because the database does not answer."""

    since: datetime               # the first failed step
    last_error: Exception
    retries: int                  # failed tries so far
    at: datetime | None = None    # the last failed try


@dataclass
class _Run:
    broadcast: Broadcast
    watermark: Watermark
    ids: array[int]               # active users after the watermark, ascending
    left_at_start: int
    started_us: int
    sent: int = 0
    failed: int = 0
    blocked: int = 0
    save_seq: int = 0             # of the last progress save tried
    next_progress_us: int = 0
    cancelled: bool = False       # by cancel() here, or seen cancelled in the database
    shutting_down: bool = False   # the task running it was cancelled: database steps stop retrying
    workers: tuple[asyncio.Task[None], ...] = ()
    position: int = 0
    ended: asyncio.Event = field(default_factory=asyncio.Event)

    def next_id(self) -> int | None:
        """The next user to copy to, in ascending order; None when all are handed out."""
        # No await in here, so concurrent workers take ids strictly in order.
        while self.position < len(self.ids):
            user_id = self.ids[self.position]
            self.position += 1
            if self.watermark.dispatch(user_id):
                return user_id
        return None

    def handled(self, user_id: int, outcome: str) -> None:
        """Count a finished copy ("sent", "failed" or "blocked") and move the watermark."""
        if outcome == "sent":
            self.sent += 1
        elif outcome == "blocked":
            self.blocked += 1
        else:
            self.failed += 1
        self.watermark.complete(user_id)

    @property
    def handled_here(self) -> int:
        return self.sent + self.failed + self.blocked - (
            self.broadcast.sent + self.broadcast.failed + self.broadcast.blocked
        )


class BroadcastEngine:
    """Copies a message to every active user (neither banned nor blocking the bot).

    - One global pace for all senders: a token bucket at `rate_per_second` (BROADCAST_RATE),
      so never more than that many copies start in any second, whatever `concurrency` is.
    - FLOOD_WAIT pauses every sender for the seconds Telegram asks, then the same user is
      retried (up to `max_flood_retries` times). With `pause_all_max_seconds` set, only a
      wait that short pauses everyone (it may be the bot's overall limit); a longer one is
      that person's chat's own verdict, so only its sender waits it out and the rest go on.
    - Users who blocked the bot or deleted their account are marked blocked.
    - Progress goes to MongoDB after every copy (the contiguous high-water mark of user
      ids plus the few done out of order), so after a restart `resume_running()` goes on
      without sending anyone twice or skipping anyone. Cancelling the task that runs it
      (shutdown) still saves every finished copy; only a hard crash can repeat the copies
      that were in flight at that moment (at most `concurrency`).
    - While the database is away (down, frozen, unreachable) the broadcast pauses: no new
      copy starts, each database step is tried again with backoff, and once the database
      answers it goes on where it was. `outage` describes a pause under way.
    - `progress(Progress)` is called at most every `progress_interval` seconds while it
      runs, and once more at the end (that last one is tried a few times).

    `database`: store.database.Database (broadcasts, users, deadlines). `copy_to(user_id,
    broadcast)` copies the broadcast's source message to that user and raises pyrogram
    errors as Telegram does. `clock`: aware UTC now; `sleep(seconds)`: asyncio.sleep unless
    a test fakes time. Run broadcasts only on the instance that handles bot updates.
    """

    def __init__(
        self,
        database: Any,
        copy_to: Callable[[int, Broadcast], Awaitable[object]],
        *,
        clock: Callable[[], datetime],
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
        rate_per_second: float = 25.0,
        concurrency: int = 8,
        progress: Callable[[Progress], Awaitable[object]] | None = None,
        progress_interval: float = 3.0,
        max_flood_retries: int = 5,
        pause_all_max_seconds: float | None = None,
    ) -> None:
        if concurrency < 1 or max_flood_retries < 0:
            raise ValueError(f"need concurrency >= 1 and max_flood_retries >= 0, got {concurrency}, {max_flood_retries}")
        self._database = database
        self.broadcasts = database.broadcasts
        self.users = database.users
        self._copy_to = copy_to
        self._clock = clock
        self._sleep = sleep
        self.rate = rate_per_second
        self.concurrency = concurrency
        self._progress = progress
        self._progress_every_us = int(progress_interval * MICROSECONDS)
        self._max_flood_retries = max_flood_retries
        self._pause_all_max = pause_all_max_seconds
        self._epoch = clock()
        self._bucket = TokenBucket(rate_per_second)
        self._paused_until_us = 0
        self._gate = asyncio.Lock()     # one sender at a time waits on the bucket
        self._save_lock = asyncio.Lock()  # progress snapshots reach MongoDB in order
        self._database_ok = asyncio.Event()  # cleared while the database is away: no new copies
        self._database_ok.set()
        self.outage: Outage | None = None
        self._outage_changed = asyncio.Condition()
        self._run: _Run | None = None
        self._busy = False  # set before run()'s first await, so two runs cannot overlap

    # -- the public face ------------------------------------------------------------------

    @property
    def current(self) -> Broadcast | None:
        """The broadcast this engine is running, if any."""
        return self._run.broadcast if self._run else None

    async def start(self, source_chat_id: int, source_message_id: int, owner_chat_id: int) -> Broadcast | None:
        """Create a broadcast of that message; None when one is already running (anywhere)."""
        now = self._clock()
        broadcast_id = await self.broadcasts.create(source_chat_id, source_message_id, now,
                                                    owner_chat_id=owner_chat_id)
        if broadcast_id is None:
            return None
        log.info("Broadcast %s of message %s/%s started by %s", broadcast_id, source_chat_id,
                 source_message_id, owner_chat_id)
        return await self._load(broadcast_id)

    async def resume_running(self) -> Progress | None:
        """After a restart: continue the running broadcast, if there is one, to its end."""
        doc = await self.broadcasts.running()
        if doc is None:
            return None
        broadcast = Broadcast.from_doc(doc)
        log.info("Resuming broadcast %s after user %s (%d sent so far)", broadcast.id,
                 broadcast.last_user_id, broadcast.sent)
        return await self.run(broadcast)

    async def cancel(self) -> bool:
        """Cancel the running broadcast, here or on another instance; False when none runs.

        Copies in flight are abandoned; the run's final report says "cancelled". Returns
        once the local run (if any) has wound down (after the database is back, if it is away).
        """
        run = self._run
        if run is not None:
            # The run saves what finished, then marks the broadcast cancelled itself.
            self._stop_run(run)
            if asyncio.current_task() not in run.workers:
                await run.ended.wait()
            log.info("Broadcast %s cancelled", run.broadcast.id)
            return True
        doc = await self.broadcasts.running()
        if doc is None or not await self.broadcasts.cancel(doc["id"], self._clock()):
            return False
        # If another instance runs it, its next save finds it cancelled and stops there.
        log.info("Broadcast %s cancelled (not running here)", doc["id"])
        return True

    async def run(self, broadcast: Broadcast) -> Progress:
        """Send the broadcast to everyone not handled yet; the final Progress.

        Cancelling the task that awaits this keeps the broadcast running in MongoDB (for
        `resume_running()`); `cancel()` ends it for good.
        """
        if self._busy:
            raise RuntimeError("this engine is already running a broadcast")
        self._busy = True
        try:
            return await self._run_to_end(broadcast)
        finally:
            self._busy = False

    async def next_outage_change(self) -> Outage | None:
        """Wait for the next retry during a pause, or for its end; the outage then (None: over).
        For tests and operators' tools: nothing needs to poll."""
        async with self._outage_changed:
            await self._outage_changed.wait()
            return self.outage

    async def _run_to_end(self, broadcast: Broadcast) -> Progress:
        fresh = await self._until_done(None, "load the broadcast", lambda: self._load(broadcast.id))
        if fresh is None:
            raise LookupError(f"broadcast {broadcast.id} does not exist")
        ids = await self._until_done(None, "list the recipients", lambda: self._list_ids(fresh.last_user_id))
        run = _Run(
            broadcast=fresh,
            watermark=Watermark(fresh.last_user_id, fresh.ahead),
            ids=ids,
            left_at_start=len(ids) - len(set(fresh.ahead).intersection(ids)),
            started_us=self._now_us(),
            sent=fresh.sent,
            failed=fresh.failed,
            blocked=fresh.blocked,
            # Above any save an earlier run of this process may still have on its way
            # (one per sender at most), so such a straggler can never pass for a cancel.
            save_seq=fresh.save_seq + self.concurrency + 1,
        )
        run.next_progress_us = run.started_us  # a first report right away
        if fresh.state != RUNNING:
            return self._report(run, fresh.state, finished=True)
        self._run = run
        try:
            try:
                async with asyncio.TaskGroup() as group:
                    run.workers = tuple(group.create_task(self._worker(run)) for _ in range(self.concurrency))
            except BaseException:
                # Shutdown (or a bug): save what finished so a resume skips it, trying once
                # (the database may be away); the broadcast stays running for resume_running().
                run.shutting_down = True
                try:
                    await asyncio.shield(self._save(run))
                except Exception as error:  # noqa: BLE001 - the resume repeats at most the unsaved copies
                    log.warning("Broadcast %s: could not save its progress on the way out: %r", fresh.id, error)
                raise
            await self._until_done(run, "save progress", lambda: self._save(run))
            if run.cancelled:
                # False when cancelled elsewhere: fine.
                await self._until_done(run, "mark it cancelled", lambda: self.broadcasts.cancel(fresh.id, self._clock()))
                final_state = CANCELLED
            else:
                finished = await self._until_done(run, "mark it done",
                                                  lambda: self.broadcasts.finish(fresh.id, self._clock()))
                final_state = DONE if finished else CANCELLED
        finally:
            self._run = None
            run.ended.set()
        report = self._report(run, final_state, finished=True)
        log.info("Broadcast %s %s: %d sent, %d failed, %d blocked", fresh.id, final_state,
                 report.sent, report.failed, report.blocked)
        await self._tell(report)
        return report

    # -- one sender -----------------------------------------------------------------------

    async def _worker(self, run: _Run) -> None:
        while not run.cancelled:
            user_id = run.next_id()
            if user_id is None:
                return
            outcome = await self._deliver(run.broadcast, user_id)
            # Counted before anything else is awaited, and recorded shielded: a shutdown
            # cancelling this worker must not lose a finished copy, nor mark someone blocked
            # (which hides them from a resumed run) without counting them.
            run.handled(user_id, outcome)
            if not await asyncio.shield(self._record(run, user_id, outcome)):
                log.info("Broadcast %s was cancelled elsewhere; stopping", run.broadcast.id)
                self._stop_run(run)
                return
            await self._maybe_report(run)

    async def _deliver(self, broadcast: Broadcast, user_id: int) -> str:
        """Copy to one user: "sent", "failed" or "blocked"."""
        for attempt in range(self._max_flood_retries + 1):
            await self._take_token()
            try:
                await self._copy_to(user_id, broadcast)
                return "sent"
            except FloodWait as flood:
                wait = int(flood.value or 0)
                if self._pause_all_max is not None and wait > self._pause_all_max:
                    log.warning("Broadcast %s: FLOOD_WAIT %s s for the chat of user %s; the others go on",
                                broadcast.id, wait, user_id)
                    await self._sleep(wait)
                    continue
                until = self._now_us() + wait * MICROSECONDS
                # The verdict is on the bot, not on this call: hold every sender.
                self._bucket.pause_until(until)
                # Said once per verdict, not by every sender it stopped (whole seconds: the
                # same verdict told again later rounds up to a slightly later end).
                said = until <= self._paused_until_us + MICROSECONDS
                self._paused_until_us = max(self._paused_until_us, until)
                if not said:
                    log.warning("Broadcast %s: FLOOD_WAIT %s s at user %s; all senders paused",
                                broadcast.id, wait, user_id)
            except _GONE as error:
                log.debug("Broadcast %s: user %s is gone (%s)", broadcast.id, user_id, error.ID)
                return "blocked"
            except RPCError as error:
                log.info("Broadcast %s: could not copy to %s: %s", broadcast.id, user_id, error.ID or error)
                return "failed"
            except Exception:  # noqa: BLE001 - one user's failure must not stop the rest
                log.exception("Broadcast %s: copying to %s failed", broadcast.id, user_id)
                return "failed"
        log.warning("Broadcast %s: user %s still flood-limited after %d tries; counted failed",
                    broadcast.id, user_id, attempt + 1)
        return "failed"

    async def _take_token(self) -> None:
        # While the database is away nothing new is sent: what was sent could not be recorded.
        while True:
            await self._database_ok.wait()
            async with self._gate:
                while wait := self._bucket.try_take(self._now_us()):
                    await self._sleep(wait / MICROSECONDS)
            if self._database_ok.is_set():
                return
            # It went away while this sender waited its turn: wait for it again.

    # -- the database, and waiting it out ---------------------------------------------------

    async def _until_done(self, run: _Run | None, what: str, step: Callable[[], Awaitable[T]]) -> T:
        """Run one database step of the broadcast; while the database is away, pause and try
        again (with backoff) until it answers. Other errors, and any error once the run is
        shutting down, go to the caller."""
        delay = RETRY_FIRST_SECONDS
        while True:
            try:
                result = await step()
            except Exception as error:
                if not is_unavailable(error) or (run is not None and run.shutting_down):
                    raise
                await self._paused(what, error)
                await self._sleep(delay)
                delay = min(delay * 2, RETRY_MAX_SECONDS)
                continue
            if self.outage is not None:
                await self._resumed()
            return result

    async def _paused(self, what: str, error: Exception) -> None:
        now = self._clock()
        if self.outage is None:
            self.outage = Outage(since=now, last_error=error, retries=0)
            self._database_ok.clear()
            log.warning("Broadcast paused: the database does not answer (%s: %r); trying again until it does",
                        what, error)
        self.outage = dataclasses.replace(self.outage, last_error=error, retries=self.outage.retries + 1, at=now)
        async with self._outage_changed:
            self._outage_changed.notify_all()

    async def _resumed(self) -> None:
        outage, self.outage = self.outage, None
        self._database_ok.set()
        log.warning("Broadcast resumed: the database answers again after %.1f s and %d retries",
                    (self._clock() - outage.since).total_seconds(), outage.retries)
        async with self._outage_changed:
            self._outage_changed.notify_all()

    async def _list_ids(self, after: int | None) -> array[int]:
        """Active user ids after `after`, ascending, read in one go.

        Read to the end at once (8 bytes an id) rather than iterated along the broadcast:
        a server-side cursor would time out during a long broadcast, and people who join
        meanwhile are not part of it anyway.
        """
        ids: array[int] = array("q")
        with self._database.deadline(self._database.deadlines.listing):
            async for user_id in self.users.iter_active_ids(after):
                ids.append(user_id)
        return ids

    async def _record(self, run: _Run, user_id: int, outcome: str) -> bool:
        if outcome == "blocked":
            await self._until_done(run, "mark a user blocked", lambda: self.users.mark_blocked(user_id, True))
        return await self._until_done(run, "save progress", lambda: self._save(run))

    async def _save(self, run: _Run) -> bool:
        """Write the watermark and counts; False when the broadcast is no longer running."""
        async with self._save_lock:
            # The snapshot is taken under the lock, so a newer one is never overwritten by an older one.
            run.save_seq += 1
            return await self.broadcasts.save_progress(
                run.broadcast.id, run.save_seq, self._clock(), last_user_id=run.watermark.last,
                ahead=run.watermark.ahead(), sent=run.sent, failed=run.failed, blocked=run.blocked)

    # -- reports ----------------------------------------------------------------------------

    async def _maybe_report(self, run: _Run) -> None:
        now = self._now_us()
        if self._progress is None or now < run.next_progress_us:
            return
        # Claimed before the await, so concurrent workers cannot both report.
        run.next_progress_us = now + self._progress_every_us
        await self._tell(self._report(run, RUNNING))

    def _report(self, run: _Run, state: str, *, finished: bool = False) -> Progress:
        elapsed = (self._now_us() - run.started_us) / MICROSECONDS
        handled = run.handled_here
        rate = measured_rate(handled, elapsed)
        left = 0 if finished else max(0, run.left_at_start - handled)
        return Progress(
            broadcast_id=run.broadcast.id,
            owner_chat_id=run.broadcast.owner_chat_id,
            state=state,
            sent=run.sent,
            failed=run.failed,
            blocked=run.blocked,
            left=left,
            rate=rate,
            eta_seconds=eta_seconds(left, rate),
            finished=finished,
        )

    async def _tell(self, report: Progress) -> None:
        if self._progress is None:
            return
        tries = FINAL_REPORT_TRIES if report.finished else 1
        for attempt in range(1, tries + 1):
            try:
                await self._progress(report)
                return
            except Exception as error:  # noqa: BLE001 - a failed status message must not stop sending
                log.warning("Broadcast %s: progress report failed (try %d of %d): %r", report.broadcast_id,
                            attempt, tries, error)
            if attempt < tries:
                await self._sleep(RETRY_MAX_SECONDS)

    def _stop_run(self, run: _Run) -> None:
        run.cancelled = True
        current = asyncio.current_task()
        for task in run.workers:
            if task is not current:
                task.cancel()

    async def _load(self, broadcast_id: str) -> Broadcast | None:
        doc = await self.broadcasts.get(broadcast_id)
        return None if doc is None else Broadcast.from_doc(doc)

    def _now_us(self) -> int:
        delta = self._clock() - self._epoch
        return (delta.days * 86_400 + delta.seconds) * MICROSECONDS + delta.microseconds
