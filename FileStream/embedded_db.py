"""An embedded MongoDB-wire database (SecantusDB in a child process) for when DATABASE_URL is empty."""

from __future__ import annotations

import asyncio
import collections
import logging
import os
import socket
import sys
import time
from pathlib import Path

from pymongo import AsyncMongoClient
from pymongo.errors import PyMongoError

__all__ = ["EMBEDDED_NOTICE", "EmbeddedDatabase", "EmbeddedDatabaseError", "database_command"]

log = logging.getLogger(__name__)

EMBEDDED_NOTICE = (
    "DATABASE_URL is not set: using an embedded database in {data_dir} (fine for one small "
    "instance; in production set DATABASE_URL to a MongoDB server or replica set)"
)

# The database files live in this sub-directory of DATA_DIR, so DATA_DIR can hold other things.
STORAGE_SUBDIR = "database"
START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
_PORT_ATTEMPTS = 3
_STDERR_LINES_KEPT = 20
# WiredTiger's default cache is 1 GB of RAM; a bot's database is tiny, and the embedded
# mode is meant for small machines.
_CACHE_SIZE = "256M"


class EmbeddedDatabaseError(RuntimeError):
    """The embedded database could not start; str() says what happened and what to do."""


def database_command(python: str | None = None) -> list[str]:
    """The command that runs SecantusDB: its console script beside the interpreter, else `-m secantus`.

    SecantusDB is GPL-2.0, so FileStream only ever runs it as a separate program and never
    imports it.
    """
    python = python or sys.executable
    script = Path(python).with_name("secantusd-py")
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    return [python, "-m", "secantus"]


def _free_loopback_port() -> int:
    # Bind-and-close leaves a small race with other programs; start() retries on it.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _looks_like_port_clash(lines: collections.deque[str]) -> bool:
    text = " ".join(lines).lower()
    return "address already in use" in text or "errno 98" in text


class EmbeddedDatabase:
    """One SecantusDB child process serving a data directory on a loopback port.

    `command`: what to run instead of `database_command()` (tests); `start_timeout`: how
    long start() waits for the first answer; `stop_timeout`: how long stop() waits after
    SIGTERM before it kills.
    """

    def __init__(
        self,
        *,
        command: list[str] | None = None,
        start_timeout: float = START_TIMEOUT,
        stop_timeout: float = STOP_TIMEOUT,
    ) -> None:
        self._command = command
        self._start_timeout = start_timeout
        self._stop_timeout = stop_timeout
        self._process: asyncio.subprocess.Process | None = None
        self._stderr_task: asyncio.Task[None] | None = None
        self._stderr: collections.deque[str] = collections.deque(maxlen=_STDERR_LINES_KEPT)
        self.url: str | None = None

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    async def start(self, data_dir: Path, *, port: int | None = None) -> str:
        """Run the database on `data_dir`, wait until it answers, and return its mongodb:// URL.

        `port`: listen on this loopback port (a restart that keeps the URL); default: a free one.
        Raises EmbeddedDatabaseError when it exits or does not answer in time.
        """
        if self._process is not None:
            raise RuntimeError("the embedded database is already running")
        data_dir = Path(data_dir).absolute()
        storage = data_dir / STORAGE_SUBDIR
        try:
            storage.mkdir(parents=True, exist_ok=True)
            config = data_dir / "secantusd.toml"
            # An explicit (empty) config file stops SecantusDB from picking up a stray
            # ./secantusd.toml or /etc/secantus/secantusd.toml meant for something else.
            config.write_text("# Written by FileStream at each start; settings come from its command line.\n")
        except OSError as exc:
            raise EmbeddedDatabaseError(self._advice(data_dir, f"cannot write to {exc.filename}: {exc.strerror}")) from exc
        log.info(EMBEDDED_NOTICE.format(data_dir=data_dir))
        attempts = 1 if port is not None else _PORT_ATTEMPTS
        for attempt in range(1, attempts + 1):
            listen = port if port is not None else _free_loopback_port()
            url = f"mongodb://127.0.0.1:{listen}/?directConnection=true"
            await self._spawn(config, storage, listen)
            failure = await self._wait_until_ready(url)
            if failure is None:
                self.url = url
                log.info("embedded database ready on 127.0.0.1:%d (pid %d)", listen, self.pid)
                return url
            clash = _looks_like_port_clash(self._stderr)
            await self.stop()
            if not (clash and attempt < attempts):
                raise EmbeddedDatabaseError(self._advice(data_dir, failure))
            log.warning("embedded database port %d was taken; trying another", listen)
        raise AssertionError("unreachable")  # the loop returns or raises

    async def _spawn(self, config: Path, storage: Path, port: int) -> None:
        command = self._command or database_command()
        args = [
            *command,
            "--config", str(config),
            "--host", "127.0.0.1",
            "--port", str(port),
            "--storage-path", str(storage),
            "--cache-size", _CACHE_SIZE,
            "--log-level", "WARNING",
        ]
        self._stderr.clear()
        try:
            self._process = await asyncio.create_subprocess_exec(
                *args,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE,
            )
        except OSError as exc:
            raise EmbeddedDatabaseError(
                f"could not run the embedded database ({args[0]}: {exc.strerror}); "
                "set DATABASE_URL to a MongoDB server, or install it with `pip install secantusdb`"
            ) from exc
        # Draining stderr all the time keeps a chatty child from blocking on a full pipe.
        self._stderr_task = asyncio.create_task(self._read_stderr(self._process))

    async def _read_stderr(self, process: asyncio.subprocess.Process) -> None:
        assert process.stderr is not None
        async for raw in process.stderr:
            line = raw.decode(errors="replace").rstrip()
            if line:
                self._stderr.append(line)
                log.debug("embedded database: %s", line)

    async def _wait_until_ready(self, url: str) -> str | None:
        """None once the database answers a ping; otherwise why it did not."""
        assert self._process is not None
        deadline = time.monotonic() + self._start_timeout
        client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(
            url, serverSelectionTimeoutMS=500, connectTimeoutMS=500, appname="FileStream-embedded-check"
        )
        try:
            while True:
                if self._process.returncode is not None:
                    return await self._exit_reason()
                try:
                    await client.admin.command("ping")
                    return None
                except PyMongoError:
                    pass
                if time.monotonic() >= deadline:
                    return f"no answer on {url} within {self._start_timeout:g} s"
                # The ping itself waits up to 0.5 s; a short nap keeps a fast failure fast.
                try:
                    await asyncio.wait_for(self._process.wait(), 0.1)
                except asyncio.TimeoutError:
                    pass
        finally:
            await client.close()

    async def _exit_reason(self) -> str:
        assert self._process is not None
        if self._stderr_task is not None:
            # Let the reader take the last lines the child wrote before it died.
            await asyncio.wait({self._stderr_task}, timeout=2)
        last = self._stderr[-1] if self._stderr else "no output"
        name = Path(self._command[0] if self._command else database_command()[0]).name
        if name.startswith("python"):
            name = "secantus"
        return f"{name} exited with code {self._process.returncode}: {last}"

    @staticmethod
    def _advice(data_dir: Path, failure: str) -> str:
        return (
            f"could not start the embedded database ({failure}); set DATABASE_URL to a MongoDB "
            f"server, or check DATA_DIR={data_dir} is writable and not used by another FileStream"
        )

    async def stop(self) -> None:
        """Stop the database (SIGTERM, then SIGKILL after the stop timeout). Safe to call twice."""
        process, self._process = self._process, None
        self.url = None
        if process is not None and process.returncode is None:
            try:
                process.terminate()
                await asyncio.wait_for(process.wait(), self._stop_timeout)
            except ProcessLookupError:
                pass
            except asyncio.TimeoutError:
                log.warning("embedded database did not stop within %g s: killing it", self._stop_timeout)
                process.kill()
                await process.wait()
        task, self._stderr_task = self._stderr_task, None
        if task is not None:
            try:
                await asyncio.wait_for(task, 2)
            except (asyncio.TimeoutError, asyncio.CancelledError):
                pass
