"""The bot's update stream across restarts and reconnects: catch up on what Telegram kept, handle each update once."""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import Iterable
from typing import Any

from pyrogram import raw, utils
from pyrogram.storage import UpdateState

from FileStream.telegram.pacing import PacedClient

log = logging.getLogger(__name__)

# New messages remembered to drop a second delivery (a push that is also in a difference).
SEEN_MESSAGES = 20_000

_NEW_MESSAGES = (raw.types.UpdateNewMessage, raw.types.UpdateNewChannelMessage)
_EDITS = (raw.types.UpdateEditMessage, raw.types.UpdateEditChannelMessage)
_RESULTS = (raw.types.Updates, raw.types.UpdatesCombined)


def message_key(update: Any) -> tuple[int, int] | None:
    """(chat, message id) of a new message; private ids are unique per account, so chat 0."""
    if not isinstance(update, _NEW_MESSAGES):
        return None
    message = update.message
    channel_id = getattr(getattr(message, "peer_id", None), "channel_id", None)
    return (channel_id or 0, message.id)


def is_own(update: Any) -> bool:
    """The bot's own message (a difference lists what the bot sent too): never handled."""
    return isinstance(update, _NEW_MESSAGES + _EDITS) and bool(getattr(update.message, "out", False))


def state_id_of(update: Any) -> int | None:
    """Which update state (0: the account's, -100…: a channel's) an update with a pts moves."""
    if getattr(update, "pts", None) is None or getattr(update, "pts_count", None) is None:
        return None
    channel_id = getattr(getattr(getattr(update, "message", None), "peer_id", None), "channel_id", None) \
        or getattr(update, "channel_id", None)
    return utils.get_channel_id(channel_id) if channel_id else 0


class OnceQueue(asyncio.Queue):
    """The dispatcher's queue, letting each new message through once and none of the bot's own."""

    def __init__(self, remember: int = SEEN_MESSAGES) -> None:
        super().__init__()
        self._seen: collections.OrderedDict[tuple[int, int], None] = collections.OrderedDict()
        self._remember = remember
        self.dropped = 0

    def put_nowait(self, item: Any) -> None:
        if item is not None:
            update = item[0]
            key = message_key(update)
            if is_own(update) or (key is not None and key in self._seen):
                self.dropped += 1
                return
            if key is not None:
                self._seen[key] = None
                if len(self._seen) > self._remember:
                    self._seen.popitem(last=False)
        super().put_nowait(item)


class CatchingUpClient(PacedClient):
    """The client of the bot that takes updates.

    Telegram keeps what a bot missed (updates.getDifference, getChannelDifference) from the
    update state the client stored: this client stores it in its session file at once (a
    restart, even after SIGKILL, goes on from there), catches up at start, after every
    reconnect and whenever a pushed update shows a gap, and lets each new message through
    once. An update is stored as seen when it arrives, before it is handled: one cut short by
    a crash is handed to the handlers again at the next start (`redeliver`, from what the
    database says was in hand: bot/missed_links.py)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, skip_updates=False, **kwargs)
        self.dispatcher.updates_queue = OnceQueue()
        self._catching_up = asyncio.Lock()
        self._reconnect_tasks: set[asyncio.Task] = set()
        self.connect_handler = self._on_connect
        self.catch_ups = 0  # rounds that asked Telegram for a difference

    async def recover_gaps(self, ids: int | Iterable[int] | None = None) -> tuple[int, int]:
        async with self._catching_up:
            self.catch_ups += 1
            recovered = await super().recover_gaps(ids)
        if any(recovered):
            log.info("Caught up on %s messages and %s other updates missed while away", *recovered)
        return recovered

    async def watch_channels(self, channel_ids: Iterable[int]) -> None:
        """Remember where each channel stands now, so posts made while the service is down are
        asked for after a restart (Telegram tells a bot a channel's pts only with an update)."""
        for channel_id in channel_ids:
            if await self.storage.get_update_states(channel_id):
                continue
            try:
                full = await self.invoke(raw.functions.channels.GetFullChannel(
                    channel=await self.resolve_peer(channel_id)))
            except Exception as error:  # noqa: BLE001 - a channel it cannot read is reported elsewhere
                log.warning("Cannot read where channel %s stands (%s): posts made there while the service "
                            "is down are not caught up", channel_id, error)
                continue
            await self.storage.set_update_state(UpdateState(channel_id, full.full_chat.pts, None, None, None))
        await self.storage.save()

    async def handle_updates(self, updates) -> None:
        gaps = await self._gaps_in(updates)
        recovered: dict[int, int] = {}
        if gaps:
            await self.recover_gaps(gaps)
            recovered = {s.id: s.pts for s in await self.storage.get_update_states(gaps)}
        await super().handle_updates(updates)
        # The pushed updates were in the difference too: the state stays where catching up left it.
        for state in await self.storage.get_update_states(list(recovered)) if recovered else ():
            if state.pts is not None and state.pts < recovered[state.id]:
                await self.storage.set_update_state(UpdateState(state.id, recovered[state.id], None, None, None))
        await self.storage.save()

    async def invoke(self, query, *args, **kwargs):
        result = await super().invoke(query, *args, **kwargs)
        if isinstance(result, _RESULTS) and self.is_initialized:
            await self._apply_own(result.updates)
        return result

    async def _apply_own(self, updates: list[Any]) -> None:
        """A send's answer moves the state like a push would; only in order (else a gap is left
        for catching up to fill)."""
        changed = False
        for update in updates:
            state_id = state_id_of(update)
            if state_id is None:
                continue
            [state] = await self.storage.get_update_states(state_id) or [None]
            if state is not None and state.pts is not None and state.pts + update.pts_count == update.pts:
                await self.storage.set_update_state(UpdateState(state_id, update.pts, None, None, None))
                changed = True
        if changed:
            await self.storage.save()

    async def _gaps_in(self, updates) -> list[int]:
        if not isinstance(updates, _RESULTS):
            return []
        expected: dict[int, int] = {}
        gaps: list[int] = []
        for update in updates.updates:
            state_id = state_id_of(update)
            if state_id is None or state_id in gaps:
                continue
            if state_id not in expected:
                [state] = await self.storage.get_update_states(state_id) or [None]
                if state is None or state.pts is None:
                    continue
                expected[state_id] = state.pts
            if expected[state_id] + update.pts_count < update.pts:
                gaps.append(state_id)
            expected[state_id] = max(expected[state_id], update.pts)
        return gaps

    async def redeliver(self, chat_id: int, message_id: int, *, unless_marked: bool = False) -> bool:
        """Hand a message to the handlers again, as Telegram has it now, as if it had just come
        (its handling was cut by a stop). False when it is gone (deleted), or when
        `unless_marked` and it already carries buttons (a post that got them after all)."""
        if chat_id < 0:
            found = await self.invoke(raw.functions.channels.GetMessages(
                channel=await self.resolve_peer(chat_id), id=[raw.types.InputMessageID(id=message_id)]))
        else:
            found = await self.invoke(raw.functions.messages.GetMessages(id=[raw.types.InputMessageID(id=message_id)]))
        messages = [m for m in found.messages if isinstance(m, raw.types.Message) and m.id == message_id]
        if not messages or (unless_marked and messages[0].reply_markup is not None):
            return False
        await self.fetch_peers(found.users)
        await self.fetch_peers(found.chats)
        update_type = raw.types.UpdateNewChannelMessage if chat_id < 0 else raw.types.UpdateNewMessage
        # No pts: the update state is not moved by it (it already stands past this message).
        self.dispatcher.updates_queue.put_nowait((update_type(message=messages[0], pts=0, pts_count=0),
                                                  {u.id: u for u in found.users}, {c.id: c for c in found.chats}))
        return True

    async def stop(self, *args, **kwargs):
        for task in list(self._reconnect_tasks):  # a catch-up cut short resumes at the next start
            task.cancel()
        return await super().stop(*args, **kwargs)

    async def _on_connect(self, client, session) -> None:
        # The first connect is caught up by start(); a reconnect of the main session here.
        if session is not self.session or not self.is_initialized:
            return
        task = asyncio.ensure_future(self._catch_up_after_reconnect())
        self._reconnect_tasks.add(task)
        task.add_done_callback(self._reconnect_tasks.discard)

    async def _catch_up_after_reconnect(self) -> None:
        try:
            await self.recover_gaps()
        except Exception as error:  # noqa: BLE001 - the next reconnect or gap tries again
            log.warning("Catching up after a reconnect failed: %r", error)
