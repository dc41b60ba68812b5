"""What the owner and operators see of the stored copies: each storage channel's state and live
copies, the mirror's progress, copies healed, and what the copy check found (/botstats, /health)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime

from FileStream.core.formatting import escape_html
from FileStream.core.storage_channels import ChannelState

QUERY_TIMEOUT = 3.0


@dataclass
class StorageReport:
    channels: list[ChannelState] | None   # None: the database did not answer
    mirrored: int | None = None           # live stored files with a mirror copy
    stored: int | None = None             # live stored files
    healed: int = 0                       # storage copies this instance made again
    checked: int = 0                      # copies the check confirmed or found gone
    found_gone: int = 0
    posts_here: bool = False              # this instance holds the posting lease


@dataclass
class StorageStatus:
    """channels: services.storage_channels.StorageChannels; store: store.copies.CopyStore;
    keeper: services.healing.CopyKeeper; check: services.mirror.CopyCheck; lease: PostingLease."""

    channels: object
    store: object
    keeper: object
    lease: object
    check: object | None = None

    def health(self) -> dict:
        """Each storage channel's state as this instance knows it (no database call: /health is fast)."""
        unusable = set(self.channels.unusable())
        rows = [(c, "storage") for c in self.channels.storage]
        if self.channels.mirror is not None:
            rows.append((self.channels.mirror, "mirror"))
        return {str(chat_id): {"role": role, "usable": chat_id not in unusable} for chat_id, role in rows}

    def summary(self) -> str:
        """One word for /health: "ok" (every channel usable), "degraded" (one is unusable, another
        serves), "unusable" (none takes copies). Never makes /health answer 503: restarting the
        process does not give a bot its rights back, and links still serve from other copies."""
        unusable = set(self.channels.unusable())
        every = [*self.channels.storage, *((self.channels.mirror,) if self.channels.mirror is not None else ())]
        if not unusable.intersection(every):
            return "ok"
        return "unusable" if unusable.issuperset(every) else "degraded"

    async def report(self, now: datetime) -> StorageReport:
        base = {"healed": self.keeper.healed, "posts_here": self.lease.may_post(),
                "checked": getattr(self.check, "checked", 0), "found_gone": getattr(self.check, "found_gone", 0)}
        try:
            channels = await asyncio.wait_for(self.channels.report(now), QUERY_TIMEOUT)
            mirrored, stored = await asyncio.wait_for(self.store.count_mirror_progress(now), QUERY_TIMEOUT)
        except Exception:  # noqa: BLE001 - shown as unknown
            return StorageReport(channels=None, **base)
        return StorageReport(channels=channels, mirrored=mirrored, stored=stored, **base)


def render_storage(report: StorageReport, has_mirror: bool) -> str:
    """The storage part of /botstats: HTML with a monospace table."""
    if report.channels is None:
        return "<b>Storage channels</b>\n<pre>unknown (database down)</pre>"
    rows = [("channel", "role", "state", "live copies")]
    for state in report.channels:
        condition = "ok" if state.usable else f"UNUSABLE: {state.reason}"
        rows.append((str(state.chat_id), state.role, condition, str(state.live_copies or 0)))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    table = "\n".join("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows)
    lines = ["<b>Storage channels</b>", f"<pre>{escape_html(table)}</pre>"]
    if has_mirror:
        stored = report.stored or 0
        share = f" ({100 * (report.mirrored or 0) / stored:.0f}%)" if stored else ""
        lines.append(f"Mirrored: {report.mirrored} of {stored} files{share}")
    lines.append(f"Copies made again: {report.healed}; copy check: {report.checked} checked, "
                 f"{report.found_gone} found gone" + ("" if report.posts_here else
                                                     " (another instance posts into the channels)"))
    return "\n".join(lines)
