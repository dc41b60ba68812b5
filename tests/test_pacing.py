"""telegram.pacing: a bot's sends keep within Telegram's limits, and a FLOOD_WAIT holds every send it covers.

The pacer runs on virtual time here (no sleeps); its send times are then checked against the
local Telegram's own model of the limits (tgserver.limits), with network jitter on top.
"""

from __future__ import annotations

import asyncio
import math

import pytest
from hypothesis import given, settings, strategies as st
from pyrogram import raw
from pyrogram.errors import FloodWait

from FileStream.telegram.pacing import OVERALL, ChatHeld, PacedClient, Pacer, SendingLimits, counted_sends
from clocks import VirtualTime
from tgserver import make_bot_client
from tgserver.errors import RpcFail
from tgserver.limits import Limits

ALICE = ("private", 1)
BOB = ("private", 2)
CHANNEL = ("group", 77)


def pacer_on(time: VirtualTime, limits: SendingLimits | None = None) -> Pacer:
    return Pacer(limits, clock=time.clock, sleep=time.sleep)


async def send_times(time: VirtualTime, pacer: Pacer, chats) -> list[float]:
    """When each send (to chats[i], all asked at once) was let through."""
    times: list[float] = [0.0] * len(chats)

    async def send(index, chat):
        await pacer.wait_turn(chat)
        times[index] = time.now

    await time.run(*(send(i, chat) for i, chat in enumerate(chats)))
    return times


def most_within(times: list[float], width: float) -> int:
    times = sorted(times)
    best, first = 0, 0
    for last, at in enumerate(times):
        while at - times[first] >= width - 1e-9:
            first += 1
        best = max(best, last - first + 1)
    return best


async def test_one_person_gets_a_short_burst_then_one_message_per_interval():
    time = VirtualTime()
    limits = SendingLimits()
    times = await send_times(time, pacer_on(time, limits), [ALICE] * 12)
    burst = limits.private_chat_burst
    assert times[:burst] == [0.0] * burst
    gaps = [b - a for a, b in zip(times[burst - 1:], times[burst:])]
    assert all(gap == pytest.approx(1 / limits.private_chat_per_second, abs=1e-5) for gap in gaps)
    assert times == sorted(times), "first come, first served"


async def test_sends_to_many_people_keep_the_overall_pace():
    time = VirtualTime()
    limits = SendingLimits()
    times = await send_times(time, pacer_on(time, limits), [("private", n) for n in range(200)])
    assert most_within(times, 0.001) == limits.overall_burst
    assert most_within(times, 1.0) <= limits.overall_burst + limits.overall_per_second
    assert max(times) == pytest.approx((200 - limits.overall_burst) / limits.overall_per_second, abs=0.01)


async def test_a_channel_gets_fifteen_at_once_then_eighteen_a_minute():
    time = VirtualTime()
    times = await send_times(time, pacer_on(time), [CHANNEL] * 20)
    assert times[:15] == [0.0] * 15
    assert times[15:] == pytest.approx([60 / 18 * n for n in range(1, 6)], abs=1e-5)
    assert most_within(times, 60.0) <= 20


async def test_a_short_flood_wait_holds_every_chat_and_a_long_one_only_its_own():
    time = VirtualTime()
    pacer = pacer_on(time)
    pacer.flood(ALICE, 2)
    times = await send_times(time, pacer, [ALICE, BOB, CHANNEL])
    assert times == [2.0, 2.0, 2.0], "a wait short enough to be the overall limit's holds everyone"

    pacer.flood(CHANNEL, 40)
    assert pacer.held_for(CHANNEL) == pytest.approx(40)
    assert pacer.held_for(ALICE) == 0
    start = time.now
    times = await send_times(time, pacer, [ALICE, CHANNEL, BOB])
    assert times[0] == times[2] == start, "people are not held by one channel's verdict"
    assert times[1] == pytest.approx(start + 40)


async def test_a_verdict_longer_than_the_callers_patience_is_raised_without_waiting():
    time = VirtualTime()
    pacer = pacer_on(time)
    pacer.flood(CHANNEL, 30)
    with pytest.raises(ChatHeld) as held:
        await time.run(pacer.wait_turn(CHANNEL, patience=10))
    assert held.value.seconds == 30 and time.now == 0
    await time.run(pacer.wait_turn(CHANNEL, patience=30))
    assert time.now == pytest.approx(30)


async def test_idle_chats_are_forgotten_and_busy_ones_kept():
    time = VirtualTime()
    pacer = pacer_on(time)
    pacer.MAX_CHATS = 10
    pacer.flood(("group", 1), 100)
    await time.run(*(pacer.wait_turn(("private", n)) for n in range(100, 109)))
    time.now += 5  # every person's bucket is full again
    await time.run(pacer.wait_turn(("private", 999)))
    assert pacer.held_for(("group", 1)) == pytest.approx(95), "a chat under a verdict is kept"
    assert len(pacer._chats) <= 3


def test_what_counts_as_a_message_and_for_which_chat():
    user = raw.types.InputPeerUser(user_id=5, access_hash=0)
    channel = raw.types.InputPeerChannel(channel_id=9, access_hash=0)
    send = raw.functions.messages.SendMessage(peer=user, message="hi", random_id=1)
    edit = raw.functions.messages.EditMessage(peer=channel, id=3, message="new")
    forward = raw.functions.messages.ForwardMessages(from_peer=channel, to_peer=user, id=[1, 2, 3],
                                                     random_id=[1, 2, 3])
    assert counted_sends(send) == (("private", 5), 1)
    assert counted_sends(edit) == (("group", 9), 1)
    assert counted_sends(forward) == (("private", 5), 3)
    assert counted_sends(raw.functions.messages.SetBotCallbackAnswer(query_id=1, cache_time=0)) is None
    assert counted_sends(raw.functions.upload.GetFile(location=raw.types.InputDocumentFileLocation(
        id=1, access_hash=1, file_reference=b"", thumb_size=""), offset=0, limit=4096)) is None


class _Bot:
    is_bot = True
    id = 7


@settings(max_examples=40, deadline=None)
@given(
    requests=st.lists(st.tuples(st.floats(0, 30), st.sampled_from([ALICE, BOB, ("private", 3), CHANNEL])),
                      min_size=1, max_size=60),
    delays=st.lists(st.floats(0, 0.3), min_size=60, max_size=60),
)
def test_paced_sends_pass_telegrams_limits_even_with_network_jitter(requests, delays):
    """Whatever the bot is asked to send and when, what it lets through arrives within the local
    Telegram's model of the limits, each send delayed on the way by up to 0.3 s."""

    async def scenario():
        clock = VirtualTime()   # virtual: its sleeps move its own time, no real waiting
        pacer = pacer_on(clock)
        sent: list[tuple[float, tuple]] = []

        async def ask(at, chat):
            await clock.sleep(at)
            await pacer.wait_turn(chat)
            sent.append((clock.now, chat))

        await clock.run(*(ask(at, chat) for at, chat in requests))
        return sent

    sent = asyncio.run(scenario())
    arrivals = sorted((at + delays[i], chat) for i, (at, chat) in enumerate(sent))
    now = [0.0]
    telegram = Limits(clock=lambda: now[0])
    for at, (kind, chat_id) in arrivals:
        now[0] = at
        peer = (raw.types.InputPeerUser(user_id=chat_id, access_hash=0) if kind == "private"
                else raw.types.InputPeerChannel(channel_id=chat_id, access_hash=0))
        try:
            telegram.check(_Bot(), raw.functions.messages.SendMessage(peer=peer, message="x", random_id=1), "send")
        except RpcFail as refused:
            pytest.fail(f"Telegram refused a paced send at {at:.3f} s to {kind} {chat_id}: {refused}")


# -- against the local Telegram: the real client library, the real limits ---------------------------

async def test_a_pacer_wrong_about_the_limits_still_honours_telegrams_verdict(telegram):
    """Telegram is stricter than this client thinks: the FLOOD_WAIT it answers holds every send
    that follows, so none is sent while the verdict holds, and each message arrives once."""
    # Faster than Telegram's own figures so the story takes a few seconds, not ten.
    telegram.limits.relax(private_chat_per_second=2.0, private_chat_burst=3)
    world = telegram.world
    bot = world.add_bot(username="paced_bot")
    alice = world.add_user(first_name="Alice")
    world.private_chat(alice, bot)
    too_generous = SendingLimits(private_chat_per_second=9.0, private_chat_burst=8)
    client = make_bot_client(telegram, bot, client_class=PacedClient, limits=too_generous)
    await client.start()
    await asyncio.gather(*(client.send_message(alice.id, f"message {n}") for n in range(8)))

    received = sorted(m.text for m in list(telegram.world.private_messages.values()) if m.sender is bot)
    assert received == sorted(f"message {n}" for n in range(8))
    assert len(telegram.limits.verdicts) >= 1, "the generous pacer did run into Telegram's limit"
    assert telegram.limits.unhonoured == []
    refused = [c for c in telegram.rpc_log(bot, "messages.SendMessage") if c.error]
    assert refused and all(c.error.startswith("FLOOD_WAIT_") for c in refused)


async def test_a_caller_that_will_not_wait_gets_flood_wait_back_while_the_verdict_holds(telegram):
    telegram.limits.relax(private_chat_burst=1)  # a second between two messages to one person
    world = telegram.world
    bot = world.add_bot(username="impatient_bot")
    alice = world.add_user(first_name="Alice")
    world.private_chat(alice, bot)
    client = make_bot_client(telegram, bot, client_class=PacedClient,
                             limits=SendingLimits(private_chat_per_second=9.0, private_chat_burst=5))
    await client.start()
    await client.send_message(alice.id, "one")
    peer = await client.resolve_peer(alice.id)

    def send(text):
        return client.invoke(raw.functions.messages.SendMessage(peer=peer, message=text, random_id=client.rnd_id()),
                             sleep_threshold=0)

    with pytest.raises(FloodWait):
        await send("two")          # Telegram refuses: its bucket holds one
    asked = len(telegram.rpc_log(bot, "messages.SendMessage"))
    with pytest.raises(FloodWait) as again:
        await send("three")        # held here, not asked again
    assert again.value.value >= 1
    assert len(telegram.rpc_log(bot, "messages.SendMessage")) == asked
    # A verdict ends at a moment in time, and nothing fires then: wait until that moment by the
    # pacer's own clock (Telegram's is real time too: msg_ids carry it, so it cannot be driven);
    # again if a timer woke a hair early, so the next send is never still under the verdict.
    while (held := client.pacer.held_for(("private", alice.id))) > 0:
        await asyncio.sleep(held)
    await send("three")
    assert [m.text for m in list(world.private_messages.values()) if m.sender is bot] == ["one", "three"]
    assert telegram.limits.unhonoured == []
    assert math.isclose(client.pacer.held_for(OVERALL), 0)
