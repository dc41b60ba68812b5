"""The bot's replies, queued per chat and sent in turns, so no update handler waits for Telegram's pacing.

A handler posts a reply and goes on: `post(chat_id, act, kind=...)` puts it in the chat's
queue (core/outbox.py decides what waits, folds or is dropped) and returns its Delivery at
once. Each chat with replies waiting has one courier task that sends them in order; the
wait for the chat's own pace (telegram/pacing.py) happens there, so a person who is behind
delays only their own replies. Couriers of different chats take the overall limit in turns
(the pacer's overall queue is first come, first served).

What must survive a crash is not kept here: a stored file's record and its request are in
MongoDB before its links are posted, and `on_sent` records the message once it is out.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Hashable
from typing import Any

from pyrogram.errors import FloodWait

from FileStream.core.outbox import ChatBacklog, Kind, Waiting

log = logging.getLogger(__name__)

Act = Callable[[], Awaitable[Any]]        # sends (or edits) the message; returns it
OnSent = Callable[[Any], Awaitable[object]]

# A reply that must be delivered waits out FLOOD_WAIT verdicts up to this long in all.
MUST_PATIENCE_SECONDS = 600.0


class Delivery:
    """What became of a reply: `await delivery.message()` is the message sent, or None when the
    reply was dropped or could not be sent. Waiting on it waits for the chat's turn."""

    def __init__(self) -> None:
        self._future: asyncio.Future = asyncio.get_running_loop().create_future()

    @property
    def done(self) -> bool:
        return self._future.done()

    @property
    def sent(self) -> Any:
        """The message if it went out already, else None."""
        return self._future.result() if self._future.done() else None

    async def message(self) -> Any:
        return await asyncio.shield(self._future)

    def _settle(self, message: Any) -> None:
        if not self._future.done():
            self._future.set_result(message)


class _Outgoing:
    """A reply as it waits: how to send it, and everyone waiting to hear about it."""

    __slots__ = ("act", "deliveries", "on_sent")

    def __init__(self, act: Act, on_sent: OnSent | None) -> None:
        self.act = act
        self.deliveries: list[Delivery] = [Delivery()]
        self.on_sent: list[OnSent] = [on_sent] if on_sent is not None else []

    def adopt(self, older: _Outgoing) -> None:
        """This reply took `older`'s place in the queue: whoever waited for that one hears of this."""
        self.deliveries[:0] = older.deliveries
        self.on_sent[:0] = older.on_sent

    def settle(self, message: Any) -> None:
        for delivery in self.deliveries:
            delivery._settle(message)


class _Chat:
    __slots__ = ("backlog", "courier")

    def __init__(self, backlog: ChatBacklog[_Outgoing]) -> None:
        self.backlog = backlog
        self.courier: asyncio.Task | None = None


class Outbox:
    """Per-chat queues of replies, each served by its own courier.

    `notice(chat_id)` is the act that tells a person they send faster than the bot answers.
    `clock`: monotonic seconds; `sleep`: how a courier waits out a FLOOD_WAIT.
    """

    # Chats remembered beyond this many are forgotten once idle.
    MAX_CHATS = 4096

    def __init__(self, notice: Callable[[int], Act], *, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[object]] = asyncio.sleep, behind_at: int | None = None) -> None:
        self._notice = notice
        self._clock = clock
        self._sleep = sleep
        self._behind_at = behind_at
        self._chats: dict[int, _Chat] = {}
        self._closed = False
        self._idle = asyncio.Event()
        self._idle.set()

    def post(self, chat_id: int, act: Act, *, kind: Kind = Kind.MUST, key: Hashable | None = None,
             on_sent: OnSent | None = None) -> Delivery:
        """Queue a reply for `chat_id`; never waits. `key`: a reply still waiting with the same
        key is replaced by this one (its Delivery then reports this one). `on_sent(message)`
        runs once it went out (recording the message, say)."""
        outgoing = _Outgoing(act, on_sent)
        if self._closed:
            outgoing.settle(None)
            return outgoing.deliveries[0]
        chat = self._chat(chat_id)
        placed = chat.backlog.offer(outgoing, kind, self._clock(), key)
        if placed.folded:
            outgoing.adopt(placed.replaced)
        for dropped in placed.dropped:
            dropped.payload.settle(None)
        if placed.dropped:
            log.info("Chat %s is behind: %d reply(s) dropped", chat_id, len(placed.dropped))
        if chat.courier is None and len(chat.backlog):
            self._idle.clear()
            chat.courier = asyncio.get_running_loop().create_task(self._carry(chat_id, chat),
                                                                  name=f"outbox courier {chat_id}")
        return outgoing.deliveries[-1]

    def notice(self, chat_id: int) -> Delivery:
        """Tell the person they send faster than the bot answers (at most once a while)."""
        return self.post(chat_id, self._notice(chat_id), kind=Kind.NOTICE)

    def waiting(self, chat_id: int) -> int:
        chat = self._chats.get(chat_id)
        return len(chat.backlog) if chat else 0

    def _chat(self, chat_id: int) -> _Chat:
        chat = self._chats.get(chat_id)
        if chat is None:
            if len(self._chats) >= self.MAX_CHATS:
                now = self._clock()
                for known, state in list(self._chats.items()):
                    if state.courier is None and state.backlog.forgettable(now):
                        del self._chats[known]
            options = {} if self._behind_at is None else {"behind_at": self._behind_at}
            chat = self._chats[chat_id] = _Chat(ChatBacklog(lambda: _Outgoing(self._notice(chat_id), None),
                                                            **options))
        return chat

    async def _carry(self, chat_id: int, chat: _Chat) -> None:
        try:
            while (waiting := chat.backlog.take()) is not None:
                await self._deliver(chat_id, waiting)
        finally:
            chat.courier = None
            if not any(c.courier for c in self._chats.values()):
                self._idle.set()

    async def _deliver(self, chat_id: int, waiting: Waiting[_Outgoing]) -> None:
        outgoing = waiting.payload
        message = None
        patience = MUST_PATIENCE_SECONDS if waiting.kind == Kind.MUST else 0.0
        try:
            while True:
                try:
                    message = await outgoing.act()
                    break
                except FloodWait as flood:
                    # Only this chat's courier waits: the verdict is held by the pacer for
                    # every other send to the chat too.
                    seconds = float(flood.value or 1)
                    if seconds > patience:
                        raise
                    patience -= seconds
                    await self._sleep(seconds)
        except asyncio.CancelledError:
            outgoing.settle(None)
            raise
        except Exception as error:  # noqa: BLE001 - blocked bot, deleted chat: the log says it
            log.warning("A %s reply to chat %s could not be sent: %r", waiting.kind, chat_id, error)
        outgoing.settle(message)
        if message is None:
            return
        for hook in outgoing.on_sent:
            try:
                await hook(message)
            except Exception:  # noqa: BLE001 - the message is out; only the record of it failed
                log.exception("Recording a reply sent to chat %s failed", chat_id)

    async def drain(self, timeout: float) -> bool:
        """Wait up to `timeout` seconds for every queue to empty; False if some still wait."""
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
            return True
        except TimeoutError:
            return False

    async def close(self) -> None:
        """Stop sending: what still waits is dropped (said in the log)."""
        self._closed = True
        left = 0
        for chat in self._chats.values():
            for waiting in chat.backlog.drop_all():
                waiting.payload.settle(None)
                left += 1
            if chat.courier is not None:
                chat.courier.cancel()
        couriers = [c.courier for c in self._chats.values() if c.courier is not None]
        if couriers:
            await asyncio.gather(*couriers, return_exceptions=True)
        if left:
            log.warning("Shutting down: %d reply(s) were not sent", left)
