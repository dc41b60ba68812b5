"""Subtitles for the player: which file of an album is a video's subtitle file, and WebVTT cues moved in time."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import TypeVar

SUBTITLE_EXTENSIONS = (".srt", ".vtt", ".ass", ".ssa")
# A subtitle file larger than this is not a subtitle file (a film's are ~100 KB).
MAX_SUBTITLE_FILE_BYTES = 5 << 20

_TIMESTAMP = re.compile(r"(?:(\d+):)?(\d{2}):(\d{2})\.(\d{3})")
_CUE_TIMING = re.compile(r"^(\S+)\s+-->\s+(\S+)(.*)$")

T = TypeVar("T")


def _split_name(name: str) -> tuple[str, str]:
    base, dot, extension = name.rpartition(".")
    return (base, "." + extension.lower()) if dot and base else (name, "")


def is_subtitle_name(name: str) -> bool:
    return _split_name(name or "")[1] in SUBTITLE_EXTENSIONS


def sidecar_subtitles(video_name: str, others: Iterable[tuple[str, T]]) -> list[tuple[str, T]]:
    """The subtitle files among `others` (name, thing) that belong to `video_name`.

    movie.mp4 takes movie.srt, and movie.en.srt / movie.English.srt (a language after the
    base name, given back as the label); the comparison ignores case.
    """
    video_base = _split_name(video_name or "")[0].lower()
    found = []
    for name, thing in others:
        base, extension = _split_name(name or "")
        if extension not in SUBTITLE_EXTENSIONS or not video_base:
            continue
        if base.lower() == video_base:
            found.append(("", thing))
        elif base.lower().startswith(video_base + ".") and "." not in base[len(video_base) + 1:]:
            found.append((base[len(video_base) + 1:], thing))
    return found


def _seconds(stamp: str) -> float | None:
    match = _TIMESTAMP.fullmatch(stamp)
    if match is None:
        return None
    hours, minutes, seconds, millis = match.groups()
    return int(hours or 0) * 3600 + int(minutes) * 60 + int(seconds) + int(millis) / 1000


def _stamp(seconds: float) -> str:
    millis = max(0, round(seconds * 1000))
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}.{millis:03d}"


def shift_webvtt(text: str, offset: float) -> str:
    """WebVTT with every cue `offset` seconds earlier (a remux that starts at `offset` plays
    from time 0); cues that ended before it are dropped, those under way start at 0."""
    if offset <= 0:
        return text
    blocks = re.split(r"\n\s*\n", text.replace("\r\n", "\n"))
    kept: list[str] = []
    for block in blocks:
        lines = block.split("\n")
        timing_at = next((i for i, line in enumerate(lines) if "-->" in line), None)
        if timing_at is None:
            kept.append(block)
            continue
        match = _CUE_TIMING.match(lines[timing_at].strip())
        start = _seconds(match.group(1)) if match else None
        end = _seconds(match.group(2)) if match else None
        if start is None or end is None:
            kept.append(block)
            continue
        if end - offset <= 0:
            continue
        lines[timing_at] = f"{_stamp(start - offset)} --> {_stamp(end - offset)}{match.group(3)}"
        kept.append("\n".join(lines))
    return "\n\n".join(kept).rstrip("\n") + "\n"


def pick(items: Sequence[T], number: int) -> T | None:
    """The item at `number`, or None when there is no such (a URL asked for it)."""
    return items[number] if 0 <= number < len(items) else None
