"""Which address a request comes from: its TCP peer, or X-Forwarded-For when that peer is a trusted proxy."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# Clients on IPv6 get a whole /64 each (RFC 6177): limits count the network, not one of its addresses.
IPV6_CLIENT_PREFIX = 64


def parse_networks(text: str) -> tuple[Network, ...]:
    """Addresses and CIDR ranges separated by commas or spaces ("10.0.0.0/8, 192.168.1.5").

    Raises ValueError naming the first entry that is neither."""
    networks = []
    for entry in text.replace(",", " ").split():
        try:
            network = ipaddress.ip_network(entry.strip("[]"), strict=False)
        except ValueError:
            raise ValueError(f"{entry!r} is not an IP address or a CIDR range like 172.16.0.0/12") from None
        networks.append(_unmapped_network(network))
    return tuple(networks)


def parse_address(text: str) -> Address | None:
    """An address as proxies and sockets write it (IPv4 with or without :port, IPv6 bare or in
    brackets with a port, IPv4 mapped into IPv6), or None when it is not one."""
    text = text.strip().strip('"')
    if text.startswith("["):
        text = text[1:].split("]", 1)[0]
    elif text.count(":") == 1:          # 203.0.113.7:51234
        text = text.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def client_address(peer: str | None, forwarded_for: Iterable[str], trusted: Sequence[Network]) -> str:
    """The client's address: the TCP peer's, unless the peer is a trusted proxy; then the
    X-Forwarded-For entries are read from the right (the last one was written by the peer)
    past every trusted proxy, and the first address that is not one is the client.

    A client may write anything into X-Forwarded-For, but only to the left of what the
    trusted proxies appended, so nothing it writes is taken while a trusted hop vouches for
    the address to its right. An entry that is not an address ends the walk at the last
    address a trusted hop vouched for. `peer` None (no socket): "unknown".
    """
    current = parse_address(peer) if peer else None
    if current is None:
        return peer or "unknown"
    hops = [entry for value in forwarded_for for entry in value.split(",") if entry.strip()]
    while _is_trusted(current, trusted) and hops:
        previous = parse_address(hops.pop())
        if previous is None:
            break
        current = previous
    return str(current)


def client_key(address: str) -> str:
    """What per-client limits count: the address itself, or its /64 for IPv6."""
    parsed = parse_address(address)
    if isinstance(parsed, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((parsed, IPV6_CLIENT_PREFIX), strict=False))
    return str(parsed) if parsed is not None else address


def _is_trusted(address: Address, trusted: Sequence[Network]) -> bool:
    return any(address.version == network.version and address in network for network in trusted)


def _unmapped_network(network: Network) -> Network:
    if isinstance(network, ipaddress.IPv6Network) and network.prefixlen >= 96:
        mapped = network.network_address.ipv4_mapped
        if mapped is not None:
            return ipaddress.IPv4Network((mapped, network.prefixlen - 96))
    return network
