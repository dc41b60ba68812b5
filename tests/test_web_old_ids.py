"""FileStreamBot's old ids (guessable ObjectIds) are no oracle: an address that keeps naming
ids of no file is told to wait (429), without a lookup; other addresses are not."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import aiohttp
from aiohttp.test_utils import TestServer
from bson import ObjectId

from FileStream.core.models import StoredFile
from FileStream.core.tokens import new_file_id
from FileStream.web.app import build_app
from FileStream.web.guess_limit import MISS_BURST, GuessLimit
from web_fakes import MemoryBytes, MemoryFiles

SECRET = b"o" * 32
NOW = datetime(2026, 11, 22, 12, 0, tzinfo=timezone.utc)


class OldIds:
    """A LegacyLinks over a dict: old id -> our file id; counts the lookups."""

    def __init__(self) -> None:
        self.ids: dict[str, str] = {}
        self.lookups = 0

    async def file_id_for_legacy(self, legacy_id: str) -> str | None:
        self.lookups += 1
        return self.ids.get(legacy_id)


async def get(address: str, url: str) -> tuple[int, dict, bytes]:
    """GET from a client bound to `address` (any of 127.0.0.0/8 reaches the test server)."""
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(local_addr=(address, 0))) as http:
        async with http.get(url) as response:
            return response.status, dict(response.headers), await response.read()


async def test_an_address_that_keeps_missing_old_ids_gets_429_and_another_address_is_served():
    files, source, old = MemoryFiles(), MemoryBytes(), OldIds()
    record = files.add(StoredFile(id=new_file_id(), file_name="kept.txt", file_size=5, mime_type="text/plain",
                                  file_unique_id="uk", media_type="document", dc_id=2, storage_chat_id=-1,
                                  storage_message_id=1, created_at=NOW - timedelta(days=30), expires_at=None))
    source.contents[record.id] = b"kept!"
    known = str(ObjectId())
    old.ids[known] = record.id
    app = build_app(files=files, source=source, link_secret=SECRET, public_url="http://x", clock=lambda: NOW,
                    legacy=old)
    async with TestServer(app, host="127.0.0.1") as server:
        base = f"http://127.0.0.1:{server.port}"
        for _ in range(MISS_BURST):
            status, _headers, _body = await get("127.0.0.1", f"{base}/dl/{ObjectId()}")
            assert status == 404
        assert old.lookups == MISS_BURST
        status, headers, body = await get("127.0.0.1", f"{base}/dl/{ObjectId()}")
        assert status == 429 and 1 <= int(headers["Retry-After"]) <= 6 and b"try again in" in body
        status, _headers, _body = await get("127.0.0.1", f"{base}/watch/{known}")
        assert status == 429, "while it waits, its old links are not looked up at all"
        assert old.lookups == MISS_BURST
        # Another address guesses nothing and is served, exactly.
        status, _headers, body = await get("127.0.0.2", f"{base}/dl/{known}")
        assert status == 200 and body == b"kept!"
        status, _headers, _body = await get("127.0.0.2", f"{base}/dl/{ObjectId()}")
        assert status == 404


def test_misses_refill_at_their_rate_and_the_oldest_addresses_are_forgotten_first():
    clock = [0]
    limit = GuessLimit(burst=2, per_minute=6, max_addresses=2, now_us=lambda: clock[0])
    limit.missed("a")
    assert limit.wait_seconds("a") == 0
    limit.missed("a")
    assert limit.wait_seconds("a") == 10, "the burst is spent: one miss every 10 s from now on"
    clock[0] += 10_000_000
    assert limit.wait_seconds("a") == 0
    limit.missed("b")
    limit.missed("c")   # three addresses: "a", the least recently seen, is forgotten
    assert limit.wait_seconds("a") == 0 and limit.wait_seconds("unknown") == 0
