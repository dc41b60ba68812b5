"""A database that stops answering (its process frozen with SIGSTOP) costs answers, never hangs:
/health says 503 within 2 s, links say 503 with Retry-After within their deadline, and once
the process runs again (SIGCONT) everything works and nothing stored before is lost. Writes
the service gave up on and the database applies after it resumes (a request's opening, a
bundle's file entry, a record whose request never completed) leave the person neither busy
nor shown anything they were told failed."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time

import aiohttp
import pytest
from bson import ObjectId
from clocks import real_now
from pymongo import monitoring
from pymongo.errors import PyMongoError
from service_harness import (
    http_client,
    links_in,
    make_world,
    running_service,
    send_and_get_links,
    tracebacks,
)
from tgserver import SeededContent

from FileStream.bot.routing import SORRY
from FileStream.services.requests import RequestTracker
from FileStream.store.database import Database, Deadlines, is_unavailable

MIB = 1 << 20
GET_FILE = "upload.GetFile"
COPY = "messages.SendMedia"   # a file's copy into BIN_CHANNEL
READ_BACK = "channels.GetMessages"   # the copy read back, just before the record is written


async def timed_get(http, url: str):
    started = time.monotonic()
    async with http.get(url) as response:
        body = await response.read()
    return response, body, time.monotonic() - started


async def until_ready(http, health_url: str, within: float = 20.0) -> None:
    """Ask /health until it says ready. A failed ask takes its deadline (1 s), so this does
    not spin; a thawed process on a busy machine may need a moment to answer again."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        response, _, _ = await timed_get(http, health_url)
        if response.status == 200:
            return
        assert loop.time() < deadline, f"/health still {response.status} {within:.0f} s after the thaw"


async def test_a_frozen_database_gets_503_in_time_and_all_works_again_once_it_thaws(
        telegram, stack_settings, database_process, caplog):
    caplog.set_level(logging.INFO, logger="FileStream")
    world = make_world(telegram)
    person = world.person
    deadlines = Deadlines()
    settings = stack_settings(world, DATABASE_URL=database_process.url)
    async with running_service(settings) as service, http_client() as http:
        health_url = f"{service.public_url}/health"
        before = await send_and_get_links(world, b"stored before the freeze", "before.txt")
        response, _, _ = await timed_get(http, health_url)
        assert response.status == 200

        await database_process.freeze()
        try:
            response, body, took = await timed_get(http, health_url)
            assert response.status == 503 and b'"database": false' in body
            assert took < 2.0, f"/health took {took:.2f} s with the database frozen"
            print(f"/health with the database frozen: {response.status} in {took:.2f} s")

            response, body, took = await timed_get(http, before.links.download)
            assert response.status == 503 and int(response.headers["Retry-After"]) > 0
            assert b"try again" in body
            assert took < deadlines.link_lookup + 1.0, f"the link took {took:.2f} s with the database frozen"
            print(f"a link with the database frozen: {response.status} in {took:.2f} s")
            assert database_process.frozen, "the answers came while the database was still frozen"
        finally:
            database_process.thaw()

        await until_ready(http, health_url)
        response, body, _ = await timed_get(http, before.links.download)
        assert response.status == 200 and body == b"stored before the freeze"
        after = await send_and_get_links(world, b"stored after the thaw", "after.txt")
        async with http.get(after.links.download) as response:
            assert await response.read() == b"stored after the thaw"
        files, total = await service.db.files.list_by_owner(person.id, service.clock(), 0)
        assert total == 2 and {f.file_name for f in files} == {"before.txt", "after.txt"}
    assert any("file lookup for" in r.getMessage() for r in caplog.records), "the lookup failed during the freeze"


async def test_a_database_frozen_mid_download_cuts_the_download_or_lets_it_finish_exact_and_all_recovers_on_thaw(
        telegram, stack_settings, database_process, caplog):
    caplog.set_level(logging.INFO, logger="FileStream")
    world = make_world(telegram)
    content = SeededContent(3 * MIB + 4321, seed=19).bytes()
    settings = stack_settings(world, DATABASE_URL=database_process.url)
    async with running_service(settings) as service, http_client() as http:
        sent = await send_and_get_links(world, content, "film.bin")
        media = sent.message.media
        # Telegram keeps the second MiB unanswered: the download is under way and cannot be done.
        second_mib = telegram.faults.hold(GET_FILE, when=lambda q: q.location.id == media.id and q.offset == MIB)

        async def download():
            async with http.get(sent.links.download) as response:
                assert response.status == 200 and int(response.headers["Content-Length"]) == len(content)
                received = bytearray()
                try:
                    async for chunk in response.content.iter_any():
                        received += chunk
                except aiohttp.ClientPayloadError:
                    pass   # cut: the client sees a short body, never a wrong one
                return bytes(received)
        downloading = asyncio.ensure_future(download())
        await second_mib.reached()
        await database_process.freeze()
        try:
            assert not downloading.done(), "the download was under way when the database froze"
            second_mib.release()
            body = await asyncio.wait_for(downloading, 30)
            assert database_process.frozen, "the download ended while the database was still frozen"
        finally:
            database_process.thaw()
        print(f"download with the database frozen mid-way: {len(body)} of {len(content)} bytes")
        assert body == content[:len(body)], "every byte sent is the file's own"

        await until_ready(http, f"{service.public_url}/health")
        async with http.get(sent.links.download) as response:
            assert response.status == 200 and await response.read() == content
        after = await send_and_get_links(world, b"stored after the thaw", "after.txt")
        async with http.get(after.links.download) as response:
            assert await response.read() == b"stored after the thaw"


async def until_told(world, reply, *, within: float = 30):
    """Follow the bot's status message until it carries the links or says the file failed
    (its words ask to try again); (the last state seen, links or None)."""
    while links_in(reply) is None and "try again" not in (reply.text or "").lower():
        reply = (await world.person.next_event(world.main_bot, timeout=within)).message
    return reply, links_in(reply)


async def freeze_mid_intake(telegram, world, service, database_process, http, held: str = COPY):
    """A person's file whose intake is under way (Telegram keeps its `held` call unanswered)
    when the database freezes; then the thaw, and the person sending it again. What the
    person saw and the records kept for them."""
    person, bot = world.person, world.main_bot
    under_way = telegram.faults.hold(held, bot)
    await person.send_file(bot, b"sent while the database froze", file_name="during.txt")
    status = await person.next_message(bot)
    await under_way.reached()
    await database_process.freeze()
    try:
        under_way.release()
        told, links = await until_told(world, status)
        assert database_process.frozen, "the person was answered while the database was still frozen"
    finally:
        database_process.thaw()
    await until_ready(http, f"{service.public_url}/health")
    again = await send_and_get_links(world, b"sent while the database froze", "during.txt")
    files, _total = await service.db.files.list_by_owner(person.id, service.clock(), 0)
    return told, links, again, files


async def test_a_database_frozen_mid_intake_gets_the_person_words_and_their_next_try_works_once_it_thaws(
        telegram, stack_settings, database_process, caplog):
    caplog.set_level(logging.INFO, logger="FileStream")
    world = make_world(telegram)
    settings = stack_settings(world, DATABASE_URL=database_process.url)
    async with running_service(settings) as service, http_client() as http:
        told, links, again, _files = await freeze_mid_intake(telegram, world, service, database_process, http)
        async with http.get(again.links.download) as response:
            assert await response.read() == b"sent while the database froze"
    print(f"the person was told: {told.text!r}")
    assert links is None and told.text != SORRY and "try again" in told.text.lower(), told.text
    assert again.links is not None and again.message.media is not None


@pytest.mark.parametrize("held", [COPY, READ_BACK], ids=["while-its-copy-is-made", "while-its-record-is-written"])
async def test_a_file_whose_intake_failed_in_a_database_freeze_leaves_no_record_and_no_traceback(
        telegram, stack_settings, database_process, caplog, held):
    """Frozen while the copy is made, the intake fails on the copy's note; frozen while the
    copy is read back, on the record's own write, which the database applies once it thaws.
    Either way the person, told the file failed, never finds it in /files nor behind a link."""
    caplog.set_level(logging.INFO, logger="FileStream")
    world = make_world(telegram)
    settings = stack_settings(world, DATABASE_URL=database_process.url)
    async with running_service(settings) as service, http_client() as http:
        told, links, again, files = await freeze_mid_intake(telegram, world, service, database_process, http,
                                                            held=held)
        assert links is None and "try again" in told.text.lower(), told.text
        kept = [f for f in files if f.file_name == "during.txt"]
        assert len(files) == 1 and kept and again.links.watch == service.links.links(kept[0]).watch, \
            f"{len(files)} records for one file that worked and one that failed"
        # Whatever else the database holds (a write applied after the thaw) shows nowhere and
        # opens nothing: not /files, not a link made for it.
        others = [doc async for doc in service.db.db["files"].find({"_id": {"$ne": kept[0].id}})]
        print(f"left in the database besides the stored file: {others}")
        for doc in others:
            assert set(doc) == {"_id", "pending_since"}, doc
            assert await service.db.files.get(doc["_id"]) is None
            ghost = service.links.links(dataclasses.replace(kept[0], id=doc["_id"]))
            for url in (ghost.watch, ghost.download):
                async with http.get(url) as response:
                    assert response.status == 404, f"{url}: {response.status}"
        await world.person.send_command(world.main_bot, "files")
        page = await world.person.next_message(world.main_bot)
        listed = [b.text for b in page.flat_buttons if b.callback_data and b.callback_data.startswith(b"file:")]
        assert listed == ["during.txt"], f"/files lists {listed}"
        if held == READ_BACK:
            assert any("was not recorded" in r.getMessage() for r in caplog.records), \
                "the freeze caught the record's write"
    assert tracebacks(caplog.records) == []


async def test_a_request_opened_in_a_freeze_and_applied_after_the_thaw_never_leaves_the_person_busy(
        database_process, caplog):
    """The person's request is opened while the database is frozen: the opening waits in the
    server's socket, the service gives up on it (the person is told to try again), and the
    server applies it once it thaws. Their next try opens at once, and the late opening
    ends failed instead of holding them up until REQUEST_TIMEOUT."""
    caplog.set_level(logging.INFO, logger="FileStream")
    db = await Database.connect(database_process.url, "requests_in_a_freeze", deadlines=Deadlines(default=1.0))
    try:
        tracker = RequestTracker(db.requests, real_now, timeout_seconds=600, instance="this")
        await database_process.freeze()
        try:
            with pytest.raises(PyMongoError) as unanswered:
                await tracker.begin(7, "film.mkv", message_id=11)
            assert is_unavailable(unanswered.value) and database_process.frozen, "the freeze caught the opening"
        finally:
            database_process.thaw()
        again = await tracker.begin(7, "film.mkv", message_id=12)
        assert again is not None, "the person's next try found them busy"
        opened = [doc async for doc in db.db["requests"].find({"user_id": 7})]
        print(f"requests of the person after the thaw: {opened}")
        assert [d["_id"] for d in opened if d["active"]] == [ObjectId(again.id)], opened
        assert all(d["state"] == "failed" for d in opened if not d["active"]), opened
        assert await tracker.revoke(7) is not None
        # Whenever the server applies the frozen opening, it finds its id taken: it opens nothing.
        assert await tracker.status(7) is None
    finally:
        await db.close()
    assert tracebacks(caplog.records) == []


async def test_a_database_frozen_between_a_files_record_and_its_links_leaves_the_person_nothing_they_were_told_failed(
        telegram, stack_settings, database_process, caplog):
    """The database freezes just after the file's record was written, before its request
    completes: the person is told it failed. After the thaw, and after a restart, they find
    no such file, and their next try gets its links at once."""
    caplog.set_level(logging.INFO, logger="FileStream")
    world = make_world(telegram)
    person, bot = world.person, world.main_bot
    settings = stack_settings(world, DATABASE_URL=database_process.url)
    short = Deadlines(default=1.0)
    recorded = []

    def freeze_once_recorded(record) -> None:
        # Called as the intake returns the record, before the request moves on.
        if not recorded:
            recorded.append(record)
            database_process.freeze_now()

    async with running_service(settings, deadlines=short) as service, http_client() as http:
        service.ctx.intake.on_stored.append(freeze_once_recorded)
        await person.send_file(bot, b"recorded, then the database froze", file_name="during.txt")
        status = await person.next_message(bot)
        try:
            told, links = await until_told(world, status)
            assert recorded and database_process.frozen, "the freeze struck between the record and the links"
        finally:
            database_process.thaw()
        assert links is None and "try again" in told.text.lower(), told.text
        await until_ready(http, f"{service.public_url}/health")
        again = await send_and_get_links(world, b"recorded, then the database froze", "during.txt")
        assert again.links is not None
        async with http.get(again.links.download) as response:
            assert await response.read() == b"recorded, then the database froze"
    async with running_service(settings, deadlines=short) as service:
        assert await service.db.files.get(recorded[0].id) is None, "the failed file's record stayed"
        files, total = await service.db.files.list_by_owner(person.id, service.clock(), 0)
        assert total == 1 and files[0].file_name == "during.txt", files
    assert tracebacks(caplog.records) == []


async def test_a_database_stopped_between_a_files_record_and_its_links_leaves_no_record_after_a_restart(
        telegram, stack_settings, database_process, caplog):
    """The database stops just after the file's record was written: nothing can be undone in
    it, and the person is told the file failed. Once it is back they revoke the request
    they are still shown busy with, and the service restarts before anything else was
    taken in (the record's removal, kept in memory, is lost with it). After the restart
    they find no such file, and their next one gets its links at once."""
    caplog.set_level(logging.INFO, logger="FileStream")
    world = make_world(telegram)
    person, bot = world.person, world.main_bot
    settings = stack_settings(world, DATABASE_URL=database_process.url)
    short = Deadlines(default=1.0, server_selection=1.0)
    recorded = []

    def stop_once_recorded(record) -> None:
        if not recorded:
            recorded.append(record)
            database_process.stop_now()

    async with running_service(settings, deadlines=short) as service, http_client() as http:
        service.ctx.intake.on_stored.append(stop_once_recorded)
        await person.send_file(bot, b"recorded, then the database stopped", file_name="during.txt")
        status = await person.next_message(bot)
        told, links = await until_told(world, status)
        assert recorded and database_process.stopped, "the stop struck between the record and the links"
        assert links is None and "try again" in told.text.lower(), told.text
        await database_process.start()
        await until_ready(http, f"{service.public_url}/health")
        await person.send_command(bot, "revoke")
        said = await person.next_message(bot)
        assert "during.txt" in said.text, said.text
    async with running_service(settings, deadlines=short) as service, http_client() as http:
        assert await service.db.files.get(recorded[0].id) is None, "the failed file's record stayed"
        assert await service.db.files.list_by_owner(person.id, service.clock(), 0) == ([], 0)
        after = await send_and_get_links(world, b"sent after the restart", "after.txt")
        async with http.get(after.links.download) as response:
            assert await response.read() == b"sent after the restart"
    assert any("ended without its links; its record goes now" in r.getMessage() for r in caplog.records)
    assert tracebacks(caplog.records) == []


async def until_text(world, message_id: int, part: str, timeout: float = 30):
    def current():
        found = [m for m in world.person.messages_from(world.main_bot) if m.message_id == message_id]
        return found[0] if found and part in found[0].text else None
    return await world.telegram.world.wait_until(current, timeout=timeout)


class Logged(logging.Handler):
    """Set once the service logs a line containing `part` (the event of a step that shows
    nowhere else while the database is frozen)."""

    def __init__(self, part: str) -> None:
        super().__init__(logging.INFO)
        self.part = part
        self.event = asyncio.Event()
        self._loop = asyncio.get_running_loop()

    def emit(self, record: logging.LogRecord) -> None:
        if self.part in record.getMessage():
            self._loop.call_soon_threadsafe(self.event.set)

    async def wait(self, timeout: float = 30) -> None:
        await asyncio.wait_for(self.event.wait(), timeout)


async def test_a_database_frozen_as_a_bundles_file_is_entered_counts_it_failed_and_the_bundle_lists_only_the_others(
        telegram, stack_settings, database_process, caplog):
    """The database freezes just after the record of a bundle's second file, before the bundle
    takes it in: its entry is applied after the thaw, when the file was already discarded.
    The bundle counts it failed, and its links hold the first file only."""
    caplog.set_level(logging.INFO, logger="FileStream")
    world = make_world(telegram)
    person, bot = world.person, world.main_bot
    settings = stack_settings(world, DATABASE_URL=database_process.url)
    recorded = []

    def freeze_at_the_second(record) -> None:
        recorded.append(record)
        if len(recorded) == 2:
            database_process.freeze_now()

    given_up = Logged("was not stored, the database did not answer")
    logging.getLogger("FileStream").addHandler(given_up)
    try:
        async with running_service(settings, deadlines=Deadlines(default=1.0)) as service, http_client() as http:
            service.ctx.intake.on_stored.append(freeze_at_the_second)
            await person.send_command(bot, "bundle", "Notes")
            status = await person.next_message(bot)
            await person.send_file(bot, b"the first file", file_name="one.txt")
            await until_text(world, status.message_id, "1 of 1 stored")
            await person.send_file(bot, b"the second file", file_name="two.txt")
            try:
                await given_up.wait()
                assert len(recorded) == 2 and database_process.frozen, "the freeze struck as the file was entered"
            finally:
                database_process.thaw()
            await until_ready(http, f"{service.public_url}/health")
            await person.send_command(bot, "done")
            reply = await person.next_message(bot, timeout=20)
            print(f"the person reads: {reply.text!r}")
            assert "1 file" in reply.text and "1 could not be stored" in reply.text, reply.text
            [bundle] = (await service.db.bundles.list_by_owner(person.id, service.clock(), skip=0, limit=10))[0]
            assert bundle.file_ids == (recorded[0].id,), "the bundle lists only the file it was told it stored"
            assert await service.db.files.get(recorded[1].id) is None
            after = await send_and_get_links(world, b"sent after the thaw", "after.txt")
            async with http.get(after.links.download) as response:
                assert await response.read() == b"sent after the thaw"
    finally:
        logging.getLogger("FileStream").removeHandler(given_up)
    assert tracebacks(caplog.records) == []


class FreezeAtInsert(monitoring.CommandListener):
    """Freezes the database as the first insert into `collection` of `database` is sent:
    PyMongo tells its listeners before it writes the command to the socket, so the write
    waits, unanswered, in the frozen server's socket. Registered for the whole process
    (PyMongo has no per-client listener after the fact), so it does nothing once fired."""

    def __init__(self, database_process, database: str, collection: str) -> None:
        self._database_process = database_process
        self._database, self._collection = database, collection
        self.fired = False

    def started(self, event) -> None:
        if (not self.fired and event.database_name == self._database and event.command_name == "insert"
                and event.command.get("insert") == self._collection):
            self.fired = True
            self._database_process.freeze_now()

    def succeeded(self, event) -> None:
        pass

    def failed(self, event) -> None:
        pass


@contextlib.contextmanager
def freezing_at_insert(database_process, database_name: str, collection: str):
    """A FreezeAtInsert told of every command of the PyMongo clients made meanwhile (the
    service has no per-client option for it); taken out at the end, as PyMongo has no
    unregister, so clients made later need not publish every command."""
    listener = FreezeAtInsert(database_process, database_name, collection)
    monitoring.register(listener)
    try:
        yield listener
    finally:
        monitoring._LISTENERS.command_listeners.remove(listener)


async def test_a_file_whose_request_opened_in_a_freeze_gets_words_and_the_persons_next_file_its_links_at_once(
        telegram, stack_settings, database_process, caplog):
    """The database freezes as the person's request is opened: they are told to try again.
    The server applies the opening once it thaws, after the service gave up on it; their
    next file gets its links at once, and the late opening ends failed."""
    caplog.set_level(logging.INFO, logger="FileStream")
    world = make_world(telegram)
    settings = stack_settings(world, DATABASE_URL=database_process.url)
    with freezing_at_insert(database_process, settings.database_name, "requests") as at_opening:
        await opening_frozen_then_next_file(world, settings, database_process, at_opening)
    assert tracebacks(caplog.records) == []


async def opening_frozen_then_next_file(world, settings, database_process, at_opening) -> None:
    person, bot = world.person, world.main_bot
    async with running_service(settings, deadlines=Deadlines(default=1.0)) as service, http_client() as http:
        await person.send_file(bot, b"sent as the database froze", file_name="during.txt")
        try:
            told = await person.next_message(bot, timeout=30)
            assert at_opening.fired and database_process.frozen, "the freeze caught the request's opening"
        finally:
            database_process.thaw()
        assert "try again" in told.text.lower(), told.text
        await until_ready(http, f"{service.public_url}/health")
        again = await send_and_get_links(world, b"sent as the database froze", "during.txt")
        async with http.get(again.links.download) as response:
            assert await response.read() == b"sent as the database froze"
        opened = [doc async for doc in service.db.db["requests"].find({"user_id": person.id})]
        print(f"the person's requests: {[(d['state'], d.get('error')) for d in opened]}")
        assert sorted(d["state"] for d in opened) == ["completed", "failed"], opened
        assert await service.ctx.requests.status(person.id) is None, "nothing holds the person up"


async def test_a_bundle_started_in_a_freeze_and_applied_after_the_thaw_is_void_and_the_next_bundle_works(
        telegram, stack_settings, database_process, caplog):
    """The database freezes as /bundle opens the bundle: the person is told to try again, and
    the server applies the opening once it thaws. Their next /bundle works, and the late
    one is void: it is not open, takes no place, and nothing lists it."""
    caplog.set_level(logging.INFO, logger="FileStream")
    world = make_world(telegram)
    settings = stack_settings(world, DATABASE_URL=database_process.url)
    with freezing_at_insert(database_process, settings.database_name, "bundles") as at_opening:
        await bundle_frozen_then_next_bundle(world, settings, database_process, at_opening)
    assert tracebacks(caplog.records) == []


async def bundle_frozen_then_next_bundle(world, settings, database_process, at_opening) -> None:
    person, bot = world.person, world.main_bot
    async with running_service(settings, deadlines=Deadlines(default=1.0)) as service, http_client() as http:
        await person.send_command(bot, "bundle", "Notes")
        try:
            told = await person.next_message(bot, timeout=30)
            assert at_opening.fired and database_process.frozen, "the freeze caught the bundle's opening"
        finally:
            database_process.thaw()
        assert "try again" in told.text.lower(), told.text
        await until_ready(http, f"{service.public_url}/health")
        await person.send_command(bot, "bundle", "Notes")
        status = await person.next_message(bot)
        assert "0 of 0 stored" in status.text, status.text
        await person.send_file(bot, b"the only file", file_name="one.txt")
        await until_text(world, status.message_id, "1 of 1 stored")
        await person.send_command(bot, "done")
        reply = await person.next_message(bot, timeout=20)
        assert "1 file" in reply.text and "could not" not in reply.text, reply.text
        docs = [doc async for doc in service.db.db["bundles"].find({})]
        print(f"bundles: {[(d['state'], d.get('request_id')) for d in docs]}")
        assert sorted(d["state"] for d in docs) == ["closed", "voided"], docs
        listed, total = await service.db.bundles.list_by_owner(person.id, service.clock(), skip=0, limit=10)
        assert total == 1 and listed[0].file_ids and listed[0].title == "Notes"
