"""Each update in the person's language, and /language to choose it.

The language they chose with /language, else their Telegram app's language when the bot
speaks it, else English.
"""

from __future__ import annotations

import logging

from pyrogram import filters
from pyrogram.handlers import CallbackQueryHandler, MessageHandler
from pyrogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from FileStream.bot import texts
from FileStream.bot.context import BotContext
from FileStream.bot.replies import answer, edit
from FileStream.bot.routing import data_starts_with, on_callback, on_message
from FileStream.i18n import LANGUAGES, Catalogs, english, speak

log = logging.getLogger(__name__)

# Before every other group (the gate's refusals are in the person's language too); it lets
# every update go on.
LANGUAGE_GROUP = -30
CHOOSE = "lang:"   # lang:<code>


async def speak_to(users, catalogs: Catalogs, user_id: int) -> None:
    """What follows (in this task) is in `user_id`'s language: for the jobs and notices that write
    to someone outside an update of theirs. A database that does not answer means English."""
    try:
        chosen, telegram_code = await users.language_of(user_id)
    except Exception as error:  # noqa: BLE001 - they are told in English rather than not at all
        log.warning("Could not look up the language of %s: %r", user_id, error)
        chosen = telegram_code = None
    speak(catalogs.pick(chosen, telegram_code))


def language_keyboard(catalogs: Catalogs) -> InlineKeyboardMarkup:
    codes = [code for code in LANGUAGES if code in catalogs.languages]
    rows = [codes[i:i + 2] for i in range(0, len(codes), 2)]
    return InlineKeyboardMarkup([[InlineKeyboardButton(LANGUAGES[code], callback_data=CHOOSE + code)
                                  for code in row] for row in rows])


async def on_language(ctx: BotContext, client, message) -> None:
    await answer(client, message, texts.CHOOSE_LANGUAGE, markup=language_keyboard(ctx.languages))


async def on_choice(ctx: BotContext, client, query) -> None:
    code = ctx.languages.supported(query.data[len(CHOOSE):])
    if code is None:
        await query.answer(texts.UNKNOWN_BUTTON)
        return
    await ctx.db.users.set_language(query.from_user.id, code)
    speak(ctx.languages.get(code))
    await query.answer()
    await edit(client, query.message.chat.id, query.message.id, texts.LANGUAGE_SET)


def register(client, ctx: BotContext) -> None:
    async def hear(_client, update) -> None:
        person = update.from_user
        if person is None or person.is_bot:   # channel posts and the like: English
            speak(english())
            return
        try:
            chosen, _stored_code = await ctx.db.users.language_of(person.id)
        except Exception as error:  # noqa: BLE001 - the app's language still says something
            log.debug("Could not look up the chosen language of %s: %r", person.id, error)
            chosen = None
        speak(ctx.languages.pick(chosen, person.language_code))

    async def hear_safely(client, update) -> None:
        try:
            await hear(client, update)
        except Exception:  # noqa: BLE001 - never in the way of the update
            log.exception("Choosing the language of an update failed")
            speak(english())

    client.add_handler(MessageHandler(hear_safely), LANGUAGE_GROUP)
    client.add_handler(CallbackQueryHandler(hear_safely), LANGUAGE_GROUP)
    on_message(client, ctx, on_language, filters.private & filters.command("language"))
    on_callback(client, ctx, on_choice, data_starts_with(CHOOSE))
