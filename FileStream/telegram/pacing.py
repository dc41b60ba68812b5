"""Keeps a bot's messages within Telegram's sending limits, and makes a FLOOD_WAIT hold every send it covers.

Every message a bot sends, copies, forwards or edits goes through `PacedClient.invoke`
(the clients built in telegram/clients.py are PacedClients), so nothing else needs to pace:

- each send waits its turn in two token buckets, one for the bot overall and one for the
  chat it goes to (a person, or a group/channel), with limits a little under Telegram's;
- a FLOOD_WAIT_X answer is a verdict on the bot, not on one call: every send to that chat
  is held for X seconds (and every send at all when X is short, see SendingLimits);
- a call waits out a verdict only up to its `sleep_threshold` (the client's by default);
  past that it raises FloodWait at once without asking Telegram, as the library does.
  `invoke(..., sleep_threshold=0)` therefore never waits for a verdict: a caller that
  paces a long job itself (the broadcast engine) gets FloodWait back and decides.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from pyrogram import Client, raw
from pyrogram.errors import FloodWait

from FileStream.core.throttle import MICROSECONDS, TokenBucket

# A chat as the limits see it: ("private", user id), ("group", chat or channel id), or OVERALL.
Chat = tuple[str, int]
OVERALL: Chat = ("overall", 0)


@dataclass(frozen=True, slots=True)
class SendingLimits:
    """The pace a bot holds itself to, a little under what Telegram allows (Bot FAQ: about 30
    messages a second overall, about one a second to one person with short bursts, 20 a
    minute to one group or channel; edits count, answering a button press does not).

    Each rule is a token bucket: `*_burst` at once, then the rate. Both are below Telegram's
    so that sends the network bunches together on the way still arrive within its limits.
    """

    overall_per_second: float = 28.0      # Telegram: ~30 a second, a second's worth at once
    overall_burst: int = 20
    private_chat_per_second: float = 0.9  # Telegram: ~1 a second, short bursts
    private_chat_burst: int = 8
    group_per_minute: float = 18.0        # Telegram: 20 a minute
    group_burst: int = 15
    # Telegram does not say which limit a FLOOD_WAIT comes from. One of at most this many
    # seconds may be the per-second overall limit, so it holds every chat (cheap, and right
    # whichever limit spoke); a longer one can only be one chat's own and holds only that chat,
    # so one busy channel does not silence every conversation.
    overall_verdict_max_seconds: float = 5.0


class ChatHeld(Exception):
    """A FLOOD_WAIT verdict holds this chat for longer than the caller would wait."""

    def __init__(self, chat: Chat, seconds: int) -> None:
        super().__init__(f"sends to {chat[0]} chat {chat[1]} are held for {seconds} s more (FLOOD_WAIT)")
        self.chat = chat
        self.seconds = seconds


class _ChatState:
    __slots__ = ("bucket", "held_until_us", "turn")

    def __init__(self, bucket: TokenBucket) -> None:
        self.bucket = bucket
        self.held_until_us = 0
        self.turn = asyncio.Lock()  # first come, first served within one chat


class Pacer:
    """Token buckets per chat and overall, plus the FLOOD_WAIT verdicts Telegram gave.

    `await pacer.wait_turn(chat, count)` returns once `count` messages to `chat` may go (and
    counts them as sent); `pacer.flood(chat, seconds)` records a FLOOD_WAIT answer.
    `clock` is monotonic seconds; `sleep` is asyncio.sleep unless a test fakes time.
    """

    # Chats kept beyond this many are dropped once idle (a full bucket, no verdict, no waiter).
    MAX_CHATS = 4096

    def __init__(self, limits: SendingLimits | None = None, *, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[object]] = asyncio.sleep) -> None:
        self.limits = limits or SendingLimits()
        self._clock = clock
        self._sleep = sleep
        self._overall = _ChatState(TokenBucket(self.limits.overall_per_second, self.limits.overall_burst))
        self._chats: dict[Chat, _ChatState] = {}

    def _now_us(self) -> int:
        return int(self._clock() * MICROSECONDS)

    def _bucket_for(self, chat: Chat) -> TokenBucket:
        limits = self.limits
        if chat[0] == "private":
            return TokenBucket(limits.private_chat_per_second, limits.private_chat_burst)
        return TokenBucket(limits.group_per_minute / 60.0, limits.group_burst)

    def _state(self, chat: Chat) -> _ChatState:
        state = self._chats.get(chat)
        if state is None:
            if len(self._chats) >= self.MAX_CHATS:
                self._forget_idle()
            state = self._chats[chat] = _ChatState(self._bucket_for(chat))
        return state

    def _forget_idle(self) -> None:
        now = self._now_us()
        for chat, state in list(self._chats.items()):
            if state.bucket.is_full(now) and state.held_until_us <= now and not state.turn.locked():
                del self._chats[chat]

    async def wait_turn(self, chat: Chat, count: int = 1, *, patience: float = math.inf) -> None:
        """Wait until `count` messages to `chat` may go, then count them as sent.

        Raises ChatHeld, without waiting, when a FLOOD_WAIT verdict holds the chat for more than
        `patience` seconds; shorter verdicts and the pacing itself are waited out.
        """
        state = self._state(chat)
        async with state.turn:
            for _ in range(max(1, count)):
                await self._one_turn(chat, state, patience)

    async def _one_turn(self, chat: Chat, state: _ChatState, patience: float) -> None:
        while True:
            await self._until_chat_ready(chat, state, patience)
            # Chats ready to send queue for the overall bucket one behind the other, so only
            # the first of them watches the clock (no herd waking for every token).
            async with self._overall.turn:
                while True:
                    now = self._now_us()
                    if state.held_until_us > now:
                        break  # this chat was held meanwhile: wait for it without holding up the others
                    held = self._overall.held_until_us - now
                    if held > 0:
                        self._check_patience(chat, held, patience)
                        await self._sleep(held / MICROSECONDS)
                        continue
                    wait = self._overall.bucket.wait_us(now)
                    if wait:
                        await self._sleep(wait / MICROSECONDS)
                        continue
                    # This chat's bucket stays ready: only this task (holding its turn) takes from it.
                    state.bucket.try_take(now)
                    self._overall.bucket.try_take(now)
                    return

    async def _until_chat_ready(self, chat: Chat, state: _ChatState, patience: float) -> None:
        while True:
            now = self._now_us()
            held = state.held_until_us - now
            if held > 0:
                self._check_patience(chat, held, patience)
                await self._sleep(held / MICROSECONDS)
                continue
            wait = state.bucket.wait_us(now)
            if not wait:
                return
            await self._sleep(wait / MICROSECONDS)

    @staticmethod
    def _check_patience(chat: Chat, held_us: int, patience: float) -> None:
        if held_us > patience * MICROSECONDS:
            raise ChatHeld(chat, math.ceil(held_us / MICROSECONDS))

    def flood(self, chat: Chat, seconds: float) -> None:
        """Telegram answered FLOOD_WAIT_`seconds` to a send to `chat`: hold that chat, and every
        chat when the wait is short enough to be the overall limit's."""
        until = self._now_us() + int(math.ceil(seconds * MICROSECONDS))
        state = self._state(chat)
        state.held_until_us = max(state.held_until_us, until)
        if seconds <= self.limits.overall_verdict_max_seconds:
            self._overall.held_until_us = max(self._overall.held_until_us, until)

    def held_for(self, chat: Chat) -> float:
        """Seconds a verdict still holds sends to `chat` (0.0: none)."""
        state = self._chats.get(chat)
        held = max(state.held_until_us if state else 0, self._overall.held_until_us) - self._now_us()
        return max(0, held) / MICROSECONDS

    def ready_in(self, chat: Chat) -> float:
        """Seconds until one message to `chat` may go (its pace and any verdict), without
        taking its turn: a sender choosing what to send next waits this out first, so it
        picks once the send can go at once (services/channel_copies.py)."""
        state = self._chats.get(chat)
        now = self._now_us()
        wait = max(state.bucket.wait_us(now) if state else 0, (state.held_until_us if state else 0) - now,
                   self._overall.held_until_us - now)
        return max(0, wait) / MICROSECONDS


def _chat_of(peer) -> Chat:
    if isinstance(peer, (raw.types.InputPeerUser, raw.types.InputPeerUserFromMessage)):
        return ("private", peer.user_id)
    if isinstance(peer, (raw.types.InputPeerChannel, raw.types.InputPeerChannelFromMessage)):
        return ("group", peer.channel_id)
    if isinstance(peer, raw.types.InputPeerChat):
        return ("group", peer.chat_id)
    return ("private", 0)  # a peer the bot cannot write to anyway: paced as one more chat


def counted_sends(query) -> tuple[Chat, int] | None:
    """(chat, number of messages) for a raw request that sends or edits messages; None for any other."""
    if isinstance(query, (raw.functions.messages.SendMessage, raw.functions.messages.SendMedia,
                          raw.functions.messages.EditMessage)):
        return _chat_of(query.peer), 1
    if isinstance(query, raw.functions.messages.SendMultiMedia):
        return _chat_of(query.peer), max(1, len(query.multi_media or ()))
    if isinstance(query, raw.functions.messages.ForwardMessages):
        return _chat_of(query.to_peer), max(1, len(query.id or ()))
    return None


class PacedClient(Client):
    """A pyrogram Client whose message sends, copies, forwards and edits are paced by `pacer`.

    Every other request goes straight through. Keyword `limits` (SendingLimits) sets the pace.
    """

    # Verdicts a single call waits out before it gives up with the last FloodWait.
    MAX_VERDICTS_PER_CALL = 5
    # The main bot's per-chat reply queues (telegram/outbox.Outbox), set when its handlers are
    # registered: update handlers queue their replies there instead of waiting here.
    outbox = None

    def __init__(self, *args, limits: SendingLimits | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.pacer = Pacer(limits)

    async def invoke(self, query, *args, sleep_threshold: float | None = None, **kwargs):
        sends = counted_sends(query)
        if sends is None:
            return await super().invoke(query, *args, sleep_threshold=sleep_threshold, **kwargs)
        chat, count = sends
        patience = self.sleep_threshold if sleep_threshold is None else sleep_threshold
        for _ in range(self.MAX_VERDICTS_PER_CALL):
            try:
                await self.pacer.wait_turn(chat, count, patience=patience)
            except ChatHeld as held:
                raise FloodWait(value=held.seconds) from None
            try:
                # 0: the library must not sleep through a verdict in this one call while
                # the other sends go on; the pacer holds them all.
                return await super().invoke(query, *args, sleep_threshold=0, **kwargs)
            except FloodWait as flood:
                seconds = int(flood.value or 0)
                self.pacer.flood(chat, seconds)
                if seconds > patience:
                    raise
                last = flood
        raise last
