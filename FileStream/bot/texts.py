"""The words the bot says. HTML parse mode: everything from people is escaped here."""

from __future__ import annotations

from datetime import datetime

from FileStream.core.formatting import escape_html, human_duration, human_size, time_left
from FileStream.core.models import StoredFile
from FileStream.services.links import FileLinks

HELP_FOR_NON_FILES = (
    "Send me a file (document, video, audio, voice, animation, video note, photo or sticker) and I will give you "
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


# -- requests ---------------------------------------------------------------------------

_STATE_WORDS = {
    "processing": "Storing your file…",
    "generating_link": "Making your links…",
    "completed": "Done.",
    "failed": "Failed.",
    "revoked": "Cancelled at your request.",
    "timed_out": "Timed out.",
}


def state_words(state: str) -> str:
    return _STATE_WORDS.get(str(state), str(state))


def request_progress(file_name: str, state: str) -> str:
    """The one status message of a request while it moves."""
    return f"<b>{escape_html(file_name)}</b>\n\n{state_words(state)}\n\n/status shows where it stands, /revoke cancels it."


def request_ended(file_name: str, state: str, reason: str = "") -> str:
    """The status message once the request ended without links."""
    line = state_words(state) + (f" {escape_html(reason)}" if reason else "")
    return f"<b>{escape_html(file_name)}</b>\n\n{line}\n\nSend the file again whenever you like."


def busy(file_name: str, state: str) -> str:
    return (
        f"I am still working on <b>{escape_html(file_name)}</b> ({state_words(state).rstrip('.…').lower()}). "
        "One file at a time, please: /status shows where it stands, /revoke cancels it. "
        "Then send this file again."
    )


def request_status(file_name: str, state: str, since_seconds: float) -> str:
    return (
        f"Your current request: <b>{escape_html(file_name)}</b>\n"
        f"State: {state_words(state)}\n"
        f"Started {human_duration(since_seconds)} ago.\n\n"
        "/revoke cancels it."
    )


NO_ACTIVE_REQUEST = "You have no file request in progress. Send me a file to start one."
NOTHING_TO_REVOKE = "There is nothing to cancel: you have no file request in progress."


def revoked(file_name: str) -> str:
    return f"Cancelled your request for <b>{escape_html(file_name)}</b>. Nothing was kept."


# -- files ------------------------------------------------------------------------------

NO_FILES = "You have no files with working links. Send me a file to get some."
FILE_GONE = "That file is gone: its links expired or were deleted."
# A file migrated from FileStreamBot whose old file id Telegram refuses (short: also an alert).
FILE_CANNOT_BE_FETCHED = ("This file can no longer be fetched: Telegram no longer accepts its id. "
                          "Ask whoever shared it to send it to the bot again.")
FILE_NOT_READY = "Telegram is busy preparing this file. Please try again in a minute."
NOT_YOUR_FILE = "That is not one of your files."


def files_page(total: int, page: int, pages: int) -> str:
    noun = "file" if total == 1 else "files"
    return (
        f"<b>Your files</b>: {total} {noun} with working links (page {page + 1} of {pages}).\n"
        "Tap one for its links."
    )


def file_card(file: StoredFile, links: FileLinks, now: datetime, *, show_download: bool = True) -> str:
    lines = [
        f"<b>{escape_html(file.file_name)}</b>",
        f"Size: {human_size(file.file_size)}",
        f"Time left: {time_left(file.expires_at, now)}",
        "",
        f"Stream: {escape_html(links.watch)}",
    ]
    if show_download:
        lines.append(f"Download: {escape_html(links.download)}")
    return "\n".join(lines)


def file_deleted(file_name: str) -> str:
    return f"Deleted <b>{escape_html(file_name)}</b>. Its links no longer work."


# -- who may use the bot ----------------------------------------------------------------

BANNED = "You are banned from using this bot. Messages you send will be ignored."
JOIN_FIRST = "Please join our channel first, then tap <b>I joined</b>."
JOIN_STILL_MISSING = "You have not joined the channel yet."
JOINED = "Thanks for joining! Send me a file to get its links."


# -- about ------------------------------------------------------------------------------

def about(version: str, uptime_seconds: float, bots: int, file_ttl: int, channel_file_ttl: int) -> str:
    def lifetime(seconds: int) -> str:
        return human_duration(seconds) if seconds > 0 else "no expiry"

    return "\n".join([
        f"<b>FileStream</b> {escape_html(version)}",
        f"Up for {human_duration(uptime_seconds)}",
        f"Bots in the pool: {bots}",
        f"Link lifetime: {lifetime(file_ttl)} (channel files: {lifetime(channel_file_ttl)})",
    ])
