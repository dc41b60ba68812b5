"""The whole service running in-process against the local Telegram server and the test database.

A `Stack` is what an end-to-end story needs: the Telegram world (a main bot, backend
bots, the storage channel, a person), the running Service, and an HTTP client. Nothing
of FileStream is replaced: the only thing patched is where the client library connects.
"""

from __future__ import annotations

import os
import re
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import aiohttp
import pytest

from FileStream.config import Settings
from FileStream.service import Service
from clocks import Clock

API_HASH = "0123456789abcdef0123456789abcdef"
URL = re.compile(r"https?://\S+")


@dataclass
class Links:
    watch: str
    download: str
    stream: str


@dataclass
class World:
    """The Telegram side of a story: who exists and where."""

    telegram: object
    main_bot: object
    backends: list
    bin_channel: object
    person: object
    person_user: object
    extra: dict = field(default_factory=dict)


def make_world(telegram, *, backends: int = 0, home_dc: int = 2) -> World:
    world = telegram.world
    main_bot = world.add_bot(username="filestream_bot", home_dc=home_dc)
    backend_bots = [world.add_bot(username=f"filestream_worker{n}_bot", home_dc=home_dc) for n in range(1, backends + 1)]
    bin_channel = world.add_channel(title="FileStream storage", admins=[main_bot, *backend_bots])
    alice = world.add_user(first_name="Alice", username="alice", home_dc=1)
    return World(telegram, main_bot, backend_bots, bin_channel, telegram.person(alice), alice)


def settings_for(world: World, database_url: str, database_name: str, session_dir, **overrides) -> Settings:
    env = {
        "API_ID": "12345",
        "API_HASH": API_HASH,
        "BOT_TOKEN": world.main_bot.token,
        "OWNER_ID": "1",
        "BIN_CHANNEL": str(world.bin_channel.id),
        "DATABASE_URL": database_url,
        "DATABASE_NAME": database_name,
        "PUBLIC_URL": "http://127.0.0.1:0",
        "BIND_ADDRESS": "127.0.0.1",
        "PORT": "0",
        "SESSION_DIR": str(session_dir),
        "SHUTDOWN_GRACE": "1",
        # Every client of a test is 127.0.0.1, standing for as many people as the story has;
        # the limit per address is the subject of tests/test_e2e_fair_http.py, which sets it.
        "STREAMS_PER_IP": "0",
    }
    if world.backends:
        env["MULTI_BOT_MODE"] = "true"
        env["MULTI_TOKENS"] = ",".join(bot.token for bot in world.backends)
    env.update({key: str(value) for key, value in overrides.items()})
    return Settings.from_env(env)


@asynccontextmanager
async def running_service(settings: Settings, clock: Clock | None = None, **options):
    """The service started and, at the end, stopped; `options` go to Service (deadlines=...)."""
    service = Service(settings, clock=clock or Clock(), **options)
    try:
        await service.start()
        yield service
    finally:
        await service.stop()


@dataclass
class Sent:
    """What a person sent and what the bot answered."""

    message: object   # the person's message (its .media is the stored document)
    reply: object     # the bot's answer
    links: Links | None


async def send_and_get_links(world: World, data: bytes, file_name: str, *, kind: str = "document",
                             mime_type: str = "application/octet-stream", dc_id: int | None = None,
                             timeout: float = 20, **attrs) -> Sent:
    """A person sends a file to the bot and reads the reply; `attrs` describe the media
    (w, h, duration, thumb: see World.add_media)."""
    message = await world.person.send_file(world.main_bot, data=data, file_name=file_name, mime_type=mime_type,
                                           kind=kind, dc_id=dc_id or world.main_bot.home_dc, **attrs)
    reply = await world.person.next_message(world.main_bot, timeout=timeout)
    return Sent(message, *await until_links(world, reply, timeout=timeout))


async def until_links(world: World, reply, *, timeout: float = 20):
    """The bot edits one status message until it carries the links (or says why not): follow
    it until it has them or nothing more comes; returns (last state seen, links or None)."""
    while links_in(reply) is None:
        try:
            event = await world.person.next_event(world.main_bot, timeout=timeout)
        except TimeoutError:
            break
        reply = event.message
    return reply, links_in(reply)


def links_in(reply) -> Links | None:
    urls = {button.text: button.url for row in (reply.buttons or []) for button in row if button.url}
    if "Stream" not in urls:
        return None
    watch = urls["Stream"]
    download = urls.get("Download") or ""
    stream = download.replace("/dl/", "/stream/", 1) if download else ""
    return Links(watch=watch, download=download, stream=stream)


@asynccontextmanager
async def http_client():
    async with aiohttp.ClientSession(auto_decompress=False, timeout=aiohttp.ClientTimeout(total=60)) as session:
        yield session


@pytest.fixture
def stack_settings(telegram, database_url, database_name, tmp_path):
    """Settings for a world on this test's database, with sessions under tmp_path."""
    def build(world, **overrides):
        return settings_for(world, database_url, database_name, tmp_path / "sessions", **overrides)
    return build


def add_owner(world):
    """The bot's owner, a person of the world; pass OWNER_ID=owner.id to the settings."""
    user = world.telegram.world.add_user(first_name="Olga", username="olga")
    return world.telegram.person(user)


def tracebacks(records) -> list[str]:
    """Every log record that carries a traceback, as 'logger: message' (caplog.records)."""
    return [f"{r.name}: {r.getMessage()}" for r in records if r.exc_info or r.stack_info]


def under_libfaketime() -> bool:
    """The suite runs with its clock moved by libfaketime (`faketime -f +400d make test`).

    libfaketime then parses FAKETIME on every clock read, by us and by the database's storage
    engine alike, which makes database-heavy work about fifteen times slower: the long fuzz
    tests run a tenth of their examples there (the same first ones), enough to show they
    hold a year ahead without running into the hang report's limit.
    """
    return "faketime" in os.environ.get("LD_PRELOAD", "")


def fuzz_examples(full: int) -> int:
    return max(1, full // 10) if under_libfaketime() else full
