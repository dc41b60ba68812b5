"""Before a handler uses a file's storage message: make sure it exists, or say why not.

Files migrated from FileStreamBot get their copy in the storage channel the first time
they are needed (services/storage_copies.py); a handler that sends or shows such a file
asks here first.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from FileStream.bot import texts
from FileStream.bot.context import BotContext
from FileStream.core.models import StoredFile
from FileStream.core.storage_copy import CopyNotNow, CopyRefused

Say = Callable[[str], Awaitable[object]]


async def with_storage_copy(ctx: BotContext, record: StoredFile, say: Say) -> StoredFile | None:
    """The record with its storage copy; None after telling the person (via `say`) why not."""
    try:
        return await ctx.copies.ready(record)
    except CopyRefused:
        await say(texts.FILE_CANNOT_BE_FETCHED)
    except CopyNotNow:
        await say(texts.FILE_NOT_READY)
    return None
