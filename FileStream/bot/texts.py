"""The words the bot says. HTML parse mode: everything from people is escaped here."""

from __future__ import annotations

from datetime import datetime

from FileStream.core.formatting import escape_html, human_duration, human_size
from FileStream.core.models import StoredFile
from FileStream.services.links import FileLinks

HELP_FOR_NON_FILES = (
    "Send me a file (document, video, audio, voice, animation or photo) and I will give you "
    "links to stream and download it. /help lists what else I can do."
)
INTAKE_FAILED = "Something went wrong while storing your file. Please try again in a minute."
FILE_NOT_FOUND = "That file is not available any more: its links have expired or were deleted."


def expiry_phrase(file: StoredFile, now: datetime) -> str:
    if file.expires_at is None:
        return "These links do not expire."
    left = max(0, int((file.expires_at - now).total_seconds()))
    when = file.expires_at.strftime("%Y-%m-%d %H:%M UTC")
    return f"These links expire in {human_duration(left)} (at {when})."


def file_ready(file: StoredFile, links: FileLinks, now: datetime, *, show_download: bool = True) -> str:
    lines = [
        f"<b>{escape_html(file.file_name)}</b>",
        f"Size: {human_size(file.file_size)}",
        "",
        f"Stream: {escape_html(links.watch)}",
    ]
    if show_download:
        lines.append(f"Download: {escape_html(links.download)}")
    lines += ["", expiry_phrase(file, now)]
    return "\n".join(lines)


def links_expired(file: StoredFile) -> str:
    return f"<b>{escape_html(file.file_name)}</b>\n\nThese links have expired. Send the file again for new ones."
