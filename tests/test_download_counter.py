"""DownloadCounter: counts gathered in memory as bodies start and end, written in batches."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from FileStream.core.models import StoredFile
from FileStream.core.usage import FileUsage, day_of
from FileStream.services.usage import DownloadCounter
from clocks import Clock

MIB = 1024 * 1024


def stored(file_id: str, size: int = 10 * MIB, now=None) -> StoredFile:
    now = now or Clock()()
    return StoredFile(id=file_id, file_name=f"{file_id}.mkv", file_size=size, mime_type="video/x-matroska",
                      file_unique_id=f"u-{file_id}", media_type="video", dc_id=2, storage_chat_id=-1001,
                      storage_message_id=5, created_at=now, expires_at=None)


def serve(counter: DownloadCounter, file: StoredFile, start: int, end: int, sent: int | None = None) -> None:
    counter.stream_started(file, start, end)
    counter.stream_finished(file, end - start + 1 if sent is None else sent, "complete")


async def a_stored_file(database) -> tuple[Clock, StoredFile]:
    """A clock from the real time and file "a", in the database (counts go onto its record)."""
    clock = Clock()
    file = stored("a", now=clock())
    await database.files.insert_confirmed(file)
    return clock, file


class RefusingStore:
    """A store whose writes fail until told otherwise, and that records what it was given."""

    def __init__(self, store) -> None:
        self.store = store
        self.refuse = True
        self.writes = 0

    async def add(self, deltas, batch_id):
        self.writes += 1
        if self.refuse:
            raise ConnectionError("database unreachable")
        await self.store.add(deltas, batch_id)


async def test_many_responses_are_one_write_with_their_sums(database):
    clock, file = await a_stored_file(database)
    counter = DownloadCounter(database.usage, clock)
    for _ in range(3):
        serve(counter, file, 0, file.file_size - 1)
    serve(counter, file, 0, 0)                        # a probe: bytes, no download
    serve(counter, file, 4 * MIB, file.file_size - 1)  # a seek: bytes, no download
    assert await database.usage.of_file("a") == FileUsage()   # nothing written per response
    assert counter.pending == 1
    assert await counter.flush() == 1
    assert await database.usage.of_file("a") == FileUsage(downloads=3, bytes_served=36 * MIB + 1,
                                                          last_access=clock())
    assert await counter.flush() == 0 and counter.pending == 0


async def test_a_download_counts_when_its_body_starts_and_its_bytes_when_it_ends(database):
    clock, file = await a_stored_file(database)
    counter = DownloadCounter(database.usage, clock)
    counter.stream_started(file, 0, file.file_size - 1)
    await counter.flush()
    assert await database.usage.of_file("a") == FileUsage(downloads=1, bytes_served=0, last_access=clock())
    clock.advance(minutes=90)
    counter.stream_finished(file, 3 * MIB, "client_gone")
    await counter.flush()
    assert await database.usage.of_file("a") == FileUsage(downloads=1, bytes_served=3 * MIB, last_access=clock())


async def test_counts_the_database_refused_are_written_by_the_next_flush(database, caplog):
    clock, file = await a_stored_file(database)
    store = RefusingStore(database.usage)
    counter = DownloadCounter(store, clock)
    serve(counter, file, 0, file.file_size - 1)
    assert await counter.flush() == 0
    assert store.writes == 1 and "not written" in caplog.text
    serve(counter, file, 0, file.file_size - 1)
    store.refuse = False
    assert await counter.flush() == 2, "the refused batch as it was, then the new one"
    assert (await database.usage.of_file("a")).downloads == 2


async def test_a_flush_cancelled_mid_write_still_writes_its_batch_exactly_once(database):
    clock, file = await a_stored_file(database)
    entered, release = asyncio.Event(), asyncio.Event()

    class SlowStore:
        async def add(self, deltas, batch_id):
            entered.set()
            await release.wait()
            await database.usage.add(deltas, batch_id)

    counter = DownloadCounter(SlowStore(), clock)
    serve(counter, file, 0, file.file_size - 1)
    flushing = asyncio.create_task(counter.flush())
    await entered.wait()
    flushing.cancel()   # a shutdown stopping the flush job mid-write
    await asyncio.gather(flushing, return_exceptions=True)
    assert flushing.cancelled()
    serve(counter, file, 0, file.file_size - 1)
    release.set()
    await counter.flush()   # waits for the cancelled flush's write, then writes the rest
    assert (await database.usage.of_file("a")).downloads == 2


async def test_a_night_of_watching_counts_on_the_day_each_part_happened(database):
    clock, file = await a_stored_file(database)
    counter = DownloadCounter(database.usage, clock)
    counter.stream_started(file, 0, file.file_size - 1)
    day_one = day_of(clock())
    clock.advance(days=1)
    counter.stream_finished(file, file.file_size, "complete")
    await counter.flush()
    assert [(t.downloads, t.bytes_served) for t in await database.usage.top_files(day_one)] == [(1, 0)]
    assert [(t.downloads, t.bytes_served) for t in await database.usage.top_files(day_of(clock()))] == [
        (0, file.file_size)]
    assert await database.usage.of_file("a") == FileUsage(1, file.file_size, clock())


async def test_wait_idle_returns_once_every_started_body_has_ended():
    clock = Clock()
    counter = DownloadCounter(None, clock)
    file = stored("a", now=clock())
    await asyncio.wait_for(counter.wait_idle(), 1)
    counter.stream_started(file, 0, 9)
    waiting = asyncio.create_task(counter.wait_idle())
    await asyncio.sleep(0)
    assert not waiting.done()
    counter.stream_finished(file, 10, "complete")
    await asyncio.wait_for(waiting, 1)


async def test_a_batch_written_but_reported_failed_is_sent_again_as_it_was_and_counted_once(database, caplog):
    clock, file = await a_stored_file(database)

    class AnswerLostStore:
        """Writes the batch, then loses the answer once (the database did it, we never heard)."""

        def __init__(self) -> None:
            self.batches: list[str] = []

        async def add(self, deltas, batch_id):
            deltas = list(deltas)
            await database.usage.add(deltas, batch_id)
            self.batches.append(batch_id)
            if len(self.batches) == 1:
                raise ConnectionError("connection lost before the answer")

    store = AnswerLostStore()
    counter = DownloadCounter(store, clock)
    serve(counter, file, 0, file.file_size - 1)
    assert await counter.flush() == 0 and "not written" in caplog.text
    assert counter.pending == 1
    serve(counter, file, 0, file.file_size - 1)   # a new download meanwhile waits behind the batch
    assert await counter.flush() == 2 and counter.pending == 0
    assert store.batches[0] == store.batches[1] != store.batches[2], "the failed batch again, with its id"
    assert (await database.usage.of_file("a")).downloads == 2
