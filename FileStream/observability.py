"""What the service tells its operators: health report, metrics wiring, stream observer."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import timedelta

from FileStream import __version__
from FileStream.metrics import Metrics


# requests_by_state counts the requests started within this window, by their state now.
REQUEST_STATS_WINDOW = timedelta(days=1)


class StreamMetrics:
    """The web layer's StreamObserver: active streams and bytes sent."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def stream_started(self, file, start: int, end: int) -> None:
        self._metrics.active_streams.inc()

    def stream_finished(self, file, sent_bytes: int, result: str) -> None:
        self._metrics.active_streams.dec()
        self._metrics.streamed(sent_bytes)


@dataclass
class Operations:
    """Health and metrics of one running service (built by Service, read by web/ops.py)."""

    service: object
    metrics: Metrics = field(default_factory=Metrics)
    _files_live: float = 0.0
    _requests_by_state: dict = field(default_factory=dict)
    _started: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        pool = lambda: self.service.pool  # noqa: E731 - read at scrape time
        self.metrics.pool_in_flight_from(lambda: {m.name: m.in_flight for m in pool().members} if pool() else {})
        self.metrics.files_live_from(lambda: self._files_live)
        self.metrics.requests_by_state_from(lambda: dict(self._requests_by_state))

    async def health(self) -> tuple[bool, dict]:
        service = self.service
        database_ok = False
        try:
            await service.db.ping()  # within its deadline, so /health answers within 2 s
            database_ok = True
        except Exception:  # noqa: BLE001 - reported as not ready
            database_ok = False
        clients = {m.name: bool(m.client.is_connected) and m.healthy
                   for m in (service.pool.members + service.pool.left_out if service.pool else [])}
        ready = database_ok and clients.get("main", False)
        return ready, {"database": database_ok, "clients": clients, "version": __version__,
                       "uptime_seconds": round(time.monotonic() - self._started)}

    async def exposition(self) -> tuple[bytes, str]:
        # Database counts are read here, at scrape time, not on every request served.
        db, now = self.service.db, self.service.clock()
        try:
            self._files_live = await db.files.count_live(now)
            self._requests_by_state = await db.requests.counts_by_state(now - REQUEST_STATS_WINDOW)
        except Exception:  # noqa: BLE001 - keep the last values; /health says the database is down
            pass
        return self.metrics.render()
