"""Resolving the Input* objects of requests into world objects, with Telegram's errors."""

from __future__ import annotations

from pyrogram import raw

from ..errors import RpcFail
from ..world import Account, Channel


def input_user(ctx, value) -> Account:
    if isinstance(value, raw.types.InputUserSelf):
        return ctx.me
    if isinstance(value, (raw.types.InputUser, raw.types.InputPeerUser)):
        account = ctx.world.account(value.user_id)
        if account is None or value.access_hash not in (0, account.access_hash):
            raise RpcFail(400, "USER_ID_INVALID")
        return account
    if isinstance(value, (raw.types.InputUserFromMessage, raw.types.InputPeerUserFromMessage)):
        account = ctx.world.account(value.user_id)
        if account is None:
            raise RpcFail(400, "USER_ID_INVALID")
        return account
    if isinstance(value, raw.types.InputPeerSelf):
        return ctx.me
    raise RpcFail(400, "USER_ID_INVALID")


def input_channel(ctx, value) -> Channel:
    if isinstance(value, (raw.types.InputChannel, raw.types.InputPeerChannel)):
        channel = ctx.world.channels.get(value.channel_id)
        # Bots may pass access_hash 0 for channels they know by id (pyrogram does).
        if channel is None or value.access_hash not in (0, channel.access_hash):
            raise RpcFail(400, "CHANNEL_INVALID")
        return channel
    if isinstance(value, (raw.types.InputChannelFromMessage, raw.types.InputPeerChannelFromMessage)):
        channel = ctx.world.channels.get(value.channel_id)
        if channel is None:
            raise RpcFail(400, "CHANNEL_INVALID")
        return channel
    raise RpcFail(400, "CHANNEL_INVALID")


def input_peer(ctx, value) -> Account | Channel:
    if isinstance(value, (raw.types.InputPeerChannel, raw.types.InputPeerChannelFromMessage)):
        return input_channel(ctx, value)
    if isinstance(value, (raw.types.InputPeerUser, raw.types.InputPeerUserFromMessage, raw.types.InputPeerSelf)):
        try:
            return input_user(ctx, value)
        except RpcFail:
            raise RpcFail(400, "PEER_ID_INVALID") from None
    raise RpcFail(400, "PEER_ID_INVALID")


def readable_channel(ctx, value) -> Channel:
    channel = input_channel(ctx, value)
    if not channel.can_read(ctx.me):
        raise RpcFail(400, "CHANNEL_PRIVATE")
    return channel


def admin_channel(ctx, channel: Channel) -> Channel:
    if not channel.can_read(ctx.me):
        raise RpcFail(400, "CHANNEL_PRIVATE")
    if not channel.is_admin(ctx.me):
        raise RpcFail(403, "CHAT_WRITE_FORBIDDEN")
    return channel


def posting_channel(ctx, channel: Channel) -> Channel:
    """A channel `ctx.me` may post in: an admin with the right to post messages."""
    admin_channel(ctx, channel)
    if not channel.can(ctx.me, "post_messages"):
        raise RpcFail(400, "CHAT_ADMIN_REQUIRED")
    return channel
