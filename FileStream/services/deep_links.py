"""Deep links as a service: from a /start payload to the file it may open for this person."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from FileStream.core.deep_links import may_open, parse_payload
from FileStream.core.models import StoredFile

# FileStreamBot's deep links named a file by its MongoDB ObjectId (24 lowercase hex digits);
# files migrated from it keep that id (`legacy_id`), so those links keep working.
_LEGACY_ID = re.compile(r"[0-9a-f]{24}")


@dataclass(frozen=True, slots=True)
class DeepLinkTarget:
    action: str        # core.deep_links.SEND_FILE or SEND_LINKS
    file: StoredFile


class DeepLinks:
    """Opens deep links. `files`: store.files.FileStore; `clock`: aware UTC now;
    `legacy_links`: also FileStreamBot's links of migrated files (LEGACY_LINKS)."""

    def __init__(self, files: Any, clock: Callable[[], datetime], *, legacy_links: bool = True) -> None:
        self._files = files
        self._clock = clock
        self._legacy_links = legacy_links

    async def open(self, payload: str, person_id: int | None) -> DeepLinkTarget | None:
        """What the payload opens for this person; None when it opens nothing for them
        (not a deep link, unknown or expired file, or someone else's private file), so
        every refusal looks the same from outside."""
        request = parse_payload(payload)
        if request is None:
            return None
        file = await self.find_file(request.key)
        if file is None:
            return None
        # Old FileStreamBot ids follow the owner rule too: they are guessable (a time and a
        # counter), so a private file's old deep link opens only for its owner; files posted
        # in the auth channel have no owner and open for anyone, as their posts' links did.
        if not may_open(file, person_id):
            return None
        return DeepLinkTarget(request.action, file)

    async def find_file(self, key: str) -> StoredFile | None:
        """The live file a deep-link key names: a shared file's own key, or a migrated file's
        old FileStreamBot id. The one place keys are resolved."""
        if _LEGACY_ID.fullmatch(key):
            if not self._legacy_links:
                return None
            file_id = await self._files.id_for_legacy(key)
            return None if file_id is None else await self._files.get_live(file_id, self._clock())
        return await self._files.get_by_deep_link_key(key, self._clock())
