"""Metrics: own registry per service, recording helpers, scrape-time gauges, rendering."""

from __future__ import annotations

import logging

import prometheus_client
import pytest
from prometheus_client.parser import text_string_to_metric_families

from FileStream.metrics import CONTENT_TYPE, Metrics


def _samples(metrics: Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    body, _ = metrics.render()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(body.decode())
        for s in family.samples
    }


def test_recording_helpers_show_up_in_the_rendered_text() -> None:
    m = Metrics()
    m.http_response(200)
    m.http_response(206)
    m.http_response(206)
    m.streamed(1000)
    m.streamed(24)
    m.active_streams.inc()
    m.getfile("bot1", 4, 0.2)
    m.getfile("bot1", 4, 3.0)
    m.flood_wait("bot2", 7)
    m.broadcast_sent.inc(3)
    m.broadcast_failed.inc()
    m.broadcast_progress.set(0.5)

    s = _samples(m)
    assert s[("filestream_http_responses_total", (("status", "200"),))] == 1
    assert s[("filestream_http_responses_total", (("status", "206"),))] == 2
    assert s[("filestream_bytes_streamed_total", ())] == 1024
    assert s[("filestream_active_streams", ())] == 1
    assert s[("filestream_getfile_requests_total", (("client", "bot1"), ("dc", "4")))] == 2
    assert s[("filestream_getfile_seconds_count", (("client", "bot1"), ("dc", "4")))] == 2
    assert s[("filestream_getfile_seconds_sum", (("client", "bot1"), ("dc", "4")))] == pytest.approx(3.2)
    assert s[("filestream_getfile_seconds_bucket", (("client", "bot1"), ("dc", "4"), ("le", "0.25")))] == 1
    assert s[("filestream_flood_wait_seconds_total", (("client", "bot2"),))] == 7
    assert s[("filestream_broadcast_sent_total", ())] == 3
    assert s[("filestream_broadcast_failed_total", ())] == 1
    assert s[("filestream_broadcast_progress_ratio", ())] == 0.5


def test_render_gives_the_text_format_content_type() -> None:
    body, content_type = Metrics().render()
    assert content_type == CONTENT_TYPE == "text/plain; version=0.0.4; charset=utf-8"
    assert b"# TYPE filestream_bytes_streamed_total counter" in body


def test_callback_gauges_are_read_at_each_scrape() -> None:
    m = Metrics()
    load = {"main": 1, "bot1": 3}
    live = [5]
    m.pool_in_flight_from(lambda: dict(load))
    m.files_live_from(lambda: live[0])
    m.requests_by_state_from(lambda: {"waiting": 2, "completed": 9})
    m.add_gauge_callback("custom", "two labels", lambda: {("a", "b"): 1.5}, ["x", "y"])

    s = _samples(m)
    assert s[("filestream_pool_in_flight", (("client", "bot1"),))] == 3
    assert s[("filestream_files_live", ())] == 5
    assert s[("filestream_requests_by_state", (("state", "completed"),))] == 9
    assert s[("filestream_custom", (("x", "a"), ("y", "b")))] == 1.5

    load["bot1"] = 0
    live[0] = 6
    s = _samples(m)
    assert s[("filestream_pool_in_flight", (("client", "bot1"),))] == 0
    assert s[("filestream_files_live", ())] == 6


def test_a_failing_callback_costs_only_its_own_series(caplog: pytest.LogCaptureFixture) -> None:
    m = Metrics()

    def broken() -> dict[tuple[str, ...], float]:
        raise RuntimeError("database away")

    m.add_gauge_callback("broken", "always fails", broken)
    m.add_gauge_callback("wrong_labels", "label count mismatch", lambda: {("a", "b"): 1}, ["only"])
    m.streamed(1)
    with caplog.at_level(logging.ERROR, logger="FileStream.metrics"):
        s = _samples(m)
    assert s[("filestream_bytes_streamed_total", ())] == 1
    assert not any(name in ("filestream_broken", "filestream_wrong_labels") for name, _ in s)
    assert "filestream_broken" in caplog.text and "filestream_wrong_labels" in caplog.text


def test_registering_a_callback_does_not_call_it() -> None:
    calls = []
    m = Metrics()
    collector = m.add_gauge_callback("lazy", "counted", lambda: calls.append(1) or {(): 1})
    assert calls == []
    m.render()
    assert calls == [1]
    m.unregister(collector)
    m.render()
    assert calls == [1]


def test_two_services_do_not_share_metrics_or_the_global_registry() -> None:
    before = prometheus_client.generate_latest(prometheus_client.REGISTRY)
    a, b = Metrics(), Metrics()
    a.streamed(10)
    assert _samples(b)[("filestream_bytes_streamed_total", ())] == 0
    assert b"filestream" not in before
    assert b"filestream" not in prometheus_client.generate_latest(prometheus_client.REGISTRY)
