"""What the service tells its operators: health report, metrics wiring, stream observer."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from FileStream import __version__
from FileStream.metrics import Metrics

log = logging.getLogger(__name__)

log = logging.getLogger(__name__)

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


class StreamObservers:
    """Several StreamObservers heard as one (build_app takes one); a failing one does not
    keep the others from hearing."""

    def __init__(self, *observers) -> None:
        self._observers = observers

    def stream_started(self, file, start: int, end: int) -> None:
        self._tell("stream_started", file, start, end)

    def stream_finished(self, file, sent_bytes: int, result: str) -> None:
        self._tell("stream_finished", file, sent_bytes, result)

    def _tell(self, event: str, *args) -> None:
        for observer in self._observers:
            try:
                getattr(observer, event)(*args)
            except Exception:  # noqa: BLE001 - a broken hook must not cost the others their event
                log.exception("stream observer %s.%s failed", type(observer).__name__, event)


@dataclass
class Operations:
    """Health and metrics of one running service (built by Service, read by web/ops.py)."""

    service: object
    metrics: Metrics = field(default_factory=Metrics)
    _files_live: float = 0.0
    _requests_by_state: dict = field(default_factory=dict)
    _started: float = field(default_factory=time.monotonic)
    _counted_at: datetime | None = None
    _database_reachable: float = 1.0

    def __post_init__(self) -> None:
        pool = lambda: self.service.pool  # noqa: E731 - read at scrape time
        self.metrics.pool_in_flight_from(lambda: {m.name: m.in_flight for m in pool().members} if pool() else {})
        self._stream_gauges()
        self._health_gauges()
        self.metrics.files_live_from(lambda: self._files_live)
        self.metrics.requests_by_state_from(lambda: dict(self._requests_by_state))

    def _stream_gauges(self) -> None:
        """The stream memory budget and its use, blocks fetched ahead, media connections ready."""
        def streamer_value(read):
            return lambda: {(): read(self.service.streamer)} if self.service.streamer is not None else {}

        gauge = self.metrics.add_gauge_callback
        gauge("stream_memory_budget_bytes", "Bytes all streams together may hold in blocks fetched ahead "
              "(STREAM_MEMORY_MB)", streamer_value(lambda s: s.budget.limit_bytes))
        gauge("stream_memory_used_bytes", "Bytes of the stream memory budget held now (1 MiB per block)",
              streamer_value(lambda s: s.budget.used_bytes))
        gauge("stream_memory_peak_bytes", "Most bytes of the stream memory budget held at once since start",
              streamer_value(lambda s: s.budget.peak * s.budget.block_bytes))
        gauge("stream_memory_waiting", "Streams waiting for their first block of memory",
              streamer_value(lambda s: s.budget.waiting))
        gauge("stream_blocks_ahead", "Blocks requested ahead by all streams (in flight or ready)",
              streamer_value(lambda s: s.blocks_ahead()))
        gauge("streams_blocked", "Streams whose client takes no bytes just now (each holds one block)",
              streamer_value(lambda s: s.blocked()))

        def fairness_value(read):
            return lambda: {(): read(self.service.fairness)} if getattr(self.service, "fairness", None) else {}

        gauge("streams_stalled_cut", "Responses cut since start because the client took no bytes for "
              "STALL_TIMEOUT seconds", fairness_value(lambda f: f.stalled))
        gauge("streams_refused_per_client", "Responses refused since start with 429 because their client "
              "address had STREAMS_PER_IP streams open", fairness_value(lambda f: f.streams.refused))

        def connections_ready():
            sessions = self.service.sessions
            return {(row["bot"], str(row["dc"])): row["ready"] for row in sessions.stats()} if sessions else {}

        gauge("media_connections_ready", "Media connections ready per bot client and DC (MEDIA_CONNECTIONS each)",
              connections_ready, ["client", "dc"])

    def _health_gauges(self) -> None:
        """What an operator must be alerted on: bots that cannot serve, a database that did not answer."""
        def bots_healthy():
            pool = self.service.pool
            members = pool.members + pool.left_out if pool else []
            return {m.name: float(bool(m.client.is_connected) and m.healthy) for m in members}

        gauge = self.metrics.add_gauge_callback
        gauge("bot_healthy", "1 when a bot client is connected and serving, else 0", bots_healthy, ["client"])

        def storage_channels_usable():
            status = getattr(self.service, "storage_status", None)
            rows = status.health() if status is not None else {}
            return {(channel, row["role"]): float(row["usable"]) for channel, row in rows.items()}

        gauge("storage_channel_usable", "1 while a storage or mirror channel takes and serves copies, else 0 "
              "(as this instance knows it, no database call)", storage_channels_usable, ["channel", "role"])
        # Read from the last scheduled count (METRICS_REFRESH): a scrape never waits for the database.
        gauge("database_reachable", "1 when the last database count behind /metrics succeeded, else 0",
              lambda: {(): self._database_reachable})

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
        report = {"database": database_ok, "clients": clients, "version": __version__,
                  "uptime_seconds": round(time.monotonic() - self._started)}
        if getattr(service, "storage_status", None) is not None:
            report["storage_channels"] = service.storage_status.health()
            # Reported, never a reason for 503 (docs/storage.md): the alert rule on
            # filestream_storage_channel_usable tells the operator.
            report["storage"] = service.storage_status.summary()
        return ready, report

    async def exposition(self) -> tuple[bytes, str]:
        await self._count_if_due()
        return self.metrics.render()

    async def _count_if_due(self) -> None:
        """Count files and requests in the database at most once per METRICS_REFRESH seconds,
        whatever the scrape rate and however many scrapers there are."""
        service = self.service
        now = service.clock()
        every = timedelta(seconds=service.settings.metrics_refresh)
        if self._counted_at is not None and timedelta(0) <= now - self._counted_at < every:
            return
        self._counted_at = now  # before the first await: concurrent scrapes do not count too
        db = service.db
        try:
            with db.deadline(db.deadlines.metrics):
                files_live = await db.files.count_live(now)
                by_state = await db.requests.counts_by_state(now - REQUEST_STATS_WINDOW)
        except Exception as error:  # noqa: BLE001 - keep the last values; /health says the database is down
            log.warning("/metrics: the database counts failed (%r); showing the last ones", error)
            self._database_reachable = 0.0
            return
        self._database_reachable = 1.0
        self._files_live, self._requests_by_state = files_live, by_state
