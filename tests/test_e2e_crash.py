"""kill -9 in the middle of storing a file: the service runs as a real process (`python -m FileStream`'s
main) against the local Telegram of this test, is killed with SIGKILL right after (or at the very
instant of) its copy into BIN_CHANNEL, and started again. Afterwards the storage channel holds exactly
one copy of the file, and the file the killed process had in hand is handled again: the person gets
its links, once, instead of being refused as busy until REQUEST_TIMEOUT or asked to send it again."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import socket
import sys
from pathlib import Path

import pytest

from service_harness import API_HASH, http_client, links_in, make_world, until_links

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent
COPY = "messages.SendMedia"          # the copy into BIN_CHANNEL
READ_BACK = "channels.GetMessages"   # the service reads its copy back right after

CHILD = """
import sys
sys.path[:0] = [sys.argv[1], sys.argv[2]]
from tgserver import client_patch
client_patch.install_from_file(sys.argv[3])
from FileStream.__main__ import main
sys.exit(main())
"""


class ServiceProcess:
    """The service as its own process; `kill()` is SIGKILL: no shutdown step runs."""

    def __init__(self, env: dict[str, str], connection_file: Path, cwd: Path) -> None:
        self.env, self.connection_file, self.cwd = env, connection_file, cwd
        self.process: asyncio.subprocess.Process | None = None
        self.log: list[str] = []
        self._reader: asyncio.Task | None = None
        self._ready = asyncio.Event()
        self._logged = asyncio.Condition()

    async def start(self) -> None:
        self.process = await asyncio.create_subprocess_exec(
            sys.executable, "-c", CHILD, str(TESTS), str(REPO), str(self.connection_file), cwd=self.cwd,
            env=self.env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
        self._ready.clear()
        self._reader = asyncio.ensure_future(self._read())
        exited = asyncio.ensure_future(self.process.wait())
        ready = asyncio.ensure_future(self._ready.wait())
        done, _ = await asyncio.wait({exited, ready}, timeout=60, return_when=asyncio.FIRST_COMPLETED)
        for task in (exited, ready):
            if task not in done:
                task.cancel()
        assert ready in done, "the service did not start:\n" + "\n".join(self.log[-30:])

    async def _read(self) -> None:
        while line := await self.process.stderr.readline():
            text = line.decode(errors="replace").rstrip()
            self.log.append(text)
            if "FileStream running at" in text:
                self._ready.set()
            async with self._logged:
                self._logged.notify_all()

    async def logged(self, words: str, *, since: int = 0, timeout: float = 30) -> None:
        """Wait until a log line (from line `since` on) holds `words`."""
        async with self._logged:
            await asyncio.wait_for(self._logged.wait_for(lambda: any(words in line for line in self.log[since:])),
                                   timeout)

    def kill(self) -> None:
        os.kill(self.process.pid, signal.SIGKILL)

    async def wait(self) -> int:
        code = await self.process.wait()
        if self._reader is not None:
            await self._reader
        return code

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.terminate()
            try:
                await asyncio.wait_for(self.process.wait(), 30)
            except TimeoutError:
                self.process.kill()
            await self.wait()


def service_env(world, database_url: str, database_name: str, tmp_path: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("BOT_", "DATABASE_"))}
    env.update({
        "API_ID": "12345", "API_HASH": API_HASH, "BOT_TOKEN": world.main_bot.token, "OWNER_ID": "1",
        "BIN_CHANNEL": str(world.bin_channel.id), "DATABASE_URL": database_url, "DATABASE_NAME": database_name,
        "PUBLIC_URL": "http://127.0.0.1:0", "BIND_ADDRESS": "127.0.0.1", "PORT": "0",
        "SESSION_DIR": str(tmp_path / "sessions"), "SHUTDOWN_GRACE": "1", "LOG_LEVEL": "INFO",
    })
    return env


def killable_service(telegram, world, database_url: str, database_name: str, tmp_path: Path, *,
                     fixed_port: bool = False, **settings: str) -> ServiceProcess:
    """The service for `world` as a process a test may kill -9. `fixed_port`: the same port after
    a restart, so the links given before it still work; `settings`: more of its environment."""
    env = {**service_env(world, database_url, database_name, tmp_path), **settings}
    if fixed_port:
        port = free_port()
        env |= {"PORT": str(port), "PUBLIC_URL": f"http://127.0.0.1:{port}"}
    return ServiceProcess(env, telegram.write_connection_file(tmp_path / "tgserver.json"), tmp_path)


def live_copies(world) -> list:
    return [m for m in list(world.bin_channel.messages.values()) if not m.deleted and m.media is not None]


@pytest.mark.parametrize("moment", ["right after the copy", "at the instant of the copy"])
async def test_killed_while_storing_a_file_a_restart_leaves_one_copy_and_gives_the_person_its_links_once(
        telegram, database_url, database_name, mongo_db, tmp_path, moment):
    world = make_world(telegram)
    person, bot = world.person, world.main_bot
    service = killable_service(telegram, world, database_url, database_name, tmp_path)
    data = random.Random(9).randbytes(300_000)
    try:
        await service.start()
        if moment == "right after the copy":
            hold = telegram.faults.hold(READ_BACK, bot)
        else:
            hold = telegram.faults.hold(COPY, bot, when=lambda q: getattr(q.peer, "channel_id", None) is not None)
        await person.send_file(bot, data, file_name="report.pdf", mime_type="application/pdf")
        await hold.reached(timeout=30)
        # Held, storing takes a while: the person is told it is under way.
        storing = await person.next_message(bot, timeout=10)
        assert "report.pdf" in storing.text and links_in(storing) is None
        await service.logged("its status message is out")
        service.kill()
        assert await service.wait() == -signal.SIGKILL
        hold.release()   # at the instant of the copy: Telegram makes it, but its answer goes nowhere
        await telegram.wait_until(lambda: len(live_copies(world)) == 1, timeout=10)
        assert await mongo_db["copy_intents"].count_documents({}) == 1, "the intent was written before the copy"
        assert await mongo_db["requests"].count_documents({"active": True}) == 1, "the dead process held a request"

        [orphan] = live_copies(world)
        await service.start()
        # Nobody sends anything again: the file the killed process had in hand is handled again.
        reply, links = await until_links(world, await person.next_message(bot, timeout=30))
        assert links is not None, reply.text
        assert orphan.deleted, "the copy the killed process made was deleted"
        [copy] = live_copies(world)
        [record] = [doc async for doc in mongo_db["files"].find({})]
        assert record["storage_message_id"] == copy.id, "exactly one copy: the recorded one"
        async with http_client() as http, http.get(links.download) as response:
            assert response.status == 200 and await response.read() == data
        await service.stop()
        assert [m.message_id for m in person.messages_from(bot)] == [reply.message_id], \
            "one answer: its links (no 'send it again'; the stale 'storing' message was taken away)"
        assert reply.message_id != storing.message_id
        assert await mongo_db["copy_intents"].count_documents({}) == 0
        assert await mongo_db["requests"].count_documents({"active": True}) == 0
        assert await mongo_db["requests"].count_documents({"state": "completed"}) == 1
    finally:
        await service.stop()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def live_in(channel) -> list:
    return [m for m in list(channel.messages.values()) if not m.deleted and m.media is not None]


def into(channel):
    """A hold condition: the request posts into `channel`."""
    return lambda q: getattr(q.peer, "channel_id", None) == channel.raw_id


async def test_killed_at_the_instant_a_lost_copy_is_made_again_a_restart_leaves_one_copy(
        telegram, database_url, database_name, mongo_db, tmp_path):
    world = make_world(telegram)
    person, bot = world.person, world.main_bot
    # The same port after the restart: the links stay the same.
    service = killable_service(telegram, world, database_url, database_name, tmp_path, fixed_port=True)
    data = random.Random(11).randbytes(200_000)
    try:
        await service.start()
        await person.send_file(bot, data, file_name="kept.bin", mime_type="application/octet-stream")
        reply, links = await until_links(world, await person.next_message(bot, timeout=20))
        assert links is not None, reply.text
        [stored] = live_copies(world)
        telegram.world.delete([stored], None)   # a careless admin cleans up the storage channel
        hold = telegram.faults.hold(COPY, bot, when=into(world.bin_channel))
        async with http_client() as http:
            opened = asyncio.ensure_future(http.get(links.download))
            await hold.reached(timeout=30)       # the copy made again (from the person's message) is under way
            service.kill()
            assert await service.wait() == -signal.SIGKILL
            hold.release()                       # Telegram makes it; its answer goes nowhere
            await asyncio.gather(opened, return_exceptions=True)
        [orphan] = await telegram.wait_until(lambda: live_copies(world), timeout=10)
        assert await mongo_db["copy_intents"].count_documents({"kind": "heal"}) == 1, "noted before it was sent"

        await service.start()
        await telegram.wait_until(lambda: orphan.deleted, timeout=30)
        async with http_client() as http, http.get(links.download) as response:
            assert response.status == 200 and await response.read() == data
        [copy] = live_copies(world)
        [record] = [doc async for doc in mongo_db["files"].find({})]
        assert record["storage_message_id"] == copy.id != orphan.id, "exactly one copy: the recorded one"
        assert await mongo_db["copy_intents"].count_documents({}) == 0
    finally:
        await service.stop()


async def test_killed_at_the_instant_of_a_mirror_copy_a_restart_leaves_one_mirror_copy(
        telegram, database_url, database_name, mongo_db, tmp_path):
    world = make_world(telegram)
    mirror = telegram.world.add_channel(title="FileStream mirror", admins=[world.main_bot])
    person, bot = world.person, world.main_bot
    service = killable_service(telegram, world, database_url, database_name, tmp_path,
                               MIRROR_CHANNEL=str(mirror.id))
    data = random.Random(12).randbytes(150_000)
    try:
        await service.start()
        hold = telegram.faults.hold(COPY, bot, when=into(mirror))
        await person.send_file(bot, data, file_name="twice.bin", mime_type="application/octet-stream")
        reply, links = await until_links(world, await person.next_message(bot, timeout=20))
        assert links is not None, reply.text
        await hold.reached(timeout=30)           # its mirror copy is under way
        service.kill()
        assert await service.wait() == -signal.SIGKILL
        hold.release()
        [orphan] = await telegram.wait_until(lambda: live_in(mirror), timeout=10)
        assert await mongo_db["copy_intents"].count_documents({"kind": "mirror"}) == 1, "noted before it was sent"

        since = len(service.log)
        await service.start()
        await service.logged("file(s) mirrored", since=since)
        assert orphan.deleted, "the copy the killed process never recorded was deleted"
        [copy] = live_in(mirror)
        [record] = [doc async for doc in mongo_db["files"].find({})]
        assert record["mirror_message_id"] == copy.id != orphan.id, "exactly one mirror copy: the recorded one"
        assert await mongo_db["copy_intents"].count_documents({}) == 0
        assert len(live_copies(world)) == 1
    finally:
        await service.stop()
