"""The Grafana dashboard and the Prometheus alert rules in deploy/ name only metrics the service exports."""

from __future__ import annotations

import json
import re
from pathlib import Path
from types import SimpleNamespace

import yaml
from prometheus_client.parser import text_string_to_metric_families

from FileStream.observability import Operations

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
METRIC_NAME = re.compile(r"\bfilestream_[a-z0-9_]+")
# How the text format names a family's samples (counters, histograms).
SAMPLE_SUFFIXES = ("", "_total", "_created", "_bucket", "_sum", "_count")


def exported_names() -> set[str]:
    """Every sample name a service's /metrics can show, from its own registry (no service running:
    the gauges read from the service answer nothing, but their families are still exposed)."""
    operations = Operations(service=SimpleNamespace(pool=None, streamer=None, sessions=None))
    body, _ = operations.metrics.render()
    families = {family.name for family in text_string_to_metric_families(body.decode())}
    return {family + suffix for family in families for suffix in SAMPLE_SUFFIXES}


def dashboard_queries() -> list[str]:
    dashboard = json.loads((DEPLOY / "grafana-dashboard.json").read_text())
    return [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]


def alert_rules() -> list[dict]:
    rules = yaml.safe_load((DEPLOY / "prometheus-alerts.yml").read_text())
    return [rule for group in rules["groups"] for rule in group["rules"]]


def test_every_metric_the_dashboard_draws_is_exported() -> None:
    exported = exported_names()
    named = {name for expr in dashboard_queries() for name in METRIC_NAME.findall(expr)}
    assert named, "the dashboard draws no FileStream metric"
    assert named <= exported, f"not exported: {sorted(named - exported)}"


def test_the_dashboard_covers_what_an_operator_watches() -> None:
    named = " ".join(dashboard_queries())
    for watched in ("active_streams", "bytes_streamed", "getfile_seconds", "flood_wait_seconds",
                    "stream_memory", "requests_by_state", "broadcast_sent"):
        assert f"filestream_{watched}" in named, watched


def test_every_metric_an_alert_rule_names_is_exported() -> None:
    exported = exported_names()
    for rule in alert_rules():
        named = set(METRIC_NAME.findall(rule["expr"]))
        assert named, f"{rule['alert']} names no FileStream metric"
        assert named <= exported, f"{rule['alert']}: not exported: {sorted(named - exported)}"
        assert rule["annotations"]["summary"] and rule["annotations"]["description"]


def test_the_failures_an_operator_must_hear_about_have_an_alert() -> None:
    alerts = {rule["alert"] for rule in alert_rules()}
    assert {"FileStreamNoBotHealthy", "FileStreamDatabaseUnreachable", "FileStreamStorageChannelUnusable",
            "FileStreamMemoryBudgetExhausted"} <= alerts
