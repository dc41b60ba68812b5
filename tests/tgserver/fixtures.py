"""pytest fixtures: a fresh Telegram test server per test, with pyrogram pointed at it."""

from __future__ import annotations

import pytest

from .client import make_bot_client
from .client_patch import patched_for
from .server import TelegramServer

__all__ = ["telegram", "telegram_server", "bot_client"]


@pytest.fixture
async def telegram():
    """A started TelegramServer (5 DCs, empty world) with pyrogram patched to reach it.

    Clients made with make_bot_client() are stopped at teardown; a bug inside the server
    (an answer it failed to build) fails the test here even if the client hid it, and so
    does a send a bot made while a FLOOD_WAIT verdict on it still held (`limits.unhonoured`)."""
    server = TelegramServer(dc_count=5)
    await server.start()
    try:
        with patched_for(server):
            yield server
            await server.stop()
    finally:
        if server.started:
            await server.stop()
    if server.bugs:
        pytest.fail("the Telegram test server hit bugs:\n" + "\n".join(server.bugs))
    if server.limits.unhonoured:
        pytest.fail("a bot sent while Telegram had told it to wait (FLOOD_WAIT not honoured):\n"
                    + "\n".join(map(str, server.limits.unhonoured[:10])))


@pytest.fixture
async def telegram_server(telegram):
    """Same server as `telegram` (other modules use this name)."""
    return telegram


@pytest.fixture
def bot_client(telegram):
    """Factory: bot_client(bot, **client_kwargs) -> an unstarted pyrogram.Client for that bot."""

    def make(bot, name=None, **kwargs):
        return make_bot_client(telegram, bot, name=name, **kwargs)

    return make
