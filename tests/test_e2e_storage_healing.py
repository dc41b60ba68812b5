"""End to end: links outlive their storage. A stored copy deleted, a storage channel lost, a
mirror channel: the link still serves the exact bytes, and the lost copy is made again once.

Every story runs the real service against the local Telegram server and the test database,
and fetches links over real HTTP. Nothing of FileStream is replaced.
"""

from __future__ import annotations

import asyncio
import gc
import random

from FileStream.core.models import StoredFile
from FileStream.store.files import file_document
from service_harness import (Clock, add_owner, http_client, make_world, running_service, send_and_get_links,
                             settings_for)
from tgserver import file_id_for, file_unique_id_of

MIB = 1 << 20


def pattern(size: int, seed: int = 7) -> bytes:
    return random.Random(seed).randbytes(size)


def copies_in(channel, media) -> list:
    """The live messages of `channel` that hold `media` (the same stored document)."""
    return [m for m in list(channel.messages.values()) if not m.deleted and m.media is media]


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


def with_mirror(telegram):
    """A world whose bots are admins of a second channel, the mirror."""
    world = make_world(telegram)
    mirror = telegram.world.add_channel(title="FileStream mirror", admins=[world.main_bot, *world.backends])
    return world, mirror


async def test_with_a_mirror_a_deleted_storage_copy_is_served_from_the_mirror_and_made_again(
        telegram, stack_settings):
    world, mirror = with_mirror(telegram)
    data = pattern(2 * MIB + 333, seed=2)
    async with running_service(stack_settings(world, MIRROR_CHANNEL=mirror.id)) as service:
        sent = await send_and_get_links(world, data, "mirrored.bin")
        media = sent.message.media
        [mirrored] = await telegram.world.wait_until(lambda: copies_in(mirror, media), timeout=10)
        [stored] = copies_in(world.bin_channel, media)
        copies_changed = asyncio.Event()
        service.keeper.on_copies_changed.append(copies_changed.set)
        telegram.world.delete([stored], None)

        assert await download(sent.links.download) == (200, data)
        [healed] = await telegram.world.wait_until(lambda: copies_in(world.bin_channel, media), timeout=10)
        assert healed.id != stored.id and copies_in(mirror, media) == [mirrored]
        # The copy is made again in the background: it is counted once the record holds it.
        while service.keeper.healed < 1:
            await asyncio.wait_for(copies_changed.wait(), 10)
            copies_changed.clear()
        assert service.keeper.healed == 1
        assert b"filestream_copies_healed_total 1.0" in service.ops.metrics.render()[0]


async def test_with_every_bot_removed_from_the_storage_channel_links_live_on_and_the_owner_hears_once(
        telegram, stack_settings):
    world, mirror = with_mirror(telegram)
    owner = add_owner(world)
    old = [pattern(MIB + n, seed=n) for n in (1, 2)]
    async with running_service(stack_settings(world, MIRROR_CHANNEL=mirror.id, OWNER_ID=owner.user.id)) as service:
        await owner.send_text(world.main_bot, "/start")  # a bot may write only to people who wrote to it
        await owner.next_message(world.main_bot)
        sents = [await send_and_get_links(world, data, f"old{n}.bin") for n, data in enumerate(old)]
        await telegram.world.wait_until(lambda: all(copies_in(mirror, s.message.media) for s in sents), timeout=10)
        world.bin_channel.remove(world.main_bot)  # the bots are thrown out of BIN_CHANNEL

        for sent, data in zip(sents, old):
            assert await download(sent.links.download) == (200, data)
        notice = await owner.next_message(world.main_bot, timeout=10)
        assert str(world.bin_channel.id) in notice.text and "unusable" in notice.text

        new = pattern(MIB // 2, seed=9)
        sent = await send_and_get_links(world, new, "new.bin")
        assert sent.links is not None, sent.reply.text
        assert await download(sent.links.download) == (200, new)
        for sent, data in zip(sents, old):
            assert await download(sent.links.stream) == (200, data)
        told = [m for m in owner.messages_from(world.main_bot) if "unusable" in m.text]
        assert len(told) == 1

        async with http_client() as http:
            async with http.get(f"{service.public_url}/health") as response:
                assert response.status == 200, "a lost channel is reported, the process stays ready"
                health = await response.json()
        assert health["storage"] == "degraded"
        assert health["storage_channels"] == {str(world.bin_channel.id): {"role": "storage", "usable": False},
                                              str(mirror.id): {"role": "mirror", "usable": True}}
        await owner.send_text(world.main_bot, "/botstats")
        stats = await owner.next_message(world.main_bot, timeout=10)
        assert "UNUSABLE: CHANNEL_PRIVATE" in stats.text and "Storage channels" in stats.text


async def test_with_two_storage_channels_new_files_go_to_the_second_once_the_first_is_unusable(
        telegram, stack_settings):
    world = make_world(telegram)
    second = telegram.world.add_channel(title="FileStream storage 2", admins=[world.main_bot])
    settings = stack_settings(world, BIN_CHANNEL=f"{world.bin_channel.id},{second.id}")
    async with running_service(settings):
        first = await send_and_get_links(world, pattern(MIB, seed=1), "first.bin")
        assert copies_in(world.bin_channel, first.message.media) and not copies_in(second, first.message.media)
        telegram.world.delete_channel(world.bin_channel)

        data = pattern(MIB + 77, seed=4)
        sent = await send_and_get_links(world, data, "second.bin")
        assert sent.links is not None, sent.reply.text
        assert len(copies_in(second, sent.message.media)) == 1
        assert await download(sent.links.download) == (200, data)
        # The file stored in the deleted channel is copied into the second from the person's message.
        assert await download(first.links.download) == (200, pattern(MIB, seed=1))
        assert len(copies_in(second, first.message.media)) == 1


async def test_a_copy_deleted_in_the_middle_of_a_download_does_not_stop_it(telegram, stack_settings):
    world = make_world(telegram)
    data = pattern(6 * MIB + 100, seed=5)
    async with running_service(stack_settings(world)) as service:
        sent = await send_and_get_links(world, data, "long.bin")
        media = sent.message.media
        [stored] = copies_in(world.bin_channel, media)
        at_4 = telegram.faults.hold("upload.GetFile", when=lambda q: q.offset == 4 * MIB)
        async with http_client() as http:
            async with http.get(sent.links.download) as response:
                first = await response.content.readexactly(MIB)   # the download is under way
                await at_4.reached()                              # and stuck before byte 4 MiB
                telegram.world.delete([stored], None)
                # Telegram no longer honours the reference read from the deleted message.
                telegram.world.expire_file_reference(media)
                at_4.release()
                rest = await response.read()
        assert response.status == 200 and first + rest == data
        assert "FILE_REFERENCE_EXPIRED" in [c.error for c in telegram.rpc_log(world.main_bot, "upload.GetFile")]
        assert service.keeper.healed == 1 and len(copies_in(world.bin_channel, media)) == 1


async def test_two_instances_finding_the_same_lost_copy_make_one_new_copy(telegram, database_url, database_name,
                                                                          tmp_path):
    world = make_world(telegram)
    data = pattern(2 * MIB + 9, seed=6)
    clock = Clock()
    bot_instance = settings_for(world, database_url, database_name, tmp_path / "a")
    link_server = settings_for(world, database_url, database_name, tmp_path / "b", LINK_ONLY="true")
    async with running_service(bot_instance, clock) as first, running_service(link_server, clock) as second:
        sent = await send_and_get_links(world, data, "shared.bin")
        media = sent.message.media
        [stored] = copies_in(world.bin_channel, media)
        telegram.world.delete([stored], None)

        urls = [sent.links.download.replace(first.public_url, s.public_url) for s in (first, second)]
        results = await asyncio.gather(*(download(url) for url in urls))
        assert results == [(200, data), (200, data)]
        assert len(copies_in(world.bin_channel, media)) == 1
        assert first.keeper.healed + second.keeper.healed == 1
        # Only the instance holding the posting lease posted into the storage channel.
        assert [s.lease.may_post() for s in (first, second)].count(True) == 1


async def test_files_stored_before_the_mirror_was_set_are_mirrored_by_the_backfill(telegram, stack_settings):
    world, mirror = with_mirror(telegram)
    owner = add_owner(world)
    files = [pattern(MIB // 4 + n, seed=20 + n) for n in range(3)]
    async with running_service(stack_settings(world, OWNER_ID=owner.user.id)):
        sents = [await send_and_get_links(world, data, f"early{n}.bin") for n, data in enumerate(files)]
    assert not any(copies_in(mirror, s.message.media) for s in sents)

    async with running_service(stack_settings(world, MIRROR_CHANNEL=mirror.id, OWNER_ID=owner.user.id)) as service:
        await asyncio.wait_for(service.mirror.made_at_least(3), 10)
        assert all(len(copies_in(mirror, s.message.media)) == 1 for s in sents)
        await owner.send_text(world.main_bot, "/botstats")
        stats = await owner.next_message(world.main_bot, timeout=10)
        assert "Mirrored: 3 of 3 files (100%)" in stats.text


async def test_the_copy_check_finds_lost_copies_before_anyone_asks_and_makes_them_again(telegram, stack_settings):
    world, mirror = with_mirror(telegram)
    data = pattern(MIB + 3, seed=8)
    async with running_service(stack_settings(world, MIRROR_CHANNEL=mirror.id)) as service:
        sent = await send_and_get_links(world, data, "checked.bin")
        media = sent.message.media
        await asyncio.wait_for(service.mirror.made_at_least(1), 10)
        [mirrored] = copies_in(mirror, media)
        [stored] = copies_in(world.bin_channel, media)
        telegram.world.delete([stored, mirrored], None)

        # The check's pass (a background job every minute) is run here at once.
        assert await service.copy_check.run_once() == 2
        [healed] = await telegram.world.wait_until(lambda: copies_in(world.bin_channel, media), timeout=10)
        [again] = await telegram.world.wait_until(lambda: copies_in(mirror, media), timeout=10)
        assert healed.id != stored.id and again.id != mirrored.id
        assert await download(sent.links.download) == (200, data)


async def test_the_file_deep_link_of_a_channel_post_whose_storage_copy_is_gone_still_sends_the_file(
        telegram, stack_settings):
    world = make_world(telegram)
    editor = telegram.person(telegram.world.add_user(first_name="Eddie", username="eddie"))
    movies = telegram.world.add_channel(title="Movies", admins=[world.main_bot, editor.user])
    async with running_service(stack_settings(world, AUTH_CHANNEL=movies.id)) as service:
        post = await editor.post_file(movies, b"the whole film", file_name="film.mkv", mime_type="video/x-matroska")
        rows = await telegram.world.wait_until(lambda: post.buttons)
        file_link = next(b.url for row in rows for b in row if b.text == "File")
        [stored] = copies_in(world.bin_channel, post.media)
        telegram.world.delete([stored], None)

        await world.person.send_command(world.main_bot, "start", file_link.split("start=", 1)[1])
        copy = await world.person.next_message(world.main_bot)
        assert copy.media is not None and copy.media.read() == b"the whole film"
        # Made again from the auth-channel post, once.
        assert len(copies_in(world.bin_channel, post.media)) == 1 and service.keeper.healed == 1


async def test_with_the_only_storage_channel_lost_and_no_mirror_links_serve_from_the_original_quietly(
        telegram, stack_settings):
    world = make_world(telegram, backends=1)
    owner = add_owner(world)
    data = pattern(2 * MIB + 1, seed=12)
    unretrieved: list[str] = []
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(lambda _loop, context: unretrieved.append(context.get("message", "")))
    try:
        async with running_service(stack_settings(world, OWNER_ID=owner.user.id)) as service:
            await owner.send_text(world.main_bot, "/start")
            await owner.next_message(world.main_bot)
            sent = await send_and_get_links(world, data, "alone.bin")
            for bot in (world.main_bot, *world.backends):
                world.bin_channel.remove(bot)

            for _ in range(2):
                assert await download(sent.links.download) == (200, data)
            notice = await owner.next_message(world.main_bot, timeout=10)
            assert "new files cannot be stored" in notice.text
            await world.person.send_file(world.main_bot, data=pattern(1000, seed=1), file_name="later.bin",
                                         dc_id=world.main_bot.home_dc)
            refused = await world.person.next_message(world.main_bot, timeout=10)
            assert "could not store" in refused.text
            assert service.keeper.healed == 0
        gc.collect()  # a task whose exception nobody retrieved is reported when it is collected
    finally:
        loop.set_exception_handler(None)
    assert unretrieved == []
    assert len([m for m in owner.messages_from(world.main_bot) if "unusable" in m.text]) == 1


async def test_a_migrated_files_late_copy_is_made_by_the_instance_that_posts_once(telegram, database_url,
                                                                                   database_name, tmp_path):
    world = make_world(telegram)
    data = pattern(MIB + 17, seed=14)
    media = telegram.world.add_media(data, file_name="old.bin", dc_id=2)
    bot_instance = settings_for(world, database_url, database_name, tmp_path / "a")
    link_server = settings_for(world, database_url, database_name, tmp_path / "b", LINK_ONLY="true")
    async with running_service(bot_instance) as first, running_service(link_server) as second:
        assert first.lease.may_post() and not second.lease.may_post()
        now = first.clock()
        # A file FileStreamBot once stored: no storage message yet, only the id its main bot got.
        record = StoredFile(id="migratedfile0001", file_name="old.bin", file_size=len(data),
                            mime_type="application/octet-stream", file_unique_id=file_unique_id_of(media),
                            media_type="document", dc_id=2, storage_chat_id=None, storage_message_id=None,
                            created_at=now, expires_at=None)
        await first.db.db["files"].insert_one(
            {**file_document(record), "legacy_file_ids": [{"file_id": file_id_for(world.main_bot, media)}]})

        url = second.links.links(record).download  # opened on the instance that does not post
        assert await download(url) == (200, data)
        assert len(copies_in(world.bin_channel, media)) == 1
        assert second.copies.asked == 1 and first.copies.made_for_others == 1
        assert await download(first.links.links(record).download) == (200, data)
        assert len(copies_in(world.bin_channel, media)) == 1
