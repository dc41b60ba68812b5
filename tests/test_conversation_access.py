"""Who may use the bot: force-subscribe with a join and a retry button, the per-person rate
limit, banned people (told once, then ignored, across restarts), and users recorded."""

from __future__ import annotations


from service_harness import Clock, make_world, running_service, send_and_get_links



def membership_checks(telegram, bot) -> int:
    return len(telegram.rpc_log(bot, method="channels.GetParticipant"))


async def test_force_subscribe_refuses_until_the_person_joins_then_retry_works(telegram, stack_settings):
    world = make_world(telegram)
    person, bot = world.person, world.main_bot
    news = telegram.world.add_channel(title="News", username="filestream_news", admins=[bot])
    clock = Clock()
    async with running_service(stack_settings(world, FORCE_SUB_CHANNEL=news.id), clock):
        await person.send_file(bot, b"wait", file_name="early.txt")
        refusal = await person.next_message(bot)
        assert "join our channel first" in refusal.text
        assert refusal.button("Join").url == "https://t.me/filestream_news"

        answer = await person.press_button(bot, refusal.message_id, refusal.button("I joined").callback_data)
        assert "not joined the channel yet" in answer

        news.add_member(person.user)
        await person.press_button(bot, refusal.message_id, refusal.button("I joined").callback_data)
        assert "Thanks for joining" in (await person.next_edit(bot)).text

        sent = await send_and_get_links(world, b"now it works", "member.txt")
        assert sent.links is not None

        # Membership answers are remembered briefly: no new question within the minute…
        asked = membership_checks(telegram, bot)
        await person.send_command(bot, "status")
        await person.next_message(bot)
        assert membership_checks(telegram, bot) == asked
        # …and asked again after it.
        clock.advance(seconds=61)
        await person.send_command(bot, "status")
        await person.next_message(bot)
        assert membership_checks(telegram, bot) == asked + 1


async def test_a_person_who_left_or_was_kicked_from_the_channel_is_asked_to_join_again(telegram, stack_settings):
    world = make_world(telegram)
    alice, bot = world.person, world.main_bot
    bob = telegram.person(telegram.world.add_user(first_name="Bob"))
    news = telegram.world.add_channel(title="News", username="filestream_news", admins=[bot],
                                      members=[alice.user, bob.user])
    clock = Clock()
    async with running_service(stack_settings(world, FORCE_SUB_CHANNEL=news.id), clock):
        for person in (alice, bob):
            await person.send_command(bot, "status")
            assert "no file request" in (await person.next_message(bot)).text

        news.leave(alice.user)
        news.kick(bob.user)
        clock.advance(seconds=61)  # past the minute a membership answer is remembered
        refusals = {}
        for person in (alice, bob):
            await person.send_command(bot, "status")
            refusal = refusals[person] = await person.next_message(bot)
            assert "join our channel first" in refusal.text
            assert refusal.button("Join").url == "https://t.me/filestream_news"
        outcomes = [c.error for c in telegram.rpc_log(bot, method="channels.GetParticipant")]
        assert outcomes == [None, None, "USER_NOT_PARTICIPANT", None], "left; then kicked: a banned participant"

        # Alice comes back; Bob cannot while he is banned.
        news.join(alice.user)
        await alice.press_button(bot, refusals[alice].message_id, refusals[alice].button("I joined").callback_data)
        assert "Thanks for joining" in (await alice.next_edit(bot)).text
        assert "not joined the channel yet" in await bob.press_button(
            bot, refusals[bob].message_id, refusals[bob].button("I joined").callback_data)


async def test_the_owner_is_never_asked_to_join(telegram, stack_settings):
    world = make_world(telegram)
    news = telegram.world.add_channel(title="News", admins=[world.main_bot])
    async with running_service(stack_settings(world, FORCE_SUB_CHANNEL=news.id, OWNER_ID=world.person.id)):
        await world.person.send_command(world.main_bot, "status")
        assert "no file request" in (await world.person.next_message(world.main_bot)).text


async def test_the_rate_limit_answers_clearly_and_lifts_after_the_window(telegram, stack_settings):
    world = make_world(telegram)
    person, bot = world.person, world.main_bot
    clock = Clock()
    async with running_service(stack_settings(world, RATE_LIMIT_FILES=2, RATE_LIMIT_WINDOW=600), clock) as service:
        for n in range(2):
            assert (await send_and_get_links(world, b"x", f"ok{n}.txt")).links is not None
            clock.advance(seconds=10)
        await person.send_file(bot, b"x", file_name="too-many.txt")
        said = (await person.next_message(bot)).text
        assert "up to 2 files every 10 min" in said and "wait 9 min" in said
        assert (await service.db.files.list_by_owner(person.id, clock(), 0))[1] == 2

        clock.advance(seconds=581)
        assert (await send_and_get_links(world, b"x", "later.txt")).links is not None


async def test_a_banned_person_is_told_once_then_ignored_even_after_a_restart(telegram, stack_settings):
    world = make_world(telegram)
    person, bot = world.person, world.main_bot
    bob = telegram.person(telegram.world.add_user(first_name="Bob", username="bob"))
    clock = Clock()
    settings = stack_settings(world)
    async with running_service(settings, clock) as service:
        await service.db.users.ban(person.id, "spam", clock())
        await person.send_command(bot, "help")
        assert "banned" in (await person.next_message(bot)).text
        await person.send_file(bot, b"x", file_name="ignored.txt")
        await person.send_command(bot, "start")
        await _flush(bob, bot)
    async with running_service(settings, clock) as service:
        await person.send_command(bot, "files")
        await _flush(bob, bot)
        assert len(person.messages_from(bot)) == 1, "one message saying so, then nothing"
        assert (await service.db.files.list_by_owner(person.id, clock(), 0))[1] == 0

        # Unbanned, they are answered again.
        await service.db.users.unban(person.id)
        await person.send_command(bot, "status")
        assert "no file request" in (await person.next_message(bot)).text


async def _flush(other, bot):
    """Another person's round trip: by then the bot has handled what came before it."""
    await other.send_command(bot, "status")
    await other.next_message(bot)


async def test_users_are_recorded_on_every_message(telegram, stack_settings):
    world = make_world(telegram)
    person, bot = world.person, world.main_bot
    clock = Clock()
    async with running_service(stack_settings(world), clock) as service:
        first = clock()
        await person.send_command(bot, "help")
        await person.next_message(bot)
        user = await service.db.users.get(person.id)
        assert (user.first_name, user.username) == ("Alice", "alice")
        assert user.first_seen == first and user.last_active == first
        assert not user.banned and not user.blocked

        await service.db.users.mark_blocked(person.id, True)
        clock.advance(minutes=5)
        await person.send_command(bot, "status")
        await person.next_message(bot)
        user = await service.db.users.get(person.id)
        assert user.first_seen == first and user.last_active == clock()
        assert not user.blocked, "someone who writes has not blocked the bot"
