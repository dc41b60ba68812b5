"""/ban <user_id> [reason] and /unban <user_id>: the owner shuts a person out or lets them back."""

from __future__ import annotations

import logging

from FileStream.bot.context import BotContext
from FileStream.bot.owner.guard import argument, on_owner_command
from FileStream.bot.replies import answer
from FileStream.core.formatting import escape_html

log = logging.getLogger(__name__)

BAN_USAGE = "Usage: /ban &lt;user id&gt; [reason]. The user id is the person's numeric Telegram id."
UNBAN_USAGE = "Usage: /unban &lt;user id&gt;. The user id is the person's numeric Telegram id."
NO_REASON = "no reason given"
# The reason is stored and repeated in the answer, which Telegram limits to 4096 characters.
REASON_MAX = 500


def parse_user_id(text: str) -> int | None:
    """A positive Telegram user id, or None when `text` is not one."""
    text = text.strip()
    if not text.isascii() or not text.isdigit():
        return None
    user_id = int(text)
    return user_id if 0 < user_id < 1 << 53 else None


async def who(ctx: BotContext, user_id: int) -> str:
    """The person as HTML: their name and @username when the bot has seen them, and the id."""
    person = await ctx.db.users.get(user_id)
    if person is None or not (person.first_name or person.username):
        return f"user {user_id} (not seen by the bot yet)"
    name = escape_html(person.first_name or "")
    handle = f"@{escape_html(person.username)}, " if person.username else ""
    return f"{name} ({handle}id {user_id})".strip()


async def on_ban(ctx: BotContext, client, message) -> None:
    words = argument(message).split(maxsplit=1)
    user_id = parse_user_id(words[0]) if words else None
    if user_id is None:
        await answer(client, message, BAN_USAGE)
        return
    if ctx.is_owner(user_id):
        await answer(client, message, "That is an owner of this bot; owners cannot be banned.")
        return
    reason = words[1].strip() if len(words) > 1 else NO_REASON
    if len(reason) > REASON_MAX:
        await answer(client, message, f"The reason may be up to {REASON_MAX} characters long; that one has "
                                      f"{len(reason)}. Nobody was banned.")
        return
    person = await who(ctx, user_id)
    if not await ctx.db.users.ban(user_id, reason, ctx.clock()):
        await answer(client, message, f"{person} was already banned.")
        return
    log.info("Owner %s banned %s (%s)", message.from_user.id, user_id, reason)
    await answer(client, message, f"Banned {person}.\nReason: {escape_html(reason)}\n"
                                  f"They can no longer use the bot; /unban {user_id} lifts the ban.")


async def on_unban(ctx: BotContext, client, message) -> None:
    user_id = parse_user_id(argument(message))
    if user_id is None:
        await answer(client, message, UNBAN_USAGE)
        return
    person = await who(ctx, user_id)
    if not await ctx.db.users.unban(user_id):
        await answer(client, message, f"{person} is not banned.")
        return
    log.info("Owner %s lifted the ban of %s", message.from_user.id, user_id)
    await answer(client, message, f"Unbanned {person}. They can use the bot again.")


def register(client, ctx: BotContext) -> None:
    on_owner_command(client, ctx, "ban", on_ban)
    on_owner_command(client, ctx, "unban", on_unban)
