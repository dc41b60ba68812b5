"""Conversations about file requests: the links as the one answer (or one status message that becomes
them), one request at a time, /status and /revoke, the timeout, and the expiry warning and end of links.

The real service runs against the local Telegram server and the test database; time is the
harness clock and the background jobs are woken by hand, so nothing sleeps.
"""

from __future__ import annotations

from datetime import timedelta

import pytest


from service_harness import Clock, http_client, links_in, make_world, running_service, send_and_get_links

# A bot reads the stored copy back with channels.getMessages; a FLOOD_WAIT on it (shorter than
# the client sleeps through) keeps the request "storing" until it passes or something ends it.
READ_BACK = "channels.GetMessages"


def job(service, name):
    return next(j for j in service.jobs if j.name == name)


async def run_job(service, name):
    """Run one pass of a background job now and return its report."""
    the_job = job(service, name)
    the_job.wake()
    return await the_job.next_pass()


async def test_a_quickly_stored_file_gets_its_links_as_the_one_answer(telegram, stack_settings):
    world = make_world(telegram)
    person, bot = world.person, world.main_bot
    async with running_service(stack_settings(world), Clock()) as service:
        sent = await send_and_get_links(world, b"hello there", "greeting.txt", mime_type="text/plain")
        links = sent.links
        assert links is not None and "greeting.txt" in sent.reply.text and "expire in 1 h" in sent.reply.text
        # The links (a status message first only if storing took over a second, edited into them).
        assert len(person.messages_from(bot)) == 1

        assert await service.ctx.requests.store.active_for(person.id) is None
        async with http_client() as http:
            async with http.get(links.download) as response:
                assert response.status == 200 and await response.read() == b"hello there"


async def test_a_slowly_stored_file_moves_through_one_status_message_to_its_links(telegram, stack_settings):
    world = make_world(telegram)
    person, bot = world.person, world.main_bot
    async with running_service(stack_settings(world), Clock()):
        slow = telegram.faults.flood_wait(bot, READ_BACK, seconds=2, times=1)
        await person.send_file(bot, b"hello there", file_name="greeting.txt", mime_type="text/plain")
        status = await person.next_message(bot)
        assert "greeting.txt" in status.text and "Storing your file" in status.text
        done = await person.next_edit(bot)
        assert done.message_id == status.message_id
        assert links_in(done) is not None and "expire in 1 h" in done.text
        assert slow.hits == 1
        assert len(person.messages_from(bot)) == 1, "one status message, edited as it moved"


async def test_a_second_file_while_one_is_active_gets_a_polite_answer_and_nothing_else(telegram, stack_settings):
    world = make_world(telegram)
    person, bot = world.person, world.main_bot
    clock = Clock()
    async with running_service(stack_settings(world), clock) as service:
        flood = telegram.faults.flood_wait(bot, READ_BACK, seconds=25, times=1)
        await person.send_file(bot, b"first", file_name="first.txt")
        status = await person.next_message(bot)
        assert "Storing your file" in status.text
        await telegram.wait_until(lambda: flood.hits)  # the read-back met the FLOOD_WAIT: the request is stuck storing

        await person.send_file(bot, b"second", file_name="second.txt")
        busy = await person.next_message(bot)
        assert "first.txt" in busy.text and "/status" in busy.text and "/revoke" in busy.text

        clock.advance(seconds=42)
        await person.send_command(bot, "status")
        shown = await person.next_message(bot)
        assert "first.txt" in shown.text and "Storing your file" in shown.text and "42 s ago" in shown.text

        await person.send_command(bot, "revoke")
        said = await person.next_message(bot)
        assert "Cancelled your request for first.txt" in said.text
        ended = await person.next_edit(bot)
        assert ended.message_id == status.message_id and "Cancelled at your request" in ended.text
        assert links_in(ended) is None

        await person.send_command(bot, "revoke")
        assert "nothing to cancel" in (await person.next_message(bot)).text
        await person.send_command(bot, "status")
        assert "no file request in progress" in (await person.next_message(bot)).text

        files, total = await service.db.files.list_by_owner(person.id, clock(), 0)
        assert total == 0, "neither file was kept"
        assert len(person.messages_from(bot)) == 6  # status, busy, status, revoked, revoke, status

        # The request is over, so the next file goes through.
        sent = await send_and_get_links(world, b"third", "third.txt")
        assert sent.links is not None
        # The first read-back was refused once and never tried again; the second file was never stored.
        assert flood.hits == 1
        assert [c.error for c in telegram.rpc_log(bot, READ_BACK)] == ["FLOOD_WAIT_25", None]


async def test_a_request_still_open_after_the_timeout_is_ended_and_the_person_told(telegram, stack_settings):
    world = make_world(telegram)
    person, bot = world.person, world.main_bot
    clock = Clock()
    async with running_service(stack_settings(world, REQUEST_TIMEOUT=60), clock) as service:
        flood = telegram.faults.flood_wait(bot, READ_BACK, seconds=25, times=1)
        await person.send_file(bot, b"slow", file_name="slow.bin")
        status = await person.next_message(bot)
        await telegram.wait_until(lambda: flood.hits)  # the read-back met the FLOOD_WAIT: the request is stuck storing

        clock.advance(seconds=30)
        report = await run_job(service, "stale requests")
        assert report.timed_out == 0

        clock.advance(seconds=31)
        report = await run_job(service, "stale requests")
        assert report.timed_out == 1 and report.notified == 1 and report.cancelled_local == 1
        told = await person.next_message(bot)
        assert "slow.bin" in told.text and "timed out after 1 min" in told.text
        ended = await person.next_edit(bot)
        assert ended.message_id == status.message_id and "Timed out" in ended.text

        assert (await run_job(service, "stale requests")).timed_out == 0
        await person.send_command(bot, "status")
        assert "no file request in progress" in (await person.next_message(bot)).text
        assert (await service.db.files.list_by_owner(person.id, clock(), 0))[1] == 0
        assert [c.error for c in telegram.rpc_log(bot, READ_BACK)] == ["FLOOD_WAIT_25"], "never tried again"


async def test_links_say_when_they_expire_warn_once_and_end_with_410(telegram, stack_settings):
    world = make_world(telegram)
    person, bot = world.person, world.main_bot
    clock = Clock()
    async with running_service(stack_settings(world, FILE_TTL=3600, EXPIRY_WARNING=600), clock) as service:
        sent = await send_and_get_links(world, b"soon gone", "brief.txt", mime_type="text/plain")
        expires = clock() + timedelta(hours=1)
        assert f"These links expire in 1 h (at {expires:%Y-%m-%d %H:%M} UTC)" in sent.reply.text

        clock.advance(minutes=51)
        report = await run_job(service, "expiry notices")
        assert report.warned == 1
        warning = await person.next_message(bot)
        assert "brief.txt" in warning.text and "expire in 9 min" in warning.text

        clock.advance(minutes=1)
        assert (await run_job(service, "expiry notices")).warned == 0
        assert len(person.messages_from(bot)) == 2, "the warning comes once"

        clock.advance(minutes=9)
        report = await run_job(service, "expiry notices")
        assert report.edited == 1
        expired = await person.next_edit(bot)
        assert expired.message_id == sent.reply.message_id
        assert "brief.txt" in expired.text and "have expired" in expired.text and links_in(expired) is None

        async with http_client() as http:
            for url in (sent.links.download, sent.links.watch, sent.links.stream):
                async with http.get(url) as response:
                    assert response.status == 410
                    assert "expired" in (await response.text()).lower()


async def test_a_file_that_cannot_be_stored_ends_the_request_as_failed_in_words(telegram, stack_settings):
    world = make_world(telegram)
    person, bot = world.person, world.main_bot
    clock = Clock()
    async with running_service(stack_settings(world), clock) as service:
        # Someone took the bot's right to post in BIN_CHANNEL: the copy there is refused.
        world.bin_channel.set_rights(bot, post_messages=False)
        await person.send_file(bot, b"unlucky", file_name="unlucky.txt")
        failed = await person.next_message(bot)
        assert "Failed. I could not store your file right now" in failed.text and links_in(failed) is None
        assert "Traceback" not in failed.text
        [doc] = [d async for d in service.db.db["requests"].find({"user_id": person.id})]
        assert doc["state"] == "failed"

        world.bin_channel.set_rights(bot, post_messages=True)
        sent = await send_and_get_links(world, b"lucky", "lucky.txt")
        assert sent.links is not None
        assert [c.error for c in telegram.rpc_log(bot, "messages.SendMedia")] == ["CHAT_ADMIN_REQUIRED", None]


@pytest.mark.parametrize("keep", [False, True], ids=["copies deleted", "KEEP_EXPIRED_COPIES"])
async def test_an_expired_private_file_is_really_gone_with_its_stored_copy(telegram, stack_settings, keep):
    world = make_world(telegram)
    person, bot = world.person, world.main_bot
    clock = Clock()
    settings = stack_settings(world, FILE_TTL=600, EXPIRY_WARNING=0, KEEP_EXPIRED_COPIES=str(keep).lower())
    async with running_service(settings, clock) as service:
        await send_and_get_links(world, b"private and brief", "brief.txt")
        await send_and_get_links(world, b"also brief", "other.txt")
        files, _ = await service.db.files.list_by_owner(person.id, clock(), 0)
        copies = [telegram.world.channel_message(world.bin_channel, f.storage_message_id) for f in files]
        assert sorted(c.media.read() for c in copies) == [b"also brief", b"private and brief"]
        assert not any(c.deleted for c in copies)

        clock.advance(minutes=10)
        report = await run_job(service, "expiry notices")
        assert report.edited == 2 and report.deleted == 2
        assert report.copies_deleted == (0 if keep else 2)
        assert all(c.deleted for c in copies) != keep
        for f in files:
            assert await service.db.files.get(f.id) is None
    if not keep:
        # Both copies went in one call.
        [call] = telegram.rpc_log(bot, "channels.DeleteMessages")
        assert call.error is None
