"""Who may touch what: a person's files and bundles answer only to that person.

Bob holds everything of Alice's he could get hold of - her file and bundle ids (as the bot
writes them into its buttons), her deep-link keys, her links - and presses every kind of
button with them, opens her deep links, and asks /del. Each time he is refused in words,
and afterwards nothing of Alice's has changed: her records are as they were and her links
still serve her bytes. A banned person gets nothing done, not even with their own files.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging

from FileStream.bot import keyboards, texts
from FileStream.bot.owner.broadcast import CANCEL as BROADCAST_CANCEL
from FileStream.bot.owner.guard import NOT_FOR_YOU
from FileStream.bot.routing import SORRY
from FileStream.core.tokens import new_deep_link_key, new_file_id
from database_fixture import add_as_migrated
from service_harness import http_client, make_world, running_service, send_and_get_links, tracebacks


def button_urls(message) -> dict[str, str]:
    return {b.text: b.url for b in message.flat_buttons if b.url}


async def alice_sends_an_album(world, names: list[str]) -> dict[str, str]:
    """Alice's album becomes a bundle; the buttons of the message that carries its links."""
    person, bot = world.person, world.main_bot
    await person.send_album(bot, [dict(data=name.encode() * 50, file_name=name) for name in names])
    status = await person.next_message(bot, timeout=20)

    def done():
        found = [m for m in person.messages_from(bot) if m.message_id == status.message_id]
        return found and "Open the bundle" in button_urls(found[0]) and found[0]
    return button_urls(await world.telegram.world.wait_until(done, timeout=30))


async def documents(db, collection: str, owner_id: int) -> list[dict]:
    return await db.db[collection].find({"owner_id": owner_id}).sort("_id").to_list()


async def fetch(http, url: str) -> tuple[int, bytes]:
    async with http.get(url) as response:
        return response.status, await response.read()


async def test_bob_pressing_alices_buttons_opening_her_deep_links_and_asking_del_is_refused_and_nothing_of_hers_changes(
        telegram, stack_settings, caplog):
    world = make_world(telegram)
    alice, bot = world.person, world.main_bot
    bob = telegram.person(telegram.world.add_user(first_name="Bob", username="bob"))
    mallory = telegram.person(telegram.world.add_user(first_name="Mallory", username="mallory"))
    caplog.set_level(logging.INFO)
    async with running_service(stack_settings(world)) as service:
        db = service.db
        diary = await send_and_get_links(world, b"alice's diary", "diary.txt", mime_type="text/plain")
        bundle_urls = await alice_sends_an_album(world, ["one.txt", "two.txt"])
        [bundle], _ = await db.bundles.list_by_owner(alice.id, service.clock(), skip=0, limit=10)
        alone, _ = await db.files.list_by_owner(alice.id, service.clock(), 0)
        files = [*alone, *(await db.files.get_many(list(bundle.file_ids))).values()]
        assert len(files) == 3 and {f.owner_id for f in files} == {alice.id}
        # One of her files has a deep-link key of its own (as files moved over from older bots have).
        keyed = dataclasses.replace(files[0], id=new_file_id(), deep_link_key=new_deep_link_key())
        await add_as_migrated(db, keyed)
        files.append(keyed)
        before = (await documents(db, "files", alice.id), await documents(db, "bundles", alice.id))

        # Bob's own /files answer is the message he presses on.
        await bob.send_command(bot, "files")
        board = await bob.next_message(bot)
        assert board.text == texts.NO_FILES
        pressed = {}
        for file in files:
            for prefix in (keyboards.FILE_CARD, keyboards.FILE_DELETE):
                pressed[prefix + file.id] = await bob.press_button(bot, board.message_id, prefix + file.id,
                                                                   any_data=True)
        for prefix in (keyboards.BUNDLE_CARD, keyboards.BUNDLE_DELETE):
            pressed[prefix + bundle.id] = await bob.press_button(bot, board.message_id, prefix + bundle.id,
                                                                 any_data=True)
        assert set(pressed.values()) == {texts.NOT_YOUR_FILE}, pressed
        # The owner's own button (cancel a broadcast) is not Bob's either.
        assert await bob.press_button(bot, board.message_id, BROADCAST_CANCEL, any_data=True) == NOT_FOR_YOU
        assert all(a["alert"] for a in bob.callback_answers), "each refusal is an alert Bob has to read"

        # Her deep links, and deep links made of her ids and tokens, open nothing for Bob; /del
        # with her links and ids is for the owner only (Mallory tries that, at the same time).
        token = diary.links.download.split("/")[4]
        payloads = [f"file_{keyed.deep_link_key}", f"stream_{keyed.deep_link_key}", f"file_{files[0].id}",
                    f"stream_{files[-2].id}", f"file_{token}", f"stream_{bundle.id}"]
        wanted = [diary.links.download, files[1].id, bundle_urls["Open the bundle"],
                  f"https://t.me/{bot.username}?start=file_{keyed.deep_link_key}"]

        async def answers(person, command, arguments):
            replies = []
            for argument in arguments:
                await person.send_command(bot, command, argument)
                replies.append(await person.next_message(bot))
            return replies
        opened, refusals = await asyncio.gather(answers(bob, "start", payloads), answers(mallory, "del", wanted))
        assert [reply.text for reply in opened] == [texts.FILE_NOT_FOUND] * len(payloads)
        assert [reply.media for reply in opened] == [None] * len(payloads)
        assert [reply.text for reply in refusals] == [NOT_FOR_YOU] * len(wanted)

        # Nothing of Alice's changed, and all her links still serve her bytes.
        after = (await documents(db, "files", alice.id), await documents(db, "bundles", alice.id))
        assert after == before
        async with http_client() as http:
            for url in (diary.links.download, diary.links.stream, diary.links.watch):
                status, body = await fetch(http, url)
                assert status == 200, url
            assert (await fetch(http, diary.links.download))[1] == b"alice's diary"
            for name, url in bundle_urls.items():
                assert (await fetch(http, url))[0] == 200, name

        # Bob never saw a file of hers, nor a card of one: his board still says he has none.
        seen = bob.messages_from(bot)
        assert all(m.media is None for m in seen)
        assert [m.text for m in seen if m.message_id == board.message_id] == [texts.NO_FILES]
        assert not any(name in m.text for m in seen for name in ("diary.txt", "one.txt", "two.txt"))
        # Alice's own presses still work: her file's card opens for her.
        await alice.send_command(bot, "files")
        her_board = await alice.next_message(bot)
        assert await alice.press_button(bot, her_board.message_id, keyboards.FILE_CARD + diary_id(files, "diary.txt"),
                                        any_data=True) is None
        await world.telegram.world.wait_until(lambda: any(
            m.message_id == her_board.message_id and "diary.txt" in m.text for m in alice.messages_from(bot)))
        # ...and her Delete ends its links and removes its stored copy.
        diary_record = next(f for f in files if f.file_name == "diary.txt" and f.deep_link_key is None)
        assert await alice.press_button(bot, her_board.message_id, keyboards.FILE_DELETE + diary_record.id,
                                        any_data=True) == "Deleted."
        assert world.bin_channel.messages[diary_record.storage_message_id].deleted, "the stored copy is gone"
        async with http_client() as http:
            assert (await fetch(http, diary.links.download))[0] == 404

    assert SORRY not in [m.text for m in bob.messages_from(bot) + mallory.messages_from(bot)]
    assert tracebacks(caplog.records) == []


def diary_id(files, name: str) -> str:
    return next(f.id for f in files if f.file_name == name and f.deep_link_key is None)


async def test_a_banned_person_gets_nothing_done_not_even_with_their_own_files(telegram, stack_settings, caplog):
    world = make_world(telegram)
    carol, bot = world.person, world.main_bot
    caplog.set_level(logging.INFO)
    async with running_service(stack_settings(world)) as service:
        db = service.db
        sent = await send_and_get_links(world, b"carol's notes", "notes.txt", mime_type="text/plain")
        [notes], _ = await db.files.list_by_owner(carol.id, service.clock(), 0)
        keyed = dataclasses.replace(notes, id=new_file_id(), deep_link_key=new_deep_link_key())
        await add_as_migrated(db, keyed)
        await carol.send_command(bot, "files")
        board = await carol.next_message(bot)
        before = await documents(db, "files", carol.id)
        stored = len(world.bin_channel.messages)

        assert await db.users.ban(carol.id, "spam", service.clock())
        # Her own buttons: every press is answered with the ban, and nothing is done.
        answers = [await carol.press_button(bot, board.message_id, data, any_data=True)
                   for data in (keyboards.FILE_CARD + notes.id, keyboards.FILE_DELETE + notes.id,
                                keyboards.FILE_DELETE + keyed.id, f"{keyboards.FILES_PAGE}0")]
        assert answers == [texts.BANNED] * 4
        # Her first message after the ban is answered once with the ban; then she is ignored.
        await carol.send_command(bot, "start", f"file_{keyed.deep_link_key}")
        told = await carol.next_message(bot)
        assert told.text == texts.BANNED
        await carol.send_command(bot, "files")
        await carol.send_file(bot, b"after the ban", file_name="after.txt")
        # A press is always answered, so once this one is, the messages before it were handled.
        assert await carol.press_button(bot, board.message_id, keyboards.FILE_DELETE + notes.id,
                                        any_data=True) == texts.BANNED

        assert await documents(db, "files", carol.id) == before
        assert len(world.bin_channel.messages) == stored, "nothing she sent was stored"
        async with http_client() as http:
            assert await fetch(http, sent.links.download) == (200, b"carol's notes")

    said = [m.text for m in carol.messages_from(bot)]
    assert said.count(texts.BANNED) == 1 and said[-1] == texts.BANNED, said
    assert all(m.media is None for m in carol.messages_from(bot)), "no copy of her file from the deep link"
    assert tracebacks(caplog.records) == []
