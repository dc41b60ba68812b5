"""Which instance posts into the storage channels: the one holding a lease in MongoDB.

Telegram's sending limits are per bot token, not per process: with several instances
(compose runs a bot instance and link-only ones), copies made by all of them at once could
go past one bot's limits. So only the lease holder mirrors files, heals lost copies and
checks stored copies; the others write what they need on the file's record, and the
holder's heal queue does it. A holder that stops renewing loses the lease after `ttl`.

The bot instance is never run twice at once (Telegram gives a bot's updates to one
process), so a bot instance that starts while the lease is held by a bot instance takes
it at once: that holder is its stopped predecessor (a kill -9 gives nothing back). Before a
new holder posts anything, `before_posting` runs (the copies a stopped holder left noted
in copy_intents are accounted for, its heal claims released).
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

log = logging.getLogger(__name__)

LEASE_NAME = "storage_posts"


class PostingLease:
    """store: store.leases.LeaseStore. Call `renew()` every ttl/3 seconds (a PeriodicJob)."""

    def __init__(self, store, clock: Callable[[], datetime], *, ttl: float = 30.0, bot: bool = False) -> None:
        self.store = store
        self.clock = clock
        self.ttl = timedelta(seconds=ttl)
        self.holder = secrets.token_hex(8)
        self.bot = bot          # this is the bot instance: it takes over its predecessor's lease
        self.held = False
        self._held_until: datetime | None = None
        self._first = True
        self.on_taken: list[Callable[[], object]] = []
        # Awaited when the lease is taken, before may_post() says yes (a failure is logged).
        self.before_posting: list[Callable[[], Awaitable[object]]] = []

    def may_post(self) -> bool:
        """Whether this instance holds the lease now (and it has not run out unrenewed)."""
        return self.held and self._held_until is not None and self.clock() < self._held_until

    async def renew(self) -> bool:
        now = self.clock()
        until = now + self.ttl
        take_over = self.bot and self._first
        try:
            held = await self.store.take(LEASE_NAME, self.holder, now, until, bot=self.bot, take_over_bot=take_over)
        except Exception as error:  # noqa: BLE001 - not renewed: it runs out, someone else takes it
            log.warning("Could not renew the posting lease: %r", error)
            return self.may_post()
        self._first = False
        was = self.held
        if held and not was:
            for prepare in self.before_posting:
                try:
                    await prepare()
                except Exception as error:  # noqa: BLE001 - what is left is tried at the next taking
                    log.warning("Before posting into the storage channels: %r", error)
        self.held = held
        self._held_until = until if held else None
        if held and not was:
            log.info("This instance now posts into the storage channels (it holds the posting lease)")
            for hook in self.on_taken:
                hook()
        elif was and not held:
            log.info("Another instance now posts into the storage channels")
        return held

    async def give_up(self) -> None:
        if self.held:
            self.held = False
            try:
                await self.store.give_up(LEASE_NAME, self.holder)
            except Exception as error:  # noqa: BLE001 - it runs out by itself
                log.warning("Could not give up the posting lease: %r", error)
