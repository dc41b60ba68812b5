"""Who a request comes from, and how many streams each client may have: the pure parts of fair HTTP."""

from __future__ import annotations

import ipaddress

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from FileStream.config import ConfigError, Settings
from FileStream.core.client_address import client_address, client_key, parse_networks
from FileStream.core.client_slots import StreamsPerClient

CADDY = parse_networks("172.16.0.0/12")
CHAIN = parse_networks("10.0.0.0/8, 192.168.7.7")


# ------------------------------------------------------------------ the client's address

def test_a_client_that_connects_directly_is_its_peer_whatever_it_writes_in_x_forwarded_for():
    assert client_address("203.0.113.9", ["1.2.3.4"], CADDY) == "203.0.113.9"
    assert client_address("203.0.113.9", ["1.2.3.4"], ()) == "203.0.113.9"


def test_behind_a_trusted_proxy_the_client_is_the_address_the_proxy_appended():
    assert client_address("172.18.0.5", ["198.51.100.20"], CADDY) == "198.51.100.20"


def test_what_a_client_writes_before_the_proxys_entry_is_never_taken():
    # The client sent "X-Forwarded-For: 127.0.0.1, 10.1.1.1"; Caddy appended who it really is.
    assert client_address("172.18.0.5", ["127.0.0.1, 10.1.1.1, 198.51.100.20"], CADDY) == "198.51.100.20"


def test_a_chain_of_trusted_proxies_is_walked_back_to_the_first_untrusted_address():
    header = ["6.6.6.6, 198.51.100.20", "192.168.7.7"]   # two header lines are one list
    assert client_address("10.0.0.2", header, CHAIN) == "198.51.100.20"


def test_a_trusted_proxy_without_x_forwarded_for_is_the_client():
    assert client_address("172.18.0.5", [], CADDY) == "172.18.0.5"


def test_an_entry_that_is_no_address_ends_the_walk_at_the_last_vouched_address():
    assert client_address("172.18.0.5", ["unknown"], CADDY) == "172.18.0.5"
    assert client_address("10.0.0.2", ["198.51.100.20, garbage, 192.168.7.7"], CHAIN) == "192.168.7.7"


def test_addresses_are_read_as_proxies_and_sockets_write_them():
    assert client_address("::ffff:172.18.0.5", ["198.51.100.20:4711"], CADDY) == "198.51.100.20"
    assert client_address("172.18.0.5", ['"[2001:db8::1]:443"'], CADDY) == "2001:db8::1"
    assert client_address(None, ["1.2.3.4"], CADDY) == "unknown"


def test_ipv6_clients_are_counted_by_their_64():
    assert client_key("2001:db8:1:2:aaaa::1") == client_key("2001:db8:1:2:bbbb::2") == "2001:db8:1:2::/64"
    assert client_key("2001:db8:1:3::1") != client_key("2001:db8:1:2::1")
    assert client_key("198.51.100.20") == "198.51.100.20"
    assert client_key("unknown") == "unknown"


_ipv4 = st.builds(lambda n: str(ipaddress.IPv4Address(n)), st.integers(0, 2**32 - 1))


@given(spoofed=st.lists(st.one_of(_ipv4, st.text(max_size=12)), max_size=5), client=_ipv4,
       proxies=st.integers(1, 3))
def test_whatever_a_client_writes_the_address_is_the_one_the_first_trusted_proxy_saw(spoofed, client, proxies):
    trusted = parse_networks("10.0.0.0/8")
    if ipaddress.ip_address(client) in trusted[0]:
        return   # a client inside the proxies' own range is indistinguishable from one of them
    hops = [client] + [f"10.0.0.{n}" for n in range(1, proxies)]   # each proxy appends its peer
    header = ", ".join([entry.replace(",", "") for entry in spoofed] + hops)
    assert client_address(f"10.0.0.{proxies}", [header], trusted) == client


def test_trusted_proxies_is_a_list_of_addresses_and_ranges_or_a_named_error():
    required = {"API_ID": "12345", "API_HASH": "0123456789abcdef0123456789abcdef",
                "BOT_TOKEN": "123456789:AAEhBOweik6ad9r_QXMENQjcrGbqCr4K-ab", "OWNER_ID": "1",
                "BIN_CHANNEL": "-1001234567890"}
    settings = Settings.from_env({**required, "TRUSTED_PROXIES": "172.16.0.0/12, 10.1.2.3 ::1"})
    assert [str(n) for n in settings.trusted_proxies] == ["172.16.0.0/12", "10.1.2.3/32", "::1/128"]
    assert Settings.from_env(required).trusted_proxies == ()
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({**required, "TRUSTED_PROXIES": "172.16.0.0/12, caddy"})
    assert caught.value.variable == "TRUSTED_PROXIES" and "'caddy'" in str(caught.value)
    for name, bad in (("STREAMS_PER_IP", "-1"), ("STALL_TIMEOUT", "0"), ("STALL_TIMEOUT", "soon")):
        with pytest.raises(ConfigError) as caught:
            Settings.from_env({**required, name: bad})
        assert caught.value.variable == name


def test_compose_trusts_its_proxys_network_and_nothing_public():
    from pathlib import Path
    compose = yaml.safe_load((Path(__file__).resolve().parents[1] / "compose.yaml").read_text())
    ours = [s for s in compose["services"].values() if s.get("build") == "."]
    for service in ours:
        assert "ports" not in service, "an instance with a published port would trust any client's header"
        networks = parse_networks(service["environment"]["TRUSTED_PROXIES"])
        assert all(network.is_private for network in networks)


# ------------------------------------------------------------------ streams per client

def test_a_client_gets_its_limit_of_streams_and_is_refused_beyond_it_until_one_ends():
    slots = StreamsPerClient(2)
    assert slots.acquire("198.51.100.20") and slots.acquire("198.51.100.20")
    assert not slots.acquire("198.51.100.20")
    assert slots.acquire("203.0.113.9")          # another client is not affected
    slots.release("198.51.100.20")
    assert slots.acquire("198.51.100.20")
    assert slots.refused == 1 and slots.open("198.51.100.20") == 2


def test_clients_whose_streams_all_ended_are_forgotten():
    slots = StreamsPerClient(3)
    for n in range(100):
        assert slots.acquire(f"198.51.100.{n}")
    for n in range(100):
        slots.release(f"198.51.100.{n}")
    assert slots.clients == 0


def test_a_limit_of_zero_limits_nobody():
    slots = StreamsPerClient(0)
    assert all(slots.acquire("198.51.100.20") for _ in range(1000))
    assert slots.refused == 0
    with pytest.raises(ValueError):
        StreamsPerClient(-1)
