"""/allow and /disallow <id or @username>: the owner changes who may use a private bot (ALLOWED_USERS)."""

from __future__ import annotations

import logging

from FileStream.bot.context import BotContext
from FileStream.bot.owner.bans import who
from FileStream.bot.owner.guard import argument, on_owner_command
from FileStream.bot.replies import answer
from FileStream.config import parse_person
from FileStream.core.formatting import escape_html

log = logging.getLogger(__name__)

ALLOW_USAGE = ("Usage: /allow &lt;user id or @username&gt;, like /allow 123456789 or /allow @alice. "
               "The person may then use the bot.")
DISALLOW_USAGE = ("Usage: /disallow &lt;user id or @username&gt;, like /disallow 123456789 or /disallow @alice. "
                  "The person can then no longer use the bot.")
PUBLIC_MODE = ("\n\nNote: ALLOWED_USERS is empty, so the bot is open to everyone and this list is not used. "
               "Set ALLOWED_USERS (your own id is enough) to make the bot private.")


async def _named(ctx: BotContext, person: int | str) -> str:
    return await who(ctx, person) if isinstance(person, int) else escape_html(person)


def _mode_note(ctx: BotContext) -> str:
    return "" if ctx.settings.allowed_users else PUBLIC_MODE


async def on_allow(ctx: BotContext, client, message) -> None:
    person = parse_person(argument(message))
    if person is None:
        await answer(client, message, ALLOW_USAGE)
        return
    named = await _named(ctx, person)
    if not await ctx.db.allowed.allow(person, ctx.clock(), message.from_user.id):
        await answer(client, message, f"{named} was already allowed." + _mode_note(ctx))
        return
    log.info("Owner %s allowed %s", message.from_user.id, person)
    await answer(client, message, f"Allowed {named}: they can use the bot now." + _mode_note(ctx))


async def on_disallow(ctx: BotContext, client, message) -> None:
    person = parse_person(argument(message))
    if person is None:
        await answer(client, message, DISALLOW_USAGE)
        return
    if isinstance(person, int) and ctx.is_owner(person):
        await answer(client, message, "That is an owner of this bot; owners may always use it.")
        return
    # The person may be on the list by id and by @username: both entries go.
    entries: list[int | str] = [person]
    if isinstance(person, int):
        known = await ctx.db.users.get(person)
        if known is not None and known.username:
            entries.append(f"@{known.username.lower()}")
    else:
        entries += await ctx.db.users.ids_with_username(person[1:])
    named = await _named(ctx, person)
    if not await ctx.db.allowed.disallow(entries, ctx.clock(), message.from_user.id):
        await answer(client, message, f"{named} was not on the list." + _mode_note(ctx))
        return
    log.info("Owner %s disallowed %s", message.from_user.id, person)
    await answer(client, message, f"Removed {named} from the list: they can no longer use the bot."
                 + _mode_note(ctx))


def register(client, ctx: BotContext) -> None:
    on_owner_command(client, ctx, "allow", on_allow)
    on_owner_command(client, ctx, "disallow", on_disallow)
