"""Text for people and links: sizes, durations, Telegram-HTML escaping and link URLs."""

from __future__ import annotations

from datetime import datetime, timedelta
from urllib.parse import quote

_UNITS = ("KiB", "MiB", "GiB", "TiB")


def human_size(size: int) -> str:
    """`512 B`, `1.5 KiB`, `10.0 MiB`: binary units, one decimal above bytes."""
    if size < 1024:
        return f"{size} B"
    value = float(size)
    for unit in _UNITS:
        value /= 1024
        # Round first so 1023.95 KiB reads "1.0 MiB", not "1024.0 KiB".
        if round(value, 1) < 1024 or unit == _UNITS[-1]:
            return f"{value:.1f} {unit}"
    raise AssertionError("unreachable")


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def human_duration(span: timedelta | float | int) -> str:
    """`45 s`, `59 min`, `1 h 5 min`, `1 day 3 h`, `2 days`: the two largest units, rounded down."""
    seconds = int(span.total_seconds() if isinstance(span, timedelta) else span)
    seconds = max(seconds, 0)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return _plural(days, "day") + (f" {hours} h" if hours else "")
    if hours:
        return f"{hours} h" + (f" {minutes} min" if minutes else "")
    if minutes:
        return f"{minutes} min"
    return f"{secs} s"


def time_left(expires_at: datetime | None, now: datetime) -> str:
    """How long a link still works, in words: `never expires`, `expired`, or a duration."""
    if expires_at is None:
        return "never expires"
    left = expires_at - now
    if left.total_seconds() <= 0:
        return "expired"
    return human_duration(left)


def escape_html(text: str) -> str:
    """Escape text for Telegram's HTML parse mode (& < > and " for attribute values)."""
    return (
        text.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&quot;")
    )


def _path_name(file_name: str) -> str:
    # The name in a link is cosmetic (players and download managers show it), so it only
    # has to survive the trip: everything reserved is percent-encoded, and names that a
    # URL parser would treat as dot-segments ("." / "..") become "file".
    name = file_name.strip() if file_name else ""
    if not name.strip("."):
        name = "file"
    return quote(name, safe="")


def _base(public_url: str) -> str:
    return public_url.rstrip("/")


def stream_url(public_url: str, token: str, file_name: str) -> str:
    """Link that plays or shows the file in the browser (Content-Disposition: inline)."""
    return f"{_base(public_url)}/stream/{token}/{_path_name(file_name)}"


def download_url(public_url: str, token: str, file_name: str) -> str:
    """Link that saves the file (Content-Disposition: attachment)."""
    return f"{_base(public_url)}/dl/{token}/{_path_name(file_name)}"


def watch_url(public_url: str, token: str) -> str:
    """Link to the player page of a file."""
    return f"{_base(public_url)}/watch/{token}"


def bundle_url(public_url: str, token: str) -> str:
    """Link to a bundle's page: every file, Play all, the ZIP and the playlist."""
    return f"{_base(public_url)}/b/{token}"


def bundle_zip_url(public_url: str, token: str, title: str) -> str:
    """Link that downloads a whole bundle as one ZIP."""
    return f"{_base(public_url)}/b/{token}/zip/{_path_name(title + '.zip')}"


def bundle_playlist_url(public_url: str, token: str, title: str) -> str:
    """Link to a bundle's M3U playlist (the .m3u8 name tells players it is UTF-8)."""
    return f"{_base(public_url)}/b/{token}/m3u/{_path_name(title + '.m3u8')}"
