"""A database server in its own process that a test can freeze, thaw, stop and start again.

It is SecantusDB run by FileStream's own EmbeddedDatabase (a child process, never imported),
so these tests need no TEST_DATABASE_URL and work the same with or without it.
"""

from __future__ import annotations

import asyncio
import os
import select
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
        self.stopped = False

    async def start(self) -> str:
        """Start it; after a stop, on the same port and data, so clients find it again."""
        await self._server.stop()   # after stop_now: reaps the stopped process
        self.url = await self._server.start(self._data_dir, port=self.port)
        self.stopped = False
        self.port = urlsplit(self.url).port
        return self.url

    async def freeze(self) -> None:
        """SIGSTOP: the process holds its sockets open and answers nothing.

        kill() returns before every thread has stopped (a few milliseconds on a busy
        machine, time enough to answer one more request), so this waits until the kernel
        tells the parent (this process) that the last of them stopped: waitid(WSTOPPED)
        returns then. It blocks, so it waits in a thread.
        """
        pid = self._server.pid
        os.kill(pid, signal.SIGSTOP)
        self.frozen = True
        try:
            stopped = await asyncio.wait_for(asyncio.to_thread(os.waitid, os.P_PID, pid, os.WSTOPPED), 10)
        except TimeoutError:
            raise AssertionError("the database process did not stop within 10 s of SIGSTOP") from None
        assert stopped is not None and stopped.si_code == os.CLD_STOPPED, stopped
        assert _all_threads_stopped(pid)

    def freeze_now(self) -> None:
        """freeze(), for a synchronous hook of the service that must freeze the database
        before its next call (it blocks the caller's loop until every thread stopped: a
        few milliseconds)."""
        pid = self._server.pid
        os.kill(pid, signal.SIGSTOP)
        self.frozen = True
        stopped = os.waitid(os.P_PID, pid, os.WSTOPPED)
        assert stopped is not None and stopped.si_code == os.CLD_STOPPED, stopped
        assert _all_threads_stopped(pid)

    def stop_now(self) -> None:
        """A clean stop (SIGTERM: it writes what it holds), for a synchronous hook of the
        service: from its next call on, connections are refused. Blocks until the process
        has exited (it is reaped later, by `stop`): at most STOP_SECONDS, then SIGKILL, as
        EmbeddedDatabase.stop does (a server may wait on its clients' open connections)."""
        pid = self._server.pid
        os.kill(pid, signal.SIGTERM)
        if not _exits_within(pid, STOP_SECONDS):
            os.kill(pid, signal.SIGKILL)
            assert _exits_within(pid, STOP_SECONDS), "the database process did not end on SIGKILL"
        self.stopped = True

    def thaw(self) -> None:
        os.kill(self._server.pid, signal.SIGCONT)
        self.frozen = False

    async def stop(self) -> None:
        """A clean stop (the data stays): connections are refused until start()."""
        if self.frozen:
            self.thaw()
        await self._server.stop()


STOP_SECONDS = 2.0   # a hook blocks the service's loop meanwhile: short, then SIGKILL


def _exits_within(pid: int, seconds: float) -> bool:
    """Whether the process ends within `seconds`, told by the kernel (a pidfd becomes readable
    when it exits), without reaping it."""
    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True   # already reaped: it has exited
    try:
        readable, _, _ = select.select([pidfd], [], [], seconds)
        return bool(readable)
    finally:
        os.close(pidfd)


def _all_threads_stopped(pid: int) -> bool:
    states = []
    for stat in Path(f"/proc/{pid}/task").glob("*/stat"):
        try:
            states.append(stat.read_text().rsplit(")", 1)[1].split()[0])
        except (OSError, IndexError):
            continue  # a thread that just ended
    return bool(states) and all(state in ("T", "t") for state in states)


@pytest_asyncio.fixture(loop_scope="session")
async def database_process(tmp_path) -> AsyncIterator[DatabaseProcess]:
    server = DatabaseProcess(tmp_path / "database")
    await server.start()
    try:
        yield server
    finally:
        await server.stop()
