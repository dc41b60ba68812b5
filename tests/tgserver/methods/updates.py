"""updates.*: subscribing a session to pushes, and a minimal getDifference."""

from __future__ import annotations

from pyrogram import raw

from .. import render
from ..world import now
from . import rpc


@rpc(raw.functions.updates.GetState)
async def get_state(ctx, q):
    # Telegram starts pushing updates to a session once it asked for the state.
    if not ctx.without_updates:
        ctx.server.subscribe(ctx.session)
    return raw.types.updates.State(pts=ctx.me.pts, qts=0, date=now(), seq=0, unread_count=0)


@rpc(raw.functions.updates.GetDifference)
async def get_difference(ctx, q):
    me = ctx.me
    events = [(pts, event) for pts, event in me.update_log if pts > q.pts]
    if not events:
        return raw.types.updates.DifferenceEmpty(date=now(), seq=0)
    peers = render.Peers(me)
    new_messages, other_updates = [], []
    for pts, event in events:
        if event.kind == "new" and event.message is not None:
            peers.add_message(event.message)
            new_messages.append(render.message(event.message, me))
        else:
            other_updates.append(render.update_for(event, me, peers))
    return raw.types.updates.Difference(
        new_messages=new_messages,
        new_encrypted_messages=[],
        other_updates=other_updates,
        chats=peers.raw_chats(),
        users=peers.raw_users(),
        state=raw.types.updates.State(pts=me.pts, qts=0, date=now(), seq=0, unread_count=0),
    )


@rpc(raw.functions.updates.GetChannelDifference)
async def get_channel_difference(ctx, q):
    from .common import readable_channel

    channel = readable_channel(ctx, q.channel)
    return raw.types.updates.ChannelDifferenceEmpty(pts=channel.pts, final=True, timeout=30)
