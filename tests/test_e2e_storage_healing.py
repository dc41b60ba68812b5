"""End to end: links outlive their storage. A stored copy deleted, a storage channel lost, a
mirror channel: the link still serves the exact bytes, and the lost copy is made again once.

Every story runs the real service against the local Telegram server and the test database,
and fetches links over real HTTP. Nothing of FileStream is replaced.
"""

from __future__ import annotations

import random

from service_harness import (Clock, add_owner, http_client, make_world, running_service, send_and_get_links,
                             settings_for)

MIB = 1 << 20


def pattern(size: int, seed: int = 7) -> bytes:
    return random.Random(seed).randbytes(size)


def copies_in(channel, media) -> list:
    """The live messages of `channel` that hold `media` (the same stored document)."""
    return [m for m in channel.messages.values() if not m.deleted and m.media is media]


async def download(url: str) -> tuple[int, bytes]:
    async with http_client() as http:
        async with http.get(url) as response:
            return response.status, await response.read()


async def test_a_deleted_storage_copy_is_made_again_from_the_persons_message(telegram, stack_settings):
    world = make_world(telegram)
    data = pattern(3 * MIB + 5)
    async with running_service(stack_settings(world)) as service:
        sent = await send_and_get_links(world, data, "kept.bin")
        media = sent.message.media
        [stored] = copies_in(world.bin_channel, media)
        telegram.world.delete([stored], None)  # a careless admin cleans up the storage channel

        assert await download(sent.links.download) == (200, data)
        [healed] = copies_in(world.bin_channel, media)
        assert healed.id != stored.id
        assert service.keeper.healed == 1
        # Healed once: the next download reads the new copy, nothing is copied again.
        assert await download(sent.links.stream) == (200, data)
        assert len(copies_in(world.bin_channel, media)) == 1 and service.keeper.healed == 1


async def test_with_every_copy_and_the_original_gone_the_link_answers_410_in_words(telegram, stack_settings):
    world = make_world(telegram)
    data = pattern(MIB + 1)
    async with running_service(stack_settings(world)):
        sent = await send_and_get_links(world, data, "gone.bin")
        [stored] = copies_in(world.bin_channel, sent.message.media)
        telegram.world.delete([stored, sent.message], None)  # the person deleted their message too

        async with http_client() as http:
            async with http.get(sent.links.download) as response:
                assert response.status == 410
                page = await response.text()
        assert "This file is gone" in page and "send it to the bot again" in page
