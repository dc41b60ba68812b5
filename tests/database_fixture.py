"""Test database fixtures: SecantusDB in-process (or TEST_DATABASE_URL) and a fresh db per test."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import time
import tempfile
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import pytest_asyncio
from pymongo import AsyncMongoClient
from pymongo.errors import OperationFailure
from pymongo.asynchronous.database import AsyncDatabase

from FileStream.store.database import Database
from FileStream.store.files import file_document
from faketime_mode import VARIABLE, under_real_monotonic_faketime

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
    if under_real_monotonic_faketime():
        # That libfaketime mode slows the database's storage engine about fourfold: it runs
        # as a child process with the whole clock moved (see faketime_mode.py, _a_year_ahead).
        with _database_process({k: v for k, v in os.environ.items() if k != VARIABLE}) as url:
            yield url
        return
    with _database_server(moved_clock="faketime" in os.environ.get("LD_PRELOAD", "")) as url:
        yield url


@contextlib.contextmanager
def _database_server(*, moved_clock: bool) -> Iterator[str]:
    """SecantusDB in this process, on a free loopback port, with its files in a temporary folder."""
    # Imported here: SecantusDB is GPL-2.0 and a test-only dependency, never FileStream's.
    from secantus import SecantusDBServer

    with tempfile.TemporaryDirectory(prefix="filestream-testdb-") as storage:
        server = SecantusDBServer(
            "127.0.0.1", 0, storage_path=storage, ttl_sweep_seconds=0 if moved_clock else TTL_SWEEP_SECONDS
        )
        with server, (_a_year_ahead(server) if moved_clock else contextlib.nullcontext()):
            yield server.uri


@contextlib.contextmanager
def _database_process(env: dict[str, str]) -> Iterator[str]:
    """_database_server in a child process (this file run as a script) until its stdin closes."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))   # FileStream/ is imported above
    env = {**env, "PYTHONPATH": os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))}
    child = subprocess.Popen([sys.executable, __file__], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             text=True)
    try:
        url = child.stdout.readline().strip()
        assert url.startswith("mongodb://"), f"the test database did not start (exit {child.poll()})"
        yield url
    finally:
        child.stdin.close()
        # Killed if it has not stopped within 30 s. Not wait(timeout=): that polls with
        # time.sleep, which fails with EINVAL under this libfaketime mode.
        killer = threading.Timer(30, child.kill)
        killer.start()
        child.wait()
        killer.cancel()


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


if __name__ == "__main__":   # the child of _database_process: serve until the parent closes stdin
    with _database_server(moved_clock="faketime" in os.environ.get("LD_PRELOAD", "")) as served:
        print(served, flush=True)
        sys.stdin.read()


async def add_as_migrated(database: Database, file) -> None:
    """A file record as migrate_files writes it: its document in one insert, without the
    intake's two steps or its one-record-per-message key (files moved over from older bots)."""
    await database.db["files"].insert_one(file_document(file))
