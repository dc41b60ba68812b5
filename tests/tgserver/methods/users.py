"""users.* and contacts.*: who is who."""

from __future__ import annotations

from pyrogram import raw

from .. import render
from ..errors import RpcFail
from ..world import Bot, Channel
from . import rpc
from .common import input_user


@rpc(raw.functions.users.GetFullUser)
async def get_full_user(ctx, q):
    account = input_user(ctx, q.id)
    bot_info = None
    if isinstance(account, Bot):
        bot_info = raw.types.BotInfo(
            user_id=account.id,
            description="",
            commands=[raw.types.BotCommand(command=c, description=d) for c, d in account.commands_for()],
        )
    full = raw.types.UserFull(
        id=account.id,
        settings=raw.types.PeerSettings(),
        notify_settings=raw.types.PeerNotifySettings(),
        common_chats_count=0,
        bot_info=bot_info,
    )
    return raw.types.users.UserFull(full_user=full, chats=[], users=[render.user(account, ctx.me)])


@rpc(raw.functions.users.GetUsers)
async def get_users(ctx, q):
    result = []
    for value in q.id:
        try:
            result.append(render.user(input_user(ctx, value), ctx.me))
        except RpcFail:
            result.append(raw.types.UserEmpty(id=getattr(value, "user_id", 0)))
    return result


@rpc(raw.functions.contacts.ResolveUsername)
async def resolve_username(ctx, q):
    found = ctx.world.by_username(q.username)
    if found is None:
        raise RpcFail(400, "USERNAME_NOT_OCCUPIED")
    if isinstance(found, Channel):
        return raw.types.contacts.ResolvedPeer(peer=raw.types.PeerChannel(channel_id=found.raw_id),
                                               chats=[render.channel(found, ctx.me)], users=[])
    return raw.types.contacts.ResolvedPeer(peer=raw.types.PeerUser(user_id=found.id), chats=[],
                                           users=[render.user(found, ctx.me)])


@rpc(raw.functions.account.UpdateStatus)
async def update_status(ctx, q):
    return True
