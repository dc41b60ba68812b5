"""bot.replies: a message whose link button Telegram refuses still goes out, without that button, in words."""

from __future__ import annotations

import logging

from pyrogram.errors import ButtonUrlInvalid
from pyrogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from FileStream.bot.keyboards import without_link_buttons
from FileStream.bot.replies import edit_now
from FileStream.core.button_urls import telegram_takes_button_url


class RefusingTelegram:
    """edit_message_text as Telegram answers it for a host it does not take in buttons."""

    def __init__(self):
        self.edits = []

    async def edit_message_text(self, chat_id, message_id, text, *, reply_markup=None, **_):
        urls = [b.url for row in (reply_markup.inline_keyboard if reply_markup else []) for b in row if b.url]
        if any(not telegram_takes_button_url(url) for url in urls):
            raise ButtonUrlInvalid()
        self.edits.append((text, reply_markup))
        return "edited"


async def test_a_refused_link_button_is_left_out_and_the_rest_of_the_message_goes(caplog):
    telegram = RefusingTelegram()
    markup = InlineKeyboardMarkup([
        [InlineKeyboardButton("Stream", url="http://files/watch/1")],
        [InlineKeyboardButton("Delete", callback_data="del:1")],
    ])
    caplog.set_level(logging.WARNING)
    assert await edit_now(telegram, 1, 2, "Stream: http://files/watch/1", markup=markup) == "edited"
    [(text, sent_markup)] = telegram.edits
    assert text == "Stream: http://files/watch/1"
    assert [[b.text for b in row] for row in sent_markup.inline_keyboard] == [["Delete"]]
    [said] = caplog.records
    assert "BUTTON_URL_INVALID" in said.getMessage() and said.exc_info is None


def test_a_keyboard_of_only_link_buttons_becomes_none():
    only_links = InlineKeyboardMarkup([[InlineKeyboardButton("Stream", url="http://files/watch/1")]])
    assert without_link_buttons(only_links) is None


def test_which_links_telegram_takes_in_buttons():
    assert telegram_takes_button_url("https://files.example.com/watch/x")
    assert telegram_takes_button_url("http://127.0.0.1:8080/watch/x")
    assert telegram_takes_button_url("tg://resolve?domain=filestream_bot")
    assert not telegram_takes_button_url("http://localhost:8080/watch/x")
    assert not telegram_takes_button_url("ftp://files.example.com/x")
    assert not telegram_takes_button_url("files.example.com/x")
