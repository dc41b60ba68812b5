"""A broadcast outlives a database outage and a failed first reply: it pauses, tries again, goes
on where it was, and the owner always gets the final report.

The database is a real process (SecantusDB, started for the test), stopped mid-broadcast for
longer than the server-selection timeout and started again on the same port and data, or
frozen (SIGSTOP: it holds its connections and answers nothing) and thawed.
"""

from __future__ import annotations

import asyncio

import pytest
from pymongo.errors import ServerSelectionTimeoutError

from FileStream.bot.owner.broadcast import ALREADY_RUNNING
from FileStream.store.database import Deadlines
from service_harness import add_owner, make_world, running_service
from test_owner_broadcast import NEWS, add_people, copies_received

# Short deadlines, so "longer than the selection timeout" is seconds, not the default 15.
QUICK = Deadlines(default=1.0, server_selection=1.0)


def sent_so_far(telegram, bot) -> int:
    return sum(copies_received(telegram, bot).values())


async def outage_past_selection_timeout(engine):
    """Wait (on the engine's retries, no polling) until a database step has failed because no
    server could be selected in time: the database has been away longer than that timeout."""
    outage = engine.outage
    while outage is None or not isinstance(outage.last_error, ServerSelectionTimeoutError):
        outage = await asyncio.wait_for(engine.next_outage_change(), 30)
    return outage


async def an_outage(engine):
    """Wait (on the engine's retries) until a database step has failed and the engine paused."""
    outage = engine.outage
    while outage is None:
        outage = await asyncio.wait_for(engine.next_outage_change(), 30)
    return outage


@pytest.mark.parametrize("fault", ["stopped", "frozen"])
async def test_a_broadcast_waits_out_a_database_outage_and_finishes_where_it_stopped(
        telegram, stack_settings, database_process, fault):
    world = make_world(telegram)
    owner = add_owner(world)
    bot = world.main_bot
    settings = stack_settings(world, OWNER_ID=owner.id, BROADCAST_RATE=10, DATABASE_URL=database_process.url)
    async with running_service(settings, deadlines=QUICK) as service:
        people = await add_people(telegram, service, bot, 60)
        recipients = {p.id for p in people} | {owner.id}
        news = await owner.send_text(bot, NEWS)
        await owner.next_message(bot)  # the bot's hint that it takes files
        await owner.send_command(bot, "broadcast", reply_to=news)
        status = await owner.next_message(bot)
        engine = service.ctx.broadcasts
        await telegram.world.wait_until(lambda: sent_so_far(telegram, bot) >= 15)

        if fault == "stopped":
            await database_process.stop()
            outage = await outage_past_selection_timeout(engine)
        else:
            await database_process.freeze()
            outage = await an_outage(engine)
        paused_at = sent_so_far(telegram, bot)
        assert 15 <= paused_at < len(recipients), "the database went away in the middle of the broadcast"
        await asyncio.wait_for(engine.next_outage_change(), 30)  # one more failed try...
        assert sent_so_far(telegram, bot) == paused_at, "...and nothing was sent while paused"
        assert (await service.ops.health())[0] is False

        if fault == "stopped":
            await database_process.start()
        else:
            assert database_process.frozen, "the broadcast paused while the database was frozen"
            database_process.thaw()
        progress = telegram.world.private_messages[status.message_id]
        await telegram.world.wait_until(lambda: progress.text.startswith("Broadcast finished"), timeout=60)
        assert engine.outage is None
        [record] = [doc async for doc in service.db.db["broadcasts"].find()]
        assert (record["state"], record["sent"], record["failed"]) == ("done", len(recipients), 0)

        # The next broadcast may start: nothing is left "running".
        await owner.send_command(bot, "broadcast", reply_to=news)
        finished = await telegram.world.wait_until(lambda: [
            m for m in owner.messages_from(bot) if m.text.startswith("Broadcast finished")][1:], timeout=60)
        assert not [m for m in owner.messages_from(bot) if m.text == ALREADY_RUNNING]

    assert outage.retries >= 1
    report = f"Broadcast finished\nSent: {len(recipients)}\nFailed: 0\nBlocked or deleted: 0"
    assert progress.text == report and finished[0].text == report
    received = copies_received(telegram, bot)
    assert set(received) == recipients and set(received.values()) == {2}, "everyone got each broadcast once"



async def test_a_broadcast_whose_first_reply_fails_still_runs_and_reports_to_the_owner(telegram, stack_settings):
    world = make_world(telegram)
    owner = add_owner(world)
    bot = world.main_bot
    async with running_service(stack_settings(world, OWNER_ID=owner.id, BROADCAST_RATE=50)) as service:
        people = await add_people(telegram, service, bot, 20)
        recipients = {p.id for p in people} | {owner.id}
        news = await owner.send_text(bot, NEWS)
        await owner.next_message(bot)  # the bot's hint that it takes files
        # Just longer than the client waits out: "Broadcast starting…" cannot be sent, and
        # Telegram takes nothing for the owner's chat for those 31 s.
        refused = telegram.faults.flood_wait(bot, "messages.SendMessage", seconds=31, times=1)
        await owner.send_command(bot, "broadcast", reply_to=news)

        # Everyone else gets the news meanwhile: one chat's verdict does not stall the broadcast.
        others = {p.id for p in people}
        await telegram.world.wait_until(lambda: others <= set(copies_received(telegram, bot)), timeout=20)
        [verdict] = [c for c in telegram.rpc_log(bot, "messages.SendMessage") if c.error]
        reports = await telegram.world.wait_until(
            lambda: [m for m in owner.messages_from(bot) if m.text.startswith("Broadcast finished")], timeout=90)
        assert refused.hits == 1
        assert not [m for m in owner.messages_from(bot) if m.text == "Broadcast starting…"]
        assert (await service.db.broadcasts.running()) is None
    assert [r.text for r in reports] == [f"Broadcast finished\nSent: {len(recipients)}\nFailed: 0\nBlocked or deleted: 0"]
    received = copies_received(telegram, bot)
    assert set(received) == recipients and set(received.values()) == {1}
    # The owner is the only one the bot writes or edits messages for here: nothing of that
    # was even asked of Telegram while its wait held the owner's chat.
    to_owner = [c for c in telegram.rpc_log(bot) if c.method in ("messages.SendMessage", "messages.EditMessage")]
    assert not [c for c in to_owner if verdict.at < c.at < verdict.at + 30.5]
