"""Several instances on one database: link servers serve every instance's links, and the
one-active-request rule holds across instances because MongoDB enforces it."""

from __future__ import annotations

import random

from FileStream.services.requests import RequestTracker
from service_harness import Clock, http_client, make_world, running_service, send_and_get_links, settings_for


async def test_a_link_only_instance_serves_links_made_by_the_bot_instance(telegram, database_url, database_name, tmp_path):
    world = make_world(telegram)
    data = random.Random(8).randbytes(1_500_000)
    clock = Clock()
    bot_instance = settings_for(world, database_url, database_name, tmp_path / "a")
    link_server = settings_for(world, database_url, database_name, tmp_path / "b", LINK_ONLY="true")
    async with running_service(bot_instance, clock) as first, running_service(link_server, clock) as second:
        assert second.ctx is None and not second.jobs  # handles no bot updates, runs no jobs
        links = (await send_and_get_links(world, data, "shared.bin")).links
        async with http_client() as http:
            for service in (first, second):
                url = links.download.replace(first.public_url, service.public_url)
                async with http.get(url, headers={"Range": "bytes=1000-"}) as response:
                    assert response.status == 206
                    assert await response.read() == data[1000:]

        # One active request per person, whichever instance asks.
        other = RequestTracker(second.db.requests, clock, 300)
        assert await first.ctx.requests.begin(world.person_user.id, "a.bin") is not None
        assert await other.begin(world.person_user.id, "b.bin") is None
