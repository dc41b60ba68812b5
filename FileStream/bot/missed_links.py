"""After a restart: the links of files stored just before the service stopped (kill -9 included)
that never reached the person.

A reply waits in memory (telegram/outbox.py) until its chat's turn, so a crash can lose it.
What matters is in MongoDB: the request completed with its file, and the file's link message
is recorded once the links went out. A completed request whose file has no link message was
never answered; it is answered now.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from FileStream.bot.context import BotContext
from FileStream.bot.replies import file_links, send

log = logging.getLogger(__name__)

# Requests older than this are not looked at: their people have long moved on (or sent again).
LOOKBACK = timedelta(days=1)


async def deliver_missed_links(ctx: BotContext, client) -> int:
    """Queue the links of every file whose links were never delivered; how many."""
    now = ctx.clock()
    lookback = min(LOOKBACK, timedelta(seconds=ctx.settings.file_ttl)) if ctx.settings.file_ttl else LOOKBACK
    try:
        done = await ctx.requests.store.completed_files_between(now - lookback, ctx.started_at)
    except Exception as error:  # noqa: BLE001 - the service runs on; the log says what was not checked
        log.warning("Could not look for links a crash kept from people: %r", error)
        return 0
    queued = 0
    for request in done:
        file_id = request["file_id"]
        try:
            record = await ctx.db.files.get_live(file_id, now)
            if record is None or await ctx.db.files.link_message(file_id) is not None:
                continue
        except Exception as error:  # noqa: BLE001 - one file less; the others still go
            log.warning("Could not check whether the links of file %s went out: %r", file_id, error)
            continue

        async def remember(shown, file_id=file_id) -> None:
            await ctx.db.files.set_link_message(file_id, shown.chat.id, shown.id)
        text, markup = file_links(ctx, record)
        await send(client, request["user_id"], text, markup=markup, on_sent=remember)
        queued += 1
    if queued:
        log.info("Links of %d file(s) stored before the last stop had not reached their people; sent now", queued)
    return queued


def register(client, ctx: BotContext) -> None:
    async def on_started() -> None:
        await deliver_missed_links(ctx, client)
    ctx.on_started.append(on_started)
