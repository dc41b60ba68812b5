"""Coming from FileStreamBot: its database is migrated, and every file and every old link still works.

FileStreamBot kept no storage-channel message for a file, only the file ids its bots got.
These stories seed a database in exactly its shape, with ids made for the main bot's token
by the local Telegram, migrate it with migrate_files.py, run the real service (and a
LINK_ONLY instance beside it) and fetch every link shape over HTTP, comparing bytes.
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
import sys
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from bson import ObjectId

from clocks import real_now
from FileStream.core.formatting import human_size
from service_harness import add_owner, http_client, links_in, make_world, running_service
from test_owner_commands import say
from tgserver import file_id_for, file_unique_id_of

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from FileStream import migration as mf  # noqa: E402

KIB, MIB = 1 << 10, 1 << 20
GONE = "can no longer be fetched"


@dataclass
class OldFile:
    """One file as FileStreamBot knew it, and the bytes it must stream."""

    oid: ObjectId
    name: str
    data: bytes
    media: Any  # the local Telegram's document or photo
    record: dict[str, Any]

    @property
    def old_download(self) -> str:
        return f"/dl/{self.oid}/{quote(self.name)}"


# kind, DC, size, FileStreamBot's file_name, its mime_type (photos have none: "None/unknown")
ELEVEN = [
    ("document", 1, 1 * MIB + 512 * KIB, "report.pdf", "application/pdf"),
    ("video", 2, 3 * MIB + 123, "holiday.mp4", "video/mp4"),
    ("audio", 3, 600 * KIB + 7, "song.mp3", "audio/mpeg"),
    ("voice", 4, 90 * KIB, "voice-2024-05-01_10-00-00.ogg", "audio/ogg"),
    ("animation", 5, 250 * KIB + 1, "funny.mp4", "video/mp4"),
    ("photo", 1, 180 * KIB + 3, "photo-2024-05-01_10-00-00.jpg", "None/unknown"),
    ("photo", 3, 50 * KIB, "photo-2024-05-02_11-30-00.jpg", "None/unknown"),
    ("document", 5, 1, "one byte.bin", "application/octet-stream"),
    ("video", 4, 2 * MIB, "exact.mkv", "video/x-matroska"),
    ("document", 2, 1 * MIB + 1, "notes.txt", "text/plain"),
    ("audio", 1, 700 * KIB, "podcast.m4a", "audio/mp4"),
]


def old_file(world, bot, kind: str, dc: int, size: int, name: str, mime: str, *, owner: int, seed: int,
             file_ids: bool = False) -> OldFile:
    """A file a person once sent to FileStreamBot: in Telegram on `dc`, known to `bot` by an old id."""
    data = random.Random(seed).randbytes(size)
    media = world.add_media(data, kind=kind, file_name=None if kind == "photo" else name,
                            mime_type=None if kind == "photo" else mime, dc_id=dc)
    file_id = file_id_for(bot, media)
    oid = ObjectId()
    record = {
        "_id": oid, "user_id": owner, "file_id": file_id, "file_unique_id": file_unique_id_of(media),
        "file_name": name, "file_size": size, "mime_type": mime,
        "time": (real_now() - timedelta(days=30 + seed)).timestamp(),
    }
    if file_ids:  # FileStreamBot added these once a file had been streamed: {bot user id: id}
        record["file_ids"] = {str(bot.id): file_id}
    return OldFile(oid, name, data, media, record)


async def seed_filestreambot(database, files: list[OldFile], people: list[int]) -> None:
    """A database in FileStreamBot's shape: users {id, join_date, Links}, blacklist, file."""
    joined = real_now() - timedelta(days=90)
    await database.users.insert_many([{"id": uid, "join_date": joined.date().isoformat(), "Links": 3} for uid in people])
    await database.blacklist.insert_one({"id": 666, "ban_date": joined.date().isoformat()})
    await database.file.insert_many([f.record for f in files])


async def migrate(database_url: str, database_name: str) -> mf.Summary:
    return await mf.migrate(mf.Options(source_url=database_url, source_db=database_name, target_url=database_url,
                                       target_db=database_name, progress=False))


async def one_migrated_file(telegram, database_url, database_client, database_name, person: str,
                            *spec: Any, seed: int):
    """A world with one person whose one FileStreamBot file (kind, DC, size, name, mime) was migrated."""
    world = make_world(telegram)
    owner = telegram.world.add_user(first_name=person, username=person.lower())
    f = old_file(telegram.world, world.main_bot, *spec, owner=owner.id, seed=seed)
    await seed_filestreambot(database_client[database_name], [f], [owner.id])
    await migrate(database_url, database_name)
    return world, owner, f


async def fetch(http, url: str) -> tuple[int, bytes]:
    async with http.get(url) as response:
        return response.status, await response.read()


def stored_copies(world) -> list[int]:
    """The media ids of the storage channel's messages: one per copy made."""
    return sorted(m.media.id for m in list(world.bin_channel.messages.values()) if m.media is not None)


async def test_a_filestreambot_database_keeps_every_file_and_every_link_shape_streams_exact_bytes(
    telegram, stack_settings, database_url, database_client, database_name, tmp_path
):
    world = make_world(telegram, backends=1)
    tg = telegram.world
    people = [tg.add_user(first_name=f"Person{n}", username=f"person{n}") for n in range(len(ELEVEN))]
    files = [old_file(tg, world.main_bot, *spec, owner=people[n].id, seed=n, file_ids=n % 2 == 0)
             for n, spec in enumerate(ELEVEN)]
    files[3].record["user_id"] = -1001122334455  # posted in a channel: FileStreamBot kept the channel id
    await seed_filestreambot(database_client[database_name], files, [p.id for p in people])

    summary = await migrate(database_url, database_name)
    assert (summary.files_migrated, summary.files_need_copy, sum(summary.files_skipped.values())) == (11, 11, 0)

    link_only = stack_settings(world, LINK_ONLY="true", SESSION_DIR=tmp_path / "link-sessions")
    async with running_service(stack_settings(world)) as service, running_service(link_only) as link_server:
        bases = [service.public_url, link_server.public_url]
        assert stored_copies(world) == []
        async with http_client() as http:
            # Five people open each old download link at once, on either instance.
            answers = await asyncio.gather(*(fetch(http, bases[n % 2] + f.old_download) for f in files for n in range(5)))
            for (status, body), f in zip(answers, [f for f in files for _ in range(5)]):
                assert status == 200 and body == f.data, f.name
            # Each file was re-sent into the storage channel once, by its old id: the same media.
            assert stored_copies(world) == sorted(f.media.id for f in files)

            for n, f in enumerate(files):
                base = bases[n % 2]
                assert await fetch(http, f"{base}/dl/{f.oid}") == (200, f.data)
                async with http.get(f"{base}/watch/{f.oid}") as page:
                    html = await page.text()
                    assert page.status == 200 and f.name in html
                signed = re.search(r'href="(http[^"]+/dl/[A-Za-z0-9_-]{48}/[^"]+)"', html)
                assert signed is not None and str(f.oid) not in signed.group(1)
                assert await fetch(http, signed.group(1)) == (200, f.data)

            # The deep links FileStreamBot gave out: stream_<id> answers with new, signed links...
            for person, f in zip(people, files):
                alice = telegram.person(person)
                await alice.send_command(world.main_bot, "start", f"stream_{f.oid}")
                links = links_in(await alice.next_message(world.main_bot, timeout=20))
                assert links is not None, f.name
                for url in (links.watch, links.download, links.stream):
                    assert str(f.oid) not in url and re.search(r"/(watch|dl|stream)/[A-Za-z0-9_-]{48}", url)
                assert await fetch(http, links.download) == (200, f.data)
                assert await fetch(http, links.stream) == (200, f.data)
                async with http.get(links.watch) as page:
                    assert page.status == 200 and f.name in await page.text()
                # ...and file_<id> sends the file itself.
                await alice.send_command(world.main_bot, "start", f"file_{f.oid}")
                sent = await alice.next_message(world.main_bot, timeout=20)
                assert sent.media is f.media and sent.media.read() == f.data
        assert stored_copies(world) == sorted(f.media.id for f in files)  # still one copy each


async def test_a_file_id_telegram_refuses_answers_410_logs_one_line_and_nothing_else_breaks(
    telegram, stack_settings, database_url, database_client, database_name, caplog
):
    world = make_world(telegram)
    tg = telegram.world
    owner = tg.add_user(first_name="Olivia", username="olivia")
    # FileStreamBot ran with another token (revoked since): its ids mean nothing to ours.
    old_bot = tg.add_bot(username="old_filestream_bot")
    lost = old_file(tg, old_bot, "video", 4, 300 * KIB, "lost.mp4", "video/mp4", owner=owner.id, seed=1)
    kept = old_file(tg, world.main_bot, "document", 2, 200 * KIB, "kept.zip", "application/zip", owner=owner.id, seed=2)
    await seed_filestreambot(database_client[database_name], [lost, kept], [owner.id])
    assert (await migrate(database_url, database_name)).files_need_copy == 2

    caplog.set_level(logging.INFO)
    async with running_service(stack_settings(world)) as service:
        base = service.public_url
        async with http_client() as http:
            answers = await asyncio.gather(*(http.get(base + lost.old_download) for _ in range(5)))
            for response in answers:
                assert response.status == 410 and GONE in await response.text()
                response.release()
            for url in (f"/dl/{lost.oid}", f"/watch/{lost.oid}"):
                async with http.get(base + url) as response:
                    assert response.status == 410 and GONE in await response.text()
            assert await fetch(http, base + kept.old_download) == (200, kept.data)

            olivia = telegram.person(owner)
            await olivia.send_command(world.main_bot, "start", f"stream_{lost.oid}")
            assert GONE in (await olivia.next_message(world.main_bot)).text
            await olivia.send_command(world.main_bot, "files")
            listing = await olivia.next_message(world.main_bot)
            card = next(b for b in listing.flat_buttons if b.text.startswith("lost.mp4") or "lost.mp4" in b.text)
            assert GONE in await olivia.press_button(world.main_bot, listing.message_id, card.callback_data)
            kept_card = next(b for b in listing.flat_buttons if "kept.zip" in b.text)
            await olivia.press_button(world.main_bot, listing.message_id, kept_card.callback_data)
            card_links = links_in(await olivia.next_edit(world.main_bot))
            assert card_links is not None and await fetch(http, card_links.download) == (200, kept.data)

    assert stored_copies(world) == [kept.media.id]
    about_lost = [r for r in caplog.records if r.levelno >= logging.INFO and (
        str(lost.oid) in r.getMessage() or "lost.mp4" in r.getMessage())]
    assert len(about_lost) == 1 and "FILE_ID_INVALID" in about_lost[0].getMessage(), [r.getMessage() for r in about_lost]
    assert not [r for r in caplog.records if r.exc_info], "no traceback may be logged"


async def test_old_links_answer_404_when_legacy_links_are_off(
    telegram, stack_settings, database_url, database_client, database_name
):
    world, owner, f = await one_migrated_file(telegram, database_url, database_client, database_name, "Omar",
                                              "document", 3, 64 * KIB, "plan.pdf", "application/pdf", seed=3)

    async with running_service(stack_settings(world, LEGACY_LINKS="false")) as service:
        async with http_client() as http:
            for url in (f.old_download, f"/dl/{f.oid}", f"/watch/{f.oid}"):
                async with http.get(service.public_url + url) as response:
                    assert response.status == 404 and "text/html" in response.headers["Content-Type"]
            omar = telegram.person(owner)
            for payload in (f"file_{f.oid}", f"stream_{f.oid}"):
                await omar.send_command(world.main_bot, "start", payload)
                assert "not available" in (await omar.next_message(world.main_bot)).text
            # The file itself is kept: its owner's /files card gives new links, and they stream.
            await omar.send_command(world.main_bot, "files")
            listing = await omar.next_message(world.main_bot)
            await omar.press_button(world.main_bot, listing.message_id, listing.flat_buttons[0].callback_data)
            card_links = links_in(await omar.next_edit(world.main_bot))
            assert card_links is not None and await fetch(http, card_links.download) == (200, f.data)
    assert stored_copies(world) == [f.media.id]


async def test_telegram_asking_to_wait_during_the_resend_answers_503_until_the_wait_is_over(
    telegram, stack_settings, database_url, database_client, database_name
):
    world, _, f = await one_migrated_file(telegram, database_url, database_client, database_name, "Pia",
                                          "video", 2, 400 * KIB, "later.mp4", "video/mp4", seed=4)
    # Longer than the client library sleeps through on its own: the service must answer.
    rule = telegram.faults.flood_wait(world.main_bot, "messages.SendMedia", seconds=45, times=1)

    async with running_service(stack_settings(world)) as service:
        async with http_client() as http:
            async with http.get(service.public_url + f.old_download) as response:
                assert rule.hits == 1  # the fault fired, during the re-send
                assert response.status == 503 and response.headers["Retry-After"] == "45"
                assert "try again" in (await response.text()).lower()
            # Asked again at once: the same answer, and Telegram is not asked while its wait holds.
            async with http.get(service.public_url + f.old_download) as response:
                assert response.status == 503 and 40 <= int(response.headers["Retry-After"]) <= 45
            assert len(telegram.rpc_log(world.main_bot, "messages.SendMedia")) == 1
            assert stored_copies(world) == []


async def test_a_short_wait_telegram_asks_during_the_resend_is_waited_out_and_the_file_served(
    telegram, stack_settings, database_url, database_client, database_name
):
    world, _, f = await one_migrated_file(telegram, database_url, database_client, database_name, "Pia",
                                          "video", 2, 400 * KIB, "soon.mp4", "video/mp4", seed=4)
    rule = telegram.faults.flood_wait(world.main_bot, "messages.SendMedia", seconds=2, times=1)

    async with running_service(stack_settings(world)) as service:
        async with http_client() as http:
            assert await fetch(http, service.public_url + f.old_download) == (200, f.data)
    assert rule.hits == 1
    assert [c.error for c in telegram.rpc_log(world.main_bot, "messages.SendMedia")] == ["FLOOD_WAIT_2", None]
    assert stored_copies(world) == [f.media.id]


async def test_a_claim_left_by_an_instance_that_stopped_mid_send_is_taken_over(
    telegram, stack_settings, database_url, database_client, database_name
):
    world, _, f = await one_migrated_file(telegram, database_url, database_client, database_name, "Quinn",
                                          "audio", 5, 128 * KIB, "orphan.mp3", "audio/mpeg", seed=5)
    files = database_client[database_name].files
    abandoned = {"state": "sending", "by": "an instance that crashed", "at": real_now() - timedelta(minutes=10)}
    assert (await files.update_one({"legacy_id": str(f.oid)}, {"$set": {"storage_copy": abandoned}})).modified_count == 1

    async with running_service(stack_settings(world)) as service:
        async with http_client() as http:
            assert await fetch(http, f"{service.public_url}/dl/{f.oid}") == (200, f.data)
    assert stored_copies(world) == [f.media.id]
    record = await files.find_one({"legacy_id": str(f.oid)})
    assert record["storage_message_id"] and "storage_copy" not in record


async def test_repost_makes_every_missing_copy_at_once_resumably_and_links_then_need_no_resend(
    telegram, stack_settings, database_url, database_client, database_name
):
    world = make_world(telegram)
    tg = telegram.world
    owner = tg.add_user(first_name="Rosa", username="rosa")
    old_bot = tg.add_bot(username="old_filestream_bot")
    files = [old_file(tg, world.main_bot, kind, dc, 96 * KIB + n, f"early{n}.bin", "application/octet-stream",
                      owner=owner.id, seed=10 + n) for n, (kind, dc) in enumerate([("document", 1), ("photo", 4)])]
    lost = old_file(tg, old_bot, "document", 2, 10 * KIB, "lost.bin", "application/octet-stream", owner=owner.id, seed=20)
    await seed_filestreambot(database_client[database_name], [*files, lost], [owner.id])
    settings = stack_settings(world)
    options = mf.Options(source_url=database_url, source_db=database_name, target_url=database_url,
                         target_db=database_name, progress=False, repost=True, repost_rate=600)
    await mf.migrate(options)

    done = await mf.repost(options, settings)
    assert (done.made, done.refused, done.already) == (2, 1, 0)
    assert stored_copies(world) == sorted(f.media.id for f in files)
    again = await mf.repost(options, settings)  # resumable: only what is still missing, and nothing is
    assert (again.made, again.refused, again.already) == (0, 0, 0)

    async with running_service(settings) as service:
        async with http_client() as http:
            for f in files:
                assert await fetch(http, service.public_url + f.old_download) == (200, f.data)
            status, _ = await fetch(http, service.public_url + lost.old_download)
            assert status == 410
    assert stored_copies(world) == sorted(f.media.id for f in files)  # no re-send on first use any more


async def test_an_old_deep_link_of_a_private_file_opens_only_for_its_owner_and_of_a_channel_post_for_anyone(
    telegram, stack_settings, database_url, database_client, database_name
):
    world = make_world(telegram)
    tg = telegram.world
    petra_user = tg.add_user(first_name="Petra", username="petra")
    diary = old_file(tg, world.main_bot, "document", 2, 8 * KIB, "diary.txt", "text/plain", owner=petra_user.id, seed=5)
    poster = old_file(tg, world.main_bot, "document", 3, 9 * KIB, "poster.pdf", "application/pdf", owner=petra_user.id,
                      seed=6)
    poster.record["user_id"] = -1001122334455   # posted in the auth channel: FileStreamBot kept the channel id
    await seed_filestreambot(database_client[database_name], [diary, poster], [petra_user.id])
    await migrate(database_url, database_name)
    # Old ids are guessable (a time and a counter): Sam guessing Petra's is refused in words.
    sam = telegram.person(tg.add_user(first_name="Sam", username="sam"))
    petra = telegram.person(petra_user)
    async with running_service(stack_settings(world)):
        for payload in (f"file_{diary.oid}", f"stream_{diary.oid}"):
            await sam.send_command(world.main_bot, "start", payload)
            refused = await sam.next_message(world.main_bot, timeout=20)
            assert refused.media is None and "not available" in refused.text, payload
        await petra.send_command(world.main_bot, "start", f"file_{diary.oid}")
        sent = await petra.next_message(world.main_bot, timeout=20)
        assert sent.media is diary.media and sent.media.read() == diary.data
        # The channel post's old link was made to be shared: anyone who has it gets it.
        await sam.send_command(world.main_bot, "start", f"file_{poster.oid}")
        sent = await sam.next_message(world.main_bot, timeout=20)
        assert sent.media is poster.media and sent.media.read() == poster.data
        await sam.send_command(world.main_bot, "start", f"stream_{poster.oid}")
        links = links_in(await sam.next_message(world.main_bot))
        assert links is not None and f"/dl/{poster.oid}" not in links.download  # new links are signed
        async with http_client() as http:
            assert await fetch(http, links.download) == (200, poster.data)


@pytest.mark.parametrize("legacy_links", ["true", "false"])
async def test_del_takes_every_old_link_shape_of_a_migrated_file_and_says_when_none_is_known(
    telegram, stack_settings, database_url, database_client, database_name, legacy_links
):
    world = make_world(telegram)
    tg, bot = telegram.world, world.main_bot
    owner = add_owner(world)
    person = tg.add_user(first_name="Petra", username="petra")
    files = [old_file(tg, bot, "document", 2, 10 * KIB + n, f"old {n}.txt", "text/plain", owner=person.id, seed=30 + n)
             for n in range(5)]
    await seed_filestreambot(database_client[database_name], files, [person.id])
    await migrate(database_url, database_name)
    shapes = ["{base}/dl/{oid}/{name}", "{base}/watch/{oid}", "https://t.me/filestream_bot?start=file_{oid}",
              "t.me/filestream_bot?start=stream_{oid}", "{oid}"]
    async with running_service(stack_settings(world, OWNER_ID=owner.id, LEGACY_LINKS=legacy_links)) as service:
        base = service.public_url
        async with http_client() as http:
            if legacy_links == "true":   # used once: it has its stored copy now, which /del removes too
                assert await fetch(http, base + files[0].old_download) == (200, files[0].data)
                assert stored_copies(world) == [files[0].media.id]
            for f, shape in zip(files, shapes):
                link = shape.format(base=base, oid=f.oid, name=quote(f.name))
                answer = await say(owner, bot, f"/del {link}")
                assert answer.text == f"Deleted {f.name} ({human_size(len(f.data))}). Its links no longer work.", link
                assert await service.db.files.id_for_legacy(str(f.oid)) is None
                assert (await fetch(http, base + f.old_download))[0] == 404
        assert [m for m in list(world.bin_channel.messages.values()) if not m.deleted] == []
        for unknown in (str(files[0].oid), f"{base}/watch/{ObjectId()}"):
            answer = await say(owner, bot, f"/del {unknown}")
            assert answer.text.startswith("No file migrated from FileStreamBot has that id"), answer.text
        assert await service.db.db["files"].count_documents({}) == 0
