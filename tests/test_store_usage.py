"""UsageStore: batches of counts added with $inc per file, per day and in total, and read back."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from FileStream.core.models import StoredFile
from FileStream.core.usage import FileUsage, UsageDelta, day_of
from FileStream.store.database import Database
from FileStream.store.usage import UsageStore
from clocks import real_now

NOW = real_now()
TODAY = day_of(NOW)


def stored(file_id: str) -> StoredFile:
    return StoredFile(id=file_id, file_name=f"{file_id}.mp4", file_size=1000, mime_type="video/mp4",
                      file_unique_id=f"u-{file_id}", media_type="video", dc_id=2, storage_chat_id=-1001,
                      storage_message_id=5, created_at=NOW, expires_at=NOW + timedelta(hours=1), owner_id=7)


def delta(file_id: str, downloads: int, sent: int, at=NOW) -> UsageDelta:
    d = UsageDelta(file_id, f"{file_id}.mp4", day_of(at))
    d.add(downloads, sent, at)
    return d


async def test_counts_of_a_file_add_up_over_batches_and_keep_the_latest_access(database):
    await database.files.insert_confirmed(stored("a"))
    assert await database.usage.of_file("a") == FileUsage()
    await database.usage.add([delta("a", 2, 2000)])
    await database.usage.add([delta("a", 1, 500, NOW - timedelta(minutes=5))])
    assert await database.usage.of_file("a") == FileUsage(downloads=3, bytes_served=2500, last_access=NOW)
    assert await database.files.get("a") == stored("a")   # the record itself is untouched


async def test_a_deleted_file_gets_no_record_back_but_the_day_and_the_total_still_count(database):
    await database.usage.add([delta("gone", 1, 300)])
    assert await database.files.get("gone") is None
    assert await database.usage.of_file("gone") == FileUsage()
    assert await database.usage.totals() == FileUsage(downloads=1, bytes_served=300)
    assert [t.file_id for t in await database.usage.top_files(TODAY)] == ["gone"]


async def test_the_counts_of_several_files_together_for_a_bundle_card(database):
    for name in "abc":
        await database.files.insert_confirmed(stored(name))
    earlier = NOW - timedelta(minutes=10)
    await database.usage.add([delta("a", 2, 100, earlier), delta("b", 1, 50)])
    assert await database.usage.of_files(["a", "b", "c"]) == FileUsage(downloads=3, bytes_served=150, last_access=NOW)
    assert await database.usage.of_files(["c"]) == FileUsage()


async def test_top_files_of_a_day_by_downloads_then_bytes(database):
    for name in "abcd":
        await database.files.insert_confirmed(stored(name))
    yesterday = NOW - timedelta(days=1)
    await database.usage.add([delta("a", 1, 100), delta("b", 3, 10), delta("c", 1, 900), delta("d", 9, 9, yesterday)])
    top = await database.usage.top_files(TODAY, limit=2)
    assert [(t.file_id, t.file_name, t.downloads, t.bytes_served) for t in top] == [
        ("b", "b.mp4", 3, 10), ("c", "c.mp4", 1, 900)]
    assert await database.usage.bytes_served_on(TODAY) == 1010
    assert await database.usage.bytes_served_on(day_of(yesterday)) == 9
    assert await database.usage.totals() == FileUsage(downloads=14, bytes_served=1019)
    assert (await database.usage.of_file("d")).downloads == 9


async def test_two_instances_adding_at_once_lose_nothing(database, database_url, database_name):
    await database.files.insert_confirmed(stored("a"))
    other = await Database.connect(database_url, database_name)
    try:
        await asyncio.gather(*(db.usage.add([delta("a", 1, 10)]) for db in [database, other] * 3))
    finally:
        await other.close()
    assert (await database.usage.of_file("a")).downloads == 6
    assert (await database.usage.top_files(TODAY))[0].bytes_served == 60
    assert await database.usage.totals() == FileUsage(downloads=6, bytes_served=60)


async def test_an_empty_batch_writes_nothing(database, mongo_db):
    await database.usage.add([])
    await database.usage.add([UsageDelta("a", "a.mp4", TODAY)])
    assert await mongo_db["usage_totals"].count_documents({}) == 0
    assert await mongo_db["usage_daily"].count_documents({}) == 0


class CutShort:
    """A collection whose next write stops half-way, as a connection lost mid-batch leaves it:
    a bulk write applies its first update only, an update_one applies but its answer is lost."""

    def __init__(self, collection) -> None:
        self.collection = collection
        self.cut = 0   # writes cut short: the fault fired

    def __getattr__(self, name):
        return getattr(self.collection, name)

    async def bulk_write(self, requests, **options):
        if self.cut:
            return await self.collection.bulk_write(requests, **options)
        self.cut += 1
        await self.collection.bulk_write(requests[:1], **options)
        raise ConnectionError("connection lost mid-batch")

    async def update_one(self, *args, **options):
        result = await self.collection.update_one(*args, **options)
        if not self.cut:
            self.cut += 1
            raise ConnectionError("connection lost before the answer")
        return result


async def test_a_batch_applied_only_in_part_and_sent_again_counts_once(database, mongo_db):
    for name in "ab":
        await database.files.insert_confirmed(stored(name))
    batch = [delta("a", 2, 200), delta("b", 1, 100)]
    for broken in ("files", "usage_daily", "usage_totals"):
        collections = {name: mongo_db[name] for name in ("files", "usage_daily", "usage_totals")}
        collections[broken] = flaky = CutShort(collections[broken])
        store = UsageStore(collections["files"], collections["usage_daily"], collections["usage_totals"])
        batch_id = f"batch-{broken}"
        try:
            await store.add(batch, batch_id)
        except ConnectionError:
            pass
        assert flaky.cut == 1, "the write was cut short while the batch was being added"
        await store.add(batch, batch_id)          # sent again, whole, with its id
        await store.add(batch, batch_id)          # and once more: still nothing added
    assert await database.usage.of_file("a") == FileUsage(downloads=6, bytes_served=600, last_access=NOW)
    assert await database.usage.of_file("b") == FileUsage(downloads=3, bytes_served=300, last_access=NOW)
    assert await database.usage.bytes_served_on(TODAY) == 900
    assert await database.usage.totals() == FileUsage(downloads=9, bytes_served=900)
