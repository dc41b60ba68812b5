"""Extended M3U playlists of stream links, and which files belong in them."""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from FileStream.core.mime import effective_mime_type, player_kind

# audio/x-mpegurl, not application/vnd.apple.mpegurl: the Apple type names HLS playlists
# (RFC 8216), and players that see it (ExoPlayer-based ones, Safari) try to read the file
# as HLS, which needs #EXT-X-TARGETDURATION and segments. audio/x-mpegurl is the type VLC,
# mpv, MX Player and desktop systems register for plain (extended) M3U playlists; the
# .m3u8 file name says the text is UTF-8.
M3U_CONTENT_TYPE = "audio/x-mpegurl"
M3U_EXTENSION = ".m3u8"


@dataclass(frozen=True, slots=True)
class PlaylistItem:
    title: str
    url: str
    duration: float | None = None   # seconds; unknown: -1 in the playlist


def is_playable(mime_type: str | None, file_name: str | None) -> bool:
    """True for audio and video: the files a playlist (and "Play all") holds."""
    return player_kind(effective_mime_type(mime_type, file_name)) in ("audio", "video")


def _one_line(text: str) -> str:
    # A line break in a title would start a new playlist line that players read as a URL.
    kept = "".join(" " if unicodedata.category(c) in ("Cc", "Zl", "Zp") else c for c in text or "")
    return " ".join(kept.split()) or "file"


def m3u_playlist(items: Sequence[PlaylistItem]) -> str:
    """`#EXTM3U`, then `#EXTINF:<seconds or -1>,<title>` and the URL for each item."""
    lines = ["#EXTM3U"]
    for item in items:
        if "\n" in item.url or "\r" in item.url:
            raise ValueError("a playlist URL cannot contain a line break")
        seconds = -1 if not item.duration or item.duration <= 0 else math.ceil(item.duration)
        lines.append(f"#EXTINF:{seconds},{_one_line(item.title)}")
        lines.append(item.url)
    return "\n".join(lines) + "\n"
