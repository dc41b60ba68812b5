"""Prometheus metrics of one service, in its own registry, rendered for GET /metrics."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

__all__ = ["Metrics", "GaugeCallback", "CONTENT_TYPE"]

log = logging.getLogger(__name__)

# The text exposition format, version 0.0.4: what generate_latest() writes.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
PREFIX = "filestream"

# One upload.GetFile call takes tens of milliseconds on a warm session and seconds when a
# DC is slow or a session is being created; buckets span both.
GETFILE_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

# A callback returns {label values: value}; with no labels the key is the empty tuple.
GaugeValues = Mapping[tuple[str, ...], float]


class GaugeCallback(Collector):
    """A gauge whose values a function gives at scrape time (pool load, live files...).

    A failing callback costs its own series for that scrape, not the whole /metrics page.
    """

    def __init__(
        self, name: str, documentation: str, labelnames: Sequence[str], fn: Callable[[], GaugeValues]
    ) -> None:
        self.name = name
        self.documentation = documentation
        self.labelnames = tuple(labelnames)
        self._fn = fn

    def describe(self) -> Iterable[Metric]:
        # Describing without calling fn keeps registration free of side effects.
        return [GaugeMetricFamily(self.name, self.documentation, labels=self.labelnames)]

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(self.name, self.documentation, labels=self.labelnames)
        try:
            values = self._fn()
        except Exception:
            log.exception("metrics callback for %s failed", self.name)
            values = {}
        for key, value in values.items():
            labels = (key,) if isinstance(key, str) else tuple(key)
            if len(labels) != len(self.labelnames):
                log.error("metrics callback for %s gave labels %r for %r", self.name, labels, self.labelnames)
                continue
            family.add_metric([str(v) for v in labels], float(value))
        yield family


class Metrics:
    """Every FileStream metric, registered in `registry` (a fresh one by default).

    Each service owns one Metrics, so two services in one process (tests) never share
    counters, and nothing touches prometheus_client's global registry.
    """

    def __init__(self, registry: CollectorRegistry | None = None, prefix: str = PREFIX) -> None:
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        self._prefix = prefix
        r, p = self.registry, prefix
        self.http_responses = Counter(f"{p}_http_responses", "HTTP responses sent, by status code", ["status"], registry=r)
        self.bytes_streamed = Counter(f"{p}_bytes_streamed", "Bytes of file content sent to clients", registry=r)
        self.active_streams = Gauge(f"{p}_active_streams", "Responses currently streaming file content", registry=r)
        self.getfile_requests = Counter(
            f"{p}_getfile_requests", "upload.GetFile calls, by bot client and DC", ["client", "dc"], registry=r
        )
        self.getfile_seconds = Histogram(
            f"{p}_getfile_seconds", "Duration of upload.GetFile calls", ["client", "dc"], buckets=GETFILE_BUCKETS, registry=r
        )
        self.flood_wait_seconds = Counter(
            f"{p}_flood_wait_seconds", "Seconds Telegram told a bot client to wait (FLOOD_WAIT)", ["client"], registry=r
        )
        self.copies_healed = Counter(f"{p}_copies_healed", "Storage copies made again after Telegram lost one",
                                     registry=r)
        self.copies_mirrored = Counter(f"{p}_copies_mirrored", "Copies made in MIRROR_CHANNEL", registry=r)
        self.broadcast_sent = Counter(f"{p}_broadcast_sent", "Broadcast messages delivered", registry=r)
        self.broadcast_failed = Counter(f"{p}_broadcast_failed", "Broadcast messages that failed", registry=r)
        self.broadcast_progress = Gauge(
            f"{p}_broadcast_progress_ratio", "Share of recipients the running broadcast has reached (0..1)", registry=r
        )

    # Recording helpers: call sites stay one line and label values are always strings.

    def http_response(self, status: int) -> None:
        self.http_responses.labels(status=str(status)).inc()

    def streamed(self, nbytes: int) -> None:
        self.bytes_streamed.inc(nbytes)

    def getfile(self, client: str, dc: int, seconds: float) -> None:
        self.getfile_requests.labels(client=client, dc=str(dc)).inc()
        self.getfile_seconds.labels(client=client, dc=str(dc)).observe(seconds)

    def flood_wait(self, client: str, seconds: float) -> None:
        self.flood_wait_seconds.labels(client=client).inc(seconds)

    def add_gauge_callback(
        self, name: str, documentation: str, fn: Callable[[], GaugeValues], labelnames: Sequence[str] = ()
    ) -> GaugeCallback:
        """Register a gauge read from `fn` at each scrape; `name` gets the metrics prefix.

        `fn` returns {(label values...): value}; a plain string key stands for one label,
        and a gauge without labels uses the key ().
        """
        collector = GaugeCallback(f"{self._prefix}_{name}", documentation, labelnames, fn)
        self.registry.register(collector)
        return collector

    def pool_in_flight_from(self, fn: Callable[[], Mapping[str, float]]) -> GaugeCallback:
        """`pool_in_flight{client}`: GetFile calls in flight per bot client, from the pool."""
        return self.add_gauge_callback("pool_in_flight", "upload.GetFile calls in flight per bot client", fn, ["client"])

    def requests_by_state_from(self, fn: Callable[[], Mapping[str, float]]) -> GaugeCallback:
        """`requests_by_state{state}`: requests in each state (the caller caches any DB count)."""
        return self.add_gauge_callback("requests_by_state", "File requests by state", fn, ["state"])

    def files_live_from(self, fn: Callable[[], float]) -> GaugeCallback:
        """`files_live`: unexpired file records (the caller caches any DB count)."""
        return self.add_gauge_callback("files_live", "Files whose links still work", lambda: {(): fn()})

    def unregister(self, collector: GaugeCallback) -> None:
        self.registry.unregister(collector)

    def render(self) -> tuple[bytes, str]:
        """The exposition text of every metric and its Content-Type, for GET /metrics."""
        return generate_latest(self.registry), CONTENT_TYPE
