"""The /b/ routes of a bundle link: its page, its M3U playlist, and the whole bundle as one streamed ZIP."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field, replace
from datetime import datetime

from aiohttp import web

from FileStream.core.formatting import (
    bundle_playlist_url,
    bundle_zip_url,
    download_url,
    stream_url,
    watch_url,
)
from FileStream.core.http_plan import FileFacts, cache_control, content_disposition, plan_response, strong_etag
from FileStream.core.mime import effective_mime_type, player_kind
from FileStream.core.models import Bundle, StoredFile
from FileStream.core.playlist import M3U_CONTENT_TYPE, PlaylistItem, is_playable, m3u_playlist
from FileStream.core.tokens import BundleClaim, log_ref, make_link_token, read_bundle_token
from FileStream.i18n import _, size, time_left
from FileStream.services.bundle_zip import BundleArchive
from FileStream.web.context import CONTEXT, WebContext, render_page
from FileStream.web.files import notify_observer, request_facts, send_body, send_headers_only
from FileStream.web.links import LinkRefused, link_expired, link_not_found, lookup_failed, within_traffic_limit

log = logging.getLogger(__name__)

ZIP_CONTENT_TYPE = "application/zip"


@dataclass(frozen=True, slots=True)
class OpenBundle:
    """A bundle link that works right now, with the files of the bundle still live, in order."""

    token: str
    claim: BundleClaim
    bundle: Bundle
    files: tuple[StoredFile, ...]
    now: datetime
    secret: bytes = field(default=b"", repr=False)

    @property
    def expires_at(self) -> datetime | None:
        ends = [t for t in (self.claim.expires_at, self.bundle.expires_at) if t is not None]
        ends += [f.expires_at for f in self.files if f.expires_at is not None]
        return min(ends) if ends else None

    def file_token(self, file: StoredFile) -> str:
        """The token of one file's own links (they live as long as the file)."""
        return make_link_token(self.secret, file.id, file.expires_at)


class ZipPartsObserver:
    """Tells the stream observer of each file's part of a ZIP response as a body of that file,
    like a /dl response of the same bytes (BundleArchive.stream calls `part`).

    So "bytes served" (/metrics, /botstats) includes the files' bytes in ZIPs, and a file
    whose data a ZIP response sends from its first byte counts as downloaded (the rule of
    core.usage: from byte 0, not a probe). The ZIP's own headers and central directory are
    not file content and are not counted, nor are the CRC-32 passes (their bytes go to nobody).
    """

    def __init__(self, ctx: WebContext) -> None:
        self._ctx = ctx

    def part(self, file: StoredFile, first: int, last: int) -> _ToldPart:
        """A context around the part's bytes; its `handing(size)` is called before each chunk goes out."""
        return _ToldPart(self._ctx, file, first, last)


class _ToldPart:
    """One file's part of a ZIP response: started when entered, finished once when left."""

    def __init__(self, ctx: WebContext, file: StoredFile, first: int, last: int) -> None:
        self._ctx, self._file = ctx, file
        self._first, self._last = first, last
        self._sent = self._in_hand = 0

    def __enter__(self) -> _ToldPart:
        notify_observer(self._ctx, "stream_started", self._file, self._first, self._last)
        return self

    def handing(self, size: int) -> None:
        """A chunk of `size` bytes goes out next; the one before it was written (the ZIP was asked for more)."""
        self._sent += self._in_hand
        self._in_hand = size

    def __exit__(self, kind, _error, _traceback) -> None:
        length = self._last - self._first + 1
        if kind is GeneratorExit and self._sent + self._in_hand < length:
            # Closed at a chunk in the middle of the part: the client went away, that chunk unwritten.
            result = "client_gone"
        else:
            # Ended; or failed or cancelled while fetching, after the chunk in hand was written;
            # or closed at the part's last chunk (a response ending there asks for nothing more).
            self._sent += self._in_hand
            if kind is None or self._sent == length:
                result = "complete"
            else:
                result = "client_gone" if issubclass(kind, asyncio.CancelledError) else "source_error"
        notify_observer(self._ctx, "stream_finished", self._file, self._sent, result)


async def open_bundle(request: web.Request) -> OpenBundle:
    """The bundle behind the request's {token}; raises LinkRefused with a 404/410/503 page.

    A bundle expires with its files: once none of them is live, its link answers 410.
    """
    ctx = request.app[CONTEXT]
    token = request.match_info["token"]
    claim = read_bundle_token(ctx.link_secret, token)
    if claim is None or ctx.bundles is None:
        log.info("refused /b/…: malformed or forged bundle token")
        raise link_not_found(request)
    now = ctx.clock()
    if claim.is_expired(now):
        log.info("refused bundle %s: link expired at %s", log_ref(claim.bundle_id), claim.expires_at)
        raise link_expired(request, "bundle")
    try:
        bundle = await ctx.bundles.get_bundle(claim.bundle_id)
        records = await ctx.bundles.get_files(bundle.file_ids) if bundle is not None else {}
    except Exception as exc:  # the database is down or slow
        log.warning("bundle lookup for %s failed: %r", log_ref(claim.bundle_id), exc)
        raise lookup_failed(request, "bundle") from exc
    if bundle is None:
        log.info("refused bundle %s: no such bundle (deleted?)", log_ref(claim.bundle_id))
        raise link_not_found(request)
    live = tuple(records[i] for i in bundle.file_ids if i in records and not records[i].is_expired(now))
    if bundle.is_expired(now) or not live:
        log.info("refused bundle %s: expired (bundle until %s, %d live files)", bundle.ref, bundle.expires_at,
                 len(live))
        raise link_expired(request, "bundle")
    await within_traffic_limit(request, bundle.owner_id, bundle.source)
    return OpenBundle(token=token, claim=claim, bundle=bundle, files=live, now=now, secret=ctx.link_secret)


async def _open_or_refuse(request: web.Request) -> OpenBundle | web.Response:
    try:
        return await open_bundle(request)
    except LinkRefused as refused:
        return refused.response


def _expiry_words(link: OpenBundle) -> str:
    if link.expires_at is None:
        return _("link never expires")
    return _("link expires in {time_left}").format(time_left=time_left(link.expires_at, link.now))


async def page(request: web.Request) -> web.Response:
    """GET /b/{token}: every file with its links, Play all, the ZIP and the playlist."""
    link = await _open_or_refuse(request)
    if isinstance(link, web.Response):
        return link
    ctx = request.app[CONTEXT]
    rows = []
    for file in link.files:
        token = link.file_token(file)
        mime_type = effective_mime_type(file.mime_type, file.file_name)
        rows.append({
            "name": file.file_name or "file",
            "size": size(file.file_size),
            "mime_type": mime_type,
            "kind": player_kind(mime_type),
            "playable": is_playable(file.mime_type, file.file_name),
            "watch_url": watch_url(ctx.public_url, token),
            "stream_url": stream_url(ctx.public_url, token, file.file_name),
            "download_url": download_url(ctx.public_url, token, file.file_name),
        })
    title = link.bundle.title
    return render_page(
        request, "bundle.html",
        title=title,
        count=len(rows),
        total_size=size(sum(f.file_size for f in link.files)),
        expiry=_expiry_words(link),
        files=rows,
        playable=any(row["playable"] for row in rows),
        zip_url=bundle_zip_url(ctx.public_url, link.token, title),
        playlist_url=bundle_playlist_url(ctx.public_url, link.token, title),
    )


async def playlist(request: web.Request) -> web.Response:
    """GET|HEAD /b/{token}/m3u[/{name}]: an extended M3U of the bundle's audio and video stream links."""
    link = await _open_or_refuse(request)
    if isinstance(link, web.Response):
        return link
    ctx = request.app[CONTEXT]
    items = [PlaylistItem(file.file_name or "file", stream_url(ctx.public_url, link.file_token(file), file.file_name),
                          file.duration)
             for file in link.files if is_playable(file.mime_type, file.file_name)]
    response = web.Response(body=m3u_playlist(items).encode("utf-8"))
    response.headers["Content-Type"] = f"{M3U_CONTENT_TYPE}; charset=utf-8"
    response.headers["Content-Disposition"] = content_disposition("attachment", link.bundle.title + ".m3u8")
    response.headers["Cache-Control"] = cache_control(link.now, link.expires_at)
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


async def archive(request: web.Request) -> web.StreamResponse:
    """GET|HEAD /b/{token}/zip[/{name}]: the whole bundle as one stored ZIP, made while it is sent.

    Its size is known before the first byte and any Range is answered with exactly the
    bytes a full download has there (see services/bundle_zip.py), unless the CRC-32s it
    needs would cost much more than it sends (core.zip_ranges): then the answer is the
    whole archive, 200, as RFC 9110 §14.2 allows.

    Only the ETag validates: the bytes change when a file of the bundle is deleted while no
    date would, so the response has no Last-Modified and a date in If-Range means "send it all".
    """
    link = await _open_or_refuse(request)
    if isinstance(link, web.Response):
        return link
    ctx = request.app[CONTEXT]
    zipped = BundleArchive.of(link.bundle.id, link.files)
    facts = FileFacts(
        size=zipped.size,
        etag=strong_etag(zipped.etag_id()),
        last_modified=max(f.created_at for f in link.files),
        content_type=ZIP_CONTENT_TYPE,
        file_name=link.bundle.title + ".zip",
        disposition="attachment",
        dates_validate=False,
    )
    asked = request_facts(request)
    outcome = plan_response(asked, facts, now=link.now, link_expires_at=link.expires_at)
    known = None
    if outcome.status == 206:   # HEAD too: it gets the headers GET would get
        assert outcome.window is not None
        known = await ctx.crcs.known(zipped.files)
        plan = zipped.crc_plan(outcome.window.start, outcome.window.end, known)
        if not plan.worth_serving(outcome.window.length):
            log.info("bundle %s (ZIP): bytes %d-%d would read %d bytes more for CRC-32s; sending it whole",
                     link.bundle.ref, outcome.window.start, outcome.window.end, plan.extra_bytes)
            outcome = plan_response(replace(asked, range=None), facts, now=link.now, link_expires_at=link.expires_at)
    if not outcome.send_body:
        return await send_headers_only(request, outcome)
    window = outcome.window
    assert window is not None
    if known is None:
        known = await ctx.crcs.known(zipped.files)
    chunks = zipped.stream(window.start, window.end, ctx.source, ctx.crcs, ZipPartsObserver(ctx), known)
    return await send_body(request, outcome, chunks, f"bundle {link.bundle.ref} (ZIP)")
