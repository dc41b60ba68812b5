"""Faults the local Telegram server can inject, and odd requests it must still answer at once."""

import asyncio
import time

import pytest
from pyrogram import filters, raw
from pyrogram.errors import BadRequest
from pyrogram.types import BotCommand, BotCommandScopeAllPrivateChats

from tgserver import SeededSpec, make_bot_client

MIB = 1 << 20


@pytest.fixture
async def bot_with_a_file(telegram):
    """A started bot client (home DC 2) and a 2 MiB file on DC 2 in a channel it administers."""
    world = telegram.world
    bot = world.add_bot(username="filestream_bot", home_dc=2)
    admin = telegram.person(world.add_user(first_name="Admin", home_dc=1))
    channel = world.add_channel(title="bin", admins=[bot, admin.user])
    client = make_bot_client(telegram, bot)
    await client.start()
    post = await admin.post_file(channel, SeededSpec(2 * MIB, seed=5), dc_id=2)
    message = await client.get_messages(channel.id, post.id)
    return telegram, bot, client, post, message


def _get_file(message, offset=0, limit=4096):
    from pyrogram.file_id import FileId

    file_id = FileId.decode(message.document.file_id)
    location = raw.types.InputDocumentFileLocation(id=file_id.media_id, access_hash=file_id.access_hash,
                                                   file_reference=file_id.file_reference, thumb_size="")
    return raw.functions.upload.GetFile(location=location, offset=offset, limit=limit)


async def test_flood_wait_is_honoured_by_the_client_and_the_call_then_succeeds(bot_with_a_file):
    server, bot, client, post, message = bot_with_a_file
    server.faults.flood_wait(bot, "upload.GetFile", seconds=2, times=1)

    started = time.monotonic()
    answer = await client.invoke(_get_file(message))
    waited = time.monotonic() - started

    assert answer.bytes == post.media.read(0, 4096)
    assert waited >= 2
    calls = server.rpc_log(bot, "upload.GetFile")
    assert [c.error for c in calls] == ["FLOOD_WAIT_2", None]


async def test_flood_wait_every_time_reaches_the_caller_above_the_sleep_threshold(bot_with_a_file):
    server, bot, client, post, message = bot_with_a_file
    rule = server.faults.flood_wait(bot, "upload.GetFile", seconds=120, times=None)

    from pyrogram.errors import FloodWait

    for _ in range(2):
        with pytest.raises(FloodWait) as error:
            await client.invoke(_get_file(message))
        assert error.value.value == 120
    assert rule.hits == 2


async def test_round_trip_latency_delays_answers_without_serialising_them(bot_with_a_file):
    server, bot, client, post, message = bot_with_a_file
    server.faults.latency = 0.25
    requests = [_get_file(message, offset=i * 65536, limit=65536) for i in range(20)]

    started = time.monotonic()
    for request in requests[:4]:
        await client.invoke(request)
    assert time.monotonic() - started >= 4 * 0.25, "each answer came the latency late"
    assert server.faults.most_delayed_at_once == 1

    answers = await asyncio.gather(*(client.invoke(r) for r in requests))

    assert server.faults.delayed == 24, "every request was answered late"
    # A server that answered in turn would never have two requests waiting at once.
    assert server.faults.most_delayed_at_once >= 2, "requests wait out the latency side by side"
    assert b"".join(a.bytes for a in answers) == post.media.read(0, 20 * 65536)


async def test_bandwidth_cap_paces_each_connection(bot_with_a_file):
    server, bot, client, post, message = bot_with_a_file
    server.faults.bandwidth = 4 * MIB  # bytes per second

    started = time.monotonic()
    answer = await client.invoke(_get_file(message, offset=0, limit=MIB))
    elapsed = time.monotonic() - started

    assert answer.bytes == post.media.read(0, MIB)
    assert server.faults.paced_bytes > MIB, "the answer went out at the cap's pace"
    assert 0.2 <= elapsed < 2


async def test_unknown_method_gets_a_400_naming_it_at_once(bot_with_a_file):
    server, bot, client, post, message = bot_with_a_file

    started = time.monotonic()
    with pytest.raises(BadRequest) as error:
        await client.invoke(raw.functions.messages.GetDialogFilters())

    assert time.monotonic() - started < 1
    assert "METHOD_NOT_SUPPORTED_messages.GetDialogFilters" in str(error.value)


async def test_set_bot_commands_is_recorded_with_its_scope(telegram):
    bot = telegram.world.add_bot(username="commands_bot", home_dc=3)
    client = make_bot_client(telegram, bot)
    await client.start()

    await client.set_bot_commands([BotCommand("start", "Start"), BotCommand("files", "Your files")],
                                  scope=BotCommandScopeAllPrivateChats())

    assert bot.commands_for("BotCommandScopeUsers") == [("start", "Start"), ("files", "Your files")]
    assert [c.method for c in telegram.rpc_log(bot, "bots.SetBotCommands")] == ["bots.SetBotCommands"]


async def test_an_update_pushed_while_the_socket_is_down_is_forgotten_and_comes_with_the_difference(telegram):
    world = telegram.world
    bot = world.add_bot(username="filestream_bot", home_dc=2)
    carol = telegram.person(world.add_user(first_name="Carol", home_dc=1))
    client = make_bot_client(telegram, bot)

    @client.on_message(filters.incoming)
    async def echo(c, message):
        await message.reply_text(f"echo {message.text}")

    await client.start()
    await carol.send_text(bot, "one")
    assert (await carol.next_message(bot)).text == "echo one"

    before = telegram.connections_of(bot)
    assert telegram.faults.drop_connections(bot) == len(before) >= 1
    assert telegram.faults.dropped == len(before)
    assert not telegram.connections_of(bot), "the bot has no socket left when the next update comes"
    await carol.send_text(bot, "two")
    assert telegram.forgotten_updates == 1, "Telegram does not keep a push for a socket that is gone"

    await telegram.wait_until(lambda: telegram.connections_of(bot), timeout=15)
    assert not set(before) & set(telegram.connections_of(bot)), "the client came back over a new connection"
    # The client asks for what it missed, as pyrogram does at start (recover_gaps).
    assert await client.recover_gaps() == (2, 0), "Carol's 'two' and the bot's own 'echo one'"
    assert (await carol.next_message(bot, timeout=15)).text == "echo two"


async def test_a_difference_beyond_the_limit_comes_in_slices(telegram):
    world = telegram.world
    bot = world.add_bot(username="filestream_bot", home_dc=2)
    carol = telegram.person(world.add_user(first_name="Carol", home_dc=1))
    client = make_bot_client(telegram, bot, no_updates=True)
    await client.start()
    state = await client.invoke(raw.functions.updates.GetState())
    telegram.difference_limit = 3
    for n in range(5):
        await carol.send_text(bot, f"m{n}")
    first = await client.invoke(raw.functions.updates.GetDifference(pts=state.pts, date=state.date, qts=0))
    assert isinstance(first, raw.types.updates.DifferenceSlice)
    assert [m.message for m in first.new_messages] == ["m0", "m1", "m2"]
    rest = await client.invoke(raw.functions.updates.GetDifference(
        pts=first.intermediate_state.pts, date=state.date, qts=0))
    assert isinstance(rest, raw.types.updates.Difference)
    assert [m.message for m in rest.new_messages] == ["m3", "m4"]


async def test_a_channel_difference_holds_the_posts_missed_and_is_too_long_beyond_the_limit(telegram):
    world = telegram.world
    bot = world.add_bot(username="filestream_bot", home_dc=2)
    editor = world.add_user(first_name="Eve", home_dc=1)
    channel = world.add_channel("Posts", admins=[bot, editor])
    client = make_bot_client(telegram, bot, no_updates=True)
    await client.start()
    peer = await client.resolve_peer(channel.id)
    start = channel.pts
    for n in range(3):
        world.post_in_channel(channel, editor, f"post {n}")
    diff = await client.invoke(raw.functions.updates.GetChannelDifference(
        channel=peer, filter=raw.types.ChannelMessagesFilterEmpty(), pts=start, limit=100))
    assert isinstance(diff, raw.types.updates.ChannelDifference) and diff.pts == channel.pts
    assert [m.message for m in diff.new_messages] == ["post 0", "post 1", "post 2"]
    telegram.channel_difference_limit = 2
    too_long = await client.invoke(raw.functions.updates.GetChannelDifference(
        channel=peer, filter=raw.types.ChannelMessagesFilterEmpty(), pts=start, limit=100))
    assert isinstance(too_long, raw.types.updates.ChannelDifferenceTooLong)
    assert too_long.dialog.pts == channel.pts
    empty = await client.invoke(raw.functions.updates.GetChannelDifference(
        channel=peer, filter=raw.types.ChannelMessagesFilterEmpty(), pts=channel.pts, limit=100))
    assert isinstance(empty, raw.types.updates.ChannelDifferenceEmpty)


async def test_a_refusing_dc_comes_back(telegram):
    bot = telegram.world.add_bot(username="filestream_bot", home_dc=2)
    client = make_bot_client(telegram, bot)
    await client.start()
    refusal = telegram.faults.refuse_dc(2, True)
    assert refusal.cut >= 1 and not telegram.connections_of(bot)
    import socket

    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", telegram.ports[2]), timeout=1).close()
    # The client lost its socket and tries again at once: it is refused before the DC comes back.
    await telegram.wait_until(lambda: refusal.refused_attempts, timeout=10)
    telegram.faults.refuse_dc(2, False)
    await telegram.wait_until(lambda: telegram.connections_of(bot), timeout=15)

    me = await client.get_me()  # the client reconnected once the DC listened again
    assert me.id == bot.id


async def test_a_held_request_is_answered_only_when_released_and_meets_what_was_armed_meanwhile(bot_with_a_file):
    server, bot, client, post, message = bot_with_a_file
    hold = server.faults.hold("upload.GetFile", when=lambda q: q.offset == MIB)
    first = await client.invoke(_get_file(message, offset=0, limit=65536))  # not caught: another offset
    waiting = asyncio.ensure_future(client.invoke(_get_file(message, offset=MIB, limit=65536)))

    call = await hold.reached()
    assert (call.method, call.account, call.dc_id, call.query.offset) == ("upload.GetFile", bot, 2, MIB)
    assert not waiting.done()
    server.world.expire_file_reference(post)   # armed while the request waits...
    hold.release()

    from pyrogram.errors import FileReferenceExpired

    with pytest.raises(FileReferenceExpired):  # ...so that very request meets it
        await waiting
    assert first.bytes == post.media.read(0, 65536)
    assert hold.hits == 1
    assert [c.error for c in server.rpc_log(bot, "upload.GetFile")] == [None, "FILE_REFERENCE_EXPIRED"]


class _Key:
    def __init__(self, account):
        self.account = account


class _Session:
    def __init__(self, account):
        self.auth_key = _Key(account)


class _Connection:
    """What Faults.pace reads of a connection: its sessions and its own pacing clock."""

    def __init__(self, account):
        self.sessions = {_Session(account)}
        self._next_free = 0.0


def test_bandwidth_is_paced_per_connection_or_shared_by_all_connections_of_an_account(telegram):
    world = telegram.world
    bot, other = world.add_bot(username="one_bot"), world.add_bot(username="two_bot")
    first, second, elsewhere = _Connection(bot), _Connection(bot), _Connection(other)
    faults = telegram.faults
    faults.bandwidth = 4 * MIB

    # Per connection (the default): two connections of one bot each get the whole cap.
    assert faults.pace(first, MIB, now=10.0) == pytest.approx(0.25)
    assert faults.pace(second, MIB, now=10.0) == pytest.approx(0.25)
    assert faults.pace(first, MIB, now=10.0) == pytest.approx(0.5)   # queued behind its own answer

    # Per account: the bot's connections share one cap; another account has its own.
    faults.bandwidth_per = "account"
    assert faults.pace(first, MIB, now=20.0) == pytest.approx(0.25)
    assert faults.pace(second, MIB, now=20.0) == pytest.approx(0.5)
    assert faults.pace(elsewhere, MIB, now=20.0) == pytest.approx(0.25)
    with pytest.raises(ValueError):
        faults.bandwidth_per = "datacenter"
    faults.bandwidth = None
    assert faults.pace(first, MIB, now=30.0) == 0


async def test_an_rpc_error_rule_answers_the_method_with_that_error(bot_with_a_file):
    server, bot, client, post, message = bot_with_a_file
    rule = server.faults.rpc_error(bot, "upload.GetFile", 400, "LOCATION_INVALID", times=1)

    with pytest.raises(BadRequest) as error:
        await client.invoke(_get_file(message))
    assert "LOCATION_INVALID" in str(error.value)
    answer = await client.invoke(_get_file(message))

    assert answer.bytes == post.media.read(0, 4096)
    assert rule.hits == 1
    assert [c.error for c in server.rpc_log(bot, "upload.GetFile")] == ["LOCATION_INVALID", None]


async def test_a_file_reference_runs_out_with_time_and_rereading_the_message_gives_a_fresh_one(bot_with_a_file):
    server, _bot, client, post, message = bot_with_a_file
    references = server.world.file_references
    assert references.lifetime is not None, "references run out by default"
    now = [references.clock()]
    references.clock = lambda: now[0]
    post.media.reference_issued = now[0]
    assert (await client.invoke(_get_file(message))).bytes == post.media.read(0, 4096)

    now[0] += references.lifetime + 0.001   # past it: (t + lifetime) - t may round to just under lifetime
    with pytest.raises(BadRequest, match="FILE_REFERENCE_EXPIRED"):
        await client.invoke(_get_file(message))
    assert references.expired_by_time == 1
    fresh = await client.get_messages(post.chat.id, post.id)
    assert (await client.invoke(_get_file(fresh))).bytes == post.media.read(0, 4096)


async def test_a_test_may_pin_file_references(bot_with_a_file):
    server, _bot, client, post, message = bot_with_a_file
    references = server.world.file_references
    references.lifetime = None  # this story is about something else: references never run out
    references.clock = lambda: float("inf")
    assert (await client.invoke(_get_file(message))).bytes == post.media.read(0, 4096)
    assert references.expired_by_time == 0


async def test_a_per_account_download_rate_answers_flood_wait_past_its_burst_when_switched_on(bot_with_a_file):
    server, bot, client, post, message = bot_with_a_file
    assert server.limits.download is None, "off unless switched on"
    server.limits.download_rate(bytes_per_second=MIB, burst_bytes=2 * MIB)
    from pyrogram.errors import FloodWait

    for offset in (0, MIB):   # the burst
        answer = await client.invoke(_get_file(message, offset=offset, limit=MIB), sleep_threshold=0)
        assert answer.bytes == post.media.read(offset, MIB)
    with pytest.raises(FloodWait) as error:
        await client.invoke(_get_file(message, offset=0, limit=MIB), sleep_threshold=0)
    assert error.value.value == 1
    [verdict] = server.limits.download_verdicts
    assert verdict.bot_id == bot.id and verdict.scope == "download"
