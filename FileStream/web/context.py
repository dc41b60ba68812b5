"""What every handler shares: the WebContext handed over by build_app, and page rendering."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Callable

import jinja2
from aiohttp import web

from FileStream.web.fairness import HttpFairness
from FileStream.web.ports import (BundleLookup, ByteSource, FileLookup, LegacyLinks, Remuxer, StorageCopies, StreamObserver,
                                  Thumbnails, TrafficLimit)


@dataclass(frozen=True, slots=True)
class WebContext:
    """Everything the handlers use, handed over by build_app (no globals)."""

    files: FileLookup
    source: ByteSource
    link_secret: bytes
    public_url: str
    clock: Callable[[], datetime]
    observer: StreamObserver | None
    templates: jinja2.Environment
    page_csp: str
    thumbnails: Thumbnails | None = None
    bot_username: str = ""
    copies: StorageCopies | None = None
    legacy: LegacyLinks | None = None  # None: old FileStreamBot links answer 404
    bundles: BundleLookup | None = None
    crcs: object | None = None    # services.bundle_zip.Crc32Keeper, when bundles are served
    traffic: TrafficLimit | None = None   # None: no traffic limit
    remux: Remuxer | None = None  # None: videos are served only as stored
    fairness: HttpFairness = field(default_factory=HttpFairness)  # per-client limit, stall cut-off
    guesses: object | None = None  # web.guess_limit.GuessLimit: misses of old ids per address


CONTEXT = web.AppKey("filestream_web_context", WebContext)


def render_page(request: web.Request, template: str, *, status: int = 200, **values: object) -> web.Response:
    """An HTML page from templates/, with headers that keep it from being framed or sniffed."""
    ctx = request.app[CONTEXT]
    body = ctx.templates.get_template(template).render(**values)
    response = web.Response(text=body, status=status, content_type="text/html", charset="utf-8")
    response.headers["Content-Security-Policy"] = ctx.page_csp
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"  # the URL holds the link token
    response.headers["Cache-Control"] = "no-store"
    response.headers["Vary"] = "Accept-Language"   # pages are in the language the browser asks for
    return response


def message_page(request: web.Request, status: int, title: str, message: str, **extra: str) -> web.Response:
    """A small page that says in words what happened and what to do."""
    response = render_page(request, "message.html", status=status, title=title, message=message)
    response.headers.update(extra)
    return response


def route_of(request: web.Request) -> str:
    """The request's method and route pattern (like "GET /stream/{token}"), never its path:
    paths hold link tokens, which must not reach a log."""
    route = request.match_info.route
    resource = route.resource if route is not None else None
    return f"{request.method} {resource.canonical if resource is not None else '(no route)'}"
