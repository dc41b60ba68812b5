"""updates.*: subscribing a session to pushes, and the differences a client that was away asks for."""

from __future__ import annotations

from pyrogram import raw

from .. import render
from ..world import now
from . import rpc
from .common import readable_channel


@rpc(raw.functions.updates.GetState)
async def get_state(ctx, q):
    # Telegram starts pushing updates to a session once it asked for the state.
    if not ctx.without_updates:
        ctx.server.subscribe(ctx.session)
    return _state(ctx.me.pts)


def _state(pts: int) -> raw.types.updates.State:
    return raw.types.updates.State(pts=pts, qts=0, date=now(), seq=0, unread_count=0)


def _split(events, viewer, peers) -> tuple[list, list]:
    """Telegram's two lists: new messages (still there), and every other update."""
    new_messages, other_updates = [], []
    for _, event in events:
        if event.kind == "new" and event.message is not None:
            if event.message.deleted:
                continue
            peers.add_message(event.message)
            new_messages.append(render.message(event.message, viewer))
        else:
            other_updates.append(render.update_for(event, viewer, peers))
    return new_messages, other_updates


@rpc(raw.functions.updates.GetDifference)
async def get_difference(ctx, q):
    """What the account missed since `q.pts`: a Difference, a DifferenceSlice of the first
    `server.difference_limit` updates (the client asks again from its intermediate state), or
    DifferenceTooLong when the server no longer keeps that far back."""
    me = ctx.me
    log = me.update_log
    # Ahead of the server (a session from another world) or older than what is kept: start over.
    if q.pts > me.pts or (log and q.pts < log[0][0] - 1):
        return raw.types.updates.DifferenceTooLong(pts=me.pts)
    events = [(pts, event) for pts, event in log if pts > q.pts]
    if not events:
        return raw.types.updates.DifferenceEmpty(date=now(), seq=0)
    peers = render.Peers(me)
    limit = ctx.server.difference_limit
    if len(events) > limit:
        events = events[:limit]
        new_messages, other_updates = _split(events, me, peers)
        return raw.types.updates.DifferenceSlice(
            new_messages=new_messages, new_encrypted_messages=[], other_updates=other_updates,
            chats=peers.raw_chats(), users=peers.raw_users(), intermediate_state=_state(events[-1][0]))
    new_messages, other_updates = _split(events, me, peers)
    return raw.types.updates.Difference(
        new_messages=new_messages, new_encrypted_messages=[], other_updates=other_updates,
        chats=peers.raw_chats(), users=peers.raw_users(), state=_state(me.pts))


@rpc(raw.functions.updates.GetChannelDifference)
async def get_channel_difference(ctx, q):
    """What a channel's reader missed since `q.pts`, or "too long" beyond the limit (the
    client then goes on from the channel's pts: those posts are lost to it, as on Telegram)."""
    channel = readable_channel(ctx, q.channel)
    me = ctx.me
    log = channel.update_log
    events = [(pts, event) for pts, event in log if pts > q.pts and channel.can_read(me)]
    if not events or q.pts > channel.pts:
        return raw.types.updates.ChannelDifferenceEmpty(pts=channel.pts, final=True, timeout=30)
    limit = min(ctx.server.channel_difference_limit, max(1, q.limit or 1))
    if len(events) > limit or (log and q.pts < log[0][0] - 1):
        peers = render.Peers(me)
        peers.add_channel(channel)
        latest = [m for m in channel.messages.values() if not m.deleted][-1:]
        for message in latest:
            peers.add_message(message)
        dialog = raw.types.Dialog(
            peer=raw.types.PeerChannel(channel_id=channel.raw_id), top_message=channel.last_message_id,
            read_inbox_max_id=channel.last_message_id, read_outbox_max_id=channel.last_message_id,
            unread_count=0, unread_mentions_count=0, unread_reactions_count=0, unread_poll_votes_count=0,
            notify_settings=raw.types.PeerNotifySettings(), pts=channel.pts)
        return raw.types.updates.ChannelDifferenceTooLong(
            dialog=dialog, messages=[render.message(m, me) for m in latest], chats=peers.raw_chats(),
            users=peers.raw_users(), final=True, timeout=30)
    peers = render.Peers(me)
    peers.add_channel(channel)
    new_messages, other_updates = _split(events, me, peers)
    return raw.types.updates.ChannelDifference(
        pts=channel.pts, new_messages=new_messages, other_updates=other_updates,
        chats=peers.raw_chats(), users=peers.raw_users(), final=True, timeout=30)
