"""messages.*: sending, editing, forwarding, reading and deleting messages; callback answers."""

from __future__ import annotations

from urllib.parse import urlsplit

from pyrogram import raw

from .. import render
from ..content import BytesContent
from ..errors import RpcFail
from ..tl import message_refs, normalize
from ..world import Account, Bot, CallbackExpired, Channel, Document, Event, ForwardInfo, Message, Photo, User, now
from . import rpc
from .common import admin_channel, input_peer, posting_channel

MESSAGE_LENGTH_MAX = 4096
CAPTION_LENGTH_MAX = 1024
UPLOAD_PART_MAX = 512 * 1024


BUTTON_URL_SCHEMES = ("http", "https", "tg")
URL_BUTTON_TYPES = ("InlineButtonTypeUrl", "KeyboardButtonUrl")


def _markup(value):
    return normalize(value) if value is not None else None


def text_length(text: str) -> int:
    """Length as Telegram counts it: UTF-16 code units (an emoji outside the BMP counts 2)."""
    return len(text.encode("utf-16-le")) // 2


def button_url_refused(url: str) -> bool:
    """Telegram takes only http, https and tg links in buttons, and a web link's host must have
    a dot: `http://localhost:8080` is refused, `http://127.0.0.1:8080` and `tg://resolve` are not.

    Written apart from FileStream's own check on purpose: this is the model of Telegram the
    product is tested against, so it must not be the product's code."""
    try:
        parts = urlsplit(url.strip())
        host = parts.hostname or ""
    except ValueError:
        return True
    scheme = parts.scheme.lower()
    if scheme not in BUTTON_URL_SCHEMES:
        return True
    return scheme != "tg" and "." not in host.strip(".")


def _check_buttons(reply_markup) -> None:
    if not isinstance(reply_markup, raw.types.ReplyInlineMarkup):
        return
    for row in reply_markup.rows or []:
        for button in row.buttons or []:
            # kurigram's layer: KeyboardButton(type=InlineButtonTypeUrl); older: KeyboardButtonUrl.
            kind = getattr(button, "type", button)
            if type(kind).__name__ in URL_BUTTON_TYPES and button_url_refused(kind.url):
                raise RpcFail(400, "BUTTON_URL_INVALID")


def _check_reachable(ctx, target: Account) -> None:
    """A person the bot may still write to (send or edit in their chat)."""
    if isinstance(target, User) and target.deleted:
        raise RpcFail(400, "INPUT_USER_DEACTIVATED")
    if isinstance(target, User) and ctx.me.id in target.blocked_bots:
        raise RpcFail(403, "USER_IS_BLOCKED")


def _check_can_send(ctx, target: Account | Channel) -> None:
    me = ctx.me
    if isinstance(target, Channel):
        posting_channel(ctx, target)
        return
    if isinstance(me, Bot):
        if isinstance(target, Bot):
            raise RpcFail(400, "USER_IS_BOT")
        # A bot cannot start a conversation: the person must have written to it first.
        if frozenset((me.id, target.id)) not in ctx.world.private_chats:
            raise RpcFail(400, "PEER_ID_INVALID")
        _check_reachable(ctx, target)


def _send(ctx, target: Account | Channel, text: str, *, media=None, entities=None, reply_markup=None,
          random_id=None, forward=None) -> tuple[Message, int]:
    me = ctx.me
    if isinstance(target, Channel):
        msg = ctx.world.post_in_channel(target, me, text, media=media, entities=entities,
                                        reply_markup=_markup(reply_markup), forward=forward, random_id=random_id)
        return msg, target.pts
    msg = ctx.world.send_private(me, target, text, media=media, entities=entities,
                                 reply_markup=_markup(reply_markup), forward=forward, random_id=random_id)
    return msg, me.next_pts(Event("new", message=msg))


@rpc(raw.functions.messages.SendMessage)
async def send_message(ctx, q):
    target = input_peer(ctx, q.peer)
    _check_can_send(ctx, target)
    if not q.message.strip():
        raise RpcFail(400, "MESSAGE_EMPTY")
    if text_length(q.message) > MESSAGE_LENGTH_MAX:
        raise RpcFail(400, "MESSAGE_TOO_LONG")
    _check_buttons(q.reply_markup)
    msg, pts = _send(ctx, target, q.message, entities=normalize(q.entities), reply_markup=q.reply_markup,
                     random_id=q.random_id)
    return render.sent_updates(msg, ctx.me, pts)


def _uploaded_content(ctx, input_file) -> BytesContent:
    key = (ctx.me.id, input_file.id)
    parts = ctx.server.uploads.get(key)
    if parts is None:
        raise RpcFail(400, "FILE_PARTS_INVALID")
    for index in range(input_file.parts):
        if index not in parts:
            raise RpcFail(400, f"FILE_PART_{index}_MISSING")
    del ctx.server.uploads[key]
    return BytesContent(b"".join(parts[i] for i in range(input_file.parts)))


def _check_reference(media, file_reference: bytes) -> None:
    if not media.sendable_by(file_reference):
        raise RpcFail(400, "FILE_REFERENCE_EXPIRED")


def input_media(ctx, value):
    world = ctx.world
    if isinstance(value, raw.types.InputMediaUploadedDocument):
        content = _uploaded_content(ctx, value.file)
        attributes = normalize(list(value.attributes or []))
        if not any(isinstance(a, raw.types.DocumentAttributeFilename) for a in attributes):
            attributes.append(raw.types.DocumentAttributeFilename(file_name=value.file.name or "file"))
        return world.add_document_from_upload(content, value.mime_type, attributes, ctx.me.home_dc)
    if isinstance(value, raw.types.InputMediaUploadedPhoto):
        return world.add_photo_from_upload(_uploaded_content(ctx, value.file), ctx.me.home_dc)
    if isinstance(value, raw.types.InputMediaDocument):
        ref = value.id
        document = world.documents.get(getattr(ref, "id", None))
        if document is None or ref.access_hash != document.access_hash:
            raise RpcFail(400, "MEDIA_INVALID")
        _check_reference(document, ref.file_reference)
        return document
    if isinstance(value, raw.types.InputMediaPhoto):
        ref = value.id
        photo = world.photos.get(getattr(ref, "id", None))
        if photo is None or ref.access_hash != photo.access_hash:
            raise RpcFail(400, "MEDIA_INVALID")
        _check_reference(photo, ref.file_reference)
        return photo
    raise RpcFail(400, f"MEDIA_NOT_SUPPORTED_{type(value).__name__}")


@rpc(raw.functions.messages.SendMedia)
async def send_media(ctx, q):
    target = input_peer(ctx, q.peer)
    _check_can_send(ctx, target)
    if text_length(q.message or "") > CAPTION_LENGTH_MAX:
        raise RpcFail(400, "MEDIA_CAPTION_TOO_LONG")
    _check_buttons(q.reply_markup)
    media = input_media(ctx, q.media)
    msg, pts = _send(ctx, target, q.message or "", media=media, entities=normalize(q.entities),
                     reply_markup=q.reply_markup, random_id=q.random_id)
    return render.sent_updates(msg, ctx.me, pts)


def find_message(ctx, target: Account | Channel, msg_id: int) -> Message:
    if isinstance(target, Channel):
        msg = target.messages.get(msg_id)
    else:
        msg = ctx.world.private_messages.get(msg_id)
        if msg is not None and not (msg.chat.has(ctx.me) and msg.chat.has(target)):
            msg = None
    if msg is None or msg.deleted:
        raise RpcFail(400, "MESSAGE_ID_INVALID")
    return msg


def _markup_bytes(value) -> bytes | None:
    return value.write() if value is not None else None


@rpc(raw.functions.messages.EditMessage)
async def edit_message(ctx, q):
    me = ctx.me
    target = input_peer(ctx, q.peer)
    if isinstance(target, Channel):
        admin_channel(ctx, target)
    msg = find_message(ctx, target, q.id)
    if isinstance(target, Channel):
        # Own posts with the right to post; others' only with the right to edit messages.
        right = "post_messages" if msg.sender is me else "edit_messages"
        if not target.can(me, right):
            raise RpcFail(403, "MESSAGE_AUTHOR_REQUIRED" if msg.sender is not me else "CHAT_ADMIN_REQUIRED")
    else:
        if msg.sender is not me:
            raise RpcFail(403, "MESSAGE_AUTHOR_REQUIRED")
        _check_reachable(ctx, target)
    new_markup = _markup(q.reply_markup)
    media = input_media(ctx, q.media) if q.media is not None else None
    if q.message is not None:
        has_media = media is not None or msg.media is not None
        limit, error = (CAPTION_LENGTH_MAX, "MEDIA_CAPTION_TOO_LONG") if has_media else (MESSAGE_LENGTH_MAX, "MESSAGE_TOO_LONG")
        if text_length(q.message) > limit:
            raise RpcFail(400, error)
    _check_buttons(new_markup)
    text_changes = q.message is not None and (q.message != msg.text or normalize(q.entities) != msg.entities)
    if not text_changes and media is None and _markup_bytes(new_markup) == _markup_bytes(msg.reply_markup):
        raise RpcFail(400, "MESSAGE_NOT_MODIFIED")
    if q.message is not None and not q.message.strip() and msg.media is None and media is None:
        raise RpcFail(400, "MESSAGE_EMPTY")
    ctx.world.edit(msg, me, text=q.message, entities=normalize(q.entities), media=media,
                   reply_markup=new_markup, set_reply_markup=True)
    peers = render.Peers(me)
    peers.add_message(msg)
    if isinstance(target, Channel):
        update = raw.types.UpdateEditChannelMessage(message=render.message(msg, me), pts=target.pts, pts_count=1)
    else:
        pts = me.next_pts(Event("edit", message=msg))
        update = raw.types.UpdateEditMessage(message=render.message(msg, me), pts=pts, pts_count=1)
    return render.updates([update], peers)


@rpc(raw.functions.messages.ForwardMessages)
async def forward_messages(ctx, q):
    me = ctx.me
    source = input_peer(ctx, q.from_peer)
    if isinstance(source, Channel) and not source.can_read(me):
        raise RpcFail(400, "CHANNEL_PRIVATE")
    target = input_peer(ctx, q.to_peer)
    _check_can_send(ctx, target)
    ids = list(q.id or [])
    random_ids = list(q.random_id or [])
    if len(random_ids) != len(ids):
        raise RpcFail(400, "RANDOM_ID_INVALID")
    originals = [find_message(ctx, source, i) for i in ids]
    peers = render.Peers(me)
    items = []
    for original, random_id in zip(originals, random_ids):
        forward = None
        if not q.drop_author:
            forward = original.forward or ForwardInfo(
                date=original.date,
                from_channel=original.chat if isinstance(original.chat, Channel) else None,
                from_account=original.sender if not isinstance(original.chat, Channel) else None,
                channel_post=original.id if isinstance(original.chat, Channel) else None,
            )
        text = "" if (q.drop_media_captions and original.media is not None) else original.text
        entities = None if (q.drop_media_captions and original.media is not None) else original.entities
        msg, pts = _send(ctx, target, text, media=original.media, entities=entities,
                         reply_markup=None, random_id=random_id, forward=forward)
        peers.add_message(msg)
        items.append(raw.types.UpdateMessageID(id=msg.id, random_id=random_id))
        rendered = render.message(msg, me)
        if isinstance(target, Channel):
            items.append(raw.types.UpdateNewChannelMessage(message=rendered, pts=pts, pts_count=1))
        else:
            items.append(raw.types.UpdateNewMessage(message=rendered, pts=pts, pts_count=1))
    return render.updates(items, peers)


@rpc(raw.functions.messages.GetMessages)
async def get_messages(ctx, q):
    me = ctx.me
    peers = render.Peers(me)
    result = []
    for msg_id, is_reply_to in message_refs(q.id):
        msg = ctx.world.private_messages.get(msg_id)
        if is_reply_to:  # the message that msg_id answers
            msg_id = msg.reply_to if msg is not None and msg.reply_to else msg_id
            msg = ctx.world.private_messages.get(msg.reply_to) if msg is not None and msg.reply_to else None
        if msg is None or not msg.visible_to(me):
            result.append(raw.types.MessageEmpty(id=msg_id))
            continue
        peers.add_message(msg)
        result.append(render.message(msg, me))
    return raw.types.messages.Messages(messages=result, topics=[], chats=peers.raw_chats(), users=peers.raw_users())


@rpc(raw.functions.messages.DeleteMessages)
async def delete_messages(ctx, q):
    me = ctx.me
    found = []
    for msg_id in q.id or []:
        msg = ctx.world.private_messages.get(msg_id)
        if msg is not None and msg.visible_to(me):
            found.append(msg)
    if found:
        ctx.world.delete(found, me)
        me.pts += len(found) - 1
        pts = me.next_pts(Event("delete", message_ids=[m.id for m in found]))
    else:
        pts = me.pts
    return raw.types.messages.AffectedMessages(pts=pts, pts_count=len(found))


@rpc(raw.functions.messages.SetBotCallbackAnswer)
async def set_bot_callback_answer(ctx, q):
    waiter = ctx.world.callback_answers.pop(q.query_id, None)
    if waiter is None:
        raise RpcFail(400, "QUERY_ID_INVALID")
    expired = ctx.world.callback_expired(q.query_id)
    ctx.world.callback_pressed_at.pop(q.query_id, None)
    if expired:
        ctx.world.callback_log.append({"message": q.message, "bot_id": ctx.me.id, "at": now(), "expired": True})
        if not waiter.done():
            waiter.set_exception(CallbackExpired(f"{ctx.me.name} answered the press of query {q.query_id} after "
                                                 f"{ctx.world.callback_query_lifetime} s"))
        ctx.world.notify()
        raise RpcFail(400, "QUERY_ID_INVALID")
    answer = {"message": q.message, "alert": bool(q.alert), "url": q.url, "cache_time": q.cache_time,
              "bot_id": ctx.me.id, "at": now()}
    ctx.world.callback_log.append(answer)
    if not waiter.done():
        waiter.set_result(answer)
    ctx.world.notify()
    return True


@rpc(raw.functions.messages.GetStickerSet)
async def get_sticker_set(ctx, q):
    """The world's one sticker set (the client asks for its name when it reads a sticker)."""
    sticker_set = ctx.world.sticker_set
    wanted = q.stickerset
    if not (isinstance(wanted, raw.types.InputStickerSetID) and wanted.id == sticker_set.id
            or isinstance(wanted, raw.types.InputStickerSetShortName)
            and wanted.short_name.lower() == sticker_set.short_name.lower()):
        raise RpcFail(406, "STICKERSET_INVALID")
    stickers = [d for d in ctx.world.documents.values() if d.kind == "sticker"]
    full = raw.types.StickerSet(id=sticker_set.id, access_hash=sticker_set.access_hash, title=sticker_set.title,
                                short_name=sticker_set.short_name, count=len(stickers), hash=0)
    return raw.types.messages.StickerSet(set=full, packs=[], keywords=[],
                                         documents=[render.document(d) for d in stickers])


@rpc(raw.functions.messages.SetTyping)
async def set_typing(ctx, q):
    input_peer(ctx, q.peer)
    return True


@rpc(raw.functions.messages.ReadHistory)
async def read_history(ctx, q):
    return raw.types.messages.AffectedMessages(pts=ctx.me.pts, pts_count=0)


@rpc(raw.functions.upload.SaveFilePart, raw.functions.upload.SaveBigFilePart)
async def save_file_part(ctx, q):
    data = q.bytes
    if len(data) > UPLOAD_PART_MAX:
        raise RpcFail(400, "FILE_PART_TOO_BIG")
    if q.file_part < 0 or (isinstance(q, raw.functions.upload.SaveBigFilePart)
                           and not 0 <= q.file_part < q.file_total_parts):
        raise RpcFail(400, "FILE_PART_INVALID")
    ctx.server.uploads.setdefault((ctx.me.id, q.file_id), {})[q.file_part] = data
    return True
