"""messages.sendMultiMedia: an album (media group) sent by a client, one grouped_id for all its messages."""

from __future__ import annotations

from pyrogram import raw

from .. import render
from ..albums import album_refusal, post_album, send_album
from ..errors import RpcFail
from ..tl import normalize
from ..world import Channel, Event
from . import rpc
from .common import input_peer
from .messages import CAPTION_LENGTH_MAX, _check_can_send, input_media


@rpc(raw.functions.messages.SendMultiMedia)
async def send_multi_media(ctx, q):
    target = input_peer(ctx, q.peer)
    _check_can_send(ctx, target)
    singles = list(q.multi_media or [])
    for single in singles:
        if len(single.message or "") > CAPTION_LENGTH_MAX:
            raise RpcFail(400, "MEDIA_CAPTION_TOO_LONG")
    items = [(input_media(ctx, single.media), single.message or "") for single in singles]
    refusal = album_refusal([media.kind for media, _ in items])
    if refusal is not None:
        raise RpcFail(400, refusal)
    random_ids = [single.random_id for single in singles]
    me = ctx.me
    if isinstance(target, Channel):
        messages = post_album(ctx.world, target, me, items, random_ids=random_ids)
    else:
        messages = send_album(ctx.world, me, target, items, random_ids=random_ids)
    peers = render.Peers(me)
    updates = []
    for message, single in zip(messages, singles):
        message.entities = normalize(single.entities) or None
        peers.add_message(message)
        updates.append(raw.types.UpdateMessageID(id=message.id, random_id=message.random_id))
        rendered = render.message(message, me)
        if isinstance(target, Channel):
            updates.append(raw.types.UpdateNewChannelMessage(message=rendered, pts=target.pts, pts_count=1))
        else:
            pts = me.next_pts(Event("new", message=message))
            updates.append(raw.types.UpdateNewMessage(message=rendered, pts=pts, pts_count=1))
    return render.updates(updates, peers)
