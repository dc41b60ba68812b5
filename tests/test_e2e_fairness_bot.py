"""One person flooding the bot does not take it from everyone else, with the local Telegram's
sending limits at their defaults (about one message a second to one person).

Eve sends a hundred messages in one go (a forward of a hundred messages in the official app).
Right after, ten other people's /start are answered and Alice's file gets its links as if Eve
were not there, and Eve is told once, in words, that she sends faster than the bot answers.
Replies wait in memory for their chat's turn, so links a crash kept from a person are sent
when the service is back.
"""

from __future__ import annotations

import asyncio
import io
import zipfile

import pytest

from FileStream.bot import texts
from FileStream.bot.start import WELCOME
from service_harness import http_client, links_in, make_world, running_service, send_and_get_links

FLOOD = 100
OTHERS = 10
ANSWERED_WITHIN = 2.0    # seconds, for each of the others' /start
LINKS_WITHIN = 5.0       # seconds, for Alice's file


def notices_to(person, bot) -> list[str]:
    return [m.text for m in person.messages_from(bot) if m.text == texts.SENDING_TOO_FAST]


async def test_after_a_hundred_messages_from_one_person_ten_others_are_answered_within_two_seconds_and_a_file_gets_links_within_five(
        telegram, stack_settings):
    world = make_world(telegram)
    bot = world.main_bot
    eve = telegram.person(telegram.world.add_user(first_name="Eve"))
    others = [telegram.person(telegram.world.add_user(first_name=f"Bob {n}")) for n in range(OTHERS)]
    async with running_service(stack_settings(world)) as service:
        for n in range(FLOOD):
            await eve.send_text(bot, f"message {n} of a forward")

        async def start(person) -> str:
            await person.send_command(bot, "start")
            return (await person.next_message(bot, timeout=ANSWERED_WITHIN)).text

        async def alices_file():
            async with asyncio.timeout(LINKS_WITHIN):
                return await send_and_get_links(world, b"alice's notes while eve floods", "notes.txt",
                                                mime_type="text/plain", timeout=LINKS_WITHIN)

        *welcomes, sent = await asyncio.gather(*(start(p) for p in others), alices_file())
        # The flood was under way all along: Eve's own answers were still coming.
        eve_answered_meanwhile = len(eve.messages_from(bot))
        assert eve_answered_meanwhile < FLOOD

        assert welcomes == [WELCOME] * OTHERS
        assert sent.links is not None, f"Alice's file got no links: {sent.reply.text!r}"
        async with http_client() as http, http.get(sent.links.download) as response:
            assert response.status == 200
            assert await response.read() == b"alice's notes while eve floods"

        # Eve is told she is too fast, in words, once; what she still gets is paced for her chat.
        await telegram.wait_until(lambda: notices_to(eve, bot))
        await service.main_client.outbox.drain(30)
    assert len(notices_to(eve, bot)) == 1
    assert len(eve.messages_from(bot)) < FLOOD / 2, "most of the flood was ignored, not answered"
    assert telegram.limits.verdicts == [], "the bot kept within Telegram's limits by itself"


async def test_links_that_never_went_out_before_a_crash_reach_the_person_when_the_service_is_back(
        telegram, stack_settings):
    world = make_world(telegram)
    settings = stack_settings(world)
    async with running_service(settings) as service:
        sent = await send_and_get_links(world, b"stored just before the crash", "crash.txt", mime_type="text/plain")
        await service.main_client.outbox.drain(10)   # the courier records the message once it is out
        [file] = [f async for f in service.db.db["files"].find({"file_name": "crash.txt"})]
        assert file.get("link_message"), "links that went out are recorded"
        # What kill -9 leaves when it strikes while the links wait for the chat's turn: the
        # request completed with its file, and no link message recorded.
        await service.db.db["files"].update_one({"_id": file["_id"]}, {"$unset": {"link_message": ""}})
    answered = len(world.person.messages_from(world.main_bot))

    async with running_service(settings) as service:
        again = await world.person.next_message(world.main_bot, timeout=10)
        links = links_in(again)
        assert links is not None and links.download.split("/dl/")[1] == sent.links.download.split("/dl/")[1]
        async with http_client() as http, http.get(links.download) as response:
            assert await response.read() == b"stored just before the crash"
        await service.main_client.outbox.drain(10)
        [file] = [f async for f in service.db.db["files"].find({"file_name": "crash.txt"})]
        assert file["link_message"]["message_id"] == again.message_id
    assert len(world.person.messages_from(world.main_bot)) == answered + 1, "only the missing links were sent"


CHANNEL_BURST = 15   # posts the bot may edit in one channel at once (telegram/pacing.py), then 18 a minute
HELD_POSTS = CHANNEL_BURST + 2


async def test_with_one_update_worker_a_person_is_answered_within_two_seconds_while_auth_channel_posts_wait_for_the_channels_pace(
        telegram, stack_settings):
    world = make_world(telegram)
    bot = world.main_bot
    editor = telegram.world.add_user(first_name="Eddie")
    movies = telegram.world.add_channel(title="Movies", admins=[bot, editor])
    admin, bob = telegram.person(editor), telegram.person(telegram.world.add_user(first_name="Bob"))
    async with running_service(stack_settings(world, AUTH_CHANNEL=movies.id, WORKERS="1")):
        # More posts than the channels' burst: the last ones' copies and edits wait for the pace.
        posts = [await admin.post_file(movies, f"episode {n}".encode(), file_name=f"episode{n}.mkv",
                                       mime_type="video/x-matroska") for n in range(HELD_POSTS)]
        await bob.send_command(bot, "start")
        assert (await bob.next_message(bot, timeout=ANSWERED_WITHIN)).text == WELCOME
        assert posts[-1].buttons == [], "the channel's posts were still waiting for its pace"

        await telegram.wait_until(lambda: all(post.buttons for post in posts), timeout=60)
    assert telegram.limits.verdicts == [], "the bot kept within Telegram's limits by itself"


# Commands whose answers differ, so none folds into another: eight spend a person's burst
# (telegram/pacing.py), the three after it wait about a second each for their chat's turn.
HOLDING_COMMANDS = ["start", "help", "about", "status", "revoke", "done", "files", "language", "start", "help", "about"]


@pytest.mark.parametrize("done_early", [False, True],
                         ids=["done once the status is out", "done before the status is out"])
async def test_with_one_update_worker_a_bundle_started_while_its_chat_waits_for_its_pace_holds_no_one_else_up(
        telegram, stack_settings, done_early):
    world = make_world(telegram)
    bot = world.main_bot
    eve, bob = world.person, telegram.person(telegram.world.add_user(first_name="Bob"))
    async with running_service(stack_settings(world, WORKERS="1")):
        for command in HOLDING_COMMANDS:
            await eve.send_command(bot, command)
        await eve.send_command(bot, "bundle", "Held", "back")
        # A file sent before the bundle's status message is out still joins the bundle.
        await eve.send_file(bot, b"sent before the status message was out", file_name="early.txt")
        if done_early:
            await eve.send_command(bot, "done")
        await bob.send_command(bot, "start")
        assert (await bob.next_message(bot, timeout=ANSWERED_WITHIN)).text == WELCOME
        assert not [m for m in eve.messages_from(bot) if "Held back" in m.text], \
            "Eve's status message was still waiting for her chat's turn"

        def status_saying(part: str):
            return next((m for m in eve.messages_from(bot) if "Held back" in m.text and part in m.text), None)
        if not done_early:
            await telegram.wait_until(lambda: status_saying("1 of 1 stored"), timeout=30)
            await eve.send_command(bot, "done")
        links = await telegram.wait_until(lambda: next(
            (m for m in eve.messages_from(bot) if "Open the bundle" in {b.text for b in m.flat_buttons}), None),
            timeout=30)
        zip_url = {b.text: b.url for b in links.flat_buttons}["Download all (ZIP)"]
        async with http_client() as http, http.get(zip_url) as response:
            with zipfile.ZipFile(io.BytesIO(await response.read())) as archive:
                assert archive.read("early.txt") == b"sent before the status message was out"
        closed = await telegram.wait_until(lambda: status_saying("Closed"), timeout=30)
        assert "1 of 1 stored" in closed.text
        assert len([m for m in eve.messages_from(bot) if "Held back" in m.text]) == 2, "one status, one links message"
    assert telegram.limits.verdicts == [], "the bot kept within Telegram's limits by itself"


async def test_a_bundle_revoked_before_its_status_message_is_out_has_that_message_say_so(telegram, stack_settings):
    world = make_world(telegram)
    bot, eve = world.main_bot, world.person
    bob = telegram.person(telegram.world.add_user(first_name="Bob"))
    async with running_service(stack_settings(world, WORKERS="1")) as service:
        for command in HOLDING_COMMANDS:
            await eve.send_command(bot, command)
        await eve.send_command(bot, "bundle", "Changed", "my", "mind")
        await eve.send_command(bot, "revoke")
        # One update worker takes updates in order: once Bob is answered, Eve's /revoke was handled.
        await bob.send_command(bot, "start")
        assert (await bob.next_message(bot, timeout=ANSWERED_WITHIN)).text == WELCOME
        assert not [m for m in eve.messages_from(bot) if "Changed my mind" in m.text], \
            "Eve revoked while her status message was still waiting for her chat's turn"
        await telegram.wait_until(lambda: [m for m in eve.messages_from(bot) if "Cancelled your request" in m.text],
                                  timeout=30)

        [status] = await telegram.wait_until(lambda: [
            m for m in eve.messages_from(bot) if "Changed my mind" in m.text and "Cancelled at your request" in m.text],
            timeout=30)
        assert "/done" not in status.text, "the status message no longer asks for files"
        assert await service.ctx.requests.status(eve.id) is None
        assert await service.db.db["bundles"].count_documents({}) == 0, "nothing of the bundle is kept"
