"""The /play routes (a video remuxed to fragmented MP4 while streaming, and where a seek starts) and /sub (WebVTT subtitles)."""

from __future__ import annotations

import asyncio
import logging
import math

from aiohttp import web

from FileStream.core.http_plan import FILE_CSP, Outcome
from FileStream.core.ranges import ByteWindow
from FileStream.core.media_probe import MediaInfo, playback_for
from FileStream.core.models import StoredFile
from FileStream.core.subtitles import is_subtitle_name, pick, shift_webvtt
from FileStream.i18n import _, ngettext
from FileStream.web.context import CONTEXT, message_page
from FileStream.web.media_words import cannot_play_words
from FileStream.web.files import notify_observer, send_body
from FileStream.web.links import LinkRefused, OpenLink, open_link
from FileStream.web.ports import Remuxer

log = logging.getLogger(__name__)

# A remux has no length known in advance: its body is sent until the child ends.
_UNKNOWN_LENGTH = 1 << 62
# Like a file response: opened directly, a conversion or a subtitle track is a sandboxed page.
_NO_STORE = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
             "Content-Security-Policy": FILE_CSP}


def _number(request: web.Request, name: str, *, whole: bool = False) -> float | None:
    """A non-negative number from the query (absent: 0); None when it is not one."""
    raw = request.query.get(name, "0")
    try:
        value = int(raw) if whole else float(raw)
    except ValueError:
        return None
    return value if math.isfinite(value) and 0 <= value < 1e7 else None


async def _open_for_conversion(request: web.Request, title: str, words: str) -> tuple[OpenLink, Remuxer] | web.Response:
    """The open link and the converter, or the page that refuses the link or says (`title`,
    `words`) that this server converts nothing."""
    try:
        link = await open_link(request)
    except LinkRefused as refused:
        return refused.response
    remux = request.app[CONTEXT].remux
    if remux is None or not remux.available:
        return message_page(request, 404, title, words)
    return link, remux


async def _remuxable(request: web.Request) -> tuple[OpenLink, MediaInfo] | web.Response:
    """The open link and its video's probe, or the page that says why there is nothing to play."""
    opened = await _open_for_conversion(
        request, _("No converted stream"),
        _("This server does not convert videos for the browser. Use the download link."))
    if isinstance(opened, web.Response):
        return opened
    link, remux = opened
    info = await remux.media_info(link.file, link.token)
    if info is None:
        return _busy(request)
    if playback_for(info).mode == "none":
        return message_page(request, 415, _("This video cannot be played in the browser"),
                            cannot_play_words(playback_for(info)) or _("Download it or open it in VLC."))
    return link, info


def _busy(request: web.Request) -> web.Response:
    retry = str(request.app[CONTEXT].remux.busy_retry_after)
    return message_page(request, 503, _("All conversion places are busy"),
                        ngettext("Every place for converting videos is taken. Play the original file, "
                                 "or try again in {count} second.",
                                 "Every place for converting videos is taken. Play the original file, "
                                 "or try again in {count} seconds.", int(retry)).format(count=retry),
                        **{"Retry-After": retry})


async def play(request: web.Request) -> web.StreamResponse:
    """GET /play/{token}?t=<seconds>&audio=<n>: the video as fragmented MP4 from the keyframe at or
    before t (the player asks /play/{token}/start first), with audio track n."""
    start, audio = _number(request, "t"), _number(request, "audio", whole=True)
    if start is None or audio is None:
        return message_page(request, 400, _("Bad request"),
                            _("t must be a number of seconds and audio a track number."))
    found = await _remuxable(request)
    if isinstance(found, web.Response):
        return found
    link, info = found
    if info.audio and audio >= len(info.audio):
        return message_page(request, 404, _("No such audio track"), ngettext(
            "This video has {count} audio track.", "This video has {count} audio tracks.",
            len(info.audio)).format(count=len(info.audio)))
    ctx = request.app[CONTEXT]
    remux = ctx.remux
    try:
        slot = remux.reserve(ctx.fairness.slot_key(request))
    except Exception:   # RemuxBusy (the remux service is behind a port: its class is not imported here)
        return _busy(request)
    try:
        # No Range: a conversion is made as it is sent. Told so, a browser keeps reading one
        # connection instead of resuming at an offset later (which would start it again).
        headers = {"Content-Type": "video/mp4", "Accept-Ranges": "none", **_NO_STORE}
        outcome = Outcome(status=200, headers=headers, send_body=True,
                          window=ByteWindow(0, _UNKNOWN_LENGTH - 1))
        if request.method == "HEAD":
            response = web.StreamResponse(status=200, headers=headers)
            await response.prepare(request)
            await response.write_eof()
            return response
        file = link.file
        # A play from the start counts as one (like /stream from byte 0); the bytes sent count either way.
        notify_observer(ctx, "stream_started", file, 0 if start == 0 else 1, file.file_size - 1)
        return await send_body(
            request, outcome, remux.remux(slot, file, link.token, info, start=start, audio=int(audio)),
            f"remux of file {file.ref}", open_ended=True, failed_page=lambda error: _cannot_convert(request, error),
            finished=lambda sent, result: notify_observer(ctx, "stream_finished", file, sent, result))
    finally:
        slot.release()


def _cannot_convert(request: web.Request, error: BaseException | None) -> web.Response:
    log.info("remux gave no bytes: %s", error)
    return message_page(request, 422, _("This video could not be converted"),
                        _("The file could not be converted for the browser: it may be damaged. "
                          "Download it or open it in VLC."))


async def play_start(request: web.Request) -> web.Response:
    """GET /play/{token}/start?t=<seconds>: {"start": the keyframe time at or before t} as JSON."""
    wanted = _number(request, "t")
    if wanted is None:
        return message_page(request, 400, _("Bad request"), _("t must be a number of seconds."))
    found = await _remuxable(request)
    if isinstance(found, web.Response):
        return found
    link, info = found
    if info.duration is not None:
        wanted = min(wanted, info.duration)
    start = await request.app[CONTEXT].remux.keyframe_at(link.token, wanted, info)
    return web.json_response({"start": round(start, 3)}, headers=_NO_STORE)


async def subtitle(request: web.Request) -> web.Response:
    """GET /sub/{token}/{track}.vtt?shift=<seconds>: text subtitle track {track} of the video (or,
    for track "file", the subtitle file the token opens) as WebVTT, cues `shift` seconds earlier."""
    shift = _number(request, "shift")
    if shift is None:
        return message_page(request, 400, _("Bad request"), _("shift must be a number of seconds."))
    opened = await _open_for_conversion(request, _("No subtitles"), _("This server does not convert subtitles."))
    if isinstance(opened, web.Response):
        return opened
    link, remux = opened
    track = request.match_info["track"]
    try:
        if track == "file":
            if not is_subtitle_name(link.file.file_name):
                return message_page(request, 404, _("Not a subtitle file"),
                                    _("This link is not a subtitle file."))
            text = await remux.subtitle_file(link.file, link.token)
        else:
            text = await _embedded_track(request, link.file, link.token, track)
            if isinstance(text, web.Response):
                return text
    except asyncio.TimeoutError:
        return _busy(request)
    except Exception as error:  # noqa: BLE001 - ChildFailed: a damaged track, said in words
        log.info("file %s: subtitles not made: %s", link.file.ref, error)
        return message_page(request, 422, _("Subtitles could not be read"),
                            _("The subtitles of this file could not be converted for the browser."))
    return web.Response(text=shift_webvtt(text, shift), content_type="text/vtt", charset="utf-8",
                        headers=_NO_STORE)


async def _embedded_track(request: web.Request, file: StoredFile, token: str, track: str) -> str | web.Response:
    remux = request.app[CONTEXT].remux
    info = await remux.media_info(file, token)
    number = int(track) if track.isdigit() and len(track) < 4 else -1
    chosen = pick(info.subtitles, number) if info is not None else None
    if chosen is None or not chosen.is_text:
        return message_page(request, 404, _("No such subtitle track"),
                            _("This video has no text subtitle track by that number."))
    return await remux.subtitle_track(file, token, number)
