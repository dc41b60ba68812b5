"""The HTML pages: the front page, the player page of a link, and its poster image."""

from __future__ import annotations

import logging

from aiohttp import web

from FileStream.core.formatting import download_url, human_size, stream_url, time_left
from FileStream.core.http_plan import FILE_CSP
from FileStream.core.mime import effective_mime_type, image_type, player_kind
from FileStream.web.context import CONTEXT, message_page, render_page
from FileStream.web.links import LinkRefused, OpenLink, open_link

log = logging.getLogger(__name__)

# A file's thumbnail never changes, and its URL carries the link token: browsers may keep it.
THUMBNAIL_CACHE_CONTROL = "private, max-age=86400"


def _expiry_words(link: OpenLink) -> str:
    if link.expires_at is None:
        return "link never expires"
    return f"link expires in {time_left(link.expires_at, link.now)}"


async def index(request: web.Request) -> web.Response:
    """GET /: what this service is, and which bot to send files to."""
    return render_page(request, "index.html", bot_username=request.app[CONTEXT].bot_username)


async def watch(request: web.Request) -> web.Response:
    """GET /watch/{token}: name, size, an HTML5 player, and links to download or open elsewhere."""
    try:
        link = await open_link(request, legacy_shape=True)  # FileStreamBot's /watch/<ObjectId> too
    except LinkRefused as refused:
        return refused.response
    ctx = request.app[CONTEXT]
    file = link.file
    mime_type = effective_mime_type(file.mime_type, file.file_name)
    media_url = stream_url(ctx.public_url, link.token, file.file_name)
    kind = player_kind(mime_type)
    # Same origin as the page (a relative URL), so the CSP's img-src 'self' covers it.
    thumb_url = f"/thumb/{link.token}" if ctx.thumbnails is not None and kind in ("video", "audio") else ""
    return render_page(
        request,
        "watch.html",
        file_name=file.file_name or "file",
        size=human_size(file.file_size),
        expiry=_expiry_words(link),
        mime_type=mime_type,
        kind=kind,
        thumb_url=thumb_url,
        stream_url=media_url,
        download_url=download_url(ctx.public_url, link.token, file.file_name),
        vlc_url=f"vlc://{media_url}",
        # Android intent URL as MX Player documents it; the player picks the type up itself.
        mx_url=f"intent:{media_url}#Intent;package=com.mxtech.videoplayer.ad;type=video/*;end",
    )


async def thumbnail(request: web.Request) -> web.StreamResponse:
    """GET /thumb/{token}: the file's Telegram thumbnail (a video's poster, an audio cover)."""
    try:
        link = await open_link(request)
    except LinkRefused as refused:
        return refused.response
    ctx = request.app[CONTEXT]
    try:
        data = await ctx.thumbnails.thumbnail(link.file) if ctx.thumbnails is not None else None
    except Exception as exc:  # noqa: BLE001 - Telegram did not deliver it: the page still plays
        log.warning("file %s: thumbnail not fetched: %r", link.file.id, exc)
        return message_page(request, 502, "The preview could not be fetched",
                            "Telegram did not deliver this preview just now. The file itself may still play.")
    mime_type = image_type(data) if data else None
    if mime_type is None:
        return message_page(request, 404, "No preview", "This file has no preview image.")
    return web.Response(body=data, content_type=mime_type, headers={
        "Cache-Control": THUMBNAIL_CACHE_CONTROL,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Content-Security-Policy": FILE_CSP,
    })
