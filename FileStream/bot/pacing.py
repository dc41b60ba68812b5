"""Edits of one status message paced for Telegram's per-chat limit: at most one per `gap`, the latest always lands.

A bundle's status message counts files as they are stored, and several handlers store
files of one bundle at once. Editing on every change would send a burst of edits to one
chat (Telegram allows about one message a second there, edits included), so changes that
come within the gap are folded into one trailing edit with the newest text.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)

STATUS_EDIT_GAP = 1.5   # seconds between two edits of one status message

Edit = Callable[[str], Awaitable[object]]


class PacedStatus:
    """One status message. `show(text, version)` edits now or soon (newest version wins);
    `final(text)` cancels what is pending and edits once the gap allows."""

    def __init__(self, edit: Edit, gap: float = STATUS_EDIT_GAP, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[object]] = asyncio.sleep) -> None:
        self._edit = edit
        self._gap = gap
        self._clock = clock
        self._sleep = sleep
        self._last_edit = -gap
        self._shown = ""
        self._latest: tuple[int, str] | None = None
        self._pending: asyncio.Task | None = None
        self._lock = asyncio.Lock()
        self.closed = False

    async def show(self, text: str, version: int) -> None:
        if self.closed or (self._latest is not None and version < self._latest[0]):
            return
        self._latest = (version, text)
        if self._pending is not None and not self._pending.done():
            return   # the trailing edit picks the newest text up
        wait = self._last_edit + self._gap - self._clock()
        if wait <= 0:
            await self._apply(text)
        else:
            self._pending = asyncio.ensure_future(self._later(wait))

    async def final(self, text: str, edit: Edit | None = None) -> None:
        """The last word on the message (links, or how it ended); nothing is shown after it.

        `edit`: a different way to make this last edit (with a keyboard, say).
        """
        self.closed = True
        if self._pending is not None:
            self._pending.cancel()
        async with self._lock:
            wait = self._last_edit + self._gap - self._clock()
            if wait > 0:
                await self._sleep(wait)
            await self._apply_locked(text, must=True, edit=edit)

    async def _later(self, wait: float) -> None:
        await self._sleep(wait)
        if self._latest is not None and not self.closed:
            await self._apply(self._latest[1])

    async def _apply(self, text: str) -> None:
        async with self._lock:
            if not self.closed:
                await self._apply_locked(text)

    async def _apply_locked(self, text: str, must: bool = False, edit: Edit | None = None) -> None:
        if text == self._shown and edit is None:
            return   # Telegram refuses an edit that changes nothing
        try:
            await (edit or self._edit)(text)
        except Exception as error:  # noqa: BLE001 - a progress edit may fail; the final one is said loudly
            if must:
                raise
            log.info("A status edit failed (the next one will say more): %r", error)
            return
        finally:
            self._last_edit = self._clock()
        self._shown = text


class StatusMessages:
    """The paced status message of each bundle being made in this process (by bundle id)."""

    def __init__(self) -> None:
        self._by_bundle: dict[str, PacedStatus] = {}
        # Bundles whose status message is queued but not out yet (its id is not known): they
        # are not finished until it is, so the message never misses its last word.
        self._coming: set[str] = set()

    def coming(self, bundle_id: str) -> None:
        self._coming.add(bundle_id)

    def arrived(self, bundle_id: str) -> None:
        self._coming.discard(bundle_id)

    def is_coming(self, bundle_id: str) -> bool:
        return bundle_id in self._coming

    def get(self, bundle_id: str, edit: Edit) -> PacedStatus:
        status = self._by_bundle.get(bundle_id)
        if status is None:
            status = self._by_bundle[bundle_id] = PacedStatus(edit)
        return status

    def forget(self, bundle_id: str) -> None:
        self._by_bundle.pop(bundle_id, None)
