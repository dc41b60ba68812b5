"""The HTML pages: the front page and the player page of a link."""

from __future__ import annotations

from aiohttp import web

from FileStream.core.formatting import download_url, human_size, stream_url, time_left
from FileStream.core.mime import effective_mime_type, player_kind
from FileStream.web.context import CONTEXT, render_page
from FileStream.web.links import LinkRefused, OpenLink, open_link


def _expiry_words(link: OpenLink) -> str:
    if link.expires_at is None:
        return "link never expires"
    return f"link expires in {time_left(link.expires_at, link.now)}"


async def index(request: web.Request) -> web.Response:
    """GET /: what this service is."""
    return render_page(request, "index.html")


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
    return render_page(
        request,
        "watch.html",
        file_name=file.file_name or "file",
        size=human_size(file.file_size),
        expiry=_expiry_words(link),
        mime_type=mime_type,
        kind=player_kind(mime_type),
        stream_url=media_url,
        download_url=download_url(ctx.public_url, link.token, file.file_name),
        vlc_url=f"vlc://{media_url}",
        # Android intent URL as MX Player documents it; the player picks the type up itself.
        mx_url=f"intent:{media_url}#Intent;package=com.mxtech.videoplayer.ad;type=video/*;end",
    )
