"""Scripted people for tests: they message bots, press buttons, post in channels, and wait (no sleeps)."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any, Iterable

from .content import SeededSpec
from .world import BotMessage, Channel, Event, Message, PersonEvent, User

if TYPE_CHECKING:
    from .server import TelegramServer
    from .world import Bot, Media


class Person:
    """A Telegram user driven by the test. `server.person(user)` returns the one actor per user."""

    def __init__(self, server: TelegramServer, user: User):
        self.server = server
        self.world = server.world
        self.user = user
        self._pending: dict[int, list[PersonEvent]] = {}
        self.callback_answers: list[dict] = []
        # When each of this person's waits ran out (time.monotonic()), on Telegram's own clock:
        # with Telegram on its own loop, a wait ends on time even while a bot's loop is blocked.
        self.gave_up_at: list[float] = []

    def __repr__(self) -> str:
        return f"<Person {self.user.name}>"

    @property
    def id(self) -> int:
        return self.user.id

    # ------------------------------------------------------------------ sending
    async def send_text(self, bot: Bot, text: str, *, reply_to: int | None = None) -> int:
        """Writes `text` to the bot (as a reply to message `reply_to`); returns the message id."""
        return self.world.send_private(self.user, bot, text, reply_to=reply_to).id

    async def send_command(self, bot: Bot, command: str, *args: Any, reply_to: int | None = None) -> int:
        text = "/" + command.lstrip("/") + "".join(f" {a}" for a in args)
        return await self.send_text(bot, text, reply_to=reply_to)

    def _media(self, data: Any, size: int | None, seed: int, kind: str, file_name: str | None,
               mime_type: str | None, dc_id: int | None, attrs: dict) -> Media:
        if data is None:
            if size is None:
                raise ValueError("pass data=bytes, data=SeededSpec(size, seed) or size=N")
            data = SeededSpec(size, seed)
        return self.world.add_media(data, kind=kind, file_name=file_name, mime_type=mime_type,
                                    dc_id=dc_id or self.user.home_dc, **attrs)

    async def send_file(self, bot: Bot, data: Any = None, *, size: int | None = None, seed: int = 0,
                        file_name: str | None = None, mime_type: str | None = None, kind: str = "document",
                        dc_id: int | None = None, caption: str | None = None, **attrs: Any) -> Message:
        """Sends a file of any kind in world.KINDS (document, video, photo, sticker, ...) stored on `dc_id`.

        data: bytes, or SeededSpec(size, seed) / size=N for big deterministic content."""
        media = self._media(data, size, seed, kind, file_name, mime_type, dc_id, attrs)
        return self.world.send_private(self.user, bot, caption or "", media=media)

    async def send_album(self, bot: Bot, items: Iterable[dict], *, allow_mixed: bool = False) -> list[Message]:
        """Sends an album (media group) to the bot: one dict per file with the keywords of
        send_file (data or size/seed, file_name, mime_type, kind, dc_id, caption, ...).

        Telegram refuses albums that mix kinds (photos/videos, audio, documents);
        `allow_mixed=True` relaxes that rule explicitly."""
        from .albums import send_album

        return send_album(self.world, self.user, bot, self._album_items(items), allow_mixed=allow_mixed)

    async def post_album(self, channel: Channel, items: Iterable[dict], *, allow_mixed: bool = False) -> list[Message]:
        """Posts an album in a channel as its admin (items as for send_album)."""
        from .albums import post_album

        self._check_admin(channel)
        return post_album(self.world, channel, self.user, self._album_items(items), allow_mixed=allow_mixed)

    def _album_items(self, items: Iterable[dict]) -> list[tuple[Media, str]]:
        made = []
        for item in items:
            item = dict(item)
            caption = item.pop("caption", None) or ""
            media = self._media(item.pop("data", None), item.pop("size", None), item.pop("seed", 0),
                                item.pop("kind", "document"), item.pop("file_name", None), item.pop("mime_type", None),
                                item.pop("dc_id", None), item)
            made.append((media, caption))
        return made

    async def forward_to(self, bot: Bot, message: Message) -> Message:
        """Forwards a channel post or another message (with its media) to the bot."""
        from .world import ForwardInfo

        forward = ForwardInfo(date=message.date,
                              from_channel=message.chat if isinstance(message.chat, Channel) else None,
                              from_account=None if isinstance(message.chat, Channel) else message.sender,
                              channel_post=message.id if isinstance(message.chat, Channel) else None)
        return self.world.send_private(self.user, bot, message.text, media=message.media, forward=forward)

    # ------------------------------------------------------------------ channels
    def _check_admin(self, channel: Channel) -> None:
        if not channel.is_admin(self.user):
            raise PermissionError(f"{self.user.name} is not an admin of {channel.title}")

    async def post_text(self, channel: Channel, text: str) -> Message:
        self._check_admin(channel)
        return self.world.post_in_channel(channel, self.user, text)

    async def post_file(self, channel: Channel, data: Any = None, *, size: int | None = None, seed: int = 0,
                        file_name: str | None = None, mime_type: str | None = None, kind: str = "document",
                        dc_id: int | None = None, caption: str | None = None, **attrs: Any) -> Message:
        """Posts a file in a channel as its admin; bots that are admins get updateNewChannelMessage."""
        self._check_admin(channel)
        media = self._media(data, size, seed, kind, file_name, mime_type, dc_id, attrs)
        return self.world.post_in_channel(channel, self.user, caption or "", media=media)

    # ------------------------------------------------------------------ observing
    async def _next(self, bot: Bot, kinds: Iterable[str], timeout: float) -> PersonEvent:
        kinds = tuple(kinds)
        pending = self._pending.setdefault(bot.id, [])
        for index, event in enumerate(pending):
            if event.kind in kinds:
                return pending.pop(index)
        queue = self.world.inbox(self.user.id, bot.id)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            remaining = deadline - loop.time()
            try:
                if remaining <= 0:
                    raise asyncio.TimeoutError
                event = await asyncio.wait_for(queue.get(), remaining)
            except asyncio.TimeoutError:
                self.gave_up_at.append(time.monotonic())
                raise TimeoutError(
                    f"{self.user.name} got no {'/'.join(kinds)} message from {bot.name} within {timeout}s "
                    f"(unconsumed: {[(e.kind, e.message.text[:40]) for e in pending]}; "
                    f"bot's last calls: {[c.method for c in self.server.rpc_log(bot)[-8:]]})"
                ) from None
            if event.kind in kinds:
                return event
            pending.append(event)

    async def next_message(self, bot: Bot, timeout: float = 10) -> BotMessage:
        """The next new message the bot sent to this person."""
        return (await self._next(bot, ("new",), timeout)).message

    async def next_edit(self, bot: Bot, timeout: float = 10) -> BotMessage:
        """The next edit the bot made to one of its messages to this person (state after the edit)."""
        return (await self._next(bot, ("edit",), timeout)).message

    async def next_event(self, bot: Bot, timeout: float = 10) -> PersonEvent:
        """The next new/edit/delete from the bot, whichever comes first."""
        return await self._next(bot, ("new", "edit", "delete"), timeout)

    def messages_from(self, bot: Bot) -> list[BotMessage]:
        """Current state (latest text/buttons) of every message the bot sent to this person."""
        chat = self.world.private_chats.get(frozenset((self.user.id, bot.id)))
        if chat is None:
            return []
        return [m.snapshot() for m in self.world.private_messages.values()
                if m.chat is chat and m.sender is bot and not m.deleted]

    # ------------------------------------------------------------------ buttons
    async def press_button(self, bot: Bot, message_id: int, callback_data: bytes | str, timeout: float = 10,
                           channel: Channel | None = None, any_data: bool = False) -> str | None:
        """Presses an inline button; returns the text of the bot's setBotCallbackAnswer (None if empty).
        Raises CallbackExpired when the answer came after `world.callback_query_lifetime`.

        `any_data`: press with data the message's buttons do not carry, as a press on a keyboard
        an earlier version of the bot made, or a client sending what it likes, would arrive.
        """
        data = callback_data.encode() if isinstance(callback_data, str) else bytes(callback_data)
        if channel is not None:
            message = channel.messages.get(message_id)
        else:
            message = self.world.private_messages.get(message_id)
        if message is None or message.deleted or not message.visible_to(self.user):
            raise LookupError(f"{self.user.name} cannot see message {message_id}")
        if not any_data and not any(b.callback_data == data for row in message.buttons for b in row):
            raise LookupError(f"message {message_id} has no button with data {data!r}: {message.buttons}")
        loop = asyncio.get_running_loop()
        query_id = self.world.new_query_id()
        waiter = loop.create_future()
        self.world.callback_answers[query_id] = waiter
        self.world.deliver(bot, Event("callback", message=message, query_id=query_id, data=data,
                                      from_user=self.user))
        try:
            answer = await asyncio.wait_for(waiter, timeout)
        except asyncio.TimeoutError:
            self.gave_up_at.append(time.monotonic())
            self.world.callback_answers.pop(query_id, None)
            raise TimeoutError(f"{bot.name} did not answer the callback {data!r} within {timeout}s") from None
        self.callback_answers.append(answer)
        return answer["message"]
