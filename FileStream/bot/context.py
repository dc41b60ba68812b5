"""What every handler is given: the services it may use (never globals)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from FileStream.services.intake import FileIntake
from FileStream.services.links import LinkMaker
from FileStream.telegram.pool import BotPool


@dataclass
class BotContext:
    settings: object              # config.Settings
    db: object                    # store.database.Database
    pool: BotPool
    intake: FileIntake
    links: LinkMaker
    clock: Callable[[], datetime]
    started_at: datetime
    bot_username: str = ""
    extras: dict = field(default_factory=dict)  # room for later services (broadcasts, jobs)

    def deep_link(self, payload: str) -> str:
        return f"https://t.me/{self.bot_username}?start={payload}"
