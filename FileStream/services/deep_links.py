"""Deep links as a service: from a /start payload to the file it may open for this person."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from FileStream.core.deep_links import may_open, parse_payload
from FileStream.core.models import StoredFile


@dataclass(frozen=True, slots=True)
class DeepLinkTarget:
    action: str        # core.deep_links.SEND_FILE or SEND_LINKS
    file: StoredFile


class DeepLinks:
    """Opens deep links. `files`: store.files.FileStore; `clock`: aware UTC now."""

    def __init__(self, files: Any, clock: Callable[[], datetime]) -> None:
        self._files = files
        self._clock = clock

    async def open(self, payload: str, person_id: int | None) -> DeepLinkTarget | None:
        """What the payload opens for this person; None when it opens nothing for them
        (not a deep link, unknown or expired file, or someone else's private file), so
        every refusal looks the same from outside."""
        request = parse_payload(payload)
        if request is None:
            return None
        file = await self.find_file(request.key)
        if file is None or not may_open(file, person_id):
            return None
        return DeepLinkTarget(request.action, file)

    async def find_file(self, key: str) -> StoredFile | None:
        """The live file a deep-link key names. The one place keys are resolved: other kinds
        of key (links made by older bots) are added here."""
        return await self._files.get_by_deep_link_key(key, self._clock())
