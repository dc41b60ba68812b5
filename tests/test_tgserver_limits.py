"""The local Telegram's sending limits: what passes, what earns FLOOD_WAIT_X, and sends that ignore one.

Rules are checked on the limits object with a hand-moved clock (exact, no waiting); one story
shows the answer reaching a real client.
"""

from __future__ import annotations

import asyncio

import pytest
from pyrogram import raw
from pyrogram.errors import FloodWait

from tgserver import make_bot_client
from tgserver.errors import RpcFail
from tgserver.limits import IN_FLIGHT_GRACE, Limits, SendingLimits, counted_sends


class Bot:
    is_bot = True

    def __init__(self, id: int = 7):
        self.id = id


class Person:
    is_bot = False
    id = 1


def user(user_id: int):
    return raw.types.InputPeerUser(user_id=user_id, access_hash=0)


def channel(channel_id: int):
    return raw.types.InputPeerChannel(channel_id=channel_id, access_hash=0)


def send(peer):
    return raw.functions.messages.SendMessage(peer=peer, message="hi", random_id=1)


def edit(peer):
    return raw.functions.messages.EditMessage(peer=peer, id=1, message="changed")


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def limits_on(clock: Clock, rules: SendingLimits | None = None) -> Limits:
    return Limits(rules, clock=clock, wall_clock=clock)


def passes(limits: Limits, query, bot=None) -> bool:
    try:
        limits.check(bot or Bot(), query, type(query).__name__)
        return True
    except RpcFail as refused:
        assert refused.code == 420 and refused.message.startswith("FLOOD_WAIT_")
        return False


def refusal(limits: Limits, query, bot=None) -> str:
    with pytest.raises(RpcFail) as refused:
        limits.check(bot or Bot(), query, type(query).__name__)
    return refused.value.message


def test_one_person_gets_a_burst_of_ten_then_one_message_a_second():
    clock = Clock()
    limits = limits_on(clock)
    assert all(passes(limits, send(user(5))) for _ in range(10))
    assert refusal(limits, send(user(5))) == "FLOOD_WAIT_1"
    assert passes(limits, send(user(6))), "another person is not held by this one's verdict"
    clock.now += 1.0
    assert passes(limits, send(user(5)))
    assert not passes(limits, send(user(5)))
    [verdict, _] = limits.verdicts
    assert (verdict.scope, verdict.seconds) == ("private:5", 1)


def test_edits_count_and_answering_a_button_does_not():
    clock = Clock()
    limits = limits_on(clock)
    for _ in range(5):
        assert passes(limits, send(user(5))) and passes(limits, edit(user(5)))
    assert not passes(limits, edit(user(5)))
    answer = raw.functions.messages.SetBotCallbackAnswer(query_id=1, cache_time=0)
    assert counted_sends(answer) is None
    assert all(passes(limits, answer) for _ in range(100))


def test_a_channel_takes_twenty_a_minute():
    clock = Clock()
    limits = limits_on(clock)
    assert all(passes(limits, send(channel(9))) for _ in range(20))
    assert refusal(limits, edit(channel(9))) == "FLOOD_WAIT_3"
    clock.now += 3.0
    assert passes(limits, send(channel(9)))
    assert not passes(limits, send(channel(9)))


def test_thirty_a_second_over_all_chats():
    clock = Clock()
    limits = limits_on(clock)
    assert all(passes(limits, send(user(n))) for n in range(30))
    assert refusal(limits, send(user(99))) == "FLOOD_WAIT_1"
    assert limits.verdicts[-1].scope == "overall"
    assert not passes(limits, send(channel(9))), "an overall verdict holds every chat"
    clock.now += 1.0
    assert all(passes(limits, send(user(100 + n))) for n in range(30))


def test_a_forward_counts_each_message_and_limits_apply_to_each_bot_alone():
    clock = Clock()
    limits = limits_on(clock)
    forward = raw.functions.messages.ForwardMessages(from_peer=channel(9), to_peer=user(5), id=list(range(1, 9)),
                                                     random_id=list(range(1, 9)))
    assert counted_sends(forward) == ("private:5", 8)
    assert passes(limits, forward)
    assert passes(limits, send(user(5))) and passes(limits, send(user(5)))
    assert not passes(limits, send(user(5)))
    assert passes(limits, send(user(5)), bot=Bot(id=8)), "another bot has its own limits"
    assert all(passes(limits, send(user(5)), bot=Person()) for _ in range(50)), "people are not limited here"


def test_a_send_made_while_a_verdict_holds_is_refused_and_remembered_unless_it_was_on_its_way():
    clock = Clock()
    limits = limits_on(clock, SendingLimits(group_per_minute=6.0, group_burst=1))
    assert passes(limits, send(channel(9)))
    assert refusal(limits, send(channel(9))) == "FLOOD_WAIT_10"
    # Made by the bot before the verdict could reach it: refused, not held against it.
    with pytest.raises(RpcFail):
        limits.check(Bot(), send(channel(9)), "send", sent_at=clock.now + IN_FLIGHT_GRACE / 2)
    assert limits.unhonoured == []
    clock.now += 4
    assert refusal(limits, send(channel(9))) == "FLOOD_WAIT_6"
    [ignored] = limits.unhonoured
    assert (ignored.scope, ignored.verdict.seconds) == ("group:9", 10)
    clock.now += 6
    assert passes(limits, send(channel(9)))


def test_a_test_relaxes_a_rule_only_by_name():
    clock = Clock()
    limits = limits_on(clock)
    limits.relax(private_chat_burst=50)
    assert all(passes(limits, send(user(5))) for _ in range(29))
    limits.relax(overall_per_second=None, private_chat_per_second=None)
    assert all(passes(limits, send(user(5))) for _ in range(500))
    with pytest.raises(TypeError, match="unknown sending limits"):
        limits.relax(private_chats=1)
    assert Limits().rules == SendingLimits(), "every server starts strict"


async def test_a_real_client_gets_flood_wait_and_its_sends_go_through_after_it(telegram):
    world = telegram.world
    bot = world.add_bot(username="chatty_bot")
    alice = world.add_user(first_name="Alice")
    world.private_chat(alice, bot)
    # A token every 10 s instead of every second: even a slow machine sends the eleven
    # before the burst of ten refills.
    telegram.limits.relax(private_chat_per_second=0.1)
    client = make_bot_client(telegram, bot, sleep_threshold=0)
    await client.start()
    results = await asyncio.gather(*(client.send_message(alice.id, f"message {n}") for n in range(11)),
                                   return_exceptions=True)
    [refused] = [r for r in results if isinstance(r, Exception)]
    assert isinstance(refused, FloodWait) and 1 <= refused.value <= 10
    errors = sorted(c.error or "" for c in telegram.rpc_log(bot, "messages.SendMessage"))
    assert errors == [""] * 10 + [f"FLOOD_WAIT_{refused.value}"]
    assert len([m for m in list(world.private_messages.values()) if m.sender is bot]) == 10
