"""Background pass that times out requests still open after REQUEST_TIMEOUT and tells the person; at start, releases those a stopped process left."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from FileStream.core.formatting import escape_html, human_duration
from FileStream.core.requests import RequestState
from FileStream.i18n import _, duration
from FileStream.services.requests import RequestTracker
from FileStream.store.database import is_unavailable

log = logging.getLogger(__name__)

Notify = Callable[[int, str], Awaitable[object]]


def timed_out_text(file_name: str, timeout: timedelta) -> str:
    """What the person reads when their request timed out (Telegram HTML)."""
    return _(
        "Your request for <b>{file_name}</b> timed out after {duration}, so I stopped working on it. "
        "Please send the file again."
    ).format(file_name=escape_html(file_name) if file_name else _("your file"), duration=duration(timeout))


def restarted_text(file_name: str) -> str:
    """What the person reads when the service restarted while it worked on their request."""
    return _(
        "I was restarted while working on <b>{file_name}</b>, so nothing of it was kept. "
        "Please send it again: I am ready now."
    ).format(file_name=escape_html(file_name) if file_name else _("your file"))


@dataclass(frozen=True, slots=True)
class StaleReport:
    """What one pass did."""

    timed_out: int = 0       # requests this pass ended as timed_out
    notified: int = 0        # people told about it
    notify_failed: int = 0   # messages that could not be sent (blocked bot and the like)
    cancelled_local: int = 0  # local tasks cancelled (timed out here or ended elsewhere)


class StaleRequestJob:
    """`run_once()` ends every request open past its deadline as timed_out, cancels its
    work in this process, and tells the person once: only the instance whose atomic state
    change wins sends the notice. It also cancels local work of requests that another
    instance revoked or timed out.

    `notify(user_id, text)` sends a Telegram-HTML message to the person; its errors are
    logged and never stop the pass. `text`: optional (file_name, timeout) -> str.
    `on_timed_out(request, state)`: optional, run for each request this pass timed out, or
    `release_left_behind` failed (a bundle's request leaves stored files to take away); its
    errors are logged.
    """

    def __init__(
        self,
        tracker: RequestTracker,
        notify: Notify,
        *,
        text: Callable[[str, timedelta], str] = timed_out_text,
        on_timed_out: Callable[[dict, str], Awaitable[object]] | None = None,
        speak_to: Callable[[int], Awaitable[object]] | None = None,
    ) -> None:
        self.tracker = tracker
        self._notify = notify
        self._text = text
        self._on_timed_out = on_timed_out
        self._speak_to = speak_to   # speak_to(user_id): the notice is in that person's language

    async def next_due(self) -> datetime | None:
        """When the next open request times out; None when none is open."""
        return await self.tracker.store.next_timeout()

    async def run_once(self) -> StaleReport:
        timed_out = notified = notify_failed = cancelled = 0
        # A request that failed while the database was away ends as failed, not timed out
        # (its person was told already).
        await self.tracker.record_failures()
        try:
            stale = await self.tracker.store.find_timed_out(self.tracker.clock())
        except Exception as error:  # noqa: BLE001 - a pass must not die; the next one retries
            if is_unavailable(error):   # an outage, not a bug: said in a line
                log.warning("Stale requests: could not list timed-out requests, the database did not answer: %r",
                            error)
            else:
                log.exception("Stale requests: could not list timed-out requests")
            stale = []
        for doc in stale:
            try:
                won = await self.tracker.store.set_state(doc["id"], RequestState.TIMED_OUT, self.tracker.clock())
            except Exception:  # noqa: BLE001
                log.exception("Stale requests: could not time out request %s", doc["id"])
                continue
            if not won:
                continue  # it finished, or another instance timed it out and told the person
            timed_out += 1
            if self.tracker.cancel_local(doc["id"]):
                cancelled += 1
            timeout = doc["timeout_at"] - doc["created_at"]
            log.info("Request %s of %s (%s) timed out after %s", doc["id"], doc["user_id"],
                     doc.get("file_name"), human_duration(timeout))
            if self._on_timed_out is not None:
                try:
                    await self._on_timed_out(doc, RequestState.TIMED_OUT)
                except Exception:  # noqa: BLE001 - the person is still told below
                    log.exception("Stale requests: cleaning up after request %s failed", doc["id"])
            try:
                if self._speak_to is not None:
                    await self._speak_to(doc["user_id"])
                await self._notify(doc["user_id"], self._text(doc.get("file_name") or "", timeout))
                notified += 1
            except Exception as error:  # noqa: BLE001 - blocked bot, deleted account, network
                notify_failed += 1
                log.warning("Stale requests: could not tell %s that request %s timed out: %r",
                            doc["user_id"], doc["id"], error)
        try:
            cancelled += await self.tracker.reap_ended()
        except Exception as error:  # noqa: BLE001
            if is_unavailable(error):
                log.warning("Stale requests: could not check local work, the database did not answer: %r", error)
            else:
                log.exception("Stale requests: could not check local work against the database")
        report = StaleReport(timed_out, notified, notify_failed, cancelled)
        if timed_out or cancelled:
            log.info("Stale requests pass: %s", report)
        return report

    async def release_left_behind(self) -> list[dict]:
        """End, at once, every open request that another process was working on: run at the
        start of the instance that takes files in (Telegram gives a bot's updates to one
        process only, so such a process has stopped, perhaps killed), before its bot takes
        updates, so the people may send again straight away instead of waiting out
        REQUEST_TIMEOUT. Returns the requests ended, for `tell_released` once the bot is up."""
        tracker = self.tracker
        released = []
        for doc in await tracker.store.left_behind(tracker.instance):
            if await tracker.store.set_state(doc["id"], RequestState.FAILED, tracker.clock(),
                                             error="the service restarted", released=True):
                released.append(doc)
                log.info("Request %s of %s (%s) released: the process working on it stopped", doc["id"],
                         doc["user_id"], doc.get("file_name"))
        return released

    async def tell_released(self, released: list[dict]) -> None:
        """Take away what the released requests left (a bundle's stored files) and tell the people."""
        for doc in released:
            if self._on_timed_out is not None:
                try:
                    await self._on_timed_out(doc, RequestState.FAILED)
                except Exception:  # noqa: BLE001 - the person is still told below
                    log.exception("Cleaning up after request %s of a stopped process failed", doc["id"])
            try:
                if self._speak_to is not None:
                    await self._speak_to(doc["user_id"])
                await self._notify(doc["user_id"], restarted_text(doc.get("file_name") or ""))
            except Exception as error:  # noqa: BLE001 - blocked bot, deleted account, network
                log.warning("Could not tell %s that request %s was released: %r", doc["user_id"], doc["id"], error)
