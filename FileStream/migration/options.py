"""What one run is asked to do: databases, dry run, storage channel, expiry, re-posting."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Options:
    source_url: str
    source_db: str
    target_url: str
    target_db: str
    dry_run: bool = False
    bin_channel: int | None = None
    file_ttl: int | None = None
    timeout: float = 5.0
    progress: bool | None = None  # None: only when stderr is a terminal
    repost: bool = False          # make the missing storage copies now (needs the bot settings)
    repost_rate: float = 20.0     # storage copies per minute (Telegram: ~20 posts a minute per channel)

    @property
    def in_place(self) -> bool:
        return (self.source_url, self.source_db) == (self.target_url, self.target_db)
