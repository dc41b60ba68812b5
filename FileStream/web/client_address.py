"""Which client a request comes from: the address per-client limits are kept by."""

from __future__ import annotations

from aiohttp import web

from FileStream.web.context import CONTEXT


def client_address(request: web.Request) -> str:
    """The client's address: the connection's peer, or, when that peer is one of
    TRUSTED_PROXIES, the address its X-Forwarded-For names (web/fairness.py)."""
    return request.app[CONTEXT].fairness.client_of(request)
