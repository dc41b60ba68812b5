"""A database server in its own process that a test can freeze, thaw, stop and start again.

It is SecantusDB run by FileStream's own EmbeddedDatabase (a child process, never imported),
so these tests need no TEST_DATABASE_URL and work the same with or without it.
"""

from __future__ import annotations

import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest_asyncio

from FileStream.embedded_db import EmbeddedDatabase

__all__ = ["DatabaseProcess", "database_process"]


class DatabaseProcess:
    def __init__(self, data_dir: Path) -> None:
        self._data_dir = data_dir
        self._server = EmbeddedDatabase()
        self.url: str | None = None
        self.port: int | None = None
        self.frozen = False

    async def start(self) -> str:
        """Start it; after a stop, on the same port and data, so clients find it again."""
        self.url = await self._server.start(self._data_dir, port=self.port)
        self.port = urlsplit(self.url).port
        return self.url

    def freeze(self) -> None:
        """SIGSTOP: the process holds its sockets open and answers nothing."""
        os.kill(self._server.pid, signal.SIGSTOP)
        self.frozen = True

    def thaw(self) -> None:
        os.kill(self._server.pid, signal.SIGCONT)
        self.frozen = False

    async def stop(self) -> None:
        """A clean stop (the data stays): connections are refused until start()."""
        if self.frozen:
            self.thaw()
        await self._server.stop()


@pytest_asyncio.fixture(loop_scope="session")
async def database_process(tmp_path) -> AsyncIterator[DatabaseProcess]:
    server = DatabaseProcess(tmp_path / "database")
    await server.start()
    try:
        yield server
    finally:
        await server.stop()
