"""Late storage copies of migrated files, made only by the instance holding the posting lease.

services/storage_copies.py makes a migrated file's storage copy the first time it is needed,
on whichever instance a link is opened. Telegram's sending limits are per bot, so with
several instances only the lease holder (services/posting_lease.py) posts: another instance
marks the file on its record and watches it until the holder's pass has made the copy (or
found that Telegram refuses every id of it). Same interface as StorageCopies (`ready`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime

from FileStream.core.models import StoredFile
from FileStream.core.storage_copy import CopyNotNow, CopyRefused

log = logging.getLogger(__name__)


class LeasedCopies:
    """copies: services.storage_copies.StorageCopies; store: store.copies.CopyStore;
    files: store.files.FileStore (the claim and refusal of a late copy)."""

    def __init__(self, copies, store, files, may_post: Callable[[], bool], clock: Callable[[], datetime], *,
                 wait_timeout: float = 60.0) -> None:
        self.copies = copies
        self.store = store
        self.files = files
        self.may_post = may_post
        self.clock = clock
        self.wait_timeout = wait_timeout
        self.asked = 0             # copies this instance asked the lease holder for
        self.made_for_others = 0   # copies this instance made because another asked

    @property
    def claim_timeout(self):
        return self.copies.claim_timeout

    async def ready(self, file: StoredFile) -> StoredFile:
        if file.has_storage_copy or self.may_post():
            return await self.copies.ready(file)
        await self.store.want_copy(file.id, self.clock())
        self.asked += 1
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.wait_timeout
        pause = 0.05
        while True:
            task = await self.files.copy_task(file.id)
            if task is None:
                raise CopyRefused("the file was deleted")
            if task.file.has_storage_copy:
                return task.file
            if task.claim is not None and task.claim.state == "refused":
                raise CopyRefused(task.claim.reason)
            if self.may_post():   # the lease came here meanwhile
                return await self.copies.ready(task.file)
            if loop.time() >= deadline:
                raise CopyNotNow(f"file {file.ref}: the instance that posts has not made its storage copy yet", 10)
            await asyncio.sleep(pause)
            pause = min(pause * 2, 0.5)

    async def wanted_pass(self) -> int:
        """The lease holder makes the copies other instances asked for; how many it handled."""
        if not self.may_post():
            return 0
        wanted = await self.store.copies_wanted()
        for file in wanted:
            try:
                await self.copies.ready(file)
                self.made_for_others += 1
            except (CopyRefused, CopyNotNow) as outcome:
                log.info("File %s: the storage copy asked for was not made: %s", file.ref, outcome)
            await self.store.drop_copy_wish(file.id)
        return len(wanted)

    async def close(self) -> None:
        await self.copies.close()
