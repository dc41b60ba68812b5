"""Making bundles: an album or the files sent between /bundle and /done become one set behind one link.

The bundle is one request of its person (the one-active-request rule holds for it as for
a single file): the request counts the files received (`total`) and stored (`stored`), the
bundle document in MongoDB holds which files they are. Everything here is atomic in the
database, so several handlers storing files of one bundle at once, /done arriving while
files are still being stored, and /revoke at any moment all end the same way.
"""

from __future__ import annotations

import logging
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from FileStream.core.models import Bundle, StoredFile
from FileStream.core.requests import RequestState
from FileStream.core.tokens import log_ref, new_file_id
from FileStream.services.intake import FileIntake
from FileStream.services.requests import Request, RequestTracker
from FileStream.store.bundles import CLAIMED, CLOSING, OPEN, REFUSED
from FileStream.store.database import is_unavailable

log = logging.getLogger(__name__)

MAX_BUNDLE_FILES = 100
TITLE_MAX = 64
# An unfinished bundle's document disappears by itself after this (requests time out far earlier).
UNFINISHED_DEADLINE = timedelta(days=1)


def bundle_title(text: str | None, fallback: str) -> str:
    """A short one-line title from what the person wrote (a caption, /bundle's argument)."""
    kept = "".join(" " if unicodedata.category(c)[0] in "CZ" else c for c in (text or ""))
    words = " ".join(kept.split()).strip(" .")
    if not words:
        return fallback
    return words if len(words) <= TITLE_MAX else words[: TITLE_MAX - 1].rstrip() + "…"


@dataclass(frozen=True, slots=True)
class Progress:
    """Where an unfinished bundle stands, read from its document."""

    bundle_id: str
    title: str
    state: str
    received: int
    stored: int
    failed: int
    request_id: str | None
    status_message: tuple[int, int] | None
    origin: str = "command"   # "command" (/bundle … /done) or "album"

    @property
    def settled(self) -> bool:
        """Every file received has been stored or has failed."""
        return self.stored + self.failed == self.received

    @property
    def version(self) -> int:
        # Grows with every change a status message shows; a stale text never replaces a newer one.
        return self.received * 10_000 + (self.stored + self.failed) * 2 + (self.state != OPEN)

    @classmethod
    def of(cls, doc: dict[str, Any]) -> Progress:
        where = doc.get("status_message")
        return cls(bundle_id=doc["_id"], title=doc.get("title") or "Bundle", state=doc.get("state", OPEN),
                   received=int(doc.get("received", 0)), stored=len(doc.get("items", [])),
                   failed=int(doc.get("failed", 0)), request_id=doc.get("request_id"),
                   status_message=(where["chat_id"], where["message_id"]) if where else None,
                   origin=doc.get("origin", "command"))


@dataclass(frozen=True, slots=True)
class Finished:
    """How closing a settled bundle ended: `bundle` with its links, or nothing stored at all."""

    bundle: Bundle | None
    progress: Progress


class BundleMaker:
    """Opens, fills, closes and cancels bundles.

    `db`: store.database.Database (bundles, files). `intake`: stores each file. `requests`:
    the person's request for the bundle. `clock`: aware UTC now. `max_files`: BUNDLE_MAX_FILES.
    """

    def __init__(self, db: Any, intake: FileIntake, requests: RequestTracker, clock: Callable[[], datetime],
                 max_files: int = MAX_BUNDLE_FILES) -> None:
        self.db = db
        self.intake = intake
        self.requests = requests
        self.clock = clock
        self.max_files = max_files
        # Writes that got no answer, which the database may still apply (a stalled server
        # applies what waited in its socket after it resumes), made harmless as soon as it
        # answers (_settle_unanswered): bundles whose opening or start failed so (voided:
        # they take no album's key and never show), and files whose add_item failed so
        # (bundle id, file id: counted failed, never an item, for their records are gone).
        self._opens_unanswered: dict[str, str | None] = {}   # bundle id: the request its start opened
        self._items_unanswered: set[tuple[str, str]] = set()

    async def _settle_unanswered(self) -> None:
        # Nothing to do costs nothing: no database call.
        for bundle_id, request_id in list(self._opens_unanswered.items()):
            try:
                await self.db.bundles.void(bundle_id, self.clock(), request_id=request_id)
            except Exception as still:  # noqa: BLE001 - tried again at the next chance
                log.info("Bundle %s: could not void its unanswered opening yet: %r", log_ref(bundle_id), still)
                return
            self._opens_unanswered.pop(bundle_id, None)   # another task may have voided it meanwhile
        for bundle_id, file_id in list(self._items_unanswered):
            try:
                await self.db.bundles.drop_item(bundle_id, file_id)
            except Exception as still:  # noqa: BLE001 - tried again at the next chance
                log.info("Bundle %s: could not count an unanswered file as failed yet: %r", log_ref(bundle_id), still)
                return
            self._items_unanswered.discard((bundle_id, file_id))

    def _unanswered_start(self, bundle_id: str, error: BaseException, request: Request | None = None) -> None:
        """Starting bundle `bundle_id` got no answer from the database: void it once it
        answers, and fail its request (the person is told to try again)."""
        if is_unavailable(error):
            self._opens_unanswered[bundle_id] = request.id if request is not None else None
            if request is not None:
                self.requests.fail_later(request.id, "its bundle's start got no answer in time")

    # -- starting ----------------------------------------------------------------------------

    async def start_command(self, user_id: int, title: str) -> tuple[str, Request] | None:
        """/bundle: an open bundle and its request; None when the person already has a request open."""
        await self._settle_unanswered()
        bundle_id = new_file_id()
        now = self.clock()
        request = None
        try:
            await self.db.bundles.open(bundle_id, title=title, owner_id=user_id, source="private", now=now,
                                       deadline=now + UNFINISHED_DEADLINE)
            request = await self.requests.begin(user_id, title, bundle_id=bundle_id)
            if request is None:
                await self.db.bundles.cancel(bundle_id)
                return None
            await self.db.bundles.update(bundle_id, request_id=request.id)
        except Exception as error:
            self._unanswered_start(bundle_id, error, request)
            raise
        return bundle_id, request

    async def claim_album(self, chat_id: int, media_group_id: str, *, owner_id: int | None, source: str,
                          message_id: int | None = None) -> str | None:
        """The bundle id when this message (`message_id`) is the first of its album to arrive; None for the others."""
        await self._settle_unanswered()
        bundle_id = new_file_id()
        now = self.clock()
        try:
            won = await self.db.bundles.open(bundle_id, title="Album", owner_id=owner_id, source=source, now=now,
                                             deadline=now + UNFINISHED_DEADLINE,
                                             group_key=f"{chat_id}:{media_group_id}", origin="album",
                                             message_id=message_id)
            if not won:
                return None
            await self.db.bundles.update(bundle_id, state=CLAIMED)
        except Exception as error:
            self._unanswered_start(bundle_id, error)
            raise
        return bundle_id

    async def begin_album(self, bundle_id: str, title: str, count: int, user_id: int,
                          message_id: int | None = None) -> Request | None:
        """A person's album: its `count` files are known; their request, or None when they are
        busy with another one (the album is then refused)."""
        request = None
        try:
            request = await self.requests.begin(user_id, title, bundle_id=bundle_id, total=count,
                                                message_id=message_id)
            if request is None:
                await self.refuse(bundle_id)
                return None
            await self.db.bundles.update(bundle_id, state=CLOSING, received=count, title=title,
                                         request_id=request.id)
        except Exception as error:
            self._unanswered_start(bundle_id, error, request)
            raise
        return request

    async def begin_channel_album(self, bundle_id: str, title: str, count: int) -> None:
        """An album posted in the auth channel: no person, no request, just its `count` files."""
        await self.db.bundles.update(bundle_id, state=CLOSING, received=count, title=title)

    async def refuse(self, bundle_id: str) -> None:
        await self.db.bundles.update(bundle_id, state=REFUSED)

    async def set_status_message(self, bundle_id: str, chat_id: int, message_id: int) -> None:
        await self.db.bundles.update(bundle_id, status_message={"chat_id": chat_id, "message_id": message_id})

    # -- filling -----------------------------------------------------------------------------

    async def join(self, request: Request, room: int | None = None) -> int | None:
        """Count one more file into the person's open bundle; its position (1-based), or None
        when the bundle is not taking files (closing, an album, or full: see `is_full`).
        `room`: the most files the bundle may hold under RATE_LIMIT_BUNDLE_FILES."""
        cap = self.max_files if room is None else min(self.max_files, room)
        doc = await self.db.bundles.receive(request.bundle_id, cap)
        if doc is None:
            return None
        await self.requests.count(request.id, total=1, extend=True)
        return int(doc["received"])

    async def is_full(self, bundle_id: str) -> bool:
        doc = await self.db.bundles.get_doc(bundle_id)
        return bool(doc) and doc.get("state") == OPEN and int(doc.get("received", 0)) >= self.max_files

    async def store(self, bundle_id: str, message, position: int, *, owner_id: int | None, source: str,
                    request_id: str | None = None) -> StoredFile | None:
        """Store one file of the bundle at `position`. None when the bundle ended meanwhile
        (nothing of the file is kept then). An IntakeError (said in words) is counted as a
        failed file before it goes on to the caller.

        Until the bundle is finished its files live as long as an unfinished bundle may (so a
        bundle filled for longer than FILE_TTL loses none); `finish` gives them their expiry.
        """
        await self._settle_unanswered()
        try:
            record = await self.intake.take(message, owner_id=owner_id, source=source, bundle_id=bundle_id,
                                            ttl_seconds=int(UNFINISHED_DEADLINE.total_seconds()),
                                            shareable=source == "channel")
        except Exception:
            if await self.db.bundles.add_failure(bundle_id) is not None:
                log.warning("A file of bundle %s could not be stored", log_ref(bundle_id))
            raise
        try:
            added = await self.db.bundles.add_item(bundle_id, record.id, position)
        except BaseException as error:
            await self.intake.discard(record)
            if is_unavailable(error):
                # The add_item may still be applied: the file is counted failed instead
                # (drop_item), so the bundle settles and never lists a file that is gone.
                self._items_unanswered.add((bundle_id, record.id))
                await self._settle_unanswered()
            raise
        if added is None:
            await self.intake.discard(record)
            return None
        if request_id is not None:
            # Storing is progress too: a long bundle times out when idle, not while it is stored.
            await self.requests.count(request_id, stored=1, extend=True)
        return record

    async def progress(self, bundle_id: str) -> Progress | None:
        # What it shows, and whether it is settled (finish), counts a file whose entry got
        # no answer as failed, never as stored.
        await self._settle_unanswered()
        doc = await self.db.bundles.get_doc(bundle_id)
        return None if doc is None else Progress.of(doc)

    # -- ending ------------------------------------------------------------------------------

    async def start_closing(self, bundle_id: str) -> Progress | None:
        """/done: no more files join; None when the bundle was not open."""
        doc = await self.db.bundles.start_closing(bundle_id)
        return None if doc is None else Progress.of(doc)

    async def finish(self, bundle_id: str, ttl_seconds: int, *, buttons_by: str | None = None) -> Finished | None:
        """Close a bundle whose files have all been stored (or failed): its files get one expiry
        and its request completes. None when it is not settled yet, was cancelled, or another
        caller finished it: exactly one caller gets a Finished, and sends the links.
        `buttons_by`: see BundleStore.close (an AUTH_CHANNEL album's posts get buttons next)."""
        progress = await self.progress(bundle_id)
        if progress is None or progress.state != CLOSING or not progress.settled:
            return None
        request_id = progress.request_id
        if request_id is not None and not await self.requests.advance(request_id, RequestState.GENERATING_LINK):
            return None   # another caller won, or the person revoked it
        if progress.stored == 0:
            await self.db.bundles.cancel(bundle_id)
            if request_id is not None:
                await self.requests.advance(request_id, RequestState.FAILED, error="no file could be stored")
            return Finished(None, progress)
        now = self.clock()
        expires_at = now + timedelta(seconds=ttl_seconds) if ttl_seconds > 0 else None
        # The files get their expiry before the bundle closes: a crash in between leaves a
        # bundle still closing (released and taken away at the next start), never a closed
        # bundle whose files keep the unfinished deadline.
        doc = await self.db.bundles.get_doc(bundle_id)
        file_ids = [item["file_id"] for item in (doc or {}).get("items", [])]
        await self.db.files.set_expiry(file_ids, expires_at)
        bundle = await self.db.bundles.close(bundle_id, now, expires_at, buttons_by=buttons_by)
        if bundle is None:
            return None   # cancelled in between (its files are taken away with it)
        # The files' expiry moved: whoever plans work by it (the expiry job) hears of it.
        for record in (await self.db.files.get_many(list(bundle.file_ids[:1]))).values():
            for hook in self.intake.on_stored:
                hook(record)
        if request_id is not None and not await self.requests.advance(request_id, RequestState.COMPLETED):
            await self.delete(bundle)   # revoked at the last moment: nothing is kept
            return None
        log.info("Bundle %s closed: %d files (%d failed)", bundle.ref, len(bundle.file_ids), progress.failed)
        return Finished(bundle, progress)

    async def cancel(self, bundle_id: str) -> Progress | None:
        """Take an unfinished bundle away with every file stored for it; its last progress, or
        None when there was nothing to cancel (finished, or cancelled already)."""
        doc = await self.db.bundles.cancel(bundle_id)
        if doc is None:
            return None
        await self._discard_files([item["file_id"] for item in doc.get("items", [])])
        log.info("Bundle %s cancelled; %d stored files removed", log_ref(bundle_id), len(doc.get("items", [])))
        return Progress.of(doc)

    async def take_back_unfinished(self, doc: dict[str, Any]) -> Progress | None:
        """An album a stopped process left unfinished (`doc` as read): removed with every file
        stored for it, so the album can be taken again; its last progress, or None when
        another caller took it (or it moved on)."""
        taken = await self.db.bundles.take_unfinished(doc)
        if taken is None:
            return None
        await self._discard_files([item["file_id"] for item in taken.get("items", [])])
        log.info("Album bundle %s left unfinished by a stopped process taken back (%d stored files removed)",
                 log_ref(doc["_id"]), len(taken.get("items", [])))
        return Progress.of(taken)

    async def delete(self, bundle: Bundle) -> bool:
        """Remove a finished bundle and its files; False when it was gone already."""
        deleted = await self.db.bundles.delete(bundle.id)
        if deleted is None:
            return False
        await self._discard_files(list(deleted.file_ids))
        return True

    async def _discard_files(self, file_ids: list[str]) -> None:
        records = await self.db.files.get_many(file_ids)
        for record in records.values():
            await self.intake.discard(record)

    # -- reading -----------------------------------------------------------------------------

    async def live_bundle(self, bundle_id: str) -> tuple[Bundle, list[StoredFile]] | None:
        """A finished bundle that still works at `now`, with its live files in order."""
        now = self.clock()
        bundle = await self.db.bundles.get(bundle_id)
        if bundle is None or bundle.is_expired(now):
            return None
        records = await self.db.files.get_many(list(bundle.file_ids))
        files = [records[i] for i in bundle.file_ids if i in records and not records[i].is_expired(now)]
        return (bundle, files) if files else None
