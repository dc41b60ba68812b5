"""compose.yaml, checked without a container engine: the scaled-out layout README describes.

One MongoDB (a one-member replica set on a volume, health-checked), one FileStream that
talks to people, link-only instances, and a proxy that spreads links over them and checks
their /health. Images are pinned; every setting handed to FileStream is one it reads.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from FileStream.config import VARIABLES

REPO = Path(__file__).resolve().parents[1]
OURS = {name for name, _, _ in VARIABLES}
INTERPOLATION = re.compile(r"\$\{([A-Z_][A-Z0-9_]*)")


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((REPO / "compose.yaml").read_text())


def filestream_services(compose: dict) -> dict[str, dict]:
    return {name: s for name, s in compose["services"].items() if s.get("build") == "."}


def test_one_instance_talks_to_people_and_the_others_serve_links_only(compose):
    ours = filestream_services(compose)
    talking = [name for name, s in ours.items() if s["environment"]["LINK_ONLY"] == "false"]
    link_only = [name for name, s in ours.items() if s["environment"]["LINK_ONLY"] == "true"]
    assert talking == ["bot"]
    assert len(link_only) >= 1 and len(talking) + len(link_only) == len(ours)
    urls = {s["environment"]["DATABASE_URL"] for s in ours.values()}
    assert urls == {"mongodb://mongo:27017/?replicaSet=rs0"}, "every instance shares the one database"
    for name, service in ours.items():
        assert service["env_file"] == ".env"
        assert service["depends_on"]["mongo"]["condition"] == "service_healthy", name
        assert "/health" in " ".join(service["healthcheck"]["test"]), name
        sessions = [v for v in service["volumes"] if v.endswith(":/data")]
        assert len(sessions) == 1, f"{name} keeps its bot sessions on its own volume"
    volumes = [s["volumes"][0].split(":")[0] for s in ours.values()]
    assert len(set(volumes)) == len(volumes), "no two instances share a session volume"


def test_mongodb_is_the_official_image_as_a_health_checked_one_member_replica_set_on_a_volume(compose):
    mongo = compose["services"]["mongo"]
    assert mongo["image"].startswith("mongo:")
    assert "--replSet" in mongo["command"] and "rs0" in mongo["command"]
    check = " ".join(mongo["healthcheck"]["test"])
    assert "rs.initiate" in check and "mongo:27017" in check and "isWritablePrimary" in check
    assert "mongo-data:/data/db" in mongo["volumes"]


def test_the_proxy_spreads_link_traffic_over_the_link_servers_and_checks_their_health(compose):
    proxy = compose["services"]["proxy"]
    assert proxy["image"].startswith("caddy:")
    config_mount = next(v for v in proxy["volumes"] if v.endswith(":/etc/caddy/Caddyfile:ro"))
    caddyfile = (REPO / config_mount.split(":")[0]).read_text()
    link_servers = [n for n, s in filestream_services(compose).items() if s["environment"]["LINK_ONLY"] == "true"]
    upstreams = re.search(r"reverse_proxy ([^{]+)\{", caddyfile)
    assert upstreams is not None
    assert sorted(upstreams.group(1).split()) == sorted(f"{n}:8080" for n in link_servers)
    assert re.search(r"(?m)^\s*health_uri /health$", caddyfile)
    assert {n: c["condition"] for n, c in proxy["depends_on"].items()} == {n: "service_healthy" for n in link_servers}
    assert "80:80" in proxy["ports"]


def test_the_proxy_does_not_expose_metrics_to_the_public(compose):
    proxy = compose["services"]["proxy"]
    config_mount = next(v for v in proxy["volumes"] if v.endswith(":/etc/caddy/Caddyfile:ro"))
    caddyfile = (REPO / config_mount.split(":")[0]).read_text()
    matcher = re.search(r"(?m)^\s*@(\w+) path /metrics /metrics/\*$", caddyfile)
    assert matcher is not None, "a matcher for /metrics and everything under it"
    assert re.search(rf"(?m)^\s*respond @{matcher.group(1)} 404$", caddyfile), "answered by the proxy itself"


def test_every_pulled_image_is_pinned_to_a_version(compose):
    for name, service in compose["services"].items():
        if service.get("build"):
            continue  # built here from this checkout
        image = service["image"]
        repository, _, tag = image.partition(":")
        assert re.fullmatch(r"\d+(\.\d+){1,2}(-[a-z0-9.]+)?", tag) or "@sha256:" in image, f"{name}: {image} is not pinned"


def test_every_setting_handed_to_filestream_is_one_it_reads(compose):
    for name, service in filestream_services(compose).items():
        unknown = set(service["environment"]) - OURS
        assert not unknown, f"{name} sets {unknown}, which FileStream does not read"
        assert service["environment"]["PORT"] == "8080"
        for value in service["environment"].values():
            assert set(INTERPOLATION.findall(str(value))) <= OURS, value


def test_every_named_volume_is_declared_and_used(compose):
    declared = set(compose["volumes"])
    used = {mount.split(":")[0] for service in compose["services"].values() for mount in service.get("volumes", [])
            if not mount.startswith((".", "/"))}
    assert used == declared


def test_every_service_has_a_health_check(compose):
    for name, service in compose["services"].items():
        assert service.get("healthcheck", {}).get("test"), f"{name} has no health check"
