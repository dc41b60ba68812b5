"""Test database fixtures: SecantusDB in-process (or TEST_DATABASE_URL) and a fresh db per test."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import pytest_asyncio
from pymongo import AsyncMongoClient
from pymongo.errors import OperationFailure
from pymongo.asynchronous.database import AsyncDatabase

from FileStream.store.database import Database

__all__ = ["wait_for_ttl_removal", "database_url", "database_client", "database_name", "mongo_db", "database"]

# Expired documents vanish within about this long (mongod's TTL monitor runs every 60 s;
# with TEST_DATABASE_URL pointing at a real mongod, TTL tests wait up to that).
TTL_SWEEP_SECONDS = 0.5


async def wait_for_ttl_removal(is_gone, description: str, client: AsyncMongoClient) -> None:
    """Until the database's TTL monitor has removed something (`is_gone()` is true).

    SecantusDB runs a TTL pass when asked (its `secantusAdmin.pruneTtl` command): one pass
    after the document expired must remove it. mongod's monitor runs on its own 60 s
    schedule and signals nothing, so with TEST_DATABASE_URL this polls, bounded past that.
    """
    try:
        await client.admin.command("secantusAdmin.pruneTtl")
    except OperationFailure:   # a real mongod: no such command
        deadline = time.monotonic() + 75.0
        while not await is_gone():
            assert time.monotonic() < deadline, f"the TTL monitor did not remove {description} in 75 s"
            await asyncio.sleep(1.0)
        return
    assert await is_gone(), f"a TTL pass did not remove {description}"


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
    unaffected). So the database's own TTL sweeper, which waits with threading.Event.wait,
    is turned off (the TTL tests ask for their pass, see wait_for_ttl_removal; it judges
    expiry by the moved wall clock), and stop(), which joins the accept thread with a
    timeout that would never end, has that thread woken by one last connection.
    """
    try:
        yield
    finally:
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
