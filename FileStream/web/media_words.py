"""What the player says about a video, in the page's language: why it cannot play, and its tracks' names."""

from __future__ import annotations

from babel.core import get_global

from FileStream.core.media_probe import LANGUAGES, TRACK_NUMBER, Playback, Track
from FileStream.i18n import _, current


def cannot_play_words(playback: Playback) -> str:
    """Why the browser cannot play it ("" when it can). The probe's error is an English text
    marked in core (kept in the file's record), so it is translated here, where it is shown."""
    if not playback.why:
        return ""
    values = dict(playback.why_values)
    if "error" in values:
        values["error"] = _(values["error"])
    return _(playback.why).format(**values)


def language_name(tag: str) -> str:
    """A track's language tag (ISO 639-2 like "fre", or "fr") as the page's language names it
    (Babel's locale data: "Français" is "francés" in Spanish); "" for none or "und"."""
    code = tag.strip().lower()
    if code in ("", "und"):
        return ""
    babel_code = get_global("language_aliases").get(code, code)
    name = current().locale.languages.get(babel_code) or LANGUAGES.get(code) or tag.strip()
    # Babel writes names as they read mid-sentence ("francés"); a label starts with a capital.
    return name[:1].upper() + name[1:]


def track_label(track: Track) -> str:
    """What the page calls an audio or subtitle track: its language and title, else its number."""
    parts = [part for part in (language_name(track.language), track.title) if part]
    if len(parts) == 2 and parts[0].lower() == parts[1].lower():
        parts = parts[:1]
    return " · ".join(parts) if parts else _(TRACK_NUMBER).format(number=track.number + 1)
