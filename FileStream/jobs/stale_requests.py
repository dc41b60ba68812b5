"""Background pass that times out requests still open after REQUEST_TIMEOUT and tells the person."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from FileStream.core.formatting import escape_html, human_duration
from FileStream.core.requests import RequestState
from FileStream.i18n import _, duration
from FileStream.services.requests import RequestTracker

log = logging.getLogger(__name__)

Notify = Callable[[int, str], Awaitable[object]]


def timed_out_text(file_name: str, timeout: timedelta) -> str:
    """What the person reads when their request timed out (Telegram HTML)."""
    return _(
        "Your request for <b>{file_name}</b> timed out after {duration}, so I stopped working on it. "
        "Please send the file again."
    ).format(file_name=escape_html(file_name) if file_name else _("your file"), duration=duration(timeout))


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
    `on_timed_out(request)`: optional, run for each request this pass timed out (a bundle's
    request leaves stored files to take away); its errors are logged.
    """

    def __init__(
        self,
        tracker: RequestTracker,
        notify: Notify,
        *,
        text: Callable[[str, timedelta], str] = timed_out_text,
        on_timed_out: Callable[[dict], Awaitable[object]] | None = None,
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
        try:
            stale = await self.tracker.store.find_timed_out(self.tracker.clock())
        except Exception:  # noqa: BLE001 - a pass must not die; the next one retries
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
                    await self._on_timed_out(doc)
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
        except Exception:  # noqa: BLE001
            log.exception("Stale requests: could not check local work against the database")
        report = StaleReport(timed_out, notified, notify_failed, cancelled)
        if timed_out or cancelled:
            log.info("Stale requests pass: %s", report)
        return report
