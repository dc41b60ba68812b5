"""The /stream and /dl routes: answer a file request as planned, copying bytes from the ByteSource."""

from __future__ import annotations

import asyncio
import logging
from typing import AsyncIterator, Awaitable, Callable

from aiohttp import web

from FileStream.core.http_plan import Outcome, RequestFacts, file_facts, plan_response
from FileStream.core.models import StoredFile
from FileStream.i18n import _, ngettext
from FileStream.web.context import CONTEXT, WebContext, message_page
from FileStream.web.fairness import PER_CLIENT_RETRY_AFTER, WRITE_PIECE, HttpFairness, limit_unsent_bytes
from FileStream.web.links import LinkRefused, OpenLink, open_link

# The header a remux child sends with its reads of /stream (web.ports.Remuxer.is_internal).
REMUX_HEADER = "X-FileStream-Remux"

log = logging.getLogger(__name__)

# How often a streaming handler checks that its client is still there. Needed only when
# the server runs without handler_cancellation (aiohttp's default); see _watch_client.
DISCONNECT_POLL_SECONDS = 1.0


class _SourceFailed(Exception):
    """The ByteSource raised; the original exception is the __cause__."""


async def stream(request: web.Request) -> web.StreamResponse:
    """GET|HEAD /stream/{token}[/{name}]: the file inline (attachment for unsafe types)."""
    return await _serve(request, download=False)


async def download(request: web.Request) -> web.StreamResponse:
    """GET|HEAD /dl/{token}[/{name}]: the file as an attachment."""
    return await _serve(request, download=True)


def _header(request: web.Request, name: str) -> str | None:
    # Repeated list-valued fields are one list (RFC 9110 §5.3); for single-valued ones the
    # joined value is simply invalid, which the planner treats as absent.
    values = request.headers.getall(name, [])
    return ", ".join(values) if values else None


def _is_download(request: web.Request, outcome: Outcome) -> bool:
    """Whether the whole file was asked for without a Range: a download, read to its end as a rule.

    Players probe and seek with Range requests they drop after a few bytes; a browser's or
    a command-line download asks once for everything."""
    return outcome.status == 200 and _header(request, "Range") is None


def request_facts(request: web.Request) -> RequestFacts:
    """The parts of an HTTP request that decide how a body is answered (core.http_plan)."""
    return RequestFacts(
        method=request.method,
        range=_header(request, "Range"),
        if_range=_header(request, "If-Range"),
        if_none_match=_header(request, "If-None-Match"),
        if_modified_since=_header(request, "If-Modified-Since"),
    )


async def _serve(request: web.Request, *, download: bool) -> web.StreamResponse:
    try:
        # FileStreamBot's download links were /dl/<ObjectId>[/name]; it had no /stream/.
        link = await open_link(request, legacy_shape=download)
    except LinkRefused as refused:
        return refused.response
    ctx = request.app[CONTEXT]
    outcome = plan_response(
        request_facts(request),
        file_facts(link.file, download=download),
        now=link.now,
        link_expires_at=link.expires_at,
    )
    if not outcome.send_body:
        return await send_headers_only(request, outcome)
    return await _send_body(request, ctx, link, outcome)


async def _send_body(
    request: web.Request, ctx: WebContext, link: OpenLink, outcome: Outcome
) -> web.StreamResponse:
    window = outcome.window
    assert window is not None
    file = link.file
    chunks = ctx.source.stream(file, window.start, window.end, whole=_is_download(request, outcome))
    if ctx.remux is not None and ctx.remux.is_internal(request.headers.get(REMUX_HEADER)):
        # A remux child reading the file for /play: those bytes are counted there, as sent, and
        # REMUX_MAX bounds these readers, so they do not count against the loopback address.
        return await send_body(request, outcome, chunks, f"file {file.ref} (remux input)", per_client=False)
    return await send_body(
        request, outcome, chunks, f"file {file.ref}",
        started=lambda: notify_observer(ctx, "stream_started", file, window.start, window.end),
        finished=lambda sent, result: notify_observer(ctx, "stream_finished", file, sent, result))


async def send_body(
    request: web.Request,
    outcome: Outcome,
    chunks: AsyncIterator[bytes],
    label: str,
    *,
    started: Callable[[], None] | None = None,
    finished: Callable[[int, str], None] | None = None,
    open_ended: bool = False,
    failed_page: Callable[[BaseException | None], web.Response] | None = None,
    per_client: bool = True,
) -> web.StreamResponse:
    """Send the planned body from `chunks`, exactly `outcome.window.length` bytes or a cut connection.

    A client already streaming STREAMS_PER_IP bodies gets 429 with Retry-After, and the
    source is never read (`per_client=False`: a reader of our own, bounded elsewhere). A
    source that fails before the first byte gets an error page (503 with Retry-After when it
    says how long to wait, else 502; `failed_page(error)` makes another answer instead);
    after it, the connection is cut so the client sees a short body. A client that takes no
    bytes for STALL_TIMEOUT seconds is cut. `label` names the thing in logs; `started()` is
    called once the body is allowed to start, and then `finished(sent_bytes, result)` once at
    the end, with result "complete", "client_gone", "stalled" or "source_error".
    `open_ended`: the length is not known in advance (a remux, sent chunked); the body ends
    when the source does, and the window only bounds it.
    """
    fairness = request.app[CONTEXT].fairness
    client = fairness.slot_key(request) if per_client else None
    if client is not None and not fairness.streams.acquire(client):
        await _close(chunks, label)
        log.info("%s: refused, the client has %d streams open (STREAMS_PER_IP)", label, fairness.streams.limit)
        return message_page(
            request, 429, "Too many downloads at once",
            f"Your address already has {fairness.streams.limit} downloads running here. "
            f"Please let one finish and try again in {PER_CLIENT_RETRY_AFTER} seconds.",
            **{"Retry-After": str(PER_CLIENT_RETRY_AFTER)},
        )
    try:
        if started is not None:
            started()
        return await _send_planned_body(request, outcome, chunks, label, fairness, finished,
                                        open_ended=open_ended, failed_page=failed_page)
    finally:
        if client is not None:
            fairness.streams.release(client)


async def _send_planned_body(
    request: web.Request,
    outcome: Outcome,
    chunks: AsyncIterator[bytes],
    label: str,
    fairness: HttpFairness,
    finished: Callable[[int, str], None] | None,
    *,
    open_ended: bool,
    failed_page: Callable[[BaseException | None], web.Response] | None,
) -> web.StreamResponse:
    window = outcome.window
    assert window is not None
    expected = window.length
    sent = 0
    result = "source_error"
    response: web.StreamResponse | None = None
    handler = asyncio.current_task()
    assert handler is not None
    watchdog = asyncio.create_task(_watch_client(request, handler))
    try:
        try:
            chunk = await _next_chunk(chunks)
        except _SourceFailed as failed:
            if failed_page is not None:
                return failed_page(failed.__cause__)
            return _source_failed_page(request, label, failed.__cause__)
        if chunk is None:
            if failed_page is not None:
                return failed_page(EOFError("the source sent no bytes"))
            return _source_failed_page(request, label, EOFError("the source sent no bytes"))

        limit_unsent_bytes(request)
        response = web.StreamResponse(status=outcome.status, headers=outcome.headers)
        # Armed only while writing: time spent waiting for Telegram is not the client's stall.
        async with asyncio.timeout(None) as stall:
            await _progress(stall, fairness, response.prepare(request))
            while chunk is not None:
                if sent + len(chunk) > expected:
                    log.error("%s: source sent more than the %d bytes asked for; cutting the connection",
                              label, expected)
                    _cut(request)
                    return response
                view = memoryview(chunk)
                for piece in range(0, len(view), WRITE_PIECE):
                    await _progress(stall, fairness, response.write(view[piece:piece + WRITE_PIECE]))
                sent += len(chunk)
                if sent == expected:
                    break
                try:
                    chunk = await _next_chunk(chunks)
                except _SourceFailed as failed:
                    log.warning("%s: source failed after %d of %d bytes: %r; cutting the connection",
                                label, sent, expected, failed.__cause__)
                    _cut(request)
                    return response
            if sent < expected and not open_ended:
                log.warning("%s: source ended after %d of %d bytes; cutting the connection",
                            label, sent, expected)
                _cut(request)
                return response
            await _progress(stall, fairness, response.write_eof())
        result = "complete"
        return response
    except TimeoutError:
        # Only the stall deadline raises it here: the client took nothing for STALL_TIMEOUT.
        result = "stalled"
        fairness.stalled += 1
        log.info("%s: the client took no bytes for %.0f s after %d of %d bytes; cutting the connection",
                 label, fairness.stall_timeout, sent, expected)
        _cut(request, discard=True)
        return response if response is not None else web.Response(status=499, reason="Client Closed Request")
    except ConnectionError:
        # Only our own writes raise ConnectionError here (source errors arrive as
        # _SourceFailed). A seek or a closed tab: nothing to answer, nothing to log loudly.
        result = "client_gone"
        log.debug("%s: client gone after %d of %d bytes", label, sent, expected)
        _cut(request)
        # Whatever we return is never sent: the connection is closed.
        return response if response is not None else web.Response(status=499, reason="Client Closed Request")
    except asyncio.CancelledError:
        # The client disconnected (handler_cancellation or our watchdog), or the server is stopping.
        result = "client_gone"
        raise
    finally:
        # Before any await: the watchdog must not cancel us for a connection we cut ourselves.
        watchdog.cancel()
        await _close(chunks, label)
        if finished is not None:
            finished(sent, result)


async def _progress(stall: asyncio.Timeout, fairness: HttpFairness, write: Awaitable[None]) -> None:
    """One write, which must finish within STALL_TIMEOUT (the client takes bytes meanwhile)."""
    stall.reschedule(asyncio.get_running_loop().time() + fairness.stall_timeout)
    try:
        await write
    finally:
        if not stall.expired():   # an expired deadline is raising its TimeoutError now
            stall.reschedule(None)


async def send_headers_only(request: web.Request, outcome: Outcome) -> web.StreamResponse:
    """HEAD, 304, 416 and empty bodies: the planned headers, and the source is never touched."""
    response = web.StreamResponse(status=outcome.status, headers=outcome.headers)
    await response.prepare(request)
    await response.write_eof()
    return response


async def _next_chunk(chunks: AsyncIterator[bytes]) -> bytes | None:
    """The next non-empty chunk, or None at the end; _SourceFailed (cause attached) if the source raises."""
    while True:
        try:
            chunk = await chunks.__anext__()
        except StopAsyncIteration:
            return None
        except Exception as exc:
            raise _SourceFailed() from exc
        if len(chunk) > 0:
            return chunk


async def _watch_client(request: web.Request, handler: asyncio.Task) -> None:
    """Cancel the handler once its client has gone.

    aiohttp's default runner (no handler_cancellation) never tells a handler that its
    client left; one waiting on a slow source (a FLOOD_WAIT, a dead DC) would keep the
    Telegram work running for nobody. Cancelling the handler task, rather than reading
    the source from another task, keeps every step of the source's generator in one task.
    """
    while True:
        await asyncio.sleep(DISCONNECT_POLL_SECONDS)
        transport = request.transport
        if transport is None or transport.is_closing():
            handler.cancel()
            return


async def _close(chunks: AsyncIterator[bytes], label: str) -> None:
    aclose = getattr(chunks, "aclose", None)
    if aclose is None:
        return
    try:
        await aclose()
    except Exception as exc:
        log.warning("%s: closing the byte source failed: %r", label, exc)


def _cut(request: web.Request, *, discard: bool = False) -> None:
    # Headers promised Content-Length bytes; closing now lets the client see a short body
    # (and retry with a Range from where it stopped) instead of silently wrong data.
    # `discard`: the client takes nothing, so what is buffered for it would never drain.
    transport = request.transport
    if transport is not None:
        if discard:
            transport.abort()
        else:
            transport.close()


def _source_failed_page(request: web.Request, label: str, exc: BaseException | None) -> web.Response:
    if getattr(exc, "http_status", None) == 410:
        # Every copy of the file is gone for good (services/healing.py FileLost): said in words.
        log.info("%s: gone: %s", label, exc)
        return message_page(request, 410, exc.title, exc.words)
    retry_after = getattr(exc, "retry_after", None)
    if isinstance(retry_after, int) and not isinstance(retry_after, bool) and retry_after >= 0:
        log.warning("%s: source busy before the first byte (retry after %ds): %r", label, retry_after, exc)
        return message_page(
            request, 503, _("Telegram is busy"),
            ngettext("Telegram asked us to slow down. Please try again in {count} second.",
                     "Telegram asked us to slow down. Please try again in {count} seconds.",
                     max(retry_after, 1)).format(count=max(retry_after, 1)),
            **{"Retry-After": str(max(retry_after, 1))},
        )
    log.warning("%s: source failed before the first byte: %r", label, exc)
    return message_page(
        request, 502, _("The file could not be fetched"),
        _("Telegram did not deliver this file just now. Please try again in a minute."),
    )


def notify_observer(ctx: WebContext, event: str, file: StoredFile, *args: object) -> None:
    """Tell the StreamObserver (if any) that a body of `file` started or finished; never raises."""
    if ctx.observer is None:
        return
    try:
        getattr(ctx.observer, event)(file, *args)
    except Exception:
        # A broken metrics hook must not break downloads; its bug belongs in the log though.
        log.exception("stream observer %s failed", event)
