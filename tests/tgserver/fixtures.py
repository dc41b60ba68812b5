"""pytest fixtures: a fresh Telegram test server per test, on its own loop in its own thread, with pyrogram pointed at it."""

from __future__ import annotations

import pytest

from .across import Across, target_of
from .client import make_bot_client, stop_client
from .client_patch import patched_for
from .home import LoopThread
from .server import TelegramServer

__all__ = ["bot_client", "telegram", "telegram_server"]


@pytest.fixture
async def telegram():
    """A started TelegramServer (5 DCs, empty world) with pyrogram patched to reach it.

    The server runs on an event loop of its own, in its own thread, so a test's loop (where
    the service and its clients run) that is blocked does not stall Telegram: the test gets
    an `Across` handle, and everything it calls on it runs in the server's thread.

    Clients made with make_bot_client() are stopped at teardown; a bug inside the server
    (an answer it failed to build) fails the test here even if the client hid it, and so
    does a send a bot made while a FLOOD_WAIT verdict on it still held (`limits.unhonoured`)."""
    thread = LoopThread("local-telegram")
    home = thread.start()
    server = TelegramServer(dc_count=5)
    try:
        await home.submit(server.start())
        with patched_for(server):
            yield Across(server, home)
            await _stop(server, home)
    finally:
        if server.started:
            await _stop(server, home)
        thread.stop()
    if server.bugs:
        pytest.fail("the Telegram test server hit bugs:\n" + "\n".join(server.bugs))
    if server.limits.unhonoured:
        pytest.fail("a bot sent while Telegram had told it to wait (FLOOD_WAIT not honoured):\n"
                    + "\n".join(map(str, server.limits.unhonoured[:10])))


async def _stop(server: TelegramServer, home) -> None:
    # The clients run on the test's loop: they are stopped there, then the server on its own.
    clients, server.clients[:] = list(server.clients), []
    for client in clients:
        await stop_client(client)
    await home.submit(server.stop())


@pytest.fixture
async def telegram_server(telegram):
    """Same server as `telegram` (other modules use this name)."""
    return telegram


@pytest.fixture
def bot_client(telegram):
    """Factory: bot_client(bot, **client_kwargs) -> an unstarted pyrogram.Client for that bot."""

    def make(bot, name=None, **kwargs):
        return make_bot_client(target_of(telegram), bot, name=name, **kwargs)

    return make
