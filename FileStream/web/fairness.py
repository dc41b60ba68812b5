"""What keeps one client from taking the HTTP server from everyone: per-client stream limit, stall cut-off."""

from __future__ import annotations

import logging
import socket
from collections.abc import Sequence
from dataclasses import dataclass, field

from aiohttp import web

from FileStream.core.client_address import Network, client_address, client_key
from FileStream.core.client_slots import StreamsPerClient

log = logging.getLogger(__name__)

# Bytes of a response the kernel may hold unsent for a client (TCP_NOTSENT_LOWAT): beyond
# what the client's receive window takes, a write waits. Without it Linux takes up to
# 4 MiB per connection whether the client reads or not, so a write finishing would say
# nothing about the client taking bytes (core/prefetch.py grows on that).
UNSENT_BYTES_IN_KERNEL = 128 * 1024
# A body is written in pieces this large: each one written is progress (STALL_TIMEOUT), and
# a stalled client leaves at most one piece in the server's own write buffer.
WRITE_PIECE = 128 * 1024
# Seconds a client over STREAMS_PER_IP is told to wait: one of its streams may end by then.
PER_CLIENT_RETRY_AFTER = 5


@dataclass
class HttpFairness:
    """The HTTP server's fairness settings and what they did (build_app takes one).

    stall_timeout: seconds a response may make no write progress before it is cut (STALL_TIMEOUT).
    streams: concurrent bodies per client address (STREAMS_PER_IP; limit 0: none).
    trusted_proxies: peers whose X-Forwarded-For names the client (TRUSTED_PROXIES).
    """

    stall_timeout: float = 60.0
    streams: StreamsPerClient = field(default_factory=lambda: StreamsPerClient(0))
    trusted_proxies: Sequence[Network] = ()
    stalled: int = 0    # responses cut for making no progress, since start

    def client_of(self, request: web.Request) -> str:
        """The request's client address (X-Forwarded-For only from a trusted proxy)."""
        peername = request.transport.get_extra_info("peername") if request.transport is not None else None
        peer = peername[0] if isinstance(peername, (tuple, list)) and peername else None
        return client_address(peer, request.headers.getall("X-Forwarded-For", []), self.trusted_proxies)

    def slot_key(self, request: web.Request) -> str:
        """What STREAMS_PER_IP counts for this request (IPv6 clients by /64)."""
        return client_key(self.client_of(request))


def limit_unsent_bytes(request: web.Request) -> None:
    """Let the kernel hold only UNSENT_BYTES_IN_KERNEL of this response unsent (Linux, macOS)."""
    option = getattr(socket, "TCP_NOTSENT_LOWAT", None)
    transport = request.transport
    sock = transport.get_extra_info("socket") if transport is not None else None
    if option is None or sock is None:
        return
    try:
        sock.setsockopt(socket.IPPROTO_TCP, option, UNSENT_BYTES_IN_KERNEL)
    except OSError as error:  # not TCP (a Unix socket in front of a proxy): nothing to limit
        log.debug("TCP_NOTSENT_LOWAT not set: %r", error)
