"""The owner's commands in conversation: /botstats, /ban, /unban, /del, /upload, and refusals for anyone else.

Every story runs the real service against the local Telegram server and the test database;
the test types as the owner (or a person) would and reads what the bot answers.
"""

from __future__ import annotations

import logging
import os
import re

from pyrogram import raw

from FileStream.bot.owner.guard import NOT_FOR_YOU
from service_harness import (add_owner, Clock, http_client, links_in, make_world, running_service, send_and_get_links,
                             tracebacks)
from test_e2e_bundles import button_urls, until_buttons

OWNER_COMMANDS = ["botstats", "ban {victim}", "unban {banned}", "allow 5", "disallow @alice", "broadcast", "del {file_id}", "upload notes.txt"]




async def say(person, bot, text: str, *, reply_to: int | None = None):
    """The person types `text`; the bot's next new message to them."""
    await person.send_text(bot, text, reply_to=reply_to)
    return await person.next_message(bot)


def pre_blocks(message) -> list[str]:
    """The text of every monospace block (<pre>) of a message, as the person sees it."""
    blocks = []
    for entity in message.entities or []:
        if isinstance(entity, raw.types.MessageEntityPre):
            chunk = message.text.encode("utf-16-le")[entity.offset * 2:(entity.offset + entity.length) * 2]
            blocks.append(chunk.decode("utf-16-le"))
    return blocks


async def test_anyone_but_the_owner_is_refused_every_owner_command_and_nothing_happens(
        telegram, stack_settings, tmp_path):
    world = make_world(telegram)
    owner = add_owner(world)
    bot, alice = world.main_bot, world.person
    upload_dir = tmp_path / "uploads"
    upload_dir.mkdir()
    (upload_dir / "notes.txt").write_bytes(b"owner notes")
    victim = telegram.world.add_user(first_name="Victor")
    async with running_service(stack_settings(world, OWNER_ID=owner.id, UPLOAD_DIR=upload_dir)) as service:
        db = service.db
        sent = await send_and_get_links(world, b"alice's file", "alice.txt", mime_type="text/plain")
        file_id = (await db.files.list_by_owner(alice.id, service.clock(), 0))[0][0].id
        await db.users.ban(4242, "spam", service.clock())
        channel_posts = len(world.bin_channel.messages)
        calls_before = len(telegram.rpc_log(bot))

        for command in OWNER_COMMANDS:
            text = "/" + command.format(victim=victim.id, banned=4242, file_id=file_id)
            reply_to = sent.message.id if command == "broadcast" else None
            answer = await say(alice, bot, text, reply_to=reply_to)
            assert answer.text == NOT_FOR_YOU, (command, answer.text)

        # Nothing happened: no ban, no unban, no broadcast, no deletion, no upload.
        assert not await db.users.is_banned(victim.id)
        assert await db.users.is_banned(4242)
        assert await db.broadcasts.running() is None
        assert await db.files.get(file_id) is not None
        assert len(world.bin_channel.messages) == channel_posts
        async with http_client() as http:
            async with http.get(sent.links.download) as response:
                assert response.status == 200 and await response.read() == b"alice's file"
        calls = [c.method for c in telegram.rpc_log(bot)[calls_before:]]
        assert calls.count("messages.SendMessage") == len(OWNER_COMMANDS)
        assert not {"messages.ForwardMessages", "messages.SendMedia", "upload.SaveFilePart",
                    "channels.DeleteMessages", "messages.EditMessage"} & set(calls), calls
        assert [m.text for m in owner.messages_from(bot)] == []


async def test_botstats_shows_the_pool_requests_files_users_uptime_and_the_database(telegram, stack_settings):
    world = make_world(telegram, backends=1)
    owner = add_owner(world)
    clock = Clock()
    async with running_service(stack_settings(world, OWNER_ID=owner.id, FILE_TTL=86400), clock) as service:
        await send_and_get_links(world, b"x" * 3000, "a.txt", mime_type="text/plain")
        await service.db.users.touch(owner.id, "Olga", "olga", clock())
        await service.db.users.touch(world.person.id, "Alice", "alice", clock())
        clock.advance(hours=1, minutes=5)
        stats = await say(owner, world.main_bot, "/botstats")

    pool, service_table, top_files, storage = pre_blocks(stats)
    header, *rows = pool.splitlines()
    for column in ("bot", "healthy", "in flight", "served", "bytes", "errors", "DC", "last error"):
        assert column in header
    assert len(rows) == 2
    assert any(r.startswith("@filestream_bot ") for r in rows) and any(r.startswith("@filestream_worker1_bot") for r in rows)
    assert all(" yes " in r for r in rows)
    lines = dict(line.split("  ", 1) for line in service_table.splitlines())
    lines = {key.strip(): value.strip() for key, value in lines.items()}
    assert lines["files live"] == "1"
    assert lines["users"] == "2"
    assert lines["uptime"] == "1 h 5 min"
    assert lines["database"] == "ok"
    assert "active: processing" in lines and "active: generating link" in lines
    assert "completed, last hour" in lines and "completed, last day" in lines
    assert lines["bytes served, today"] == lines["bytes served, in all"] == "0 B"
    assert top_files == "no downloads yet today"
    [header, bin_channel] = storage.splitlines()
    assert header.split() == ["channel", "role", "state", "live", "copies"]
    assert bin_channel.split() == [str(world.bin_channel.id), "storage", "ok", "1"]


async def test_ban_and_unban_confirm_with_the_name_and_refuse_malformed_ids(telegram, stack_settings):
    world = make_world(telegram)
    owner = add_owner(world)
    bot, alice = world.main_bot, world.person
    async with running_service(stack_settings(world, OWNER_ID=owner.id)) as service:
        db = service.db
        await db.users.touch(alice.id, "Alice <3", "alice", service.clock())

        for text in ("/ban", "/ban abc", "/ban -5", "/ban 12.5 spam", "/unban", "/unban @alice"):
            answer = await say(owner, bot, text)
            assert answer.text.startswith("Usage: /" + text.split()[0][1:]), (text, answer.text)

        banned = await say(owner, bot, f"/ban {alice.id} sends <spam>  daily")
        assert banned.text.startswith(f"Banned Alice <3 (@alice, id {alice.id}).")
        assert "Reason: sends <spam>  daily" in banned.text
        user = await db.users.get(alice.id)
        assert user.banned and user.ban_reason == "sends <spam>  daily"
        again = await say(owner, bot, f"/ban {alice.id}")
        assert again.text == f"Alice <3 (@alice, id {alice.id}) was already banned."

        stranger = await say(owner, bot, "/ban 777000123")
        assert stranger.text.startswith("Banned user 777000123 (not seen by the bot yet).")
        assert "Reason: no reason given" in stranger.text
        assert await db.users.is_banned(777000123)

        own = await say(owner, bot, f"/ban {owner.id}")
        assert "owners cannot be banned" in own.text
        assert not await db.users.is_banned(owner.id)

        lifted = await say(owner, bot, f"/unban {alice.id}")
        assert lifted.text.startswith(f"Unbanned Alice <3 (@alice, id {alice.id}).")
        assert not await db.users.is_banned(alice.id)
        not_banned = await say(owner, bot, f"/unban {alice.id}")
        assert not_banned.text == f"Alice <3 (@alice, id {alice.id}) is not banned."


async def test_del_ends_a_file_by_link_or_id_and_removes_its_stored_message(telegram, stack_settings):
    world = make_world(telegram)
    owner = add_owner(world)
    bot = world.main_bot
    async with running_service(stack_settings(world, OWNER_ID=owner.id)) as service:
        by_download = await send_and_get_links(world, b"one" * 100, "one.txt", mime_type="text/plain")
        by_watch = await send_and_get_links(world, b"two" * 100, "two.txt", mime_type="text/plain")
        by_stream = await send_and_get_links(world, b"three", "three.txt", mime_type="text/plain")
        by_id = await send_and_get_links(world, b"four", "four <b>.txt", mime_type="text/plain")
        files, _ = await service.db.files.list_by_owner(world.person.id, service.clock(), 0)
        four = next(f for f in files if f.file_name == "four <b>.txt")

        for sent, argument in ((by_download, by_download.links.download), (by_watch, by_watch.links.watch),
                               (by_stream, by_stream.links.stream), (by_id, four.id)):
            record = next(f for f in files if sent.links.watch == service.links.links(f).watch)
            stored = world.bin_channel.messages[record.storage_message_id]
            assert not stored.deleted
            answer = await say(owner, bot, f"/del {argument}")
            assert answer.text == (f"Deleted {record.file_name} ({record.file_size} B). "
                                   "Its links no longer work."), answer.text
            assert await service.db.files.get(record.id) is None
            assert stored.deleted
            async with http_client() as http:
                for url in (sent.links.download, sent.links.watch, sent.links.stream):
                    async with http.get(url) as response:
                        assert response.status in (404, 410), url

        gone = await say(owner, bot, f"/del {four.id}")
        assert gone.text == "There is no such file: it was deleted already or never existed."
        for nonsense in ("/del", "/del hello", "/del https://example.org/dl/" + "A" * 48 + "/x.txt"):
            answer = await say(owner, bot, nonsense)
            assert answer.text.startswith("Usage: /del"), (nonsense, answer.text)


async def test_del_with_a_bundle_link_ends_the_bundle_and_every_file_in_it(telegram, stack_settings):
    world = make_world(telegram)
    owner = add_owner(world)
    person, bot = world.person, world.main_bot

    async def album(size: int) -> dict[str, str]:
        """The person sends an album of three files; the buttons of the bot's answer."""
        await person.send_album(bot, [dict(data=bytes([n]) * size, file_name=f"{n}.pdf") for n in range(3)])
        status = await person.next_message(bot)
        return button_urls(await until_buttons(world, status.message_id, "Download all (ZIP)"))

    async with running_service(stack_settings(world, OWNER_ID=owner.id)) as service:
        alone = await send_and_get_links(world, b"alone", "alone.txt")
        first, second = await album(100), await album(200)
        async with http_client() as http:
            async with http.get(first["Open the bundle"]) as page:
                file_links = re.findall(r'href="([^"]+/dl/[^"]+)"', await page.text())
        assert len(file_links) == 3
        copies = {m.id for m in list(world.bin_channel.messages.values()) if not m.deleted}
        assert len(copies) == 7

        by_page = await say(owner, bot, f"/del {first['Open the bundle']}")
        assert by_page.text == ("Deleted the bundle Album of 3 files and its 3 files (300 B). "
                                "Its links and its files' links no longer work."), by_page.text
        by_zip = await say(owner, bot, f"/del {second['Download all (ZIP)']}")
        assert by_zip.text.startswith("Deleted the bundle Album of 3 files and its 3 files (600 B).")
        again = await say(owner, bot, f"/del {first['Open the bundle']}")
        assert again.text == "There is no such bundle: it was deleted already or never existed."

        async with http_client() as http:
            for url in [*first.values(), *second.values(), *file_links]:
                async with http.get(url) as response:
                    assert response.status in (404, 410), url
            async with http.get(alone.links.download) as response:
                assert await response.read() == b"alone"
        assert await service.db.db["files"].count_documents({}) == 1
        assert await service.db.db["bundles"].count_documents({}) == 0
        left = {m.id for m in list(world.bin_channel.messages.values()) if not m.deleted}
        assert len(left) == 1 and left < copies, "every stored copy of the bundles' files is gone, the other stays"


async def test_upload_sends_a_file_from_the_upload_dir_with_progress_and_answers_with_links(
        telegram, stack_settings, tmp_path):
    world = make_world(telegram)
    owner = add_owner(world)
    bot = world.main_bot
    upload_dir = tmp_path / "uploads"
    (upload_dir / "films").mkdir(parents=True)
    data = os.urandom(3 * 1024 * 1024 + 5)
    (upload_dir / "films" / "holiday.mkv").write_bytes(data)
    (tmp_path / "secret.txt").write_bytes(b"not for the bot")
    (upload_dir / "sneaky").symlink_to(tmp_path / "secret.txt")
    (upload_dir / "sneaky_dir").symlink_to(tmp_path)
    (upload_dir / "empty.txt").write_bytes(b"")
    async with running_service(stack_settings(world, OWNER_ID=owner.id, UPLOAD_DIR=upload_dir)) as service:
        status = await say(owner, bot, "/upload films/holiday.mkv")
        assert status.text == "Uploading holiday.mkv (3.0 MiB)…"
        edits = []
        while not edits or "Uploading" in edits[-1].text:
            edits.append(await owner.next_edit(bot, timeout=20))
        progress, final = edits[:-1], edits[-1]
        assert progress, "at least one progress edit"
        assert all(e.message_id == status.message_id for e in edits)
        first = progress[0].text
        assert first.startswith("Uploading holiday.mkv: ") and "%" in first and "/s" in first and "left" in first
        assert "holiday.mkv" in final.text and "do not expire" in final.text
        links = links_in(final)
        assert links is not None, final.text
        async with http_client() as http:
            async with http.get(links.download) as response:
                assert response.status == 200 and await response.read() == data
        record = (await service.db.files.list_by_owner(owner.id, service.clock(), 0))[0][0]
        assert record.source == "upload" and record.file_name == "holiday.mkv"
        # Only the intake's copy stays in the storage channel.
        live_posts = [m for m in list(world.bin_channel.messages.values()) if not m.deleted]
        assert [m.id for m in live_posts] == [record.storage_message_id]

        for path in ("../secret.txt", "films/../../secret.txt", str(tmp_path / "secret.txt")):
            refusal = await say(owner, bot, f"/upload {path}")
            assert refusal.text.startswith("That path leads outside the upload folder"), (path, refusal.text)
        for path, link in (("sneaky", "sneaky"), ("sneaky_dir/secret.txt", "sneaky_dir")):
            refusal = await say(owner, bot, f"/upload {path}")
            assert refusal.text.startswith(f"{link} is a link; I only upload files"), (path, refusal.text)
        missing = await say(owner, bot, "/upload films/nope.mkv")
        assert missing.text == "There is no file called films/nope.mkv in the upload folder."
        folder = await say(owner, bot, "/upload films")
        assert folder.text == "films is a folder, not a file."
        empty = await say(owner, bot, "/upload empty.txt")
        assert "empty" in empty.text
        usage = await say(owner, bot, "/upload")
        assert usage.text.startswith("Usage: /upload")
        assert len([m for m in list(world.bin_channel.messages.values()) if not m.deleted]) == 1


async def test_upload_says_uploads_are_off_without_upload_dir(telegram, stack_settings):
    world = make_world(telegram)
    owner = add_owner(world)
    async with running_service(stack_settings(world, OWNER_ID=owner.id)):
        answer = await say(owner, world.main_bot, "/upload films/holiday.mkv")
    assert answer.text.startswith("Uploads from the server are off: set UPLOAD_DIR")
    assert world.bin_channel.messages == {}


async def test_upload_sends_the_file_it_opened_even_if_its_name_becomes_a_link_mid_upload(
        telegram, stack_settings, tmp_path):
    world = make_world(telegram)
    owner = add_owner(world)
    bot = world.main_bot
    upload_dir = tmp_path / "uploads"
    upload_dir.mkdir()
    data = os.urandom(3 * 1024 * 1024 + 7)
    (upload_dir / "report.pdf").write_bytes(data)
    secret = tmp_path / "secret.bin"
    secret.write_bytes(b"the server's secret " * 1000)
    async with running_service(stack_settings(world, OWNER_ID=owner.id, UPLOAD_DIR=upload_dir)) as service:
        # The bot's "Uploading…" message waits at Telegram: the owner's command was checked,
        # nothing is uploaded yet. Meanwhile the name becomes a link to a secret.
        status_held = telegram.faults.hold("messages.SendMessage", account=bot,
                                           when=lambda query: query.message.startswith("Uploading"))
        await owner.send_text(bot, "/upload report.pdf")
        await status_held.reached()
        assert telegram.rpc_log(bot, method="upload.SaveFilePart") == []
        (upload_dir / "swap").symlink_to(secret)
        os.replace(upload_dir / "swap", upload_dir / "report.pdf")
        status_held.release()

        final = await owner.next_message(bot, timeout=20)
        assert final.text.startswith("Uploading report.pdf")
        while links_in(final) is None:
            final = await owner.next_edit(bot, timeout=20)
        async with http_client() as http:
            async with http.get(links_in(final).download) as response:
                assert response.status == 200 and await response.read() == data
        record = (await service.db.files.list_by_owner(owner.id, service.clock(), 0))[0][0]
        assert record.file_name == "report.pdf" and record.file_size == len(data)
    assert status_held.hits == 1


async def test_every_bad_owner_argument_gets_an_answer_in_words_and_no_traceback(
        telegram, stack_settings, tmp_path, caplog):
    world = make_world(telegram)
    owner = add_owner(world)
    bot = world.main_bot
    upload_dir = tmp_path / "uploads"
    (upload_dir / "folder").mkdir(parents=True)
    (upload_dir / "fïlm 🎬.txt").write_bytes(b"unicode name")
    os.mkfifo(upload_dir / "pipe")  # opening it for reading must not wait for a writer
    (upload_dir / "vanishing.txt").write_bytes(b"here a moment ago")
    (upload_dir / "vanishing.txt").unlink()
    expected = {
        "/upload " + "n" * 300: "That name is too long for the server's file system.",
        "/upload " + "/".join(["deep"] * 900): "There is no file called deep/deep",
        "/upload vanishing.txt": "There is no file called vanishing.txt in the upload folder.",
        "/upload pipe": "pipe is not a regular file.",
        "/upload folder": "folder is a folder, not a file.",
        "/upload folder/../../etc/passwd": "That path leads outside the upload folder",
        "/upload фильм.mkv": "There is no file called фильм.mkv in the upload folder.",
        "/upload ..": "That path leads outside the upload folder",
        "/upload \u202e\u0000x": "That path is not valid.",
        "/del http://[": "Usage: /del",
        "/del https://[::1/dl/x": "Usage: /del",
        "/del " + "é" * 4000: "Usage: /del",
        "/del \U0001F4A9": "Usage: /del",
        "/del 99999999999999999999999999": "Usage: /del",
        "/ban 99999999999999999999999999": "Usage: /ban",
        "/ban ١٢٣": "Usage: /ban",
        "/ban 0x10": "Usage: /ban",
        "/ban 12 " + "spam " * 800: "The reason may be up to 500 characters long",
        "/unban -0": "Usage: /unban",
        "/unban 1e9": "Usage: /unban",
        "/unban ％１": "Usage: /unban",
        "/broadcast now please": "Reply to the message you want to send",
        "/broadcast cancel": "No broadcast is running.",
        "/botstats ; drop everything": "Bot pool",
    }
    async with running_service(stack_settings(world, OWNER_ID=owner.id, UPLOAD_DIR=upload_dir)):
        with caplog.at_level(logging.INFO):
            answers = {text: (await say(owner, bot, text)).text for text in expected}
            uploaded = await say(owner, bot, "/upload fïlm 🎬.txt")
            final = uploaded
            while links_in(final) is None:
                final = await owner.next_edit(bot, timeout=20)
    wrong = {text[:60]: answer[:120] for text, answer in answers.items() if not answer.startswith(expected[text])}
    assert wrong == {}
    assert uploaded.text.startswith("Uploading fïlm 🎬.txt") and "fïlm 🎬.txt" in final.text
    assert tracebacks(caplog.records) == []
