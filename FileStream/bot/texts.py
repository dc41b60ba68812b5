"""The words the bot says, in the person's language.

HTML parse mode: everything from people is escaped here.

Every text goes through the catalogs (FileStream/i18n.py): a function wraps its words in
`_()` / `ngettext()` with `{name}` placeholders filled by `.format()` after translation; a
fixed text goes in MESSAGES below, marked with `N_()`, and is read as `texts.NAME` (each read
translates it into the language of the update being answered). A plain string written here
is refused by tests/test_catalogs.py, which also says when a catalog lacks a text: run
`make messages`, then translate the new entries of FileStream/locales/*/LC_MESSAGES/messages.po.
"""

from __future__ import annotations

from datetime import datetime

from FileStream.core.formatting import escape_html
from FileStream.core.models import Bundle, StoredFile
from FileStream.core.usage import FileUsage
from FileStream.i18n import N_, _, date_time, duration, ngettext, size, time_left
from FileStream.services.links import BundleLinks, FileLinks

# The fixed texts, read as texts.NAME (module __getattr__ below translates them at each read).
# Never `from FileStream.bot.texts import NAME`: that would read it once, in English.
MESSAGES: dict[str, str] = {
    "HELP_FOR_NON_FILES": N_(
        "Send me a file (document, video, audio, voice, animation, video note, photo or sticker) and I will "
        "give you links to stream and download it. /help lists what else I can do."),
    "INTAKE_FAILED": N_("Something went wrong while storing your file. Please try again in a minute."),
    "FILE_NOT_FOUND": N_("That file is not available any more: its links have expired or were deleted."),
    # -- requests
    "NO_ACTIVE_REQUEST": N_("You have no file request in progress. Send me a file to start one."),
    "NOTHING_TO_REVOKE": N_("There is nothing to cancel: you have no file request in progress."),
    # -- files
    "NO_FILES": N_("You have no files with working links. Send me a file to get some."),
    "FILE_GONE": N_("That file is gone: every stored copy of it and the message it was sent in were deleted "
                    "from Telegram. Ask the person who shared it to send it again."),
    "FILE_NOT_NOW": N_("I could not fetch that file from Telegram just now. Please try again in a minute."),
    # A file migrated from FileStreamBot whose old file id Telegram refuses (short: also an alert).
    "FILE_CANNOT_BE_FETCHED": N_("This file can no longer be fetched: Telegram no longer accepts its id. "
                                 "Ask whoever shared it to send it to the bot again."),
    "FILE_NOT_READY": N_("Telegram is busy preparing this file. Please try again in a minute."),
    "NOT_YOUR_FILE": N_("That is not one of your files."),
    "DELETED": N_("Deleted."),
    # -- who may use the bot
    # ALLOWED_USERS is set and the person is not on the list: nothing of theirs is kept.
    "PRIVATE_BOT": N_("This is a private bot: only the people its owner chose can use it. "
                      "Nothing you send here is kept."),
    "BANNED": N_("You are banned from using this bot. Messages you send will be ignored."),
    "JOIN_FIRST": N_("Please join our channel first, then tap <b>I joined</b>."),
    "JOIN_STILL_MISSING": N_("You have not joined the channel yet."),
    "JOINED": N_("Thanks for joining! Send me a file to get its links."),
    # Said when the database cannot tell whether the person is banned: nothing is done for them.
    "TRY_AGAIN_SHORTLY": N_("I cannot serve you right now. Please try again in a minute."),
    # Said at most once a minute to a person whose messages come faster than the bot may answer
    # (Telegram lets a bot send about one message a second to one person).
    "SENDING_TOO_FAST": N_("You are sending messages faster than I can answer, so I am skipping some of them. "
                           "Please wait a few seconds, then send again what still needs an answer."),
    # A press on a button this bot does not make (an old keyboard, a client sending what it likes).
    "UNKNOWN_BUTTON": N_("That button no longer works."),
    # -- start and help
    "HELP_SEND_A_FILE": N_("Send me a file - get its stream and download links"),
    # -- bundles
    "NO_OPEN_BUNDLE": N_("You have no bundle open. /bundle starts one; then send the files and /done."),
    "BUNDLE_EMPTY": N_("Your bundle has no files yet. Send some, then /done (or /revoke to cancel it)."),
    "BUNDLE_STILL_STORING": N_("Your bundle is closed. I am still storing its last files; the links follow here."),
    "NOTHING_STORED": N_("None of the files could be stored, so there is no bundle. Please try again in a minute."),
    # -- /language
    "CHOOSE_LANGUAGE": N_("Which language shall I speak? Tap one."),
    "LANGUAGE_SET": N_("Done: I will speak English with you from now on."),
    # -- buttons
    "BUTTON_STREAM": N_("Stream"),
    "BUTTON_DOWNLOAD": N_("Download"),
    "BUTTON_ZIP": N_("Download all (ZIP)"),
    "BUTTON_PLAYLIST": N_("Playlist (M3U)"),
    "BUTTON_OPEN_BUNDLE": N_("Open the bundle"),
    "BUTTON_PREVIOUS": N_("« Previous"),
    "BUTTON_NEXT": N_("Next »"),
    "BUTTON_DELETE": N_("Delete"),
    "BUTTON_BACK_TO_FILES": N_("« Back to my files"),
    "BUTTON_BOT_LINK": N_("Bot link"),
    "BUTTON_FILE": N_("File"),
    "BUTTON_WHOLE_ALBUM": N_("Whole album"),
    "BUTTON_JOIN": N_("Join the channel"),
    "BUTTON_JOINED": N_("I joined"),
}


def __getattr__(name: str) -> str:
    """texts.NAME: the fixed text NAME in the language of the update being answered."""
    try:
        return _(MESSAGES[name])
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None


def expiry_phrase(file: StoredFile | Bundle, now: datetime) -> str:
    if file.expires_at is None:
        return _("These links do not expire.")
    left = max(0, int((file.expires_at - now).total_seconds()))
    return _("These links expire in {duration} (at {when} UTC).").format(
        duration=duration(left), when=date_time(file.expires_at))


def file_ready(file: StoredFile, links: FileLinks, now: datetime, *, show_download: bool = True) -> str:
    lines = [
        f"<b>{escape_html(file.file_name)}</b>",
        _("Size: {size}").format(size=size(file.file_size)),
        "",
        _("Stream: {url}").format(url=escape_html(links.watch)),
    ]
    if show_download:
        lines.append(_("Download: {url}").format(url=escape_html(links.download)))
    lines += ["", expiry_phrase(file, now)]
    return "\n".join(lines)


def links_expired(file: StoredFile) -> str:
    return (f"<b>{escape_html(file.file_name)}</b>\n\n"
            + _("These links have expired. Send the file again for new ones."))


# -- requests ---------------------------------------------------------------------------

_STATE_WORDS = {
    "processing": N_("Storing your file…"),
    "generating_link": N_("Making your links…"),
    "completed": N_("Done."),
    "failed": N_("Failed."),
    "revoked": N_("Cancelled at your request."),
    "timed_out": N_("Timed out."),
}
_STATE_NOUNS = {
    "processing": N_("storing your file"),
    "generating_link": N_("making your links"),
}


def state_words(state: str) -> str:
    words = _STATE_WORDS.get(str(state))
    return _(words) if words else str(state)


def request_progress(file_name: str, state: str) -> str:
    """The one status message of a request while it moves."""
    return (f"<b>{escape_html(file_name)}</b>\n\n{state_words(state)}\n\n"
            + _("/status shows where it stands, /revoke cancels it."))


def request_ended(file_name: str, state: str, reason: str = "") -> str:
    """The status message once the request ended without links."""
    line = state_words(state) + (f" {escape_html(reason)}" if reason else "")
    return f"<b>{escape_html(file_name)}</b>\n\n{line}\n\n" + _("Send the file again whenever you like.")


def busy(file_name: str, state: str) -> str:
    doing = _STATE_NOUNS.get(str(state))
    return _(
        "I am still working on <b>{file_name}</b> ({doing}). One file at a time, please: /status shows where "
        "it stands, /revoke cancels it. Then send this file again."
    ).format(file_name=escape_html(file_name), doing=_(doing) if doing else state_words(state))


def request_status(file_name: str, state: str, since_seconds: float) -> str:
    """/status of a one-file request."""
    return _(
        "Your current request: <b>{file_name}</b>\nState: {state}\nStarted {duration} ago.\n\n/revoke cancels it."
    ).format(file_name=escape_html(file_name), state=state_words(state), duration=duration(since_seconds))


def revoked(file_name: str) -> str:
    return _("Cancelled your request for <b>{file_name}</b>. Nothing was kept.").format(
        file_name=escape_html(file_name))




# -- files ------------------------------------------------------------------------------

def files_page(total: int, page: int, pages: int) -> str:
    return ngettext(
        "<b>Your files</b>: {count} file with working links (page {page} of {pages}).\nTap one for its links.",
        "<b>Your files</b>: {count} files with working links (page {page} of {pages}).\nTap one for its links.",
        total,
    ).format(count=total, page=page + 1, pages=pages)


def usage_line(usage: FileUsage, now: datetime) -> str:
    """How much a file was used: downloads and plays started, bytes sent, last access."""
    if usage.last_access is None:
        return _("Not opened yet.")
    return _("Downloads and plays: {count} ({size} sent, last access {duration} ago)").format(
        count=usage.downloads, size=size(usage.bytes_served), duration=duration(now - usage.last_access))


def file_card(file: StoredFile, links: FileLinks, now: datetime, *, show_download: bool = True,
              usage: FileUsage | None = None) -> str:
    lines = [
        f"<b>{escape_html(file.file_name)}</b>",
        _("Size: {size}").format(size=size(file.file_size)),
        _("Time left: {time_left}").format(time_left=time_left(file.expires_at, now)),
    ]
    if usage is not None:
        lines.append(usage_line(usage, now))
    lines += [
        "",
        _("Stream: {url}").format(url=escape_html(links.watch)),
    ]
    if show_download:
        lines.append(_("Download: {url}").format(url=escape_html(links.download)))
    return "\n".join(lines)


def file_deleted(file_name: str) -> str:
    return _("Deleted <b>{file_name}</b>. Its links no longer work.").format(file_name=escape_html(file_name))








def traffic_limit_reached(limit_bytes: int, retry_after: int) -> str:
    """Told once a day when a person's links stop for the rest of it (TRAFFIC_LIMIT_MB)."""
    return _(
        "Your links have sent today's limit of {size}, so they stop working until midnight UTC "
        "(in {duration}). After that they work again as before."
    ).format(size=size(limit_bytes), duration=duration(retry_after))


# -- about ------------------------------------------------------------------------------

def about(version: str, uptime_seconds: float, bots: int, file_ttl: int, channel_file_ttl: int) -> str:
    def lifetime(seconds: int) -> str:
        return duration(seconds) if seconds > 0 else _("no expiry")

    return "\n".join([
        f"<b>FileStream</b> {escape_html(version)}",
        _("Up for {duration}").format(duration=duration(uptime_seconds)),
        _("Bots in the pool: {count}").format(count=bots),
        _("Link lifetime: {lifetime} (channel files: {channel_lifetime})").format(
            lifetime=lifetime(file_ttl), channel_lifetime=lifetime(channel_file_ttl)),
    ])


# -- bundles ----------------------------------------------------------------------------

def bundle_help(limit: int) -> str:
    return _(
        "Send the files for your bundle now, one after another (up to {limit}); I count them here. "
        "/done when you have sent them all gives you one link for all of them, /revoke cancels."
    ).format(limit=limit)


def album_title(count: int) -> str:
    """The title of an album's bundle when none of its files has a caption."""
    return ngettext("Album of {count} file", "Album of {count} files", count).format(count=count)


def stored_count(stored: int, received: int, failed: int = 0) -> str:
    """The "n of N stored" that a bundle's status message and /status show."""
    line = _("{stored} of {received} stored").format(stored=stored, received=received)
    return line + (_(", {failed} could not be stored").format(failed=failed) if failed else "")


def bundle_progress(title: str, stored: int, received: int, failed: int, *, collecting: bool, limit: int) -> str:
    """The one status message of a bundle while it is filled and stored."""
    head = f"<b>{escape_html(title)}</b>\n\n"
    count = stored_count(stored, received, failed) + "."
    if collecting:
        return head + count + "\n\n" + bundle_help(limit)
    return head + _("Storing your files: {count}\n\n/status shows where it stands, /revoke cancels it.").format(
        count=count)


def bundle_closed(title: str, stored: int, received: int, failed: int) -> str:
    return (f"<b>{escape_html(title)}</b>\n\n{stored_count(stored, received, failed)}. "
            + _("Closed: its links are in the next message."))


def bundle_full(limit: int) -> str:
    return _("Your bundle is full ({limit} files). /done gives you its links; this file was not added.").format(
        limit=limit)


def _bundle_size_line(files: list[StoredFile], failed: int = 0) -> str:
    count = len(files)
    line = ngettext("{count} file, {size}", "{count} files, {size}", count).format(
        count=count, size=size(sum(f.file_size for f in files)))
    return line + (" " + _("({failed} could not be stored)").format(failed=failed) if failed else "")


def bundle_ready(bundle: Bundle, links: BundleLinks, files: list[StoredFile], now: datetime, *,
                 failed: int = 0, playable: bool = True) -> str:
    lines = [
        f"<b>{escape_html(bundle.title)}</b>",
        _bundle_size_line(files, failed),
        "",
        _("Page: {url}").format(url=escape_html(links.page)),
        _("ZIP: {url}").format(url=escape_html(links.zip)),
    ]
    if playable:
        lines.append(_("Playlist: {url}").format(url=escape_html(links.playlist)))
    lines += ["", expiry_phrase(bundle, now)]
    return "\n".join(lines)


def bundle_status(title: str, stored: int, received: int, failed: int, collecting: bool, since_seconds: float) -> str:
    """/status of a bundle's request."""
    state = stored_count(stored, received, failed)
    if collecting:
        state += " " + _("(still taking files: /done when you have sent them all)")
    return _(
        "Your current request: bundle <b>{title}</b>\nState: {state}\nStarted {duration} ago.\n\n/revoke cancels it."
    ).format(title=escape_html(title), state=state, duration=duration(since_seconds))


def bundle_card(bundle: Bundle, links: BundleLinks, files: list[StoredFile], now: datetime,
                usage: FileUsage | None = None) -> str:
    """`usage`: the counts of its files together."""
    return "\n".join([
        f"<b>{escape_html(bundle.title)}</b>",
        _bundle_size_line(files),
        _("Time left: {time_left}").format(time_left=time_left(bundle.expires_at, now)),
        *([usage_line(usage, now)] if usage is not None else []),
        "",
        _("Page: {url}").format(url=escape_html(links.page)),
        _("ZIP: {url}").format(url=escape_html(links.zip)),
    ])


def bundle_deleted(title: str) -> str:
    return _("Deleted the bundle <b>{title}</b> and its files. Its links no longer work.").format(
        title=escape_html(title))


def bundle_links_expired(title: str) -> str:
    return (f"<b>{escape_html(title)}</b>\n\n"
            + _("These links have expired. Send the files again for new ones."))
