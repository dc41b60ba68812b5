"""What every handler is given: the services it may use (never globals)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from datetime import datetime

from FileStream.bot.pacing import StatusMessages
from FileStream.i18n import Catalogs
from FileStream.services.bundles import BundleMaker
from FileStream.services.deep_links import DeepLinks
from FileStream.services.intake import FileIntake
from FileStream.services.links import LinkMaker
from FileStream.services.ratelimit import BundleFileLimit, FileRateLimit
from FileStream.services.requests import RequestTracker
from FileStream.services.storage_copies import StorageCopies
from FileStream.telegram.pool import BotPool

Hook = Callable[[], Awaitable[object]]
log = logging.getLogger(__name__)


async def _tell_nobody(_released: list[dict]) -> None:
    """Without the stale-request job (a bare context in tests) nobody is told."""


@dataclass
class BotContext:
    settings: object              # config.Settings
    db: object                    # store.database.Database
    pool: BotPool
    intake: FileIntake
    links: LinkMaker
    copies: StorageCopies         # makes the storage copy of a migrated file before it is used
    requests: RequestTracker
    rate_limit: FileRateLimit
    clock: Callable[[], datetime]
    started_at: datetime
    deep_links: DeepLinks
    bot_username: str = ""
    # False when Telegram refuses buttons that link to PUBLIC_URL (its host has no dot):
    # the links then go as text only.
    link_buttons: bool = True
    broadcasts: object | None = None          # services.broadcast.BroadcastEngine, set by the owner module
    bundles: BundleMaker | None = None        # albums and /bundle … /done
    bundle_limit: BundleFileLimit | None = None   # RATE_LIMIT_BUNDLE_FILES (files in bundles)
    statuses: StatusMessages = field(default_factory=StatusMessages)  # bundles' paced status messages
    languages: Catalogs = field(default_factory=Catalogs.english_only)  # every language the bot speaks
    storage: object | None = None             # services.storage_status.StorageStatus, for /botstats
    keeper: object | None = None              # services.healing.CopyKeeper: reads a file from any live copy
    # bot.channel.ChannelPosts when AUTH_CHANNEL is set: puts link buttons on its posts
    # (also on those of an album a stop left without them: bot/missed_links.py).
    channel_posts: object | None = None
    # Run by the service once the bots are up / before they stop (resuming a broadcast…).
    on_started: list[Hook] = field(default_factory=list)
    on_stopping: list[Hook] = field(default_factory=list)
    # This process, in what it notes in the database (posts in hand).
    instance: str = ""
    # Requests a stopped process left, released at start (jobs/stale_requests.py): those that
    # name their message are handled again (bot/missed_links.py); `tell_released` tells the
    # people of the others (and of any that cannot be) to send again.
    left_behind: list[dict] = field(default_factory=list)
    tell_released: Callable[[list[dict]], Awaitable[object]] = field(default=_tell_nobody)
    # Work a handler handed off so its update worker is free at once (storing a file waits
    # for the person's turn in the storage channel); kept here so it is not collected.
    background: set[asyncio.Task] = field(default_factory=set)

    def spawn(self, work: Coroutine, name: str) -> asyncio.Task:
        """Run `work` apart from the update worker; its failure is logged."""
        task = asyncio.get_running_loop().create_task(work, name=name)
        self.background.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task) -> None:
        self.background.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("%s failed", task.get_name(), exc_info=task.exception())

    async def settle_background(self, timeout: float) -> None:
        """Give the work under way up to `timeout` seconds to end by itself (a bundle's last status
        edit and its links are posted from such a task), cancelling nothing."""
        tasks = [t for t in self.background if not t.done()]
        if tasks:
            await asyncio.wait(tasks, timeout=timeout)

    async def stop_background(self) -> None:
        tasks = [t for t in self.background if not t.done()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def deep_link(self, payload: str) -> str:
        return f"https://t.me/{self.bot_username}?start={payload}"

    def is_owner(self, user_id: int | None) -> bool:
        return user_id is not None and user_id in self.settings.owner_ids
