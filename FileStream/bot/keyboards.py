"""Inline keyboards the bot attaches to its messages."""

from __future__ import annotations

from pyrogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from FileStream.services.links import FileLinks


def file_links_keyboard(links: FileLinks, *, show_download: bool = True) -> InlineKeyboardMarkup:
    row = [InlineKeyboardButton("Stream", url=links.watch)]
    if show_download:
        row.append(InlineKeyboardButton("Download", url=links.download))
    return InlineKeyboardMarkup([row])
