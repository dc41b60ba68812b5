"""Button presses: each is answered once, a press that changes nothing silently, data the bot
never made quietly, and nothing is done for anyone while the ban lookup fails."""

from __future__ import annotations

import asyncio
import logging
import secrets
from datetime import timedelta

import pytest

from FileStream.bot import texts
from FileStream.bot.routing import SORRY
from FileStream.core.models import StoredFile
from service_harness import make_world, running_service, send_and_get_links, tracebacks
from tgserver import CallbackExpired


async def give_files(service, owner_id: int, count: int) -> None:
    """`count` live files of `owner_id`, as /files lists them (the listing reads only the records)."""
    now = service.clock()
    for n in range(count):
        await service.db.files.insert_confirmed(StoredFile(
            id=secrets.token_urlsafe(12), file_name=f"file{n:02}.txt", file_size=100 + n, mime_type="text/plain",
            file_unique_id=f"unique{n}", media_type="document", dc_id=2, storage_chat_id=-100,
            storage_message_id=n + 1, created_at=now - timedelta(seconds=count - n),
            expires_at=now + timedelta(hours=1), owner_id=owner_id))


async def looking_at_page_one(service, world):
    """The person has 12 files (two pages) and the bot's /files answer in front of them."""
    await give_files(service, world.person.id, 12)
    await world.person.send_command(world.main_bot, "files")
    return await world.person.next_message(world.main_bot)


def callback_answers(telegram, bot) -> list:
    return telegram.rpc_log(bot, method="messages.SetBotCallbackAnswer")


async def test_a_double_press_that_changes_nothing_is_answered_once_each_and_silently(
        telegram, stack_settings, caplog):
    world = make_world(telegram)
    person, bot = world.person, world.main_bot
    async with running_service(stack_settings(world)) as service:
        page = await looking_at_page_one(service, world)
        next_page = page.button("Next").callback_data

        # Two taps before the first edit arrived: both ask for page 2.
        with caplog.at_level(logging.INFO):
            answers = await asyncio.gather(person.press_button(bot, page.message_id, next_page),
                                           person.press_button(bot, page.message_id, next_page))
            shown = await person.next_edit(bot)

    assert answers == [None, None]
    assert [a["alert"] for a in person.callback_answers] == [False, False]
    assert "page 2 of 2" in shown.text
    edits = telegram.rpc_log(bot, method="messages.EditMessage")
    # The repeated edit either waited in the chat's queue behind the first and was folded into
    # it, or went out after it and was refused as changing nothing.
    assert [e.error for e in edits] in ([None], [None, "MESSAGE_NOT_MODIFIED"])
    assert [c.error for c in callback_answers(telegram, bot)] == [None, None]  # one answer per press
    assert SORRY not in [m.text for m in person.messages_from(bot)]
    assert tracebacks(caplog.records) == []


async def test_button_data_the_bot_never_made_is_answered_quietly(telegram, stack_settings, caplog):
    world = make_world(telegram)
    person, bot = world.person, world.main_bot
    async with running_service(stack_settings(world)) as service:
        page = await looking_at_page_one(service, world)
        with caplog.at_level(logging.INFO):
            unknown = {}
            for data in (b"userfiles_1", b"\xff\xfe\x00not utf-8", "é" * 32, b"files", b"x" * 64):
                unknown[data] = await person.press_button(bot, page.message_id, data, any_data=True)
            gone = await person.press_button(bot, page.message_id, "file:" + "A" * 16, any_data=True)
            not_a_file = await person.press_button(bot, page.message_id, "del:../../etc", any_data=True)
            # A page number far past the end (and past what MongoDB can skip) shows the last page.
            huge = await person.press_button(bot, page.message_id, "files:" + "9" * 58, any_data=True)
            last = await person.next_edit(bot)
            garbled = await person.press_button(bot, page.message_id, "files:-1e9", any_data=True)
            first = await person.next_edit(bot)

    assert set(unknown.values()) == {texts.UNKNOWN_BUTTON}
    assert gone == not_a_file == texts.FILE_GONE
    assert huge is None and "page 2 of 2" in last.text
    assert garbled is None and "page 1 of 2" in first.text
    presses = 5 + 4
    assert len(person.callback_answers) == presses
    assert [c.error for c in callback_answers(telegram, bot)] == [None] * presses
    assert [a["alert"] for a in person.callback_answers[:5]] == [False] * 5  # a toast, not an alert
    assert SORRY not in [m.text for m in person.messages_from(bot)]
    assert tracebacks(caplog.records) == []


async def test_when_the_ban_lookup_fails_the_person_is_asked_to_try_again_and_nothing_is_done(
        telegram, stack_settings, database_process, caplog):
    world = make_world(telegram)
    person, bot = world.person, world.main_bot
    async with running_service(stack_settings(world, DATABASE_URL=database_process.url)) as service:
        sent = await send_and_get_links(world, b"before the outage", "before.txt")
        await person.send_command(bot, "files")
        page = await person.next_message(bot)
        stored = len(world.bin_channel.messages)
        calls_before = len(telegram.rpc_log(bot))

        await database_process.freeze()  # the database process stops answering (SIGSTOP)
        try:
            with caplog.at_level(logging.INFO):
                await person.send_file(bot, b"during the outage", file_name="during.txt")
                told, pressed = await asyncio.gather(
                    person.next_message(bot, timeout=30),
                    person.press_button(bot, page.message_id, page.button("before.txt").callback_data, timeout=30))
            assert database_process.frozen, "both were answered while the database was frozen"
        finally:
            database_process.thaw()
        requests_during = await service.db.db["requests"].count_documents({"file_name": "during.txt"})

    assert told.text == texts.TRY_AGAIN_SHORTLY
    assert pressed == texts.TRY_AGAIN_SHORTLY and person.callback_answers[-1]["alert"]
    refusals = [r for r in caplog.records if r.getMessage().startswith(f"Cannot tell whether {person.id} is banned")]
    assert len(refusals) == 2  # the lookup failed, for the message and for the press
    # Nothing was processed: no request, nothing stored, no links; only the two answers.
    assert requests_during == 0
    assert len(world.bin_channel.messages) == stored
    # (Fetching updates it missed, updates.*, is not doing anything for the person.)
    calls = [c.method for c in telegram.rpc_log(bot)[calls_before:] if not c.method.startswith("updates.")]
    assert sorted(calls) == ["messages.SendMessage", "messages.SetBotCallbackAnswer"], calls
    assert sent.links is not None
    assert tracebacks(caplog.records) == []


async def test_a_press_answered_after_telegram_stopped_waiting_still_opens_the_card_without_a_traceback(
        telegram, stack_settings, caplog):
    world = make_world(telegram)
    person, bot = world.person, world.main_bot
    async with running_service(stack_settings(world)) as service:
        page = await looking_at_page_one(service, world)
        # Telegram waits about 15 s for the answer to a press; here every answer comes too late.
        telegram.world.callback_query_lifetime = 0
        with caplog.at_level(logging.INFO):
            with pytest.raises(CallbackExpired):
                await person.press_button(bot, page.message_id, page.button("file05.txt").callback_data)
            card = await person.next_edit(bot)

    assert "file05.txt" in card.text and card.button("Delete"), "what the press asked for still happened"
    assert [c.error for c in callback_answers(telegram, bot)] == ["QUERY_ID_INVALID"]
    late = [r for r in caplog.records if "after Telegram stopped waiting" in r.getMessage()]
    assert len(late) == 1 and late[0].levelno == logging.INFO
    assert SORRY not in [m.text for m in person.messages_from(bot)]
    assert tracebacks(caplog.records) == []
    assert [r.getMessage() for r in caplog.records
            if r.levelno >= logging.WARNING and r.name.startswith("FileStream")] == []
