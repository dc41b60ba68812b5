"""auth.*: bot login, moving an authorization to another DC."""

from __future__ import annotations

import os

from pyrogram import raw

from .. import render
from ..errors import RpcFail
from . import rpc


@rpc(raw.functions.auth.ImportBotAuthorization, auth=False)
async def import_bot_authorization(ctx, q):
    bot = ctx.world.bot_by_token(q.bot_auth_token)
    if bot is None:
        raise RpcFail(400, "ACCESS_TOKEN_INVALID")
    if bot.home_dc != ctx.dc_id:
        raise RpcFail(303, f"USER_MIGRATE_{bot.home_dc}")
    ctx.auth_key.account = bot
    return raw.types.auth.Authorization(user=render.user(bot, bot))


@rpc(raw.functions.auth.ExportAuthorization)
async def export_authorization(ctx, q):
    if q.dc_id == ctx.dc_id or q.dc_id not in ctx.server.dcs:
        raise RpcFail(400, "DC_ID_INVALID")
    token = os.urandom(32)
    ctx.server.exported_authorizations[token] = (ctx.me, q.dc_id)
    return raw.types.auth.ExportedAuthorization(id=ctx.me.id, bytes=token)


@rpc(raw.functions.auth.ImportAuthorization, auth=False)
async def import_authorization(ctx, q):
    exported = ctx.server.exported_authorizations.pop(q.bytes, None)
    if exported is None or exported[0].id != q.id or exported[1] != ctx.dc_id:
        raise RpcFail(400, "AUTH_BYTES_INVALID")
    account = exported[0]
    ctx.auth_key.account = account
    return raw.types.auth.Authorization(user=render.user(account, account))


@rpc(raw.functions.auth.LogOut)
async def log_out(ctx, q):
    ctx.auth_key.account = None
    return raw.types.auth.LoggedOut()
