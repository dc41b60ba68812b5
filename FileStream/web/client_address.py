"""Which client a request comes from: the address per-client limits are kept by."""

from __future__ import annotations

from aiohttp import web


def client_address(request: web.Request) -> str:
    """The client's address: the connection's peer (behind a proxy, the proxy's).

    The one place the web layer asks; trusting X-Forwarded-For from known proxies belongs here.
    """
    return request.remote or "unknown"
