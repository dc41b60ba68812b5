"""What happens while the service is away is not lost: a file a person sends and a file posted in
AUTH_CHANNEL while the service is stopped (a deploy) or while its connection to Telegram is down
are answered once it is back, each exactly once. The local Telegram forgets pushes it could not
deliver, as Telegram does: the service gets them only by asking for the difference."""

from __future__ import annotations

import random

from service_harness import (
    http_client,
    links_in,
    make_world,
    running_service,
    settings_for,
    until_links,
)
from test_e2e_crash import killable_service


def editor_and_channel(telegram, world):
    editor = telegram.world.add_user(first_name="Eddie", username="eddie")
    movies = telegram.world.add_channel(title="Movies", admins=[world.main_bot, editor])
    return telegram.person(editor), movies


def replies_to(world, bot) -> list:
    """Every message the bot sent the person (each status message is edited, never doubled)."""
    person = world.person_user
    return [m for m in list(world.telegram.world.private_messages.values())
            if m.sender is bot and m.chat.other(bot) is person]


async def fetch(url: str) -> bytes:
    async with http_client() as http, http.get(url) as response:
        assert response.status == 200, url
        return await response.read()


async def links_for(person, bot):
    """The bot's answer to what `person` sent, followed through its edits until it has links."""
    reply = await person.next_message(bot, timeout=30)
    while links_in(reply) is None:
        reply = (await person.next_event(bot, timeout=30)).message
    return links_in(reply)


async def links_of_the_reply(world):
    reply, links = await until_links(world, await world.person.next_message(world.main_bot, timeout=30))
    assert links is not None, reply.text
    return links


async def test_a_file_sent_and_a_file_posted_while_the_service_is_stopped_are_answered_once_after_the_restart(
        telegram, database_url, database_name, mongo_db, tmp_path):
    world = make_world(telegram)
    bot = world.main_bot
    editor, movies = editor_and_channel(telegram, world)
    service = killable_service(telegram, world, database_url, database_name, tmp_path, AUTH_CHANNEL=str(movies.id))
    report = random.Random(1).randbytes(200_000)
    film = random.Random(2).randbytes(300_000)
    try:
        await service.start()
        await service.stop()          # a deploy: the old process is gone...
        assert service.process.returncode == 0
        forgotten = telegram.forgotten_updates
        await world.person.send_file(bot, report, file_name="report.pdf", mime_type="application/pdf")
        post = await editor.post_file(movies, film, file_name="film.mkv", mime_type="video/x-matroska")
        assert not telegram.connections_of(bot), "nobody was there to take them"
        assert telegram.forgotten_updates == forgotten + 2, "both pushes were forgotten"

        await service.start()         # ...and the new one comes up
        links = await links_of_the_reply(world)
        assert await fetch(links.download) == report
        await telegram.wait_until(lambda: post.buttons, timeout=30)
        urls = {b.text: b.url for row in post.buttons for b in row}
        assert await fetch(urls["Download"]) == film

        await service.stop()          # nothing more can come: count what came
        assert len(replies_to(world, bot)) == 1, "one answer to the one file"
        assert post.version == 1, "the post got its buttons in one edit"
        assert await mongo_db["files"].count_documents({}) == 2, "each file stored once"
        assert telegram.rpc_log(bot, "updates.GetDifference") and telegram.rpc_log(bot, "updates.GetChannelDifference")

        # Another deploy: what was caught up is not caught up again (the state was kept).
        await service.start()
        await world.person.send_file(bot, b"after", file_name="after.txt")
        assert await fetch((await links_of_the_reply(world)).download) == b"after"
        await service.stop()
        assert len(replies_to(world, bot)) == 2 and post.version == 1
        assert await mongo_db["files"].count_documents({}) == 3
    finally:
        await service.stop()


async def test_a_file_sent_and_a_file_posted_while_the_connection_is_down_are_answered_once_it_is_back(
        telegram, database_url, database_name, mongo_db, tmp_path):
    world = make_world(telegram)
    bot = world.main_bot
    editor, movies = editor_and_channel(telegram, world)
    report = random.Random(3).randbytes(150_000)
    film = random.Random(4).randbytes(250_000)
    bot_instance = settings_for(world, database_url, database_name, tmp_path / "a", AUTH_CHANNEL=movies.id)
    # A link server beside it (same bot, its own sessions): it takes no updates, so answers nothing twice.
    link_server = settings_for(world, database_url, database_name, tmp_path / "b", LINK_ONLY="true")
    async with running_service(bot_instance) as service, running_service(link_server) as links_only:
        # Up and answering before the fault.
        await world.person.send_file(bot, b"warm up", file_name="first.txt")
        await links_of_the_reply(world)
        client = service.main_client
        catch_ups = client.catch_ups

        refusal = telegram.faults.refuse_dc(bot.home_dc, True)   # the socket drops and stays down
        assert refusal.cut >= 1 and not telegram.connections_of(bot)
        forgotten = telegram.forgotten_updates
        await world.person.send_file(bot, report, file_name="report.pdf", mime_type="application/pdf")
        post = await editor.post_file(movies, film, file_name="film.mkv", mime_type="video/x-matroska")
        assert telegram.forgotten_updates == forgotten + 2, "both pushes found no socket and were forgotten"
        await telegram.wait_until(lambda: refusal.refused_attempts, timeout=15)   # it keeps trying
        telegram.faults.refuse_dc(bot.home_dc, False)

        links = await links_of_the_reply(world)
        assert await fetch(links.download) == report
        assert await fetch(links.download.replace(service.public_url, links_only.public_url)) == report
        await telegram.wait_until(lambda: post.buttons, timeout=30)
        urls = {b.text: b.url for row in post.buttons for b in row}
        assert await fetch(urls["Download"]) == film
        assert client.catch_ups > catch_ups, "the reconnect asked for the difference"
    # Stopped: nothing more can come.
    assert len(replies_to(world, bot)) == 2, "one answer per file"
    assert post.version == 1, "the post got its buttons in one edit"
    assert await mongo_db["files"].count_documents({}) == 3, "each file stored once"


async def test_after_a_long_outage_the_service_gets_what_telegram_still_keeps_and_goes_on(
        telegram, stack_settings, mongo_db):
    world = make_world(telegram)
    bot = world.main_bot
    editor, movies = editor_and_channel(telegram, world)
    people = [telegram.person(telegram.world.add_user(first_name=f"P{n}", home_dc=1)) for n in range(3)]
    settings = stack_settings(world, AUTH_CHANNEL=movies.id)
    async with running_service(settings):
        pass
    # While it is down, more happens than one difference holds: Telegram slices a person's
    # updates (all come, a slice at a time) and calls a channel's "too long" (those posts are lost).
    telegram.difference_limit = 2
    telegram.channel_difference_limit = 2
    files = {person: random.Random(n).randbytes(50_000 + n) for n, person in enumerate(people)}
    for person, data in files.items():
        await person.send_file(bot, data, file_name="mine.bin")
    lost = [await editor.post_file(movies, f"old {n}".encode(), file_name=f"old{n}.bin") for n in range(3)]
    asked_before = len(telegram.rpc_log(bot, "updates.GetDifference"))

    async with running_service(settings):
        for person, data in files.items():
            links = await links_for(person, bot)
            assert await fetch(links.download) == data
        asked = len(telegram.rpc_log(bot, "updates.GetDifference")) - asked_before
        assert asked >= 2, "it asked slice after slice"
        fresh = await editor.post_file(movies, b"new film", file_name="new.bin")
        await telegram.wait_until(lambda: fresh.buttons, timeout=30)
    assert all(not post.buttons for post in lost), "beyond Telegram's limit: gone, as on Telegram"
    assert await mongo_db["files"].count_documents({}) == 4
