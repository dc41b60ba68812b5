"""The bot's background messages keep Telegram's per-chat pace and wait out a FLOOD_WAIT, with the
local Telegram's limits on: one person with many files expiring at once gets every warning, once."""

from __future__ import annotations

from datetime import timedelta

from FileStream.core.models import StoredFile
from service_harness import Clock, make_world, running_service

SEND = "messages.SendMessage"


def expiring_file(n: int, owner: int, now) -> StoredFile:
    return StoredFile(
        id=f"pacedfile{n:07d}", file_name=f"episode{n:02}.mkv", file_size=1000, mime_type="video/x-matroska",
        file_unique_id=f"paced{n}", media_type="video", dc_id=2, storage_chat_id=-1001, storage_message_id=n,
        created_at=now - timedelta(minutes=55), expires_at=now + timedelta(minutes=5), owner_id=owner)


async def test_expiry_warnings_to_one_person_keep_the_pace_and_survive_a_flood_wait(telegram, stack_settings):
    world = make_world(telegram)
    person, bot = world.person, world.main_bot
    telegram.world.private_chat(person.user, bot)  # they wrote to the bot before
    clock = Clock()
    async with running_service(stack_settings(world, EXPIRY_WARNING=600), clock) as service:
        # More files than a burst to one person: some warnings must wait their turn.
        count = service.main_client.pacer.limits.private_chat_burst + 3
        flood = telegram.faults.flood_wait(bot, SEND, seconds=1, times=1)
        for n in range(count):
            await service.db.files.insert_confirmed(expiring_file(n, person.id, clock()))
        # However the job's passes fall (one may be under way already), each warning goes out once.
        next(j for j in service.jobs if j.name == "expiry notices").wake()
        await telegram.wait_until(lambda: len(person.messages_from(bot)) >= count)

    warnings = [m.text for m in person.messages_from(bot)]
    assert sorted(warnings) == sorted(set(warnings)) and len(warnings) == count, "each warning once"
    assert flood.hits == 1
    calls = telegram.rpc_log(bot, SEND)
    [refused] = [c for c in calls if c.error]
    assert refused.error == "FLOOD_WAIT_1"
    assert not [c for c in calls if refused.at < c.at < refused.at + 0.95], "nothing sent while told to wait"
    assert telegram.limits.verdicts == [], "Telegram's own limits never had to step in"
