"""Deadlines to the second: the background jobs sleep until the earliest due time, are woken
early by new work, and keep the small settings people choose.

The story runs in real time with the settings of the issue (REQUEST_TIMEOUT=10, FILE_TTL=20,
EXPIRY_WARNING=10): the jobs' fallback poll is 30 s, so only waking for the due times
can keep them. It waits on the bot's messages (events), never sleeps.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

from FileStream.service import JOB_INTERVAL_SECONDS, utc_now
from service_harness import links_in, make_world, running_service, send_and_get_links

COPY = "messages.SendMedia"  # the copy into BIN_CHANNEL
ON_TIME = timedelta(seconds=2)


async def arrival(waiting):
    """The message a wait returns, and when it arrived."""
    message = await waiting
    return message, datetime.now(timezone.utc)


def lateness(arrived: datetime, due: datetime) -> float:
    return (arrived - due).total_seconds()


async def test_timeout_notice_expiry_warning_and_expiry_edit_come_within_2_s_of_their_due_time(
        telegram, stack_settings):
    world = make_world(telegram)
    alice, bot = world.person, world.main_bot
    carol = telegram.person(telegram.world.add_user(first_name="Carol", username="carol"))
    settings = stack_settings(world, REQUEST_TIMEOUT=10, FILE_TTL=20, EXPIRY_WARNING=10)
    assert JOB_INTERVAL_SECONDS > 20, "a fallback poll this short would hide a missed due time"
    async with running_service(settings, utc_now) as service:   # the real clock, not the harness's still one
        # Alice's file lives 20 s: warned at 10 s, links ended at 20 s.
        sent = await send_and_get_links(world, b"twenty seconds", "short.txt")
        [file], _ = await service.db.files.list_by_owner(alice.id, service.clock(), 0)
        # Carol's request hangs: its copy into storage waits out a long FLOOD_WAIT.
        hang = telegram.faults.flood_wait(bot, COPY, seconds=25, times=1)
        await carol.send_file(bot, b"slow", file_name="slow.txt")
        status = await carol.next_message(bot)
        request = await service.ctx.requests.status(carol.id)
        assert request is not None and "Storing" in status.text
        await telegram.wait_until(lambda: hang.hits)  # the copy met the FLOOD_WAIT while the request was open

        (warning, warned_at), (expired, expired_at), (notice, told_at) = await asyncio.gather(
            arrival(alice.next_message(bot, timeout=30)),
            arrival(alice.next_edit(bot, timeout=40)),
            arrival(carol.next_message(bot, timeout=30)))

    assert "short.txt" in warning.text and "expire in 10 s" in warning.text
    assert 0 <= lateness(warned_at, file.expires_at - timedelta(seconds=10)) <= ON_TIME.total_seconds()
    assert expired.message_id == sent.reply.message_id and "have expired" in expired.text
    assert links_in(expired) is None
    assert 0 <= lateness(expired_at, file.expires_at) <= ON_TIME.total_seconds()
    assert "slow.txt" in notice.text and "timed out after 10 s" in notice.text
    assert 0 <= lateness(told_at, request.timeout_at) <= ON_TIME.total_seconds()
    print(f"warning {lateness(warned_at, file.expires_at - timedelta(seconds=10)):.3f} s, "
          f"expiry edit {lateness(expired_at, file.expires_at):.3f} s, "
          f"timeout notice {lateness(told_at, request.timeout_at):.3f} s after their due times")
