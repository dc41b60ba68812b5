"""World objects as the raw TL a given account receives (users, channels, messages, media, updates)."""

from __future__ import annotations

from typing import Any, Iterable

from pyrogram import raw

from .world import Account, Bot, Channel, Document, Event, Message, Photo, PrivateChat, now

def user(account: Account, viewer: Account | None) -> raw.types.User:
    is_bot = isinstance(account, Bot)
    return raw.types.User(
        id=account.id,
        is_self=viewer is account or None,
        bot=is_bot or None,
        bot_nochats=is_bot or None,
        access_hash=account.access_hash,
        first_name=account.first_name,
        last_name=account.last_name,
        username=account.username,
        bot_info_version=1 if is_bot else None,
        status=None if is_bot else raw.types.UserStatusRecently(),
        lang_code=getattr(account, "lang_code", None),
    )


def channel(ch: Channel, viewer: Account | None) -> raw.base.Chat:
    rights = ch.rights_of(viewer) if viewer is not None else None
    if viewer is not None and not ch.can_read(viewer):
        return raw.types.ChannelForbidden(id=ch.raw_id, access_hash=ch.access_hash, title=ch.title, broadcast=True)
    return raw.types.Channel(
        id=ch.raw_id,
        title=ch.title,
        photo=raw.types.ChatPhotoEmpty(),
        date=ch.date,
        creator=(viewer is not None and ch.creator is viewer) or None,
        broadcast=True,
        access_hash=ch.access_hash,
        username=ch.username,
        admin_rights=rights.raw() if rights is not None else None,
        participants_count=len(ch.members),
    )


def peer_of(chat: PrivateChat | Channel, viewer: Account) -> raw.base.Peer:
    if isinstance(chat, Channel):
        return raw.types.PeerChannel(channel_id=chat.raw_id)
    return raw.types.PeerUser(user_id=chat.other(viewer).id)


def document(doc: Document) -> raw.types.Document:
    return raw.types.Document(
        id=doc.id,
        access_hash=doc.access_hash,
        file_reference=doc.file_reference,
        date=doc.date,
        mime_type=doc.mime_type,
        size=doc.size,
        dc_id=doc.dc_id,
        attributes=list(doc.attributes),
        # As Telegram sends them: a stripped preview first (clients skip it), then the sizes.
        thumbs=[raw.types.PhotoStrippedSize(type="i", bytes=b"\x01\x28\x16" + bytes(16)),
                *(raw.types.PhotoSize(type=t.type, w=t.w, h=t.h, size=t.size) for t in doc.thumbs)]
        if doc.thumbs else None,
    )


def photo(p: Photo) -> raw.types.Photo:
    # As Telegram sends them: a stripped preview, the smaller sizes, and the largest as a
    # progressive JPEG whose `sizes` are the byte counts of its scans (the last: the whole file).
    *smaller, largest = p.sizes
    sizes: list[Any] = [raw.types.PhotoStrippedSize(type="i", bytes=b"\x01\x28\x16" + bytes(16))]
    sizes += [raw.types.PhotoSize(type=s.type, w=s.w, h=s.h, size=s.size) for s in smaller]
    scans = sorted({max(1, largest.size // 8), max(1, largest.size // 2), largest.size})
    sizes.append(raw.types.PhotoSizeProgressive(type=largest.type, w=largest.w, h=largest.h, sizes=scans))
    return raw.types.Photo(
        id=p.id,
        access_hash=p.access_hash,
        file_reference=p.file_reference,
        date=p.date,
        sizes=sizes,
        dc_id=p.dc_id,
    )


def media(m: Document | Photo | None) -> raw.base.MessageMedia | None:
    if m is None:
        return None
    if isinstance(m, Photo):
        return raw.types.MessageMediaPhoto(photo=photo(m))
    return raw.types.MessageMediaDocument(
        document=document(m),
        video=(m.kind == "video") or None,
        round=(m.kind == "video_note") or None,
        voice=(m.kind == "voice") or None,
    )


def message(msg: Message, viewer: Account) -> raw.base.Message:
    if not msg.visible_to(viewer):
        return raw.types.MessageEmpty(id=msg.id)
    fwd = None
    if msg.forward is not None:
        f = msg.forward
        if f.from_channel is not None:
            fwd = raw.types.MessageFwdHeader(date=f.date, from_id=raw.types.PeerChannel(channel_id=f.from_channel.raw_id),
                                             channel_post=f.channel_post)
        elif f.from_account is not None:
            fwd = raw.types.MessageFwdHeader(date=f.date, from_id=raw.types.PeerUser(user_id=f.from_account.id))
    if isinstance(msg.chat, Channel):
        return raw.types.Message(
            id=msg.id,
            peer_id=raw.types.PeerChannel(channel_id=msg.chat.raw_id),
            date=msg.date,
            message=msg.text,
            out=(msg.sender is viewer) or None,
            post=True,
            fwd_from=fwd,
            media=media(msg.media),
            reply_markup=msg.reply_markup,
            entities=msg.entities or None,
            # views and forwards share one flag bit: both or neither.
            views=1,
            forwards=0,
            edit_date=msg.edit_date,
            grouped_id=msg.grouped_id,
        )
    return raw.types.Message(
        id=msg.id,
        peer_id=peer_of(msg.chat, viewer),
        date=msg.date,
        message=msg.text,
        out=(msg.sender is viewer) or None,
        from_id=raw.types.PeerUser(user_id=msg.sender.id) if msg.sender is not None else None,
        fwd_from=fwd,
        reply_to=raw.types.MessageReplyHeader(reply_to_msg_id=msg.reply_to) if msg.reply_to else None,
        media=media(msg.media),
        reply_markup=msg.reply_markup,
        entities=msg.entities or None,
        edit_date=msg.edit_date,
        grouped_id=msg.grouped_id,
    )


class Peers:
    """Collects the users and chats an answer mentions, rendered for one viewer."""

    def __init__(self, viewer: Account):
        self.viewer = viewer
        self.users: dict[int, Account] = {viewer.id: viewer}
        self.chats: dict[int, Channel] = {}

    def add_account(self, account: Account | None) -> None:
        if account is not None:
            self.users[account.id] = account

    def add_channel(self, ch: Channel | None) -> None:
        if ch is not None:
            self.chats[ch.raw_id] = ch

    def add_message(self, msg: Message) -> None:
        if isinstance(msg.chat, Channel):
            self.add_channel(msg.chat)
        else:
            self.add_account(msg.chat.a)
            self.add_account(msg.chat.b)
        if not isinstance(msg.chat, Channel):
            self.add_account(msg.sender)
        if msg.forward is not None:
            self.add_account(msg.forward.from_account)
            self.add_channel(msg.forward.from_channel)

    def raw_users(self) -> list[raw.types.User]:
        return [user(a, self.viewer) for a in self.users.values()]

    def raw_chats(self) -> list[raw.base.Chat]:
        return [channel(c, self.viewer) for c in self.chats.values()]


def update_for(event: Event, viewer: Account, peers: Peers) -> raw.base.Update:
    """The raw update one event means for `viewer` (pts bookkeeping done by the caller)."""
    if event.kind == "callback":
        msg = event.message
        peers.add_account(event.from_user)
        if isinstance(msg.chat, Channel):
            peers.add_channel(msg.chat)
        return raw.types.UpdateBotCallbackQuery(
            query_id=event.query_id,
            user_id=event.from_user.id,
            peer=peer_of(msg.chat, viewer),
            msg_id=msg.id,
            chat_instance=(msg.chat.raw_id if isinstance(msg.chat, Channel) else msg.chat.other(viewer).id) ^ 0x5A5A5A5A,
            data=event.data,
        )
    if event.kind in ("new", "edit"):
        peers.add_message(event.message)
        rendered = message(event.message, viewer)
        if event.channel is not None:
            cls = raw.types.UpdateNewChannelMessage if event.kind == "new" else raw.types.UpdateEditChannelMessage
        else:
            cls = raw.types.UpdateNewMessage if event.kind == "new" else raw.types.UpdateEditMessage
        return cls(message=rendered, pts=event.pts, pts_count=1)
    if event.kind == "delete":
        if event.channel is not None:
            peers.add_channel(event.channel)
            return raw.types.UpdateDeleteChannelMessages(channel_id=event.channel.raw_id, messages=event.message_ids,
                                                        pts=event.pts, pts_count=len(event.message_ids))
        return raw.types.UpdateDeleteMessages(messages=event.message_ids, pts=event.pts,
                                              pts_count=len(event.message_ids))
    raise ValueError(f"unknown event kind {event.kind}")


def updates(items: Iterable[raw.base.Update], peers: Peers) -> raw.types.Updates:
    return raw.types.Updates(updates=list(items), users=peers.raw_users(), chats=peers.raw_chats(),
                             date=now(), seq=0)


def sent_updates(msg: Message, viewer: Account, pts: int) -> raw.types.Updates:
    """The answer to sendMessage/sendMedia/forward: the new id for the random_id, then the message."""
    peers = Peers(viewer)
    peers.add_message(msg)
    items: list[Any] = []
    if msg.random_id is not None:
        items.append(raw.types.UpdateMessageID(id=msg.id, random_id=msg.random_id))
    rendered = message(msg, viewer)
    if isinstance(msg.chat, Channel):
        items.append(raw.types.UpdateNewChannelMessage(message=rendered, pts=msg.chat.pts, pts_count=1))
    else:
        items.append(raw.types.UpdateNewMessage(message=rendered, pts=pts, pts_count=1))
    return updates(items, peers)
