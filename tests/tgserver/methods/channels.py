"""channels.*: channel info, posts, admins. A bot sees a broadcast channel only as its admin."""

from __future__ import annotations

from pyrogram import raw

from .. import render
from ..errors import RpcFail
from ..tl import message_ids
from ..world import Account
from . import rpc
from .common import admin_channel, input_channel, input_peer, readable_channel


@rpc(raw.functions.channels.GetChannels)
async def get_channels(ctx, q):
    chats = []
    for value in q.id:
        chats.append(render.channel(readable_channel(ctx, value), ctx.me))
    return raw.types.messages.Chats(chats=chats)


@rpc(raw.functions.channels.GetFullChannel)
async def get_full_channel(ctx, q):
    channel = readable_channel(ctx, q.channel)
    full = raw.types.ChannelFull(
        id=channel.raw_id,
        about="",
        read_inbox_max_id=channel.last_message_id,
        read_outbox_max_id=channel.last_message_id,
        unread_count=0,
        chat_photo=raw.types.PhotoEmpty(id=0),
        notify_settings=raw.types.PeerNotifySettings(),
        bot_info=[],
        pts=channel.pts,
        participants_count=len(channel.members),
        admins_count=len(channel.admins),
    )
    return raw.types.messages.ChatFull(full_chat=full, chats=[render.channel(channel, ctx.me)], users=[])


@rpc(raw.functions.channels.GetMessages)
async def get_messages(ctx, q):
    me = ctx.me
    channel = readable_channel(ctx, q.channel)
    peers = render.Peers(me)
    peers.add_channel(channel)
    result = []
    for msg_id in message_ids(q.id):
        msg = channel.messages.get(msg_id)
        if msg is None or msg.deleted:
            result.append(raw.types.MessageEmpty(id=msg_id))
            continue
        peers.add_message(msg)
        result.append(render.message(msg, me))
    return raw.types.messages.ChannelMessages(pts=channel.pts, count=len(result), messages=result, topics=[],
                                              chats=peers.raw_chats(), users=peers.raw_users())


@rpc(raw.functions.channels.DeleteMessages)
async def delete_messages(ctx, q):
    channel = admin_channel(ctx, input_channel(ctx, q.channel))
    found = [channel.messages[i] for i in q.id or [] if i in channel.messages and not channel.messages[i].deleted]
    # Anyone's own posts; others' only with the right to delete messages.
    if any(m.sender is not ctx.me for m in found) and not channel.can(ctx.me, "delete_messages"):
        raise RpcFail(403, "MESSAGE_DELETE_FORBIDDEN")
    if found:
        ctx.world.delete(found, ctx.me)
    return raw.types.messages.AffectedMessages(pts=channel.pts, pts_count=len(found))


@rpc(raw.functions.channels.GetParticipant)
async def get_participant(ctx, q):
    me = ctx.me
    channel = readable_channel(ctx, q.channel)
    who = input_peer(ctx, q.participant)
    if not isinstance(who, Account):
        raise RpcFail(400, "USER_NOT_PARTICIPANT")
    ban = channel.banned.get(who.id)
    if ban is not None:  # kicked: Telegram keeps them as banned, not as "not a participant"
        kicker = ban.by or me
        participant = raw.types.ChannelParticipantBanned(
            peer=raw.types.PeerUser(user_id=who.id), kicked_by=kicker.id, date=ban.date, left=True,
            banned_rights=raw.types.ChatBannedRights(until_date=0, view_messages=True, send_messages=True))
        return raw.types.channels.ChannelParticipant(participant=participant, chats=[render.channel(channel, me)],
                                                     users=[render.user(who, me), render.user(kicker, me)])
    if not channel.is_member(who):  # never joined, or left
        raise RpcFail(400, "USER_NOT_PARTICIPANT")
    rights = channel.rights_of(who).raw() if channel.is_admin(who) else None
    if channel.creator is who:
        participant = raw.types.ChannelParticipantCreator(user_id=who.id, admin_rights=rights)
    elif channel.is_admin(who):
        promoter = channel.creator or who
        # is_self and inviter_id share one flag bit: both or neither.
        is_self = who is me
        participant = raw.types.ChannelParticipantAdmin(user_id=who.id, promoted_by=promoter.id, date=channel.date,
                                                        admin_rights=rights, is_self=is_self or None,
                                                        inviter_id=promoter.id if is_self else None)
    else:
        participant = raw.types.ChannelParticipant(user_id=who.id, date=channel.date)
    return raw.types.channels.ChannelParticipant(participant=participant, chats=[render.channel(channel, me)],
                                                 users=[render.user(who, me)])


@rpc(raw.functions.channels.ReadHistory)
async def read_history(ctx, q):
    readable_channel(ctx, q.channel)
    return True
