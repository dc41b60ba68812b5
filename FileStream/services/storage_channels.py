"""The storage channels' state, shared by every instance: which work, where new copies go, and
the one message the owner gets when a whole channel becomes unusable."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime

from FileStream.core.storage_channels import ChannelState, channel_lost_words, first_usable

log = logging.getLogger(__name__)


class StorageChannels:
    """store: store.copies.CopyStore. storage: BIN_CHANNEL's ids in order. mirror: MIRROR_CHANNEL
    or None. tell_owner(text): sends the owner a message (errors are logged, not raised)."""

    def __init__(self, store, storage: Sequence[int], mirror: int | None, clock: Callable[[], datetime],
                 tell_owner: Callable[[str], Awaitable[None]] | None = None) -> None:
        self.store = store
        self.storage = tuple(storage)
        self.mirror = mirror
        self.clock = clock
        self.tell_owner = tell_owner
        self._unusable: dict[int, ChannelState] = {}

    def role_of(self, chat_id: int) -> str | None:
        if chat_id in self.storage:
            return "storage"
        if self.mirror is not None and chat_id == self.mirror:
            return "mirror"
        return None

    def is_unusable(self, chat_id: int) -> bool:
        return chat_id in self._unusable

    def new_copy_target(self) -> int | None:
        """Where a new storage copy goes: the first BIN_CHANNEL not known to be unusable, else
        the mirror channel (links keep working; such files have no second copy)."""
        found = first_usable(self.storage, self._unusable)
        return found if found is not None or not self.mirror_usable else self.mirror

    def copy_targets(self) -> list[int]:
        """Where to try a new storage copy, in order: the usable BIN_CHANNELs, the mirror channel
        when none is left, and last the channels known unusable (one may work again: its bots
        were made admins again, its rights given back)."""
        usable = [c for c in self.storage if c not in self._unusable]
        if not usable and self.mirror_usable:
            usable.append(self.mirror)
        return usable + [c for c in self.storage if c in self._unusable]

    @property
    def mirror_usable(self) -> bool:
        return self.mirror is not None and self.mirror not in self._unusable

    async def lost(self, chat_id: int, reason: str) -> None:
        """Telegram said the whole channel is unusable (`reason`: its answer). Recorded for every
        instance; the instance that records it first tells the owner, once."""
        role = self.role_of(chat_id)
        if role is None or chat_id in self._unusable:
            return
        now = self.clock()
        self._unusable[chat_id] = ChannelState(chat_id, role, False, reason, now)
        try:
            first = await self.store.mark_unusable(chat_id, role, reason, now)
        except Exception as error:  # noqa: BLE001 - known here; the next instance to find out records it
            log.warning("Could not record that channel %s is unusable: %r", chat_id, error)
            return
        if not first:
            return
        takes_over = self.new_copy_target() if role == "storage" else None
        if role == "mirror":
            after = "files are no longer mirrored"
        elif takes_over is None:
            after = "no storage channel is left for new copies"
        else:
            after = f"new copies go to {takes_over}"
        log.warning("%s channel %s is unusable (%s); %s", role.capitalize(), chat_id, reason, after)
        if self.tell_owner is not None:
            text = channel_lost_words(chat_id, role, reason, takes_over, self.mirror_usable)
            try:
                await self.tell_owner(text)
            except Exception as error:  # noqa: BLE001 - the log says it too
                log.warning("Could not tell the owner that channel %s is unusable: %r", chat_id, error)

    async def works_again(self, chat_id: int) -> None:
        """The channel answered again (the bots were made admins again)."""
        role = self.role_of(chat_id)
        if role is None:
            return
        self._unusable.pop(chat_id, None)
        if await self.store.mark_usable(chat_id, role):
            log.info("%s channel %s works again", role.capitalize(), chat_id)

    async def refresh(self) -> None:
        """Take in what other instances found."""
        states = await self.store.channel_states()
        self._unusable = {chat_id: state for chat_id, state in states.items()
                          if not state.usable and self.role_of(chat_id) is not None}

    def unusable(self) -> list[int]:
        return list(self._unusable)

    async def report(self, now: datetime) -> list[ChannelState]:
        """Every storage channel with its state and live copies (for /botstats and /health)."""
        rows = []
        for chat_id, role in [*((c, "storage") for c in self.storage),
                              *(((self.mirror, "mirror"),) if self.mirror is not None else ())]:
            known = self._unusable.get(chat_id)
            count = await self.store.count_in_channel(chat_id, now)
            rows.append(ChannelState(chat_id, role, known is None, known.reason if known else "",
                                     known.since if known else None, count))
        return rows
