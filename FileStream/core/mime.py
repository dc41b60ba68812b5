"""Content types for served files: a trustworthy MIME type and whether a browser may render it inline."""

from __future__ import annotations

import mimetypes
import re

OCTET_STREAM = "application/octet-stream"

# type "/" subtype, both RFC 9110 tokens; parameters are dropped because Telegram never
# sends meaningful ones and a stray ";" would let a stored value smuggle header text.
_MIME_RE = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+/[A-Za-z0-9!#$%&'*+.^_`|~-]+$")

# Values that old bots and some clients store when they know nothing.
_MEANINGLESS = {"none/unknown", "unknown/unknown", "application/unknown", OCTET_STREAM}

# Rendering these inline cannot run script on our origin (with nosniff the browser trusts
# the type), so the stream URL may show them in the page. An exact list, not "video/*":
# a subtype a browser hands to a plug-in or some other renderer is never shown inline.
# Everything else, notably HTML, SVG, XML, JavaScript and PDF (which carries its own
# scripting), is an attachment.
_INLINE_EXACT = frozenset({
    "video/mp4", "video/webm", "video/ogg", "video/x-matroska", "video/quicktime", "video/mpeg",
    "video/3gpp", "video/x-m4v", "video/mp2t",
    "audio/mpeg", "audio/mp4", "audio/x-m4a", "audio/aac", "audio/ogg", "audio/opus", "audio/webm",
    "audio/wav", "audio/x-wav", "audio/wave", "audio/flac", "audio/x-flac", "audio/3gpp",
    "image/png", "image/jpeg", "image/gif", "image/webp", "image/avif", "image/bmp", "image/apng",
    "text/plain", "text/vtt",
})


def effective_mime_type(stored: str | None, file_name: str | None) -> str:
    """The Content-Type to send: the stored type if it means something, else a guess from the name."""
    value = (stored or "").strip().lower()
    if _MIME_RE.match(value) and value not in _MEANINGLESS:
        return value
    if file_name:
        guessed, _encoding = mimetypes.guess_type(file_name, strict=False)
        if guessed and _MIME_RE.match(guessed):
            return guessed.lower()
    return OCTET_STREAM


def is_inline_safe(mime_type: str) -> bool:
    """True when a browser may display this type on our origin without running anything."""
    return mime_type.lower() in _INLINE_EXACT


def player_kind(mime_type: str) -> str:
    """Which HTML element can preview the file: "video", "audio", "image" or "" (none)."""
    value = mime_type.lower()
    if value.startswith("video/"):
        return "video"
    if value.startswith("audio/"):
        return "audio"
    if value.startswith("image/") and is_inline_safe(value):
        return "image"
    return ""


# Leading bytes of the image formats Telegram uses for thumbnails (JPEG for photos and
# videos, WebP for stickers, PNG now and then).
_IMAGE_SIGNATURES = ((b"\xff\xd8\xff", "image/jpeg"), (b"\x89PNG\r\n\x1a\n", "image/png"))


def image_type(data: bytes) -> str | None:
    """The type of a JPEG, PNG or WebP image from its first bytes; None for anything else."""
    for signature, mime_type in _IMAGE_SIGNATURES:
        if data.startswith(signature):
            return mime_type
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None
