"""What every handler is given: the services it may use (never globals)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime

from FileStream.bot.pacing import StatusMessages
from FileStream.services.bundles import BundleMaker
from FileStream.services.deep_links import DeepLinks
from FileStream.services.intake import FileIntake
from FileStream.services.links import LinkMaker
from FileStream.services.ratelimit import FileRateLimit
from FileStream.services.requests import RequestTracker
from FileStream.services.storage_copies import StorageCopies
from FileStream.telegram.pool import BotPool

Hook = Callable[[], Awaitable[object]]


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
    statuses: StatusMessages = field(default_factory=StatusMessages)  # bundles' paced status messages
    storage: object | None = None             # services.storage_status.StorageStatus, for /botstats
    keeper: object | None = None              # services.healing.CopyKeeper: reads a file from any live copy
    # Run by the service once the bots are up / before they stop (resuming a broadcast…).
    on_started: list[Hook] = field(default_factory=list)
    on_stopping: list[Hook] = field(default_factory=list)

    def deep_link(self, payload: str) -> str:
        return f"https://t.me/{self.bot_username}?start={payload}"

    def is_owner(self, user_id: int | None) -> bool:
        return user_id is not None and user_id in self.settings.owner_ids
