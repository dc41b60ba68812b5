"""The traffic meter on its own: who is exempt, when the day resets, and counts that survive a
database refusal."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from FileStream.core.models import StoredFile
from FileStream.core.usage import day_of
from FileStream.services.traffic import TrafficMeter, seconds_until_next_day
from clocks import Clock


class MemoryStore:
    def __init__(self) -> None:
        self.days: dict = {}
        self.refuse = False

    async def add(self, batch) -> None:
        if self.refuse:
            raise ConnectionError("database away")
        for key, sent in batch.items():
            self.days[key] = self.days.get(key, 0) + sent

    async def bytes_on(self, owner_id, day) -> int:
        return self.days.get((owner_id, day), 0)


def a_file(owner_id: int | None, source: str = "private") -> StoredFile:
    return StoredFile(id="f1", file_name="a.bin", file_size=10, mime_type="", file_unique_id="u",
                      media_type="document", dc_id=2, storage_chat_id=-100, storage_message_id=1,
                      created_at=Clock()(), expires_at=None, owner_id=owner_id, source=source)


def test_the_day_resets_at_utc_midnight():
    midnight = datetime(2030, 1, 2, tzinfo=timezone.utc)
    assert seconds_until_next_day(midnight - timedelta(seconds=1)) == 1
    assert seconds_until_next_day(midnight) == 86400
    assert seconds_until_next_day(midnight + timedelta(hours=23, milliseconds=500)) == 3600


async def test_owners_channel_files_and_uploads_are_exempt_and_not_counted():
    store = MemoryStore()
    meter = TrafficMeter(store, Clock(), limit_bytes=5, exempt_ids=(1,))
    for file in (a_file(1), a_file(7, "channel"), a_file(7, "upload"), a_file(None, "channel")):
        meter.stream_finished(file, 100, "complete")
        assert await meter.refused_for(file.owner_id, file.source) is None
    assert await meter.flush() == 0 and store.days == {}


async def test_a_refused_batch_is_kept_for_the_next_flush_and_still_counts_meanwhile():
    store = MemoryStore()
    clock = Clock()
    meter = TrafficMeter(store, clock, limit_bytes=100)
    meter.stream_finished(a_file(7), 60, "complete")
    store.refuse = True
    assert await meter.flush() == 0
    meter.stream_finished(a_file(7), 40, "client_gone")
    assert await meter.refused_for(7, "private") == seconds_until_next_day(clock())
    store.refuse = False
    assert await meter.flush() == 1
    assert store.days == {(7, day_of(clock())): 100}
    assert await meter.refused_for(8, "private") is None


async def test_no_limit_counts_nothing():
    store = MemoryStore()
    meter = TrafficMeter(store, Clock(), limit_bytes=0)
    meter.stream_finished(a_file(7), 10**9, "complete")
    assert await meter.refused_for(7, "private") is None
    assert await meter.flush() == 0
