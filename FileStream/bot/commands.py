"""The command menus Telegram shows: one for everyone in each language, one per owner with the owner commands added."""

from __future__ import annotations

import logging

from pyrogram import filters
from pyrogram.handlers import MessageHandler
from pyrogram.types import BotCommand, BotCommandScopeChat, BotCommandScopeDefault

from FileStream.bot.context import BotContext
from FileStream.i18n import DEFAULT, N_, _, english, speak

log = logging.getLogger(__name__)

# The one list of commands: the menus and /help are both made from it.
EVERYONE: tuple[tuple[str, str], ...] = (
    ("start", N_("welcome, and open deep links")),
    ("help", N_("every command, one line each")),
    ("about", N_("version, uptime, bots and link lifetime")),
    ("files", N_("your files that still have working links")),
    ("status", N_("where your current file request stands")),
    ("revoke", N_("cancel your current file request")),
    ("bundle", N_("[name]: start a bundle; the files you send next share one link")),
    ("done", N_("close your bundle and get its links")),
    ("language", N_("choose the language I speak with you")),
)
# Owner-only: these stay in English.
OWNER: tuple[tuple[str, str], ...] = (
    ("botstats", "bot pool, requests, files and users"),
    ("ban", "<user_id> [reason]: stop someone using the bot"),
    ("unban", "<user_id>: let them back in"),
    ("allow", "<user_id or @username>: let someone use a private bot (ALLOWED_USERS)"),
    ("disallow", "<user_id or @username>: take someone off a private bot's list"),
    ("broadcast", "as a reply: copy that message to every user"),
    ("del", "<file id or link>: delete a file, or a bundle with its files, and end their links"),
    ("upload", "<path>: upload a file from UPLOAD_DIR"),
)


def help_lines(*, for_owner: bool) -> list[str]:
    """/help in the current language (the owner's commands in English)."""
    commands = [(name, _(description)) for name, description in EVERYONE] + list(OWNER if for_owner else ())
    return [f"/{name} - {description}" for name, description in commands]


def _menu(commands) -> list[BotCommand]:
    # The menu shows short descriptions; the argument hints stay in /help.
    return [BotCommand(name, description.split(": ", 1)[-1]) for name, description in commands]


def _translated(commands) -> list[tuple[str, str]]:
    return [(name, _(description)) for name, description in commands]


class CommandMenus:
    """Publishes the menus once the bot is up; an owner Telegram cannot resolve yet (they never
    wrote to the bot) gets theirs the first time they write.
    """

    def __init__(self, client, ctx: BotContext) -> None:
        self._client = client
        self._ctx = ctx
        self._owners_done: set[int] = set()

    async def publish(self) -> None:
        """The menu for everyone, in English for every app language and in each of ours for its own
        (Telegram shows the list of the app's language_code when there is one)."""
        for language in self._ctx.languages.languages.values():
            speak(language)
            code = "" if language.code == DEFAULT else language.code
            try:
                await self._client.set_bot_commands(_menu(_translated(EVERYONE)), scope=BotCommandScopeDefault(),
                                                    language_code=code)
            except Exception as error:  # noqa: BLE001 - the bot works without a menu
                log.warning("Could not register the command menu (%s) with Telegram: %s", code or "default", error)
        speak(english())
        for owner_id in self._ctx.settings.owner_ids:
            await self.publish_for_owner(owner_id, quiet=True)

    async def publish_for_owner(self, owner_id: int, *, quiet: bool = False) -> None:
        if owner_id in self._owners_done:
            return
        try:
            await self._client.set_bot_commands(_menu(EVERYONE + OWNER), scope=BotCommandScopeChat(owner_id))
        except Exception as error:  # noqa: BLE001
            level = logging.INFO if quiet else logging.WARNING
            log.log(level, "The owner command menu for %s is not set yet (%s); it will be once they write to the bot",
                    owner_id, error)
            return
        self._owners_done.add(owner_id)
        log.info("Owner command menu set for %s", owner_id)


# Before every other group, and it lets the message go on to its real handler.
WATCH_GROUP = -20


def register(client, ctx: BotContext) -> None:
    menus = CommandMenus(client, ctx)
    ctx.on_started.append(menus.publish)

    async def owner_wrote(_client, message) -> None:
        try:
            await menus.publish_for_owner(message.from_user.id)
        except Exception:  # noqa: BLE001 - never in the way of the owner's message
            log.exception("Setting the owner command menu failed")

    owners = filters.create(lambda _, __, m: m.from_user is not None and ctx.is_owner(m.from_user.id))
    client.add_handler(MessageHandler(owner_wrote, filters.private & owners), WATCH_GROUP)
