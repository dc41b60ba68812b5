"""The words the bot says. HTML parse mode: everything from people is escaped here."""

from __future__ import annotations

from datetime import datetime

from FileStream.core.formatting import escape_html, human_duration, human_size, time_left
from FileStream.core.models import Bundle, StoredFile
from FileStream.core.usage import FileUsage
from FileStream.services.links import BundleLinks, FileLinks

HELP_FOR_NON_FILES = (
    "Send me a file (document, video, audio, voice, animation, video note, photo or sticker) and I will give you "
    "links to stream and download it. /help lists what else I can do."
)
INTAKE_FAILED = "Something went wrong while storing your file. Please try again in a minute."
FILE_NOT_FOUND = "That file is not available any more: its links have expired or were deleted."
FILE_GONE = ("That file is gone: every stored copy of it and the message it was sent in were deleted "
             "from Telegram. Ask the person who shared it to send it again.")
FILE_NOT_NOW = "I could not fetch that file from Telegram just now. Please try again in a minute."


def expiry_phrase(file: StoredFile | Bundle, now: datetime) -> str:
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
    """/status of a one-file request."""
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


def usage_line(usage: FileUsage, now: datetime) -> str:
    """How much a file was used: downloads and plays started, bytes sent, last access."""
    if usage.last_access is None:
        return "Not opened yet."
    ago = human_duration(now - usage.last_access)
    return (f"Downloads and plays: {usage.downloads} ({human_size(usage.bytes_served)} sent, "
            f"last access {ago} ago)")


def file_card(file: StoredFile, links: FileLinks, now: datetime, *, show_download: bool = True,
              usage: FileUsage | None = None) -> str:
    lines = [
        f"<b>{escape_html(file.file_name)}</b>",
        f"Size: {human_size(file.file_size)}",
        f"Time left: {time_left(file.expires_at, now)}",
    ]
    if usage is not None:
        lines.append(usage_line(usage, now))
    lines += [
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
# Said when the database cannot tell whether the person is banned: nothing is done for them.
TRY_AGAIN_SHORTLY = "I cannot serve you right now. Please try again in a minute."
# A press on a button this bot does not make (an old keyboard, a client sending what it likes).
UNKNOWN_BUTTON = "That button no longer works."


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


# -- bundles ----------------------------------------------------------------------------

BUNDLE_HELP = (
    "Send the files for your bundle now, one after another (up to {limit}); I count them here. "
    "/done when you have sent them all gives you one link for all of them, /revoke cancels."
)
NO_OPEN_BUNDLE = "You have no bundle open. /bundle starts one; then send the files and /done."
BUNDLE_EMPTY = "Your bundle has no files yet. Send some, then /done (or /revoke to cancel it)."
BUNDLE_STILL_STORING = "Your bundle is closed. I am still storing its last files; the links follow here."
NOTHING_STORED = "None of the files could be stored, so there is no bundle. Please try again in a minute."


def stored_count(stored: int, received: int, failed: int = 0) -> str:
    """The "n of N stored" that a bundle's status message and /status show."""
    line = f"{stored} of {received} stored"
    return line + (f", {failed} could not be stored" if failed else "")


def bundle_progress(title: str, stored: int, received: int, failed: int, *, collecting: bool, limit: int) -> str:
    """The one status message of a bundle while it is filled and stored."""
    head = f"<b>{escape_html(title)}</b>\n\n"
    count = stored_count(stored, received, failed) + "."
    if collecting:
        return head + count + "\n\n" + BUNDLE_HELP.format(limit=limit)
    return head + f"Storing your files: {count}\n\n/status shows where it stands, /revoke cancels it."


def bundle_closed(title: str, stored: int, received: int, failed: int) -> str:
    return (f"<b>{escape_html(title)}</b>\n\n{stored_count(stored, received, failed)}. "
            "Closed: its links are in the next message.")


def bundle_full(limit: int) -> str:
    return f"Your bundle is full ({limit} files). /done gives you its links; this file was not added."


def bundle_ready(bundle: Bundle, links: BundleLinks, files: list[StoredFile], now: datetime, *,
                 failed: int = 0, playable: bool = True) -> str:
    count = len(files)
    lines = [
        f"<b>{escape_html(bundle.title)}</b>",
        f"{count} file{'' if count == 1 else 's'}, {human_size(sum(f.file_size for f in files))}"
        + (f" ({failed} could not be stored)" if failed else ""),
        "",
        f"Page: {escape_html(links.page)}",
        f"ZIP: {escape_html(links.zip)}",
    ]
    if playable:
        lines.append(f"Playlist: {escape_html(links.playlist)}")
    lines += ["", expiry_phrase(bundle, now)]
    return "\n".join(lines)


def bundle_status(title: str, stored: int, received: int, failed: int, collecting: bool, since_seconds: float) -> str:
    """/status of a bundle's request."""
    more = " (still taking files: /done when you have sent them all)" if collecting else ""
    return (
        f"Your current request: bundle <b>{escape_html(title)}</b>\n"
        f"State: {stored_count(stored, received, failed)}{more}\n"
        f"Started {human_duration(since_seconds)} ago.\n\n"
        "/revoke cancels it."
    )


def bundle_card(bundle: Bundle, links: BundleLinks, files: list[StoredFile], now: datetime,
                usage: FileUsage | None = None) -> str:
    """`usage`: the counts of its files together."""
    count = len(files)
    return "\n".join([
        f"<b>{escape_html(bundle.title)}</b>",
        f"{count} file{'' if count == 1 else 's'}, {human_size(sum(f.file_size for f in files))}",
        f"Time left: {time_left(bundle.expires_at, now)}",
        *([usage_line(usage, now)] if usage is not None else []),
        "",
        f"Page: {escape_html(links.page)}",
        f"ZIP: {escape_html(links.zip)}",
    ])


def bundle_deleted(title: str) -> str:
    return f"Deleted the bundle <b>{escape_html(title)}</b> and its files. Its links no longer work."


def bundle_links_expired(title: str) -> str:
    return f"<b>{escape_html(title)}</b>\n\nThese links have expired. Send the files again for new ones."
