"""The HTML pages: the front page, the player page of a link, and its poster image."""

from __future__ import annotations

import logging

from aiohttp import web
from markupsafe import Markup

from FileStream.core.formatting import download_url, stream_url
from FileStream.core.http_plan import FILE_CSP
from FileStream.core.media_probe import Playback, playback_for
from FileStream.i18n import _, size, time_left
from FileStream.core.mime import effective_mime_type, image_type, player_kind
from FileStream.core.models import StoredFile
from FileStream.core.subtitles import sidecar_subtitles
from FileStream.core.tokens import make_link_token
from FileStream.web.context import CONTEXT, message_page, render_page
from FileStream.web.links import LinkRefused, OpenLink, open_link

log = logging.getLogger(__name__)

# A file's thumbnail never changes, and its URL carries the link token: browsers may keep it.
THUMBNAIL_CACHE_CONTROL = "private, max-age=86400"


def _expiry_words(link: OpenLink) -> str:
    if link.expires_at is None:
        return _("link never expires")
    return _("link expires in {time_left}").format(time_left=time_left(link.expires_at, link.now))


async def index(request: web.Request) -> web.Response:
    """GET /: what this service is, and which bot to send files to."""
    bot_username = request.app[CONTEXT].bot_username
    bot_link = Markup('<a href="https://t.me/{0}">@{0}</a>').format(bot_username)
    return render_page(request, "index.html", bot_username=bot_username, bot_link=bot_link)


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
    player = await _video_player(request, link) if kind == "video" else _NO_PLAYER
    return render_page(
        request,
        "watch.html",
        file_name=file.file_name or "file",
        size=size(file.file_size),
        expiry=_expiry_words(link),
        mime_type=mime_type,
        kind=kind,
        thumb_url=thumb_url,
        stream_url=media_url,
        download_url=download_url(ctx.public_url, link.token, file.file_name),
        vlc_url=f"vlc://{media_url}",
        # Android intent URL as MX Player documents it; the player picks the type up itself.
        mx_url=f"intent:{media_url}#Intent;package=com.mxtech.videoplayer.ad;type=video/*;end",
        **player,
    )


# The first view of a video waits this long for its probe at most; a slower probe goes on and
# the next view has it (this one plays the file as stored).
PAGE_PROBE_WAIT_SECONDS = 10.0

# What the page shows of a video beyond the stored bytes (nothing, for other kinds).
_NO_PLAYER: dict = {
    "mode": "original", "play_url": "", "start_url": "", "duration": "", "cannot_play": "", "busy": "",
    "audio_tracks": [], "subtitle_tracks": [], "picture_subtitles": [], "styled_subtitles": False,
    "seek_limited": False, "remux_ready": False,
}


async def _video_player(request: web.Request, link: OpenLink) -> dict:
    """How the page plays the video: as stored, remuxed (/play), or not at all (said in words);
    its audio tracks, its subtitle tracks (inside the file, or a file beside it in its album)."""
    ctx = request.app[CONTEXT]
    remux = ctx.remux
    player = dict(_NO_PLAYER)
    if remux is None or not remux.available:
        return player
    info = await remux.media_info(link.file, link.token, wait=PAGE_PROBE_WAIT_SECONDS)
    playback: Playback = playback_for(info)
    player.update(
        play_url=f"/play/{link.token}", start_url=f"/play/{link.token}/start", remux_ready=True,
        duration=f"{info.duration:.3f}" if info is not None and info.duration else "",
        audio_tracks=[{"number": t.number, "label": t.label} for t in playback.audio],
        subtitle_tracks=[{"url": f"/sub/{link.token}/{t.number}.vtt", "label": t.label,
                          "language": t.language if t.language not in ("", "und") else ""}
                         for t in playback.subtitles],
        picture_subtitles=[t.label for t in playback.pictures],
        styled_subtitles=playback.styled,
        seek_limited=playback.mode == "remux" and not playback.seekable,
    )
    player["subtitle_tracks"] += await _album_subtitles(request, link)
    if playback.mode == "none":
        player.update(mode="none", cannot_play=playback.reason)
    elif playback.mode == "remux" and remux.busy:
        player.update(mode="original", busy=(
            f"All {remux.max_jobs} places for converting videos are busy, so this is the original file: "
            "it may play without sound or not at all. Reload the page in a minute to try again."))
    else:
        player["mode"] = playback.mode
    return player


async def _album_subtitles(request: web.Request, link: OpenLink) -> list[dict]:
    """Subtitle files sent with the video in one album or bundle, named like it (movie.mp4 + movie.srt)."""
    ctx = request.app[CONTEXT]
    file = link.file
    if not file.bundle_id or ctx.bundles is None:
        return []
    try:
        bundle = await ctx.bundles.get_bundle(file.bundle_id)
        if bundle is None:
            return []
        others = await ctx.bundles.get_files([i for i in bundle.file_ids if i != file.id])
    except Exception as exc:  # noqa: BLE001 - the video still plays without them
        log.warning("file %s: album subtitles not looked up: %r", file.ref, exc)
        return []
    live: list[tuple[str, StoredFile]] = [(f.file_name, f) for f in others.values() if not f.is_expired(link.now)]
    tracks = []
    for language, subtitle in sidecar_subtitles(file.file_name, live):
        token = make_link_token(ctx.link_secret, subtitle.id, subtitle.expires_at)
        tracks.append({"url": f"/sub/{token}/file.vtt", "label": language or subtitle.file_name,
                       "language": language.lower() if len(language) in (2, 3) else ""})
    return tracks


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
        return message_page(request, 502, _("The preview could not be fetched"),
                            _("Telegram did not deliver this preview just now. The file itself may still play."))
    mime_type = image_type(data) if data else None
    if mime_type is None:
        return message_page(request, 404, _("No preview"), _("This file has no preview image."))
    return web.Response(body=data, content_type=mime_type, headers={
        "Cache-Control": THUMBNAIL_CACHE_CONTROL,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Content-Security-Policy": FILE_CSP,
    })
