"""The local Telegram runs on its own loop, in its own thread: a bot whose loop is blocked does not stall it.

A product bug that blocks the event loop (synchronous work in a handler) must show up as what
it is in life: Telegram and the people on it go on without the bot. With Telegram on the
test's loop, the same block would stop the people's clocks too and hide it.
"""

from __future__ import annotations

import time

import pytest
from pyrogram import filters

BLOCK = 1.5        # seconds the bot's handler keeps its loop blocked
PATIENCE = 0.5     # seconds the person waits for an answer


async def test_a_person_stops_waiting_on_time_while_the_bots_loop_is_blocked(telegram, bot_client):
    world = telegram.world
    bot = world.add_bot(username="blocking_bot")
    alice = telegram.person(world.add_user(first_name="Alice"))
    client = bot_client(bot)
    unblocked_at: list[float] = []

    @client.on_message(filters.text & filters.private)
    async def block_the_loop(_client, message):
        # The bug under test: work that keeps the event loop (CPU-bound, so the same on any
        # clock; the year-ahead runs replace time.sleep).
        until = time.monotonic() + BLOCK
        while time.monotonic() < until:
            pass
        unblocked_at.append(time.monotonic())
        await message.reply_text("late")

    await client.start()
    await alice.send_text(bot, "hello")
    with pytest.raises(TimeoutError):
        await alice.next_message(bot, timeout=PATIENCE)
    assert unblocked_at, "the bot's handler ran (and blocked its loop)"
    assert alice.gave_up_at[-1] < unblocked_at[0], "the person gave up while the bot's loop was still blocked"
    reply = await alice.next_message(bot)
    assert reply.text == "late"
