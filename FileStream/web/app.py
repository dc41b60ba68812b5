"""The aiohttp application that serves files by link: routes and the error-page middleware."""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path
from typing import Awaitable, Callable
from urllib.parse import urlsplit

import jinja2
from aiohttp import web

from FileStream.web import files as file_routes
from FileStream.web import pages
from FileStream.web.context import CONTEXT, WebContext, message_page, route_of
from FileStream.web.ports import ByteSource, FileLookup, LegacyLinks, StorageCopies, StreamObserver

log = logging.getLogger(__name__)

_HERE = Path(__file__).resolve().parent
TEMPLATES_DIR = _HERE / "templates"
STATIC_DIR = _HERE / "static"


def _page_csp(public_url: str) -> str:
    # Pages load only our own CSS/JS; media may come from the public URL's origin when the
    # page is reached through another host name. No inline script, no framing.
    parts = urlsplit(public_url)
    origin = f" {parts.scheme}://{parts.netloc}" if parts.scheme in ("http", "https") and parts.netloc else ""
    return (
        "default-src 'none'; script-src 'self'; style-src 'self'; "
        f"img-src 'self'{origin}; media-src 'self'{origin}; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )


_ROUTER_MESSAGES = {
    404: ("Page not found", "There is nothing at this address. Check the link you were given."),
    405: ("Not allowed", "This address only answers GET and HEAD requests."),
}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def _words_not_tracebacks(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Router errors get our page; an unexpected bug is logged with its traceback and said in words."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status in _ROUTER_MESSAGES:
            title, message = _ROUTER_MESSAGES[exc.status]
            extra = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else {}
            return message_page(request, exc.status, title, message, **extra)
        raise
    except Exception:
        log.exception("unexpected error serving %s", route_of(request))
        return message_page(
            request, 500, "Something went wrong",
            "The server hit an unexpected problem. Please try again later.",
        )


def build_app(
    *,
    files: FileLookup,
    source: ByteSource,
    link_secret: bytes,
    public_url: str,
    clock: Callable[[], datetime],
    observer: StreamObserver | None = None,
    copies: StorageCopies | None = None,
    legacy: LegacyLinks | None = None,
) -> web.Application:
    """The web application.

    files: finds the record behind a link token's file id.
    source: delivers the bytes of a file range.
    link_secret: the HMAC key link tokens were made with (core.tokens).
    public_url: the base URL people reach this server at; links on the player page use it.
    clock: returns the current timezone-aware UTC time; decides expiry.
    observer: optional; told when each body starts and ends (metrics, load accounting).
    copies: optional; makes the storage copy of a record that has none (migrated files)
      before it is used. Without it such records are served as they are.
    legacy: optional; answers FileStreamBot's old links /dl/<ObjectId>[/name] and
      /watch/<ObjectId> of migrated files. Without it they are 404 (LEGACY_LINKS=false).

    Run it with `web.AppRunner(app, handler_cancellation=True)` so a client disconnect
    cancels its handler at once; without it the handler still notices within a second.
    """
    if not link_secret:
        raise ValueError("link_secret is empty")
    templates = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        autoescape=True,  # every template is HTML; file names are user input
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    app = web.Application(middlewares=[_words_not_tracebacks])
    app[CONTEXT] = WebContext(
        files=files,
        source=source,
        link_secret=link_secret,
        public_url=public_url.rstrip("/"),
        clock=clock,
        observer=observer,
        templates=templates,
        page_csp=_page_csp(public_url),
        copies=copies,
        legacy=legacy,
    )
    # add_get also answers HEAD with the same handler; aiohttp drops the body.
    app.router.add_get("/", pages.index)
    app.router.add_get("/watch/{token}", pages.watch)
    app.router.add_get("/stream/{token}", file_routes.stream)
    app.router.add_get("/stream/{token}/{name:.*}", file_routes.stream)
    app.router.add_get("/dl/{token}", file_routes.download)
    app.router.add_get("/dl/{token}/{name:.*}", file_routes.download)
    app.router.add_static("/static/", STATIC_DIR, append_version=False)
    return app
