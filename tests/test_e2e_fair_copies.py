"""Fair under a big bundle: the storage channel takes about 20 copies a minute, and one person's 60-file
bundle must not make everyone else wait for them. The real service, the local Telegram with its default
(strict) limits, the test database."""

from __future__ import annotations

import asyncio
import random

from service_harness import http_client, make_world, running_service, until_links

COPY = "messages.SendMedia"   # a file's copy into BIN_CHANNEL


async def test_while_one_persons_sixty_file_bundle_is_stored_another_persons_file_gets_links_within_ten_seconds(
        telegram, stack_settings):
    world = make_world(telegram)
    bot = world.main_bot
    eve = telegram.person(telegram.world.add_user(first_name="Eve", username="eve", home_dc=1))
    alice = world.person
    rng = random.Random(60)
    async with running_service(stack_settings(world)) as service:
        await eve.send_command(bot, "bundle", "Everything")
        await eve.next_message(bot)
        for number in range(60):
            await eve.send_file(bot, rng.randbytes(2_000), file_name=f"eve{number:02d}.bin")
        # Past the channel's burst: from here on Eve's copies go at the channel's pace.
        burst = service.main_client.pacer.limits.group_burst
        await telegram.wait_until(lambda: len(telegram.rpc_log(bot, COPY)) > burst, timeout=30)

        data = rng.randbytes(150_000)
        async with asyncio.timeout(10):
            await alice.send_file(bot, data, file_name="alice.pdf", mime_type="application/pdf")
            reply, links = await until_links(world, await alice.next_message(bot, timeout=10), timeout=10)
        assert links is not None, reply.text
        [bundle] = [doc async for doc in service.db.db["bundles"].find({"owner_id": eve.id})]
        assert bundle["state"] == "open" and len(bundle["items"]) < 45, "Eve's bundle was still being stored"

        async with http_client() as http, http.get(links.download) as response:
            assert response.status == 200 and await response.read() == data

        await eve.send_command(bot, "revoke")   # no need to wait out Eve's remaining copies
        await telegram.wait_until(lambda: not service.ctx.background, timeout=30)
    assert telegram.limits.verdicts == [], "the channel's limit was kept: Telegram never had to step in"


async def test_files_past_the_bundle_limit_are_refused_in_words_once_and_the_bundle_keeps_the_others(
        telegram, stack_settings):
    world = make_world(telegram)
    person, bot = world.person, world.main_bot
    async with running_service(stack_settings(world, RATE_LIMIT_BUNDLE_FILES=3)) as service:
        await person.send_command(bot, "bundle", "Small")
        status = await person.next_message(bot)
        for number in range(5):
            await person.send_file(bot, b"file %d" % number, file_name=f"f{number}.txt")
        refusal = await person.next_message(bot, timeout=20)
        assert "up to 3 files in bundles every 1 h" in refusal.text and "wait" in refusal.text

        def stored_three():
            return any(m.message_id == status.message_id and "3 of 3 stored" in m.text
                       for m in person.messages_from(bot))
        await telegram.world.wait_until(stored_three, timeout=30)
        await person.send_command(bot, "done")
        links = await person.next_message(bot, timeout=20)
        assert "3 files" in links.text
        assert [m.text for m in person.messages_from(bot)].count(refusal.text) == 1, "said once, not per file"
        assert await service.db.db["files"].count_documents({}) == 3
