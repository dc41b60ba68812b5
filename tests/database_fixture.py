"""Test database fixtures: SecantusDB in-process (or TEST_DATABASE_URL) and a fresh db per test."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import threading
import time
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import pytest_asyncio
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from FileStream.store.database import Database

__all__ = ["wait_for_ttl_removal", "database_url", "database_client", "database_name", "mongo_db", "database"]

# Expired documents vanish within about this long (mongod's TTL monitor runs every 60 s;
# with TEST_DATABASE_URL pointing at a real mongod, TTL tests wait up to that).
TTL_SWEEP_SECONDS = 0.5


async def wait_for_ttl_removal(is_gone, description: str) -> None:
    """Wait until the database's TTL monitor removed something.

    The monitor runs on the server's own schedule and signals nothing, so this polls,
    bounded: a few seconds for SecantusDB here, past mongod's 60 s sweep with TEST_DATABASE_URL.
    """
    limit = 75.0 if os.environ.get("TEST_DATABASE_URL") else 10.0
    deadline = time.monotonic() + limit
    while not await is_gone():
        assert time.monotonic() < deadline, f"the TTL monitor did not remove {description} in {limit:.0f} s"
        await asyncio.sleep(0.1)


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    """URL of the test MongoDB: TEST_DATABASE_URL if set, else SecantusDB started here."""
    if url := os.environ.get("TEST_DATABASE_URL"):
        yield url
        return
    # Imported here: SecantusDB is GPL-2.0 and a test-only dependency, never FileStream's.
    from secantus import SecantusDBServer

    # libfaketime moving the monotonic clock too (its default): see _a_year_ahead. With
    # FAKETIME_DONT_FAKE_MONOTONIC=1 timed waits work as usual (and time.sleep fails with EINVAL).
    moved_clock = ("faketime" in os.environ.get("LD_PRELOAD", "")
                   and os.environ.get("FAKETIME_DONT_FAKE_MONOTONIC") != "1")
    with tempfile.TemporaryDirectory(prefix="filestream-testdb-") as storage:
        server = SecantusDBServer(
            "127.0.0.1", 0, storage_path=storage, ttl_sweep_seconds=0 if moved_clock else TTL_SWEEP_SECONDS
        )
        with server, (_a_year_ahead(server) if moved_clock else contextlib.nullcontext()):
            yield server.uri


@contextlib.contextmanager
def _a_year_ahead(server) -> Iterator[None]:
    """What SecantusDB needs to run under `faketime -f +400d` (the suite run a year ahead).

    There every timed wait of a Python thread sleeps for 400 days: Python turns it into
    sem_clockwait on CLOCK_MONOTONIC with a deadline read from the moved clock, and
    libfaketime 0.9.10 does not move that call (asyncio's waits are relative and
    unaffected). So the database's TTL sweeper, which waits with threading.Event.wait,
    never wakes: its sweeps run here from a thread that waits with time.sleep
    (clock_nanosleep, which libfaketime does move), judging expiry by the moved wall clock
    as SecantusDB would. And stop() joins the accept thread with a timeout that would never
    end, so that thread is woken by one last connection instead.
    """
    storage = server.storage
    stop = threading.Event()

    def sweep() -> None:
        try:
            while not stop.is_set():
                time.sleep(TTL_SWEEP_SECONDS)
                storage._reset_thread_session()   # see a fresh snapshot, as SecantusDB's sweeper does
                storage.prune_ttl_all_collections()
        finally:
            storage._reset_thread_session()

    sweeper = threading.Thread(target=sweep, name="test-ttl-sweeper", daemon=True)
    sweeper.start()
    try:
        yield
    finally:
        stop.set()
        sweeper.join()
        server._stop_event.set()
        with contextlib.suppress(OSError):
            socket.create_connection(("127.0.0.1", server.port), timeout=5).close()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def database_client(database_url: str) -> AsyncIterator[AsyncMongoClient[dict[str, Any]]]:
    """One raw client for the whole session, used to create and drop test databases."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(database_url, tz_aware=True)
    yield client
    await client.close()


@pytest_asyncio.fixture(loop_scope="session")
async def database_name(database_client: AsyncMongoClient[dict[str, Any]]) -> AsyncIterator[str]:
    """A database name no other test uses; the database is dropped afterwards."""
    name = f"test_{uuid.uuid4().hex[:16]}"
    yield name
    await database_client.drop_database(name)


@pytest_asyncio.fixture(loop_scope="session")
async def mongo_db(
    database_client: AsyncMongoClient[dict[str, Any]], database_name: str
) -> AsyncDatabase[dict[str, Any]]:
    """The raw pymongo database behind `database_name`, for checks below the store layer."""
    return database_client[database_name]


@pytest_asyncio.fixture(loop_scope="session")
async def database(database_url: str, database_name: str) -> AsyncIterator[Database]:
    """A connected Database (indexes made) on a fresh database, closed afterwards."""
    db = await Database.connect(database_url, database_name)
    yield db
    await db.close()
