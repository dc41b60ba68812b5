"""File requests as a service: one active request per person, states, and the local work behind them."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from FileStream.core.requests import RequestState, is_terminal
from FileStream.store.database import is_unavailable
from FileStream.store.requests import new_request_id

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Request:
    """One person's file request as the database holds it."""

    id: str
    user_id: int
    file_name: str
    state: RequestState
    started_at: datetime
    updated_at: datetime
    timeout_at: datetime
    finished_at: datetime | None = None
    bundle_id: str | None = None   # set for a bundle's request: one request for all its files
    stored: int = 0                # a bundle's files stored so far ...
    total: int = 0                 # ... of the files received for it

    @property
    def active(self) -> bool:
        return not is_terminal(self.state)

    @property
    def is_bundle(self) -> bool:
        return self.bundle_id is not None

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> Request:
        return cls(
            id=doc["id"],
            user_id=doc["user_id"],
            file_name=doc.get("file_name") or "",
            state=RequestState(doc["state"]),
            started_at=doc["created_at"],
            updated_at=doc.get("updated_at") or doc["created_at"],
            timeout_at=doc["timeout_at"],
            finished_at=doc.get("finished_at"),
            bundle_id=doc.get("bundle_id"),
            stored=int(doc.get("stored") or 0),
            total=int(doc.get("total") or 0),
        )


class RequestTracker:
    """Starts, moves and ends requests through the requests store, and cancels the local
    asyncio task doing a request's work when the request ends from outside (revoked by
    the person, timed out by the stale-request job).

    The one-active-request rule is the store's unique index, so it holds across service
    instances; every state move is the store's atomic check-and-set, so a late step of a
    worker can never revive a request that another instance already ended.

    `requests`: store.requests.RequestStore. `clock`: aware UTC now. `timeout_seconds`:
    REQUEST_TIMEOUT. `instance`: this process, written on the requests it opens, so that a
    restarted one knows which requests nobody works on any more (`left_behind`).
    """

    def __init__(self, requests: Any, clock: Callable[[], datetime], timeout_seconds: int, *,
                 instance: str | None = None) -> None:
        if timeout_seconds <= 0:
            raise ValueError(f"timeout_seconds must be > 0, got {timeout_seconds}")
        self.store = requests
        self.clock = clock
        self.timeout = timedelta(seconds=timeout_seconds)
        self.instance = instance
        self._work: dict[str, set[asyncio.Task[Any]]] = {}
        # Requests whose work failed here while the database could not record it (id: the
        # error): written as soon as it answers again, so that the person, told to try
        # again, is not held up by a request still open in the database.
        self._failed_unrecorded: dict[str, str] = {}
        # Requests whose opening got no answer (id: person, file name): the person was told
        # to try again, but the database may still apply the opening later, which would
        # leave them "busy" until REQUEST_TIMEOUT. Each is voided (store.void) as soon as
        # the database answers: at the person's next begin, or the stale-request pass.
        self._openings_unanswered: dict[str, tuple[int, str]] = {}
        # Told about every request opened here (the stale-request job wakes for its deadline).
        self.on_opened: list[Callable[[Request], object]] = []

    # -- the request's life ---------------------------------------------------------------

    async def begin(self, user_id: int, file_name: str, *, bundle_id: str | None = None,
                    total: int = 0, message_id: int | None = None) -> Request | None:
        """Open a request in `processing`; None when the person already has one open.

        With `bundle_id` the request stands for a whole bundle; `total` is how many files
        are known to be coming (an album), 0 while the person is still sending (/bundle).
        `message_id`: the person's message it answers (a file, an album's first message): a
        request a stopped process left is then handled again instead of being given up.
        """
        now = self.clock()
        extra: dict[str, Any] = {"bundle_id": bundle_id, "stored": 0, "total": total} if bundle_id is not None else {}
        if message_id is not None:
            extra["message_id"] = message_id
        if self._openings_unanswered:
            # Before this opening, not only when it finds the person busy: a void sent after
            # it could let an earlier opening, applied late, hold them up again.
            await self._void_openings()
        request_id = await self._open(user_id, file_name, now, extra)
        if request_id is None and await self.record_failures():
            request_id = await self._open(user_id, file_name, now, extra)
        if request_id is None:
            return None
        doc = await self.store.get(request_id)
        if doc is None:  # ended and removed in between: nothing to hand out
            return None
        log.info("Request %s opened for %s (%s)", request_id, user_id, file_name)
        request = Request.from_doc(doc)
        for hook in self.on_opened:
            hook(request)
        return request

    async def _open(self, user_id: int, file_name: str, now: datetime, extra: dict[str, Any]) -> str | None:
        # The id is chosen here, so that an opening without an answer can be voided by id.
        request_id = new_request_id()
        try:
            return await self.store.start(user_id, file_name, now, now + self.timeout, instance=self.instance,
                                          request_id=request_id, **extra)
        except Exception as error:
            if is_unavailable(error):
                self._openings_unanswered[request_id] = (user_id, file_name)
            raise

    async def advance(self, request_id: str, state: str, **fields: Any) -> bool:
        """Move the request on; False when it already ended (revoked, timed out, possibly
        by another instance) or the move is not allowed. On False the worker must stop.
        """
        moved = await self.store.set_state(request_id, state, self.clock(), **fields)
        if not moved:
            log.info("Request %s could not move to %s: it has ended or moved elsewhere", request_id, state)
        elif is_terminal(state):
            self._work.pop(request_id, None)
        return moved

    async def count(self, request_id: str, *, stored: int = 0, total: int = 0, extend: bool = False) -> Request | None:
        """Count a bundle's files in (`total`) and stored (`stored`); `extend` gives the person
        another REQUEST_TIMEOUT from now (a bundle being filled times out when idle, not when
        long). None when the request has ended."""
        now = self.clock()
        doc = await self.store.count(request_id, now, timeout_at=now + self.timeout if extend else None,
                                     stored=stored, total=total)
        return None if doc is None else Request.from_doc(doc)

    async def revoke(self, user_id: int) -> Request | None:
        """End the person's own active request as revoked and cancel its work here.

        None when there was nothing to revoke (no request, or it ended just now).
        """
        current = await self.store.active_for(user_id)
        if current is None:
            return None
        if not await self.store.set_state(current["id"], RequestState.REVOKED, self.clock()):
            return None  # it completed, failed or timed out between the read and the write
        self.cancel_local(current["id"])
        log.info("Request %s of %s revoked", current["id"], user_id)
        doc = await self.store.get(current["id"])
        return Request.from_doc(doc) if doc is not None else None

    async def status(self, user_id: int) -> Request | None:
        """The person's active request, if any."""
        doc = await self.store.active_for(user_id)
        return None if doc is None else Request.from_doc(doc)

    async def get(self, request_id: str) -> Request | None:
        doc = await self.store.get(request_id)
        return None if doc is None else Request.from_doc(doc)

    async def _void_openings(self) -> bool:
        return await self._write_pending(
            self._openings_unanswered,
            lambda request_id, opened: self.store.void(request_id, *opened, self.clock(),
                                                       "its opening got no answer in time"),
            "could not void its unanswered opening yet",
            "its opening was applied after it got no answer; ended now")

    async def _write_pending(self, pending: dict, write, not_yet: str, done: str) -> bool:
        """Try again each write the database did not take (request id -> what `write` needs).
        One is forgotten once the database answers, whatever it did: nothing changed means the
        request ended meanwhile (a write applied late, or another task did it). True when one
        of them ended a request."""
        ended = False
        for request_id, what in list(pending.items()):
            try:
                changed = await write(request_id, what)
            except Exception as still:  # noqa: BLE001 - tried again at the next chance
                # The database is still away: the rest wait for the next chance too, so a
                # caller (a person's begin) waits for one deadline at most, not one per write.
                log.info("Request %s: %s: %r", request_id, not_yet, still)
                break
            pending.pop(request_id, None)
            if changed:
                log.info("Request %s: %s", request_id, done)
                ended = True
        return ended

    # -- local work -----------------------------------------------------------------------

    def track(self, request_id: str, task: asyncio.Task[Any]) -> None:
        """Remember a task doing this request's work here (a bundle has one per file being
        stored), so revoke/timeout can cancel it; the reference also keeps it alive."""
        self._work.setdefault(request_id, set()).add(task)
        task.add_done_callback(lambda done: self._forget(request_id, done))

    def _forget(self, request_id: str, task: asyncio.Task[Any]) -> None:
        tasks = self._work.get(request_id)
        if tasks is not None:
            tasks.discard(task)
            if not tasks:
                del self._work[request_id]

    def cancel_local(self, request_id: str) -> bool:
        """Cancel this process's work on the request; False when none runs here."""
        tasks = [t for t in self._work.pop(request_id, ()) if not t.done()]
        for task in tasks:
            task.cancel()
        return bool(tasks)

    async def close(self) -> None:
        """Cancel every piece of work under way here (shutdown); its requests are released at the next start."""
        tasks = [t for ts in self._work.values() for t in ts if not t.done()]
        self._work.clear()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    @property
    def local_request_ids(self) -> frozenset[str]:
        return frozenset(self._work)

    async def reap_ended(self) -> int:
        """Cancel local work whose request ended elsewhere (revoked or timed out by another
        instance); returns how many were cancelled. The stale-request job calls it each pass.
        """
        cancelled = 0
        for request_id in list(self._work):
            doc = await self.store.get(request_id)
            if doc is None or is_terminal(doc["state"]):
                if self.cancel_local(request_id):
                    log.info("Request %s ended elsewhere; its work here was cancelled", request_id)
                    cancelled += 1
        return cancelled

    async def run_guarded(self, request_id: str, work: Awaitable[T]) -> T | None:
        """Run the request's work as a tracked task and wait for it.

        Returns what the work returns, or None when the request was revoked or timed out
        (its task was cancelled; the person has been told by whoever ended it). If the
        work raises, the request is marked failed (when still open) and the error goes on
        to the caller, who tells the person. If the caller itself is cancelled (shutdown),
        the work is cancelled too.
        """
        task: asyncio.Task[T] = asyncio.ensure_future(work)
        self.track(request_id, task)
        try:
            # wait() rather than awaiting the task: a cancelled task then means "ended
            # from outside", while our own cancellation still reaches us here.
            await asyncio.wait({task})
        except asyncio.CancelledError:
            task.cancel()
            raise
        if task.cancelled():
            return None
        error = task.exception()
        if error is not None:
            try:
                if await self.store.set_state(request_id, RequestState.FAILED, self.clock(), error=str(error)[:300]):
                    log.warning("Request %s failed: %s", request_id, error)
            except Exception as unrecorded:  # noqa: BLE001 - the work's own error is what the caller tells
                # The database is likely away (which may be why the work failed): the person
                # is told now all the same, and the failure is written once it answers.
                log.warning("Request %s failed (%s); could not record that yet: %r", request_id, error, unrecorded)
                self._failed_unrecorded[request_id] = str(error)[:300]
            raise error
        return task.result()

    def fail_later(self, request_id: str, error: str) -> None:
        """The request failed while the database could not take it: written as soon as it
        answers (record_failures), so its person, told to try again, is not held up."""
        self._failed_unrecorded[request_id] = error[:300]

    async def record_failures(self) -> bool:
        """Write the failures the database could not take when they happened (run_guarded),
        and void the openings it did not answer (begin); True when a request was ended by
        it (its person may open a new one). Nothing to do costs nothing: no database call."""
        voided = await self._void_openings()
        if self._openings_unanswered:
            return voided   # the database did not answer: the failures wait for the next chance
        recorded = await self._write_pending(
            self._failed_unrecorded,
            lambda request_id, error: self.store.set_state(request_id, RequestState.FAILED, self.clock(), error=error),
            "could not record its failure yet", "its failure is recorded now")
        return voided or recorded
