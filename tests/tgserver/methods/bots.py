"""bots.*: command lists (kept per scope and language so tests can read them)."""

from __future__ import annotations

from pyrogram import raw

from ..errors import RpcFail
from ..world import Bot, BotCommands
from . import rpc


def _me_bot(ctx) -> Bot:
    if not isinstance(ctx.me, Bot):
        raise RpcFail(400, "USER_BOT_REQUIRED")
    return ctx.me


@rpc(raw.functions.bots.SetBotCommands)
async def set_bot_commands(ctx, q):
    bot = _me_bot(ctx)
    commands = [(c.command, c.description) for c in q.commands or []]
    bot.commands[(type(q.scope).__name__, q.lang_code)] = BotCommands(q.scope, q.lang_code, commands)
    ctx.world.notify()
    return True


@rpc(raw.functions.bots.GetBotCommands)
async def get_bot_commands(ctx, q):
    bot = _me_bot(ctx)
    return [raw.types.BotCommand(command=c, description=d)
            for c, d in bot.commands_for(type(q.scope).__name__, q.lang_code)]


@rpc(raw.functions.bots.ResetBotCommands)
async def reset_bot_commands(ctx, q):
    bot = _me_bot(ctx)
    bot.commands.pop((type(q.scope).__name__, q.lang_code), None)
    ctx.world.notify()
    return True


@rpc(raw.functions.bots.SetBotInfo, raw.functions.bots.SetBotMenuButton)
async def set_bot_info(ctx, q):
    _me_bot(ctx)
    return True
