"""Albums (media groups): several messages with one grouped_id, made together and then announced.

Telegram sends an album as messages.sendMultiMedia: 2 to 10 items, all created before the
first is delivered, sharing a random `grouped_id`. Telegram also refuses to mix kinds in
one album: photos and videos go together, audio only with audio, documents only with
documents. `album_refusal` says so; a test that wants a mixed album must ask for it
explicitly (`allow_mixed=True`), as a relaxed rule.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from .world import Account, Channel, Event, Message, World, now

ALBUM_MIN, ALBUM_MAX = 2, 10
_VISUAL = {"photo", "video", "animation"}


def new_grouped_id() -> int:
    return int.from_bytes(os.urandom(8), "little", signed=True) or 1


def album_refusal(kinds: Sequence[str], *, allow_mixed: bool = False) -> str | None:
    """Telegram's error for an album of these media kinds, or None when it would be sent."""
    if len(kinds) > ALBUM_MAX:
        return "MULTI_MEDIA_TOO_LONG"
    if len(kinds) < ALBUM_MIN:
        return "MEDIA_EMPTY"
    if allow_mixed:
        return None
    groups = {"visual" if kind in _VISUAL else kind for kind in kinds}
    return None if len(groups) == 1 else "MEDIA_INVALID"


def _check(items: Sequence[tuple[Any, str]], allow_mixed: bool) -> None:
    refusal = album_refusal([media.kind for media, _caption in items], allow_mixed=allow_mixed)
    if refusal is not None:
        raise ValueError(f"Telegram refuses this album: {refusal}")


def send_album(world: World, sender: Account, recipient: Account, items: Sequence[tuple[Any, str]], *,
               random_ids: Sequence[int | None] | None = None, allow_mixed: bool = False,
               notify_sender: bool = False) -> list[Message]:
    """An album in a private chat: (media, caption) per item; the messages, in order."""
    _check(items, allow_mixed)
    chat = world.private_chat(sender, recipient)
    grouped_id = new_grouped_id()
    messages = []
    for (media, caption), random_id in zip(items, random_ids or [None] * len(items)):
        message = Message(id=next(world._private_message_ids), chat=chat, sender=sender, date=now(), text=caption,
                          media=media, random_id=random_id, grouped_id=grouped_id)
        world.private_messages[message.id] = message
        messages.append(message)
    for message in messages:   # every message exists before the first is delivered
        world._announce(Event("new", message=message), to=[recipient] + ([sender] if notify_sender else []))
    return messages


def post_album(world: World, channel: Channel, sender: Account | None, items: Sequence[tuple[Any, str]], *,
               random_ids: Sequence[int | None] | None = None, allow_mixed: bool = False) -> list[Message]:
    """An album posted in a channel: the posts, in order, each announced to the channel's readers."""
    _check(items, allow_mixed)
    grouped_id = new_grouped_id()
    messages = []
    for (media, caption), random_id in zip(items, random_ids or [None] * len(items)):
        channel.last_message_id += 1
        message = Message(id=channel.last_message_id, chat=channel, sender=sender, date=now(), text=caption,
                          media=media, random_id=random_id, grouped_id=grouped_id)
        channel.messages[message.id] = message
        messages.append(message)
    for message in messages:
        channel.pts += 1
        world._announce(Event("new", message=message, channel=channel, pts=channel.pts),
                        to=world._channel_audience(channel, exclude=sender))
    return messages
