"""Traffic limits per person (TRAFFIC_LIMIT_MB): a person's links stop for the rest of the UTC day
once they sent the limit, with 429, Retry-After and words; others' links, the owner's and the
channel's files go on, and the next day the links work again."""

from __future__ import annotations

import random
from datetime import timedelta

from FileStream.core.usage import day_of
from service_harness import (Clock, add_owner, http_client, links_in, make_world, running_service, send_and_get_links,
                             settings_for)

MIB = 1 << 20


async def fetch(http, url: str) -> tuple[int, bytes, dict]:
    async with http.get(url) as response:
        return response.status, await response.read(), dict(response.headers)


async def test_a_person_over_the_limit_gets_429_until_the_next_utc_day(telegram, stack_settings):
    world = make_world(telegram)
    bot = world.main_bot
    bob = telegram.person(telegram.world.add_user(first_name="Bob", username="bob"))
    data = random.Random(3).randbytes(MIB + MIB // 2)
    # Noon, so the story never crosses midnight by itself.
    clock = Clock(day_of(Clock()()) + timedelta(hours=12))
    async with running_service(stack_settings(world, TRAFFIC_LIMIT_MB=2, FILE_TTL=3 * 86400), clock) as service, http_client() as http:
        alice_links = (await send_and_get_links(world, data, "film.bin")).links
        await bob.send_file(bot, b"bob's notes", file_name="notes.txt")
        bob_links = links_in(await bob.next_message(bot))

        for _ in range(2):
            status, body, _ = await fetch(http, alice_links.download)
            assert status == 200 and body == data
            await service.usage.wait_idle()   # each body's bytes are counted when it ends

        status, body, headers = await fetch(http, alice_links.download)
        assert status == 429
        assert headers["Retry-After"] == str(12 * 3600)
        assert "text/html" in headers["Content-Type"]
        page = body.decode()
        assert "Daily traffic limit reached" in page and "works again in 12 h" in page
        assert (await fetch(http, alice_links.watch))[0] == 429

        notice = await world.person.next_message(bot)
        assert "today's limit of 2.0 MiB" in notice.text and "midnight UTC" in notice.text
        assert (await fetch(http, alice_links.download))[0] == 429
        await service.traffic.close()   # every notice under way has been sent
        told = [m for m in world.person.messages_from(bot) if "today's limit" in (m.text or "")]
        assert len(told) == 1, "told once"

        status, body, _ = await fetch(http, bob_links.download)
        assert status == 200 and body == b"bob's notes", "another person's links are unaffected"

        clock.advance(hours=12)
        status, body, _ = await fetch(http, alice_links.download)
        assert status == 200 and body == data


async def test_the_owners_files_are_exempt_and_counts_reach_the_database(telegram, stack_settings):
    world = make_world(telegram)
    owner = add_owner(world)
    data = random.Random(4).randbytes(MIB + MIB // 2)
    clock = Clock(day_of(Clock()()) + timedelta(hours=12))
    settings = stack_settings(world, TRAFFIC_LIMIT_MB=1, OWNER_ID=owner.user.id)
    async with running_service(settings, clock) as service, http_client() as http:
        world.person = owner
        links = (await send_and_get_links(world, data, "owners.bin")).links
        for _ in range(3):
            status, body, _ = await fetch(http, links.download)
            assert status == 200 and body == data
            await service.usage.wait_idle()
        await service.traffic.flush()
        assert await service.db.traffic.bytes_on(owner.user.id, day_of(clock())) == 0, "not even counted"


async def test_the_count_is_shared_by_instances_once_they_add_their_tallies(
        telegram, database_url, database_name, tmp_path):
    world = make_world(telegram)
    data = random.Random(5).randbytes(MIB + MIB // 2)
    clock = Clock(day_of(Clock()()) + timedelta(hours=12))
    bot_instance = settings_for(world, database_url, database_name, tmp_path / "a", TRAFFIC_LIMIT_MB=2)
    link_server = settings_for(world, database_url, database_name, tmp_path / "b", TRAFFIC_LIMIT_MB=2,
                               LINK_ONLY="true")
    async with (running_service(bot_instance, clock) as first, running_service(link_server, clock) as second,
                http_client() as http):
        links = (await send_and_get_links(world, data, "shared.bin")).links
        elsewhere = links.download.replace(first.public_url, second.public_url)
        for _ in range(2):
            assert (await fetch(http, links.download))[0] == 200
            await first.usage.wait_idle()
        assert (await fetch(http, links.download))[0] == 429
        # The link server has not heard of the first instance's 3 MiB yet: the few seconds of slack.
        assert (await fetch(http, elsewhere))[0] == 200
        await second.usage.wait_idle()
        await first.traffic.flush()   # what the service does every 2 s
        status, _, headers = await fetch(http, elsewhere)
        assert status == 429 and int(headers["Retry-After"]) == 12 * 3600
