"""pyrogram clients for tests: a bot client wired to the test server, and a stop that really stops."""

from __future__ import annotations

import itertools
import logging
from typing import Any

import pyrogram

log = logging.getLogger("tgserver.client")
_names = itertools.count(1)


def make_bot_client(server, bot, name: str | None = None, *, client_class: type = pyrogram.Client,
                    **kwargs: Any) -> pyrogram.Client:
    """A kurigram Client (or a `client_class` built like one) for `bot`, in memory, api_id=1.
    The server stops it when it stops."""
    options: dict[str, Any] = dict(api_id=1, api_hash="x" * 32, bot_token=bot.token, in_memory=True,
                                   workers=4)
    options.update(kwargs)
    client = client_class(name or f"{bot.username}-{next(_names)}", **options)
    if server is not None:
        server.clients.append(client)
    return client


async def stop_client(client: pyrogram.Client) -> None:
    """Client.stop(), plus the extra sessions kurigram leaves running on other DCs."""
    try:
        if client.is_initialized:
            await client.stop()
        elif client.is_connected:
            await client.disconnect()
    except Exception as e:  # noqa: BLE001 - teardown must go on
        log.warning("stopping %s: %s: %s", client.name, type(e).__name__, e)
    for session in list(client.sessions.values()) + list(client.media_sessions.values()):
        try:
            await session.stop()
        except Exception as e:  # noqa: BLE001
            log.warning("stopping a session of %s: %s: %s", client.name, type(e).__name__, e)
    client.sessions.clear()
    client.media_sessions.clear()
