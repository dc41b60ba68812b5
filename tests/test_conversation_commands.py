"""Conversations with the commands everyone has: /start (deep links: test_link_privacy.py), /help, /about,
/files with its pages, cards and delete, and the command menus registered with Telegram."""

from __future__ import annotations


import FileStream
from service_harness import Clock, http_client, make_world, running_service, send_and_get_links

EVERYONE = ["start", "help", "about", "files", "status", "revoke", "bundle", "done", "language"]
OWNER = ["botstats", "ban", "unban", "allow", "disallow", "broadcast", "del", "upload"]



async def test_start_without_a_deep_link_says_hello(telegram, stack_settings):
    world = make_world(telegram)
    person, bot = world.person, world.main_bot
    async with running_service(stack_settings(world)):
        await person.send_command(bot, "start")
        assert "Send me a file" in (await person.next_message(bot)).text
        await person.send_command(bot, "start", "file_nosuchfile000000")
        assert "not available" in (await person.next_message(bot)).text


async def test_help_lists_every_command_and_about_tells_version_uptime_bots_and_lifetime(telegram, stack_settings):
    world = make_world(telegram, backends=2)
    person, bot = world.person, world.main_bot
    clock = Clock()
    async with running_service(stack_settings(world, FILE_TTL=7200), clock):
        await person.send_command(bot, "help")
        lines = (await person.next_message(bot)).text.splitlines()
        for command in EVERYONE:
            assert sum(line.startswith(f"/{command} ") for line in lines) == 1, command
        assert not any(line.startswith(f"/{command} ") for command in OWNER for line in lines)

        clock.advance(hours=1, minutes=5)
        await person.send_command(bot, "about")
        about = (await person.next_message(bot)).text
        assert FileStream.__version__ in about
        assert "Up for 1 h 5 min" in about
        assert "Bots in the pool: 3" in about
        assert "Link lifetime: 2 h (channel files: no expiry)" in about


async def test_command_menus_for_everyone_and_for_the_owner(telegram, stack_settings):
    world = make_world(telegram)
    owner = world.telegram.world.add_user(first_name="Olga", username="olga")
    olga = telegram.person(owner)
    bot = world.main_bot
    async with running_service(stack_settings(world, OWNER_ID=owner.id)):
        default = await telegram.world.wait_until(lambda: bot.commands_for("BotCommandScopeDefault"))
        assert [name for name, _ in default] == EVERYONE

        # Telegram cannot resolve an owner who never wrote to the bot; their menu comes once they do.
        await olga.send_command(bot, "help")
        lines = (await olga.next_message(bot)).text.splitlines()
        assert all(any(line.startswith(f"/{c} ") for line in lines) for c in EVERYONE + OWNER)
        owners_menu = await telegram.world.wait_until(lambda: bot.commands_for("BotCommandScopePeer"))
        assert [name for name, _ in owners_menu] == EVERYONE + OWNER
        assert bot.commands[("BotCommandScopePeer", "")].scope.peer.user_id == owner.id


async def test_files_pages_cards_and_delete(telegram, stack_settings):
    world = make_world(telegram)
    person, bot = world.person, world.main_bot
    clock = Clock()
    async with running_service(stack_settings(world, RATE_LIMIT_FILES=0), clock) as service:
        for n in range(12):
            sent = await send_and_get_links(world, f"file number {n}".encode(), f"file{n:02}.txt")
            assert sent.links is not None
            clock.advance(seconds=1)

        await person.send_command(bot, "files")
        page = await person.next_message(bot)
        assert "12 files" in page.text and "page 1 of 2" in page.text
        names = [b.text for b in page.flat_buttons if b.callback_data.startswith(b"file:")]
        assert names == [f"file{n:02}.txt" for n in range(11, 1, -1)], "newest first, 10 per page"
        assert [b.text for b in page.buttons[-1]] == ["Next »"]

        await person.press_button(bot, page.message_id, page.button("Next").callback_data)
        second = await person.next_edit(bot)
        assert "page 2 of 2" in second.text
        assert [b.text for b in second.flat_buttons if b.callback_data.startswith(b"file:")] == ["file01.txt", "file00.txt"]
        assert [b.text for b in second.buttons[-1]] == ["« Previous"]

        await person.press_button(bot, page.message_id, second.button("file00.txt").callback_data)
        card = await person.next_edit(bot)
        assert "file00.txt" in card.text and "Time left: 59 min" in card.text
        download = card.button("Download").url
        assert card.button("Stream").url and "Delete" in [b.text for b in card.flat_buttons]

        async with http_client() as http:
            async with http.get(download) as response:
                assert response.status == 200 and await response.read() == b"file number 0"
            answer = await person.press_button(bot, page.message_id, card.button("Delete").callback_data)
            assert answer == "Deleted."
            gone = await person.next_edit(bot)
            assert "Deleted file00.txt" in gone.text and "no longer work" in gone.text
            async with http.get(download) as response:
                assert response.status in (404, 410)

        await person.press_button(bot, page.message_id, gone.button("Back").callback_data)
        back = await person.next_edit(bot)
        assert "11 files" in back.text and "page 1 of 2" in back.text
        assert (await service.db.files.list_by_owner(person.id, clock(), 0))[1] == 11

        # A file that expired meanwhile no longer opens.
        clock.advance(hours=2)
        answer = await person.press_button(bot, page.message_id, back.button("file11.txt").callback_data)
        assert "gone" in answer
        await person.send_command(bot, "files")
        assert "no files with working links" in (await person.next_message(bot)).text
