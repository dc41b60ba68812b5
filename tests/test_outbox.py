"""telegram.outbox: a handler queues its reply and goes on; each chat's courier sends in order, a chat
waiting for its pace holds no other chat, and whoever waits for a reply hears what became of it."""

from __future__ import annotations

import asyncio

from pyrogram.errors import FloodWait

from FileStream.core.outbox import Kind
from FileStream.telegram.outbox import Outbox

ALICE, EVE = 1, 2


class Telegram:
    """Sends as acts: each returns a message number; `hold(chat)` makes that chat's sends wait."""

    def __init__(self) -> None:
        self.sent: list[tuple[int, str]] = []
        self.held: dict[int, asyncio.Event] = {}

    def hold(self, chat: int) -> asyncio.Event:
        self.held[chat] = asyncio.Event()
        return self.held[chat]

    def act(self, chat: int, text: str):
        async def send():
            if chat in self.held:
                await self.held[chat].wait()
            self.sent.append((chat, text))
            return len(self.sent)
        return send


def outbox_for(telegram: Telegram, **options) -> Outbox:
    return Outbox(lambda chat: telegram.act(chat, "too fast"), **options)


async def test_a_post_returns_at_once_while_the_chat_waits_for_its_turn():
    telegram = Telegram()
    released = telegram.hold(EVE)
    outbox = outbox_for(telegram)
    delivery = outbox.post(EVE, telegram.act(EVE, "send me a file"))
    assert not delivery.done
    released.set()
    assert await delivery.message() == 1
    assert telegram.sent == [(EVE, "send me a file")]


async def test_a_chat_that_waits_does_not_hold_another_chats_replies():
    telegram = Telegram()
    telegram.hold(EVE)   # Eve's chat never gets its turn in this test
    outbox = outbox_for(telegram)
    for n in range(5):
        outbox.post(EVE, telegram.act(EVE, f"answer {n}"))
    assert await outbox.post(ALICE, telegram.act(ALICE, "welcome")).message() == 1
    assert telegram.sent == [(ALICE, "welcome")]
    await outbox.close()


async def test_a_status_still_waiting_is_replaced_by_the_links_and_both_waiters_hear_of_the_links():
    telegram = Telegram()
    released = telegram.hold(ALICE)
    outbox = outbox_for(telegram)
    recorded = []
    outbox.post(ALICE, telegram.act(ALICE, "welcome"))     # in flight, holding the chat
    status = outbox.post(ALICE, telegram.act(ALICE, "storing…"), kind=Kind.CHATTER, key="status")
    links = outbox.post(ALICE, telegram.act(ALICE, "links"), key="status", on_sent=_recorder(recorded))
    released.set()
    assert await links.message() == await status.message() == 2
    assert telegram.sent == [(ALICE, "welcome"), (ALICE, "links")]
    assert recorded == [2], "on_sent heard of the message once it went out"


def _recorder(into: list):
    async def record(message):
        into.append(message)
    return record


async def test_a_flooding_chat_is_told_once_and_loses_only_its_chatter():
    telegram = Telegram()
    released = telegram.hold(EVE)
    outbox = outbox_for(telegram, behind_at=3)
    links = outbox.post(EVE, telegram.act(EVE, "links"))
    chatter = [outbox.post(EVE, telegram.act(EVE, f"unknown command {n}"), kind=Kind.CHATTER) for n in range(20)]
    assert outbox.notice(EVE).done, "told already: the gate's notice is not said twice"
    released.set()
    await outbox.drain(5)
    texts = [text for _, text in telegram.sent]
    assert texts[0] == "links" and texts.count("too fast") == 1
    assert await links.message() is not None
    dropped = [d for d in chatter if await d.message() is None]
    assert len(dropped) >= 20 - 3


async def test_a_flood_wait_on_links_is_waited_out_and_on_chatter_gives_up():
    telegram = Telegram()
    waited: list[float] = []

    async def sleep(seconds):
        waited.append(seconds)

    outbox = outbox_for(telegram, sleep=sleep)
    refusals = {"links": 1, "help": 1}

    def refused_once(text):
        async def send():
            if refusals[text]:
                refusals[text] -= 1
                raise FloodWait(value=3)
            return await telegram.act(ALICE, text)()
        return send

    links = outbox.post(ALICE, refused_once("links"))
    help_ = outbox.post(ALICE, refused_once("help"), kind=Kind.CHATTER)
    assert await links.message() == 1
    assert await help_.message() is None
    assert waited == [3.0]


async def test_on_shutdown_what_still_waits_is_dropped_and_said():
    telegram = Telegram()
    telegram.hold(EVE)
    outbox = outbox_for(telegram)
    deliveries = [outbox.post(EVE, telegram.act(EVE, f"answer {n}")) for n in range(3)]
    assert not await outbox.drain(0.01)
    await outbox.close()
    assert [await d.message() for d in deliveries] == [None, None, None]
    assert await outbox.post(EVE, telegram.act(EVE, "late")).message() is None
