"""The numbers behind /botstats: the pool, requests, files, users, uptime and the database's health."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from FileStream.core.formatting import escape_html, human_duration, human_size
from FileStream.core.requests import TERMINAL, RequestState
from FileStream.core.usage import DailyFileUsage, day_of

log = logging.getLogger(__name__)

# The owner waits for the answer: a database that does not answer in this long counts as down.
QUERY_TIMEOUT = 3.0
# Active requests end (time out) within REQUEST_TIMEOUT; looking back this far finds them all.
ACTIVE_LOOKBACK = timedelta(days=1)
LAST_ERROR_WIDTH = 40
TOP_FILES = 5
TOP_NAME_WIDTH = 32


@dataclass(frozen=True)
class Completion:
    completed: int
    total: int

    def __str__(self) -> str:
        if not self.total:
            return "no requests"
        return f"{self.completed} of {self.total} ({100 * self.completed / self.total:.0f}%)"


@dataclass(frozen=True)
class BotStats:
    clients: list[dict[str, Any]]          # BotPool.stats() rows
    uptime_seconds: float
    database_ok: bool
    database_error: str = ""
    active_requests: dict[str, int] | None = None   # None: the database did not answer
    last_hour: Completion | None = None
    last_day: Completion | None = None
    files_live: int | None = None
    users: int | None = None
    bytes_served_today: int | None = None
    bytes_served_total: int | None = None
    top_files_today: list[DailyFileUsage] | None = None


async def gather_stats(pool, db, *, now: datetime, started_at: datetime) -> BotStats:
    """Everything /botstats shows; database numbers are left out (None) when it does not answer."""
    base = {"clients": pool.stats(), "uptime_seconds": (now - started_at).total_seconds()}
    try:
        await _answer(db.client.admin.command("ping"))
        by_state = await _answer(db.requests.counts_by_state(now - ACTIVE_LOOKBACK))
        hour = await _answer(db.requests.completion_rate(now - timedelta(hours=1)))
        day = await _answer(db.requests.completion_rate(now - timedelta(days=1)))
        files_live = await _answer(db.files.count_live(now))
        users = await _answer(db.users.count())
        today = day_of(now)
        top_today = await _answer(db.usage.top_files(today, TOP_FILES))
        served_today = await _answer(db.usage.bytes_served_on(today))
        served_total = (await _answer(db.usage.totals())).bytes_served
    except Exception as error:  # noqa: BLE001 - the owner is told the database is not ok, in words
        log.warning("/botstats: the database did not answer: %r", error)
        reason = "no answer in time" if isinstance(error, TimeoutError) else (str(error).splitlines() or [""])[0]
        return BotStats(**base, database_ok=False, database_error=reason or type(error).__name__)
    active = {state: n for state, n in by_state.items() if state not in TERMINAL}
    return BotStats(**base, database_ok=True, active_requests=active, last_hour=Completion(*hour),
                    last_day=Completion(*day), files_live=files_live, users=users,
                    bytes_served_today=served_today, bytes_served_total=served_total, top_files_today=top_today)


async def _answer(awaitable):
    return await asyncio.wait_for(awaitable, QUERY_TIMEOUT)


def render_stats(stats: BotStats) -> str:
    """The /botstats answer: HTML with three monospace tables."""
    return "\n".join([
        "<b>Bot pool</b>",
        f"<pre>{escape_html(pool_table(stats.clients))}</pre>",
        "<b>Service</b>",
        f"<pre>{escape_html(service_table(stats))}</pre>",
        "<b>Top files today</b> (UTC)",
        f"<pre>{escape_html(top_files_table(stats.top_files_today))}</pre>",
    ])


def pool_table(clients: list[dict[str, Any]]) -> str:
    header = ("bot", "healthy", "in flight", "served", "bytes", "errors", "DC", "last error")
    rows = [header]
    for client in clients:
        name = f"@{client['username']}" if client.get("username") else client["name"]
        healthy = "yes" if client["healthy"] else "no"
        if client.get("left_out"):
            healthy = "left out"
        rows.append((
            name, healthy, str(client["in_flight"]), str(client["served"]), human_size(client["bytes_sent"]),
            str(client["errors"]), str(client["home_dc"] or "?"), _short(client["last_error"]) or "-",
        ))
    return _columns(rows, numeric={2, 3, 4, 5, 6})


def service_table(stats: BotStats) -> str:
    unknown = "unknown (database down)"
    rows: list[tuple[str, str]] = []
    if stats.active_requests is None:
        rows.append(("active requests", unknown))
    else:
        for state in RequestState:
            if state.value in stats.active_requests:
                rows.append((f"active: {state.value.replace('_', ' ')}", str(stats.active_requests[state.value])))
    rows += [
        ("completed, last hour", str(stats.last_hour) if stats.last_hour else unknown),
        ("completed, last day", str(stats.last_day) if stats.last_day else unknown),
        ("files live", unknown if stats.files_live is None else str(stats.files_live)),
        ("users", unknown if stats.users is None else str(stats.users)),
        ("bytes served, today", unknown if stats.bytes_served_today is None else human_size(stats.bytes_served_today)),
        ("bytes served, in all", unknown if stats.bytes_served_total is None else human_size(stats.bytes_served_total)),
        ("uptime", human_duration(stats.uptime_seconds)),
        ("database", "ok" if stats.database_ok else f"NOT OK: {_short(stats.database_error)}"),
    ]
    return _columns(rows)


def top_files_table(top: list[DailyFileUsage] | None) -> str:
    if top is None:
        return "unknown (database down)"
    if not top:
        return "no downloads yet today"
    rows = [("downloads", "sent", "file")]
    rows += [(str(f.downloads), human_size(f.bytes_served), _short(f.file_name, TOP_NAME_WIDTH)) for f in top]
    return _columns(rows, numeric={0, 1})


def _short(text: str, width: int = LAST_ERROR_WIDTH) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _columns(rows: list[tuple[str, ...]], numeric: frozenset[int] | set[int] = frozenset()) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for row in rows:
        cells = [cell.rjust(w) if i in numeric else cell.ljust(w) for i, (cell, w) in enumerate(zip(row, widths))]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)
