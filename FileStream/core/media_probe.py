"""What a video file holds (from ffprobe's JSON) and how a browser can play it: as stored, remuxed, or not at all."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Kept with the file record; bump when the shape changes so old records are probed again.
PROBE_VERSION = 1

# What Chromium, Firefox and Safari all decode (measured with Debian's Chromium: HEVC,
# AC-3, E-AC-3 and DTS do not play; Matroska plays H.264 but Media Source refuses it).
BROWSER_VIDEO = frozenset({"h264", "vp8", "vp9", "av1"})
BROWSER_AUDIO = frozenset({"aac", "mp3", "opus"})
# Containers a browser opens as they are, with the audio each may carry.
_AS_STORED = {
    "mp4": BROWSER_AUDIO | {"flac"},
    "webm": {"opus", "vorbis"},
}
TEXT_SUBTITLES = frozenset({"subrip", "srt", "ass", "ssa", "webvtt", "mov_text", "text"})
PICTURE_SUBTITLES = {"hdmv_pgs_subtitle": "PGS", "dvd_subtitle": "VobSub", "dvb_subtitle": "DVB"}
_VIDEO_NAMES = {"hevc": "HEVC (H.265)", "mpeg4": "MPEG-4 Part 2 (DivX/Xvid)", "mpeg2video": "MPEG-2",
                "vc1": "VC-1", "wmv3": "WMV", "msmpeg4v3": "DivX 3", "h263": "H.263", "prores": "ProRes"}
LANGUAGES = {
    "eng": "English", "fre": "French", "fra": "French", "ger": "German", "deu": "German", "spa": "Spanish",
    "ita": "Italian", "por": "Portuguese", "rus": "Russian", "ukr": "Ukrainian", "pol": "Polish",
    "dut": "Dutch", "nld": "Dutch", "swe": "Swedish", "nor": "Norwegian", "dan": "Danish", "fin": "Finnish",
    "tur": "Turkish", "ara": "Arabic", "per": "Persian", "fas": "Persian", "heb": "Hebrew", "hin": "Hindi",
    "ben": "Bengali", "tam": "Tamil", "tel": "Telugu", "mal": "Malayalam", "jpn": "Japanese",
    "kor": "Korean", "chi": "Chinese", "zho": "Chinese", "vie": "Vietnamese", "tha": "Thai", "ind": "Indonesian",
    "may": "Malay", "msa": "Malay", "gre": "Greek", "ell": "Greek", "cze": "Czech", "ces": "Czech",
    "hun": "Hungarian", "rum": "Romanian", "ron": "Romanian", "bul": "Bulgarian",
}


@dataclass(frozen=True, slots=True)
class Track:
    """One audio or subtitle track: `number` counts tracks of its kind from 0 (ffmpeg's a:N / s:N)."""

    number: int
    codec: str
    language: str = ""
    title: str = ""
    default: bool = False

    @property
    def label(self) -> str:
        """What the page calls the track: its language and title, else its number."""
        language = LANGUAGES.get(self.language.lower(), self.language if self.language.lower() not in ("", "und") else "")
        parts = [part for part in (language, self.title) if part]
        if len(parts) == 2 and parts[0].lower() == parts[1].lower():
            parts = parts[:1]
        return " · ".join(parts) if parts else f"Track {self.number + 1}"

    @property
    def is_text(self) -> bool:
        return self.codec in TEXT_SUBTITLES

    @property
    def is_styled(self) -> bool:
        return self.codec in ("ass", "ssa")


@dataclass(frozen=True, slots=True)
class MediaInfo:
    """The probe of one file, kept with its record (`to_doc` / `from_doc`)."""

    ok: bool                        # False: ffprobe found no playable video (garbage, cut, absurd)
    container: str = ""             # "mp4", "matroska", "webm", ...
    duration: float | None = None   # seconds
    video: str = ""                 # codec name of the first video track; "" when none
    audio: tuple[Track, ...] = ()
    subtitles: tuple[Track, ...] = ()
    has_index: bool = False         # Matroska Cues / MP4 moov: seeking costs a few blocks
    error: str = ""                 # why ok is False, in words
    keyframes: tuple[float, ...] = ()   # seconds, from the index (core.media_index); () when not read
    version: int = PROBE_VERSION

    def to_doc(self) -> dict[str, Any]:
        return {
            "ok": self.ok, "container": self.container, "duration": self.duration, "video": self.video,
            "audio": [_track_doc(t) for t in self.audio], "subtitles": [_track_doc(t) for t in self.subtitles],
            "has_index": self.has_index, "error": self.error, "version": self.version,
            "keyframes": list(self.keyframes),
        }

    @classmethod
    def from_doc(cls, doc: Any) -> MediaInfo | None:
        """The probe kept in a record; None when there is none or it is of an older shape."""
        if not isinstance(doc, dict) or doc.get("version") != PROBE_VERSION:
            return None
        try:
            return cls(ok=bool(doc["ok"]), container=str(doc["container"]), duration=doc["duration"],
                       video=str(doc["video"]), audio=tuple(Track(**t) for t in doc["audio"]),
                       subtitles=tuple(Track(**t) for t in doc["subtitles"]), has_index=bool(doc["has_index"]),
                       error=str(doc["error"]), keyframes=tuple(float(t) for t in doc.get("keyframes") or ()))
        except (KeyError, TypeError, ValueError):
            return None


def _track_doc(track: Track) -> dict[str, Any]:
    return {"number": track.number, "codec": track.codec, "language": track.language, "title": track.title,
            "default": track.default}


def _container(format_name: str) -> str:
    names = format_name.split(",")
    if "matroska" in names:
        return "matroska"   # ffprobe calls WebM "matroska,webm"; the codecs tell them apart
    if "mp4" in names or "mov" in names:
        return "mp4"
    return names[0] if names and names[0] else ""


def _duration(value: Any) -> float | None:
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return None
    return seconds if 0 < seconds < 1e7 else None


def _tags(stream: dict) -> dict[str, str]:
    tags = stream.get("tags") if isinstance(stream.get("tags"), dict) else {}
    return {str(k).lower(): str(v) for k, v in tags.items()}


def parse_probe(report: Any, *, has_index: bool, keyframes: tuple[float, ...] = ()) -> MediaInfo:
    """The MediaInfo of ffprobe's `-show_format -show_streams -of json` report.

    `has_index`: the container's index was found (Matroska Cues; an MP4 always has its moov);
    `keyframes`: the keyframe times read from it.
    """
    if not isinstance(report, dict):
        return MediaInfo(ok=False, error="the file could not be read as a video")
    streams = [s for s in report.get("streams") or [] if isinstance(s, dict)]
    fmt = report.get("format") if isinstance(report.get("format"), dict) else {}
    video = next((s for s in streams if s.get("codec_type") == "video"
                  and not (s.get("disposition") or {}).get("attached_pic")), None)
    if video is None:
        return MediaInfo(ok=False, error="no video track was found in the file")
    packets = report.get("packets")
    if isinstance(packets, list) and not any(
            isinstance(p, dict) and p.get("stream_index") == video.get("index") for p in packets):
        return MediaInfo(ok=False, error="no picture could be read from it (it is cut short or damaged)")
    audio, subtitles = [], []
    for stream in streams:
        kind = stream.get("codec_type")
        if kind not in ("audio", "subtitle"):
            continue
        tags = _tags(stream)
        group = audio if kind == "audio" else subtitles
        group.append(Track(number=len(group), codec=str(stream.get("codec_name") or "unknown"),
                           language=tags.get("language", "")[:16], title=tags.get("title", "")[:80],
                           default=bool((stream.get("disposition") or {}).get("default"))))
    container = _container(str(fmt.get("format_name") or ""))
    video_codec = str(video.get("codec_name") or "unknown")
    if container == "matroska" and video_codec in ("vp8", "vp9", "av1") and all(
            t.codec in ("opus", "vorbis") for t in audio):
        container = "webm"
    return MediaInfo(ok=True, container=container, duration=_duration(fmt.get("duration")), video=video_codec,
                     audio=tuple(audio), subtitles=tuple(subtitles),
                     has_index=has_index or container == "mp4", keyframes=keyframes)


@dataclass(frozen=True, slots=True)
class Playback:
    """How the watch page plays a video: `mode` is "original", "remux" or "none" (cannot play)."""

    mode: str
    reason: str = ""                      # for "none": why, in words
    audio: tuple[Track, ...] = ()
    subtitles: tuple[Track, ...] = ()     # text tracks, shown as WebVTT
    pictures: tuple[Track, ...] = field(default=())   # picture subtitles: listed, not shown
    styled: bool = False                  # some text track is ASS/SSA: its styling is dropped
    seekable: bool = True


def codec_words(codec: str) -> str:
    return _VIDEO_NAMES.get(codec, codec.upper())


def playback_for(info: MediaInfo | None) -> Playback:
    """Whether the browser gets the stored bytes, a remux, or an honest "cannot play"."""
    if info is None:
        return Playback(mode="original")
    if not info.ok:
        return Playback(mode="none", reason=f"This file cannot be played in the browser: {info.error}.")
    text = tuple(t for t in info.subtitles if t.is_text)
    pictures = tuple(t for t in info.subtitles if t.codec in PICTURE_SUBTITLES)
    common = dict(audio=info.audio, subtitles=text, pictures=pictures, styled=any(t.is_styled for t in text),
                  seekable=info.has_index)
    if info.video not in BROWSER_VIDEO:
        return Playback(mode="none", **common, reason=(
            f"Browsers cannot play {codec_words(info.video)} video. Open it in VLC or MX Player, "
            "or download it."))
    playable_audio = _AS_STORED.get(info.container)
    first_audio_ok = not info.audio or (playable_audio is not None and info.audio[0].codec in playable_audio)
    if playable_audio is not None and first_audio_ok:
        return Playback(mode="original", **common)
    return Playback(mode="remux", **common)


def audio_is_copied(codec: str) -> bool:
    """Audio a browser plays goes into the remux as it is; anything else becomes AAC."""
    return codec in BROWSER_AUDIO
