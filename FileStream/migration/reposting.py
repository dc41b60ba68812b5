"""Re-posting: make the missing storage-channel copies now (paced, resumable) instead of on first use."""

from __future__ import annotations

import sys
from datetime import datetime, timezone
from typing import Any

from tqdm import tqdm

from FileStream.migration.options import Options
from FileStream.migration.schema import Unusable
from FileStream.store.database import Database


async def repost(options: Options, settings: Any) -> Any:
    """Make every missing storage copy in the target database now (paced, resumable).

    `settings`: FileStream's Settings (the bot token, api id/hash, BIN_CHANNEL). Returns
    services.storage_copies.PendingCopies. Raises Unusable when the database or the bot
    cannot be used.
    """
    # Imported here: the migration itself needs no Telegram client.
    from FileStream.core.storage_copy import CopyNotNow
    from FileStream.services.storage_copies import StorageCopies
    from FileStream.store.database import DatabaseUnavailable, Deadlines
    from FileStream.telegram.clients import build_client, start_member, stop_client
    from FileStream.telegram.pool import BotPool, PoolMember

    try:
        database = await Database.connect(options.target_url, options.target_db,
                                          deadlines=Deadlines(server_selection=options.timeout))
    except DatabaseUnavailable as exc:
        raise Unusable(str(exc)) from exc
    client = build_client(token=settings.bot_token, api_id=settings.api_id, api_hash=settings.api_hash,
                          session_dir=str(settings.session_dir), workers=1, receives_updates=False, in_memory=True)
    main = PoolMember("main", client, is_main=True)
    try:
        if not await start_member(main, settings.bin_channel):
            raise Unusable(f"the main bot cannot re-send files: {main.last_error} (check BOT_TOKEN and BIN_CHANNEL)")
        clock = lambda: datetime.now(timezone.utc)  # noqa: E731
        copies = StorageCopies(database.files, BotPool(main=main), settings.bin_channel, clock)
        total = len(await database.files.ids_needing_copy(clock()))
        show = options.progress
        with tqdm(total=total, unit="file", file=sys.stderr, disable=None if show is None else not show,
                  leave=False) as bar:
            try:
                return await copies.make_pending(per_minute=options.repost_rate, on_done=lambda _: bar.update(1))
            except CopyNotNow as exc:
                raise Unusable(f"{exc} (the copies made so far are kept: run --repost again to go on)") from exc
            finally:
                await copies.close()
    finally:
        await stop_client(client)
        await database.close()
