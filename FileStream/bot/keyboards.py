"""Inline keyboards the bot attaches to its messages (labels in the person's language, from bot/texts.py)."""

from __future__ import annotations

from pyrogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from FileStream.bot import texts
from FileStream.services.links import BundleLinks, FileLinks


def file_links_keyboard(links: FileLinks, *, show_download: bool = True) -> InlineKeyboardMarkup:
    row = [InlineKeyboardButton(texts.BUTTON_STREAM, url=links.watch)]
    if show_download:
        row.append(InlineKeyboardButton(texts.BUTTON_DOWNLOAD, url=links.download))
    return InlineKeyboardMarkup([row])


# Callback data: short prefixes, then one argument (Telegram allows 64 bytes).
FILES_PAGE = "files:"     # files:<page>
FILE_CARD = "file:"       # file:<file id>
FILE_DELETE = "del:"      # del:<file id>
BUNDLE_CARD = "bundle:"   # bundle:<bundle id>
BUNDLE_DELETE = "bdel:"   # bdel:<bundle id>
JOIN_RETRY = "joined"


def bundle_links_keyboard(links: BundleLinks, *, playable: bool = True) -> InlineKeyboardMarkup:
    row = [InlineKeyboardButton(texts.BUTTON_ZIP, url=links.zip)]
    if playable:
        row.append(InlineKeyboardButton(texts.BUTTON_PLAYLIST, url=links.playlist))
    return InlineKeyboardMarkup([[InlineKeyboardButton(texts.BUTTON_OPEN_BUNDLE, url=links.page)], row])


def files_page_keyboard(files, page: int, pages: int, bundles=()) -> InlineKeyboardMarkup:
    """A button per bundle (first) and per file of the page, then the page buttons."""
    rows = [[InlineKeyboardButton("🗂 " + _short(b.title), callback_data=BUNDLE_CARD + b.id)] for b in bundles]
    rows += [[InlineKeyboardButton(_short(f.file_name), callback_data=FILE_CARD + f.id)] for f in files]
    nav = []
    if page > 0:
        nav.append(InlineKeyboardButton(texts.BUTTON_PREVIOUS, callback_data=f"{FILES_PAGE}{page - 1}"))
    if page + 1 < pages:
        nav.append(InlineKeyboardButton(texts.BUTTON_NEXT, callback_data=f"{FILES_PAGE}{page + 1}"))
    if nav:
        rows.append(nav)
    return InlineKeyboardMarkup(rows)


def file_card_keyboard(file_id: str, links: FileLinks | None, *, show_download: bool = True) -> InlineKeyboardMarkup:
    """Stream and Download buttons when `links` is given (None: Telegram refuses their host), then Delete and Back."""
    rows = []
    if links is not None:
        row = [InlineKeyboardButton(texts.BUTTON_STREAM, url=links.watch)]
        if show_download:
            row.append(InlineKeyboardButton(texts.BUTTON_DOWNLOAD, url=links.download))
        rows.append(row)
    return InlineKeyboardMarkup([
        *rows,
        [InlineKeyboardButton(texts.BUTTON_DELETE, callback_data=FILE_DELETE + file_id)],
        [InlineKeyboardButton(texts.BUTTON_BACK_TO_FILES, callback_data=f"{FILES_PAGE}0")],
    ])


def bundle_card_keyboard(bundle_id: str, links: BundleLinks | None) -> InlineKeyboardMarkup:
    """The bundle's page and ZIP buttons when `links` is given (None: links as text only), then Delete and Back."""
    rows = [[InlineKeyboardButton(texts.BUTTON_OPEN_BUNDLE, url=links.page),
             InlineKeyboardButton(texts.BUTTON_ZIP, url=links.zip)]] if links is not None else []
    return InlineKeyboardMarkup([
        *rows,
        [InlineKeyboardButton(texts.BUTTON_DELETE, callback_data=BUNDLE_DELETE + bundle_id)],
        [InlineKeyboardButton(texts.BUTTON_BACK_TO_FILES, callback_data=f"{FILES_PAGE}0")],
    ])


def back_to_files() -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[InlineKeyboardButton(texts.BUTTON_BACK_TO_FILES, callback_data=f"{FILES_PAGE}0")]])


def channel_post_keyboard(links: FileLinks | None, bot_link: str, file_link: str,
                          bundle: BundleLinks | None = None) -> InlineKeyboardMarkup:
    """Stream and Download when `links` is given (GENERATE_DOWNLOAD_LINKS), then the deep links;
    a post of an album gets its bundle's button beside them."""
    rows = []
    if links is not None:
        rows.append([InlineKeyboardButton(texts.BUTTON_STREAM, url=links.watch),
                     InlineKeyboardButton(texts.BUTTON_DOWNLOAD, url=links.download)])
    rows.append([InlineKeyboardButton(texts.BUTTON_BOT_LINK, url=bot_link), InlineKeyboardButton(texts.BUTTON_FILE, url=file_link)])
    if bundle is not None:
        rows.append([InlineKeyboardButton(texts.BUTTON_WHOLE_ALBUM, url=bundle.page)])
    return InlineKeyboardMarkup(rows)


def join_keyboard(join_url: str | None) -> InlineKeyboardMarkup:
    rows = [[InlineKeyboardButton(texts.BUTTON_JOIN, url=join_url)]] if join_url else []
    rows.append([InlineKeyboardButton(texts.BUTTON_JOINED, callback_data=JOIN_RETRY)])
    return InlineKeyboardMarkup(rows)


def without_link_buttons(markup: InlineKeyboardMarkup) -> InlineKeyboardMarkup | None:
    """The same keyboard with its URL buttons left out; None when nothing is left."""
    rows = [[b for b in row if b.url is None] for row in markup.inline_keyboard]
    rows = [row for row in rows if row]
    return InlineKeyboardMarkup(rows) if rows else None


def _short(name: str, limit: int = 40) -> str:
    return name if len(name) <= limit else name[: limit - 1] + "…"
