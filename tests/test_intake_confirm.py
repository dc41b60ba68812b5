"""A new file's record shows only if the database confirmed it in time; one whose confirm went
unanswered is taken away, at once or, while the database is still away, at the next intake."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from datetime import UTC, datetime, timedelta

import pytest
from pymongo.errors import NetworkTimeout
from service_harness import (
    make_world,
    running_service,
    send_and_get_links,
    settings_for,
)

from FileStream.core.models import StoredFile
from FileStream.services.intake import FileIntake, IntakeError
from FileStream.store.files import ConfirmUnanswered

NOW = datetime.now(UTC).replace(microsecond=0)


def new_file(file_id: str) -> StoredFile:
    return StoredFile(id=file_id, file_name=f"{file_id}.bin", file_size=10, mime_type="application/octet-stream",
                      file_unique_id=f"u-{file_id}", media_type="document", dc_id=2, storage_chat_id=-1001,
                      storage_message_id=5, created_at=NOW, expires_at=NOW + timedelta(hours=1), owner_id=7,
                      source="private")


class AnswerLost:
    """The real FileStore, except that the database applies a confirm and its answer is lost,
    and then answers nothing for `away` more deletes (still frozen)."""

    def __init__(self, files, away: int = 0) -> None:
        self._files = files
        self.away = away
        self.deletes = 0

    def __getattr__(self, name):
        return getattr(self._files, name)

    async def confirm(self, file, window, *, give_up_after, request_id=None):
        await self._files.confirm(file, window, give_up_after=give_up_after, request_id=request_id)
        raise ConfirmUnanswered(f"file {file.id}: the answer was lost") from NetworkTimeout("timed out")

    async def insert_confirmed(self, file, window, *, request_id=None):
        await self._files.add_placeholder(file.id)
        await self.confirm(file, window, give_up_after=window, request_id=request_id)

    async def delete(self, file_id):
        self.deletes += 1
        if self.away > 0:
            self.away -= 1
            raise NetworkTimeout("timed out")
        return await self._files.delete(file_id)


def intake_on(files) -> FileIntake:
    return FileIntake(main_client=None, pool=None, files=files, bin_channel=-1001, clock=lambda: NOW, lane=None)


async def test_a_record_whose_confirm_was_applied_but_unanswered_is_taken_away_at_once(database, caplog):
    caplog.set_level(logging.INFO, logger="FileStream")
    file = new_file("answerlost000000")
    intake = intake_on(AnswerLost(database.files))
    with pytest.raises(IntakeError) as failed:
        await intake._record(file)
    assert "try again" in failed.value.reason.lower()
    assert await database.files.get(file.id) is None
    assert await database.files.list_by_owner(7, NOW, 0) == ([], 0)
    assert not [r for r in caplog.records if r.exc_info], "an outage is said in a line"


async def test_while_the_database_stays_away_the_record_is_taken_away_at_the_next_intake(database):
    file = new_file("stillaway0000000")
    files = AnswerLost(database.files, away=2)
    intake = intake_on(files)
    with pytest.raises(IntakeError):
        await intake._record(file)
    assert files.deletes == 1, "the removal was tried at once"
    await intake._remove_in_doubt()   # the next intake, the database still away
    assert await database.files.get(file.id) is not None and files.deletes == 2
    await intake._remove_in_doubt()   # and the one after, once it answers again
    assert await database.files.get(file.id) is None and files.deletes == 3
    await intake._remove_in_doubt()
    assert files.deletes == 3, "nothing is left to remove"


async def test_a_discarded_file_whose_record_the_database_could_not_remove_is_removed_at_the_next_intake(database):
    """Its request ended while the database stalled: the copy is deleted, the record's removal
    times out; it must not stay in the person's /files until it expires."""
    class Client:
        async def delete_messages(self, chat_id, message_id):
            return None

    class Stalled:
        def __init__(self, files) -> None:
            self._files = files

        def __getattr__(self, name):
            return getattr(self._files, name)

        async def take_out(self, file_id):
            raise NetworkTimeout("timed out")

    file = new_file("discarded0000000")
    await database.files.insert_confirmed(file)
    intake = FileIntake(main_client=Client(), pool=None, files=Stalled(database.files), bin_channel=-1001,
                        clock=lambda: NOW, lane=None)
    await intake.discard(file)
    assert await database.files.get(file.id) is not None, "the database did not take the removal"
    await intake._remove_in_doubt()   # the next intake
    assert await database.files.list_by_owner(7, NOW, 0) == ([], 0)


async def test_a_record_whose_request_ended_without_links_is_removed_by_the_next_start_though_memory_was_lost(
        database):
    """The database stalled between a record and its request's completion: the person was
    told it failed, and the record's removal, kept in memory, was lost with a restart. The
    next start finds it by its request and removes it with its copy; a completed request's
    record stays."""
    class Client:
        def __init__(self) -> None:
            self.deleted: list[int] = []

        async def delete_messages(self, chat_id, message_id):
            self.deleted.append(message_id)

    since = NOW - timedelta(minutes=1)
    failed_id = await database.requests.start(7, "lost.bin", NOW, NOW + timedelta(minutes=5))
    done_id = await database.requests.start(8, "kept.bin", NOW, NOW + timedelta(minutes=5))
    lost, kept = new_file("lostinrestart000"), dataclasses.replace(new_file("keptcompleted000"), storage_message_id=6)
    await database.files.insert_confirmed(lost, request_id=failed_id)
    await database.files.insert_confirmed(kept, request_id=done_id)
    assert await database.requests.set_state(failed_id, "failed", NOW, error="the database did not answer")
    assert await database.requests.set_state(done_id, "generating_link", NOW, file_id=kept.id)
    assert await database.requests.set_state(done_id, "completed", NOW)

    client = Client()
    restarted = FileIntake(main_client=client, pool=None, files=database.files, bin_channel=-1001,
                           clock=lambda: NOW, lane=None)
    ended = await database.requests.ended_unfinished(since)
    assert ended == [failed_id]
    assert await restarted.forget_unfinished(ended) == 1
    assert await database.files.get(lost.id) is None and client.deleted == [lost.storage_message_id]
    assert await database.files.get(kept.id) is not None
    assert await restarted.forget_unfinished(await database.requests.ended_unfinished(since)) == 0, "done once"


# -- a message taken in twice (handled again after a stop, or by two instances at once) ------------


def live_copies(world) -> list:
    return [m for m in list(world.bin_channel.messages.values()) if not m.deleted and m.media is not None]


async def test_a_message_taken_in_again_gets_the_record_it_has_and_nothing_is_stored_twice(
        telegram, database_url, database_name, tmp_path):
    world = make_world(telegram)
    async with running_service(settings_for(world, database_url, database_name, tmp_path / "s")) as service:
        sent = await send_and_get_links(world, b"stored once", "once.txt")
        [record] = [doc async for doc in service.db.db.files.find({})]
        message = await service.main_client.get_messages(world.person_user.id, sent.message.id)
        # What a restart does with a message whose handling a stop cut after its record.
        again = await service.ctx.intake.take(message, owner_id=world.person_user.id, source="private",
                                              ttl_seconds=3600)
        assert again.id == record["_id"]
        assert len(world.bin_channel.messages) == 1, "not copied again (not even to be taken away)"
        assert await service.db.db.files.count_documents({}) == 1


async def test_two_intakes_of_one_message_at_once_leave_one_record_and_one_copy(
        telegram, database_url, database_name, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="FileStream")
    world = make_world(telegram)
    async with running_service(settings_for(world, database_url, database_name, tmp_path / "s")) as service:
        sent = await send_and_get_links(world, b"raced", "raced.txt")
        [first] = [doc async for doc in service.db.db.files.find({})]
        await service.db.files.delete(first["_id"])          # as if it had never been stored
        message = await service.main_client.get_messages(world.person_user.id, sent.message.id)
        copies = len(live_copies(world))

        def take():
            return service.ctx.intake.take(message, owner_id=world.person_user.id, source="private",
                                           ttl_seconds=3600)
        one, other = await asyncio.gather(take(), take())
        assert any("stored by another intake at the same time" in r.getMessage() for r in caplog.records), \
            "both looked before either recorded: the race was run"
        assert one.id == other.id, "the later confirm lost to the unique index and took the winner's record"
        [record] = [doc async for doc in service.db.db.files.find({})]
        assert record["_id"] == one.id and "pending_since" not in record, "the loser's placeholder went"
        assert len(live_copies(world)) == copies + 1, "the loser's copy was deleted"
