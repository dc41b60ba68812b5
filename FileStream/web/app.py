"""The aiohttp application that serves files by link: routes and the error-page middleware."""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path
from typing import Awaitable, Callable
from urllib.parse import urlsplit

import jinja2
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from FileStream.i18n import N_, Catalogs, _, current, ngettext, speak
from FileStream.services.bundle_zip import Crc32Keeper
from FileStream.web import bundles as bundle_routes
from FileStream.web import files as file_routes
from FileStream.web import pages
from FileStream.web import play as play_routes
from FileStream.web.context import CONTEXT, WebContext, message_page, route_of
from FileStream.web.fairness import HttpFairness
from FileStream.web.guess_limit import GuessLimit
from FileStream.web.ports import (BundleLookup, ByteSource, FileLookup, LegacyLinks, Remuxer, StorageCopies, StreamObserver,
                                  Thumbnails, TrafficLimit)

log = logging.getLogger(__name__)

_HERE = Path(__file__).resolve().parent
TEMPLATES_DIR = _HERE / "templates"
STATIC_DIR = _HERE / "static"


def _page_csp(public_url: str) -> str:
    # Pages load only our own CSS/JS; media may come from the public URL's origin when the
    # page is reached through another host name. No inline script, no framing. The player
    # asks its own origin where a converted video's seek starts (connect-src).
    parts = urlsplit(public_url)
    origin = f" {parts.scheme}://{parts.netloc}" if parts.scheme in ("http", "https") and parts.netloc else ""
    return (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        f"img-src 'self'{origin}; media-src 'self'{origin}; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )


_ROUTER_MESSAGES = {
    404: (N_("Page not found"), N_("There is nothing at this address. Check the link you were given.")),
    405: (N_("Not allowed"), N_("This address only answers GET and HEAD requests.")),
}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# The name after a link token is cosmetic and may be anything the file was called, a line
# break included (%0A): "." alone stops at one, and the link would answer 404.
_ANY_NAME = "{name:(?s:.*)}"


@web.middleware
async def _words_not_tracebacks(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Router errors get our page; an unexpected bug is logged with its traceback and said in words."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status in _ROUTER_MESSAGES:
            title, message = _ROUTER_MESSAGES[exc.status]
            extra = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else {}
            return message_page(request, exc.status, _(title), _(message), **extra)
        raise
    except Exception:
        log.exception("unexpected error serving %s", route_of(request))
        return message_page(
            request, 500, _("Something went wrong"),
            _("The server hit an unexpected problem. Please try again later."),
        )


def _in_their_language(languages: Catalogs):
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        """Every page and error page of this request in the language its browser asks for."""
        speak(languages.for_accept_language(request.headers.get("Accept-Language")))
        return await handler(request)
    return middleware


class HttpProtocolLog(logging.LoggerAdapter):
    """The logger aiohttp's connection handler is given (`web.AppRunner(..., logger=...)`).

    aiohttp logs every request it cannot parse (a bad URL, a bad header, a bad version)
    as an error with a traceback and the raw request line, which may hold a link token.
    A malformed request is the client's business: it gets its 400 and this log gets one
    debug line naming the error. Anything else still goes out with its traceback.
    """

    def __init__(self, logger: logging.Logger | None = None) -> None:
        super().__init__(logger or logging.getLogger(f"{__name__}.http"), {})

    def exception(self, msg, *args, exc_info=True, **kwargs) -> None:
        error = exc_info if isinstance(exc_info, BaseException) else None
        if isinstance(error, HttpProcessingError):
            self.logger.debug("Refused a malformed HTTP request (%s %s)", error.code, type(error).__name__)
            return
        self.logger.error(msg, *args, exc_info=exc_info, **kwargs)


def build_app(
    *,
    files: FileLookup,
    source: ByteSource,
    link_secret: bytes,
    public_url: str,
    clock: Callable[[], datetime],
    observer: StreamObserver | None = None,
    thumbnails: Thumbnails | None = None,
    bot_username: str = "",
    copies: StorageCopies | None = None,
    legacy: LegacyLinks | None = None,
    bundles: BundleLookup | None = None,
    traffic: TrafficLimit | None = None,
    languages: Catalogs | None = None,
    remux: Remuxer | None = None,
    fairness: HttpFairness | None = None,
) -> web.Application:
    """The web application.

    files: finds the record behind a link token's file id.
    source: delivers the bytes of a file range.
    link_secret: the HMAC key link tokens were made with (core.tokens).
    public_url: the base URL people reach this server at; links on the player page use it.
    clock: returns the current timezone-aware UTC time; decides expiry.
    observer: optional; told when each body starts and ends (metrics, load accounting).
    thumbnails: optional; posters and covers for the player page (none without it).
    bot_username: the main bot's @username without the @; the front page links to it.
    copies: optional; makes the storage copy of a record that has none (migrated files)
      before it is used. Without it such records are served as they are.
    legacy: optional; answers FileStreamBot's old links /dl/<ObjectId>[/name] and
      /watch/<ObjectId> of migrated files. Without it they are 404 (LEGACY_LINKS=false).
    bundles: optional; finds bundles for /b/ links (their page, playlist and ZIP); without
        it every bundle link answers 404.
    traffic: optional; the links of a person over today's traffic limit answer 429.
    languages: optional; pages are in the language the browser asks for (Accept-Language)
        among these; without it, in English.
    remux: optional; plays videos the browser cannot open as stored (/play, /sub); without
        it the watch page plays every video as stored.
    fairness: optional; STALL_TIMEOUT, STREAMS_PER_IP and TRUSTED_PROXIES (web/fairness.py);
        without it bodies are cut after 60 s without progress and clients are not limited.

    Run it with `web.AppRunner(app, handler_cancellation=True, logger=HttpProtocolLog())` so
    a client disconnect cancels its handler at once (without it the handler still notices
    within a second) and malformed requests do not fill the log with tracebacks.
    """
    if not link_secret:
        raise ValueError("link_secret is empty")
    templates = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        autoescape=True,  # every template is HTML; file names are user input
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        extensions=["jinja2.ext.i18n"],
    )
    # {{ _("text {name}", name=x) }} in templates: the page's language, escaped like any value.
    templates.install_gettext_callables(gettext=_, ngettext=ngettext, newstyle=True)
    templates.globals["language_code"] = lambda: current().code
    app = web.Application(middlewares=[_in_their_language(languages or Catalogs.english_only()),
                                       _words_not_tracebacks])
    app[CONTEXT] = WebContext(
        files=files,
        source=source,
        link_secret=link_secret,
        public_url=public_url.rstrip("/"),
        clock=clock,
        observer=observer,
        templates=templates,
        page_csp=_page_csp(public_url),
        thumbnails=thumbnails,
        bot_username=bot_username,
        copies=copies,
        legacy=legacy,
        bundles=bundles,
        traffic=traffic,
        remux=remux,
        fairness=fairness if fairness is not None else HttpFairness(),
        crcs=Crc32Keeper(source, bundles.get_crc32s, bundles.set_crc32) if bundles is not None else None,
        guesses=GuessLimit(),
    )
    # add_get also answers HEAD with the same handler; aiohttp drops the body.
    app.router.add_get("/", pages.index)
    app.router.add_get("/watch/{token}", pages.watch)
    app.router.add_get("/thumb/{token}", pages.thumbnail)
    app.router.add_get("/stream/{token}", file_routes.stream)
    app.router.add_get("/stream/{token}/" + _ANY_NAME, file_routes.stream)
    app.router.add_get("/dl/{token}", file_routes.download)
    app.router.add_get("/dl/{token}/" + _ANY_NAME, file_routes.download)
    app.router.add_get("/play/{token}", play_routes.play)
    app.router.add_get("/play/{token}/start", play_routes.play_start)
    app.router.add_get("/sub/{token}/{track}.vtt", play_routes.subtitle)
    app.router.add_get("/b/{token}", bundle_routes.page)
    app.router.add_get("/b/{token}/zip", bundle_routes.archive)
    app.router.add_get("/b/{token}/zip/" + _ANY_NAME, bundle_routes.archive)
    app.router.add_get("/b/{token}/m3u", bundle_routes.playlist)
    app.router.add_get("/b/{token}/m3u/" + _ANY_NAME, bundle_routes.playlist)
    app.router.add_get("/static/{name}", _static_files(STATIC_DIR))
    return app


def _static_files(directory: Path) -> Handler:
    """GET|HEAD /static/{name}: one of the files shipped in `directory`, else 404.

    Looked up among the names listed once at start, never joined into a path: no name,
    however long or strange, reaches the file system (aiohttp's own static route let a
    300-character name raise ENAMETOOLONG, a 500).
    """
    shipped = {path.name: path for path in directory.iterdir() if path.is_file()}

    async def static_file(request: web.Request) -> web.StreamResponse:
        path = shipped.get(request.match_info["name"])
        if path is None:
            raise web.HTTPNotFound()
        response = web.FileResponse(path)
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response

    return static_file
