"""Work a kill -9 cut short is finished after the restart: the service runs as a real process
(`python -m FileStream`'s main), is killed with SIGKILL while it stores a file of an AUTH_CHANNEL
post or of a person's album (the copy into BIN_CHANNEL held at the local Telegram, so the kill
provably strikes mid-work), and is started again. Telegram's update state already stood past
those updates, so they never come again by themselves: the service finds them in MongoDB. The
post gets its buttons, and the person the album's links, each exactly once."""

from __future__ import annotations

import io
import random
import signal
import zipfile

from service_harness import http_client, make_world
from test_e2e_catch_up import editor_and_channel
from test_e2e_crash import COPY, into, killable_service, live_copies


def button_urls(message) -> dict[str, str]:
    return {b.text: b.url for b in message.flat_buttons if b.url}


async def fetch(url: str) -> bytes:
    async with http_client() as http, http.get(url) as response:
        assert response.status == 200, url
        return await response.read()


def nth(n: int, condition):
    """A hold condition true for the `n`th request it is asked about that meets `condition`."""
    seen = []

    def when(query) -> bool:
        if condition(query):
            seen.append(query)
            return len(seen) == n
        return False
    return when


async def test_a_channel_post_whose_handling_a_kill_cut_gets_its_buttons_once_after_the_restart(
        telegram, database_url, database_name, mongo_db, tmp_path):
    world = make_world(telegram)
    bot = world.main_bot
    editor, movies = editor_and_channel(telegram, world)
    service = killable_service(telegram, world, database_url, database_name, tmp_path, AUTH_CHANNEL=str(movies.id))
    film = random.Random(21).randbytes(250_000)
    try:
        await service.start()
        hold = telegram.faults.hold(COPY, bot, when=into(world.bin_channel))
        post = await editor.post_file(movies, film, file_name="film.mkv", mime_type="video/x-matroska")
        await hold.reached(timeout=30)          # its file is being copied into BIN_CHANNEL
        assert await mongo_db["posts_in_hand"].count_documents({}) == 1, "noted as in hand before the work"
        service.kill()
        assert await service.wait() == -signal.SIGKILL
        hold.release()                          # Telegram makes the copy; its answer goes nowhere
        [orphan] = await telegram.wait_until(lambda: live_copies(world), timeout=10)
        assert not post.buttons, "cut before its buttons"

        await service.start()
        await telegram.wait_until(lambda: post.buttons, timeout=30)
        urls = {b.text: b.url for row in post.buttons for b in row}
        assert await fetch(urls["Download"]) == film
        assert orphan.deleted, "the copy the killed process never recorded was deleted"
        await service.stop()                    # nothing more can come: count what came
        assert post.version == 1, "the post got its buttons in one edit"
        [copy] = live_copies(world)
        [record] = [doc async for doc in mongo_db["files"].find({})]
        assert record["storage_message_id"] == copy.id, "stored once"
        assert await mongo_db["posts_in_hand"].count_documents({}) == 0, "nothing left in hand"
        assert await mongo_db["copy_intents"].count_documents({}) == 0

        # Another start finds nothing to do again.
        await service.start()
        await service.stop()
        assert post.version == 1 and await mongo_db["files"].count_documents({}) == 1
    finally:
        await service.stop()


async def test_an_album_whose_links_a_kill_kept_from_the_person_gets_them_once_after_the_restart(
        telegram, database_url, database_name, mongo_db, tmp_path):
    world = make_world(telegram)
    person, bot = world.person, world.main_bot
    service = killable_service(telegram, world, database_url, database_name, tmp_path)
    rng = random.Random(22)
    items = [dict(data=rng.randbytes(120_000 + n), file_name=f"part{n}.bin", caption="Trip" if n == 0 else None)
             for n in range(3)]
    try:
        await service.start()
        second_copy = telegram.faults.hold(COPY, bot, when=nth(2, into(world.bin_channel)))
        await person.send_album(bot, items)
        await second_copy.reached(timeout=30)   # one file of three stored, the second under way
        [status] = person.messages_from(bot)
        assert "Trip" in status.text and not status.buttons
        [bundle] = [doc async for doc in mongo_db["bundles"].find({})]
        assert bundle["state"] != "closed" and len(bundle["items"]) == 1, "cut in the middle of the album"
        service.kill()
        assert await service.wait() == -signal.SIGKILL
        second_copy.release()
        await telegram.wait_until(lambda: len(live_copies(world)) == 2, timeout=10)

        await service.start()

        def links_message():
            found = [m for m in person.messages_from(bot) if "Download all (ZIP)" in button_urls(m)]
            return found[0] if found else None
        done = await telegram.world.wait_until(links_message, timeout=30)
        assert "3 files" in done.text
        with zipfile.ZipFile(io.BytesIO(await fetch(button_urls(done)["Download all (ZIP)"]))) as archive:
            assert [archive.read(i) for i in archive.infolist()] == [i["data"] for i in items]
        await service.stop()                    # nothing more can come: count what came
        assert [m.message_id for m in person.messages_from(bot)] == [done.message_id], \
            "one message: the links (the count the killed process left was taken away)"
        assert status.message_id != done.message_id
        [bundle] = [doc async for doc in mongo_db["bundles"].find({})]
        assert bundle["state"] == "closed" and bundle["link_message"]["message_id"] == done.message_id
        assert await mongo_db["files"].count_documents({}) == 3, "each file stored once"
        assert len(live_copies(world)) == 3, "the copies the killed process made were taken away"
        assert await mongo_db["copy_intents"].count_documents({}) == 0
        assert await mongo_db["requests"].count_documents({"active": True}) == 0
    finally:
        await service.stop()


async def test_an_album_posted_in_the_auth_channel_and_cut_by_a_kill_gets_all_its_buttons_once_after_the_restart(
        telegram, database_url, database_name, mongo_db, tmp_path):
    world = make_world(telegram)
    bot = world.main_bot
    editor, movies = editor_and_channel(telegram, world)
    service = killable_service(telegram, world, database_url, database_name, tmp_path, AUTH_CHANNEL=str(movies.id))
    films = [b"first film" * 1000, b"second film" * 1000]
    try:
        await service.start()
        second_copy = telegram.faults.hold(COPY, bot, when=nth(2, into(world.bin_channel)))
        posts = await editor.post_album(movies, [
            dict(data=films[0], kind="video", file_name="one.mp4", caption="Double feature"),
            dict(data=films[1], kind="video", file_name="two.mp4"),
        ])
        await second_copy.reached(timeout=30)   # the first film stored, the second under way
        service.kill()
        assert await service.wait() == -signal.SIGKILL
        second_copy.release()
        await telegram.wait_until(lambda: len(live_copies(world)) == 2, timeout=10)
        assert not any(post.buttons for post in posts), "cut before any buttons"

        await service.start()
        rows = [await telegram.world.wait_until(lambda p=p: p.buttons, timeout=30) for p in posts]
        for row, film in zip(rows, films):
            assert [[b.text for b in r] for r in row] == [["Stream", "Download"], ["Bot link", "File"], ["Whole album"]]
            assert await fetch(row[0][1].url) == film
        await service.stop()
        assert [post.version for post in posts] == [1, 1], "each post got its buttons in one edit"
        assert await mongo_db["files"].count_documents({}) == 2 and len(live_copies(world)) == 2
        [bundle] = [doc async for doc in mongo_db["bundles"].find({})]
        assert bundle["state"] == "closed" and len(bundle["items"]) == 2
        assert await mongo_db["copy_intents"].count_documents({}) == 0
    finally:
        await service.stop()


async def test_a_file_whose_message_was_deleted_before_the_restart_is_not_handled_again_and_the_person_is_told(
        telegram, database_url, database_name, mongo_db, tmp_path):
    world = make_world(telegram)
    person, bot = world.person, world.main_bot
    service = killable_service(telegram, world, database_url, database_name, tmp_path)
    try:
        await service.start()
        hold = telegram.faults.hold(COPY, bot, when=into(world.bin_channel))
        sent = await person.send_file(bot, b"second thoughts", file_name="draft.txt")
        await hold.reached(timeout=30)
        service.kill()
        assert await service.wait() == -signal.SIGKILL
        hold.release()
        telegram.world.delete([sent], person.user)   # the person takes it back while the service is down

        await service.start()
        told = await person.next_message(bot, timeout=30)
        assert "restarted" in told.text and "draft.txt" in told.text, told.text
        await service.stop()
        assert await mongo_db["files"].count_documents({}) == 0, "nothing stored from a deleted message"
        assert live_copies(world) == []
    finally:
        await service.stop()


EDIT = "messages.EditMessage"   # a post's buttons


def copies_ever_made(world) -> list:
    """Every copy in BIN_CHANNEL, deleted ones too: a copy made and taken away again still cost
    a copy (and its turn in the storage channel)."""
    return [m for m in list(world.bin_channel.messages.values()) if m.media is not None]


async def test_a_channel_post_killed_after_its_file_was_stored_gets_that_files_buttons_once_and_no_second_copy(
        telegram, database_url, database_name, mongo_db, tmp_path):
    world = make_world(telegram)
    bot = world.main_bot
    editor, movies = editor_and_channel(telegram, world)
    service = killable_service(telegram, world, database_url, database_name, tmp_path, AUTH_CHANNEL=str(movies.id))
    film = random.Random(23).randbytes(200_000)
    # The buttons' edit never reaches Telegram: held, and never let go while it matters.
    buttons = telegram.faults.hold(EDIT, bot, when=into(movies))
    try:
        await service.start()
        post = await editor.post_file(movies, film, file_name="film.mkv", mime_type="video/x-matroska")
        await buttons.reached(timeout=30)       # its file is stored, its buttons under way
        [first] = [doc async for doc in mongo_db["files"].find({})]
        assert "pending_since" not in first, "the record was confirmed before the edit"
        assert await mongo_db["posts_in_hand"].count_documents({}) == 1, "still in hand"
        service.kill()
        assert await service.wait() == -signal.SIGKILL
        [copy] = live_copies(world)
        assert not post.buttons, "cut before its buttons"

        await service.start()
        await telegram.wait_until(lambda: post.buttons, timeout=30)
        urls = {b.text: b.url for row in post.buttons for b in row}
        assert await fetch(urls["Download"]) == film
        await service.stop()                    # nothing more can come: count what came
        assert post.version == 1, "the post got its buttons in one edit"
        assert copies_ever_made(world) == [copy], "the file was not copied a second time"
        assert [doc["_id"] async for doc in mongo_db["files"].find({})] == [first["_id"]], "one record: the first"
        assert await mongo_db["posts_in_hand"].count_documents({}) == 0, "nothing left in hand"
        assert await mongo_db["copy_intents"].count_documents({}) == 0
    finally:
        buttons.release()
        await service.stop()


async def test_a_file_whose_links_a_kill_kept_from_the_person_is_not_stored_again_and_its_links_come_once(
        telegram, database_url, database_name, mongo_db, tmp_path):
    world = make_world(telegram)
    person, bot = world.person, world.main_bot
    service = killable_service(telegram, world, database_url, database_name, tmp_path)
    data = random.Random(24).randbytes(150_000)
    # The links' message never reaches Telegram: held, and never let go while it matters.
    links_sent = telegram.faults.hold("messages.SendMessage", bot,
                                      when=lambda q: getattr(q, "reply_markup", None) is not None)
    try:
        await service.start()
        await person.send_file(bot, data, file_name="notes.pdf", mime_type="application/pdf")
        await links_sent.reached(timeout=30)    # stored and recorded; its links under way
        [first] = [doc async for doc in mongo_db["files"].find({})]
        assert "pending_since" not in first and "link_message" not in first, "recorded, links not yet out"
        service.kill()
        assert await service.wait() == -signal.SIGKILL
        [copy] = live_copies(world)

        await service.start()
        reply = await person.next_message(bot, timeout=30)
        urls = button_urls(reply)
        assert await fetch(urls["Download"]) == data
        await service.stop()                    # nothing more can come: count what came
        assert [m.message_id for m in person.messages_from(bot)] == [reply.message_id], "the links, once"
        assert copies_ever_made(world) == [copy], "the file was not copied a second time"
        [record] = [doc async for doc in mongo_db["files"].find({})]
        assert record["_id"] == first["_id"] and record["link_message"]["message_id"] == reply.message_id
        assert await mongo_db["requests"].count_documents({"active": True}) == 0
    finally:
        links_sent.release()
        await service.stop()


async def test_an_album_posted_in_the_auth_channel_and_killed_between_its_posts_buttons_gets_the_rest_once(
        telegram, database_url, database_name, mongo_db, tmp_path):
    world = make_world(telegram)
    bot = world.main_bot
    editor, movies = editor_and_channel(telegram, world)
    # The same port after the restart: the buttons given before it still work.
    service = killable_service(telegram, world, database_url, database_name, tmp_path, fixed_port=True,
                               AUTH_CHANNEL=str(movies.id))
    films = [b"first of three" * 900, b"second of three" * 900, b"third of three" * 900]
    # The second post's buttons never reach Telegram: held, and never let go while it matters.
    second_buttons = telegram.faults.hold(EDIT, bot, when=nth(2, into(movies)))
    try:
        await service.start()
        posts = await editor.post_album(movies, [
            {"data": films[0], "kind": "video", "file_name": "one.mp4", "caption": "Triple feature"},
            {"data": films[1], "kind": "video", "file_name": "two.mp4"},
            {"data": films[2], "kind": "video", "file_name": "three.mp4"},
        ])
        await second_buttons.reached(timeout=30)   # the album closed, its first post has its buttons
        [bundle] = [doc async for doc in mongo_db["bundles"].find({})]
        assert bundle["state"] == "closed" and "buttons_by" in bundle, "closed, its buttons under way"
        assert [bool(post.buttons) for post in posts] == [True, False, False]
        service.kill()
        assert await service.wait() == -signal.SIGKILL
        copies = copies_ever_made(world)
        assert len(copies) == 3

        await service.start()
        rows = [await telegram.world.wait_until(lambda p=p: p.buttons, timeout=30) for p in posts]
        for row, film in zip(rows, films, strict=True):
            assert [[b.text for b in r] for r in row] == [["Stream", "Download"], ["Bot link", "File"], ["Whole album"]]
            assert await fetch(row[0][1].url) == film
        await service.stop()                    # nothing more can come: count what came
        assert [post.version for post in posts] == [1, 1, 1], "each post got its buttons in one edit"
        assert copies_ever_made(world) == copies, "nothing stored again"
        assert await mongo_db["files"].count_documents({}) == 3
        [bundle] = [doc async for doc in mongo_db["bundles"].find({})]
        assert bundle["state"] == "closed" and len(bundle["items"]) == 3 and "buttons_by" not in bundle

        # Another start finds nothing to do again.
        await service.start()
        await service.stop()
        assert [post.version for post in posts] == [1, 1, 1]
    finally:
        second_buttons.release()
        await service.stop()
