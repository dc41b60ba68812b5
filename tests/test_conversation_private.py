"""A private bot (ALLOWED_USERS): strangers get words and nothing of theirs is kept, people on the
list get links, and the owner's /allow and /disallow hold at once on every instance."""

from __future__ import annotations

from service_harness import add_owner, http_client, make_world, running_service, send_and_get_links, settings_for


async def say(person, bot, text: str) -> str:
    await person.send_text(bot, text)
    return (await person.next_message(bot)).text


async def test_a_stranger_gets_words_no_links_and_nothing_of_theirs_is_stored(telegram, stack_settings):
    world = make_world(telegram)
    bot = world.main_bot
    stranger = telegram.person(telegram.world.add_user(first_name="Sam", username="sam"))
    settings = stack_settings(world, ALLOWED_USERS=f"{world.person.id}")
    async with running_service(settings) as service:
        posts_before = len(world.bin_channel.messages)
        await stranger.send_file(bot, b"secret stuff", file_name="mine.txt")
        refusal = await stranger.next_message(bot)
        assert "private bot" in refusal.text and not refusal.buttons
        assert "http" not in refusal.text
        assert len(world.bin_channel.messages) == posts_before, "no storage copy of a stranger's file"
        assert await service.db.files.list_by_owner(stranger.user.id, service.clock(), 0) == ([], 0)
        assert await service.db.users.get(stranger.user.id) is None, "not even a user record"
        assert "private bot" in await say(stranger, bot, "/start")

        allowed = await send_and_get_links(world, b"hello", "ok.txt")
        async with http_client() as http, http.get(allowed.links.download) as response:
            assert await response.read() == b"hello"


async def test_allow_and_disallow_by_id_and_username_hold_at_once_on_a_second_instance(
        telegram, database_url, database_name, tmp_path):
    world = make_world(telegram)
    owner = add_owner(world)
    first_bot = world.main_bot
    # A second instance on the same database, talking through a bot of its own.
    second_bot = telegram.world.add_bot(username="filestream_two_bot")
    world.bin_channel.add_admin(second_bot)
    bob = telegram.person(telegram.world.add_user(first_name="Bob", username="Bob_B"))
    common = dict(ALLOWED_USERS=f"{owner.user.id}", OWNER_ID=owner.user.id)
    one = settings_for(world, database_url, database_name, tmp_path / "one", **common)
    two = settings_for(world, database_url, database_name, tmp_path / "two", BOT_TOKEN=second_bot.token, **common)
    async with running_service(one) as first, running_service(two):
        for bot in (first_bot, second_bot):
            assert "private bot" in await say(bob, bot, "/help")

        assert "Allowed" in await say(owner, first_bot, "/allow @bob_b")
        for bot in (first_bot, second_bot):
            assert "/start" in await say(bob, bot, "/help")
        assert "already allowed" in await say(owner, first_bot, "/allow @BOB_B")

        assert "Removed" in await say(owner, first_bot, "/disallow @bob_b")
        for bot in (first_bot, second_bot):
            assert "private bot" in await say(bob, bot, "/help")

        assert "Allowed" in await say(owner, first_bot, f"/allow {bob.user.id}")
        assert "/start" in await say(bob, second_bot, "/help")
        assert "Removed" in await say(owner, first_bot, f"/disallow {bob.user.id}")
        assert "private bot" in await say(bob, second_bot, "/help")

        stats = await say(owner, first_bot, "/botstats")
        assert "private, 1 on the list" in stats
        assert "Usage: /allow" in await say(owner, first_bot, "/allow bob")
        assert "not on the list" in await say(owner, first_bot, "/disallow @nobody_here")
        assert "owners may always use it" in await say(owner, first_bot, f"/disallow {owner.user.id}")
        assert "private bot" in await say(bob, first_bot, "/allow 5"), "a stranger never reaches owner commands"


async def test_a_disallowed_entry_of_the_setting_stays_removed_after_a_restart(telegram, stack_settings):
    world = make_world(telegram)
    owner = add_owner(world)
    bot = world.main_bot
    settings = stack_settings(world, ALLOWED_USERS=f"{world.person.id}", OWNER_ID=owner.user.id)
    async with running_service(settings):
        assert "/start" in await say(world.person, bot, "/help")
        assert "Removed" in await say(owner, bot, f"/disallow {world.person.id}")
    async with running_service(settings):
        assert "private bot" in await say(world.person, bot, "/help")


async def test_an_open_bot_says_its_list_is_not_used_and_botstats_says_everyone(telegram, stack_settings):
    world = make_world(telegram)
    owner = add_owner(world)
    async with running_service(stack_settings(world, OWNER_ID=owner.user.id)):
        assert "open to everyone" in await say(owner, world.main_bot, "/allow @someone")
        assert "everyone (ALLOWED_USERS is empty)" in await say(owner, world.main_bot, "/botstats")
