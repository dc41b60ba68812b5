"""Running the test server as its own process from a config (benchmarks, demos): serve / serve_forever."""

from __future__ import annotations

import asyncio
import json
import logging
import signal
from pathlib import Path
from typing import Any, Awaitable, Callable

from .content import SeededSpec
from .control import ControlServer
from .server import TelegramServer

log = logging.getLogger("tgserver.serve")

EXAMPLE_CONFIG = {
    "dc_count": 5,
    "connection_file": "/tmp/tgserver.json",
    "latency": 0.0,
    "bandwidth": None,
    "bots": [{"name": "main", "username": "filestream_bot", "home_dc": 2},
             {"name": "worker1", "username": "filestream_worker1_bot", "home_dc": 4}],
    "users": [{"name": "alice", "first_name": "Alice", "username": "alice", "home_dc": 1}],
    "channels": [{"name": "bin", "title": "FileStream bin", "admins": ["main", "worker1", "alice"],
                  "new_style_id": True}],
    "files": [{"name": "big", "channel": "bin", "by": "alice", "size": 256 << 20, "seed": 7, "kind": "video",
               "dc_id": 4, "file_name": "big.mp4"}],
}


async def build(config: dict[str, Any]) -> tuple[TelegramServer, dict[str, Any], dict[str, Any]]:
    """A started server whose world follows `config`; returns (server, names, description)."""
    server = TelegramServer(dc_count=int(config.get("dc_count", 5)),
                            verify_outgoing=bool(config.get("verify_outgoing", False)))
    world = server.world
    names: dict[str, Any] = {}
    described: dict[str, Any] = {"bots": {}, "users": {}, "channels": {}, "files": {}}
    for spec in config.get("bots", []):
        bot = world.add_bot(username=spec.get("username"), home_dc=int(spec.get("home_dc", 2)), id=spec.get("id"),
                            secret=spec.get("secret"))
        names[spec.get("name", bot.username)] = bot
        described["bots"][spec.get("name", bot.username)] = {"id": bot.id, "token": bot.token,
                                                             "username": bot.username, "home_dc": bot.home_dc}
    for spec in config.get("users", []):
        user = world.add_user(first_name=spec.get("first_name", "Person"), username=spec.get("username"),
                              home_dc=int(spec.get("home_dc", 1)), id=spec.get("id"))
        names[spec.get("name", user.username or str(user.id))] = user
        described["users"][spec.get("name", user.username or str(user.id))] = {"id": user.id}
    for spec in config.get("channels", []):
        channel = world.add_channel(title=spec["title"], admins=[names[n] for n in spec.get("admins", [])],
                                    members=[names[n] for n in spec.get("members", [])],
                                    new_style_id=bool(spec.get("new_style_id", False)), id=spec.get("id"))
        names[spec.get("name", spec["title"])] = channel
        described["channels"][spec.get("name", spec["title"])] = {"id": channel.id}
    await server.start()
    for spec in config.get("files", []):
        person = server.person(names[spec["by"]])
        message = await person.post_file(
            names[spec["channel"]], SeededSpec(int(spec["size"]), int(spec.get("seed", 0))),
            kind=spec.get("kind", "document"), dc_id=spec.get("dc_id"), file_name=spec.get("file_name"),
            mime_type=spec.get("mime_type"), caption=spec.get("caption"))
        described["files"][spec.get("name", str(message.id))] = {
            "channel_id": message.chat.id, "message_id": message.id, "size": message.media.size,
            "seed": int(spec.get("seed", 0)), "dc_id": message.media.dc_id}
    server.faults.latency = float(config.get("latency") or 0)
    server.faults.bandwidth = config.get("bandwidth")
    return server, names, described


async def serve(config: dict[str, Any], setup: Callable[[TelegramServer], Awaitable[None] | None] | None = None,
                stop: asyncio.Event | None = None) -> None:
    """Runs until `stop` is set (or the task is cancelled). Writes config["connection_file"] when ready:
    ports, RSA key, control port, and the ids/tokens of everything the config created."""
    server, names, described = await build(config)
    control = ControlServer(server, names)
    await control.start()
    try:
        if setup is not None:
            result = setup(server)
            if asyncio.iscoroutine(result):
                await result
        path = config.get("connection_file")
        if path:
            server.write_connection_file(path, {"control_port": control.port, **described})
            log.info("connection file written to %s", path)
        # A parent process waits for this line instead of polling for the file.
        print(f"tgserver ready {path or ''}", flush=True)
        await (stop or asyncio.Event()).wait()
    finally:
        control.close()
        await server.stop()


def serve_forever(config: dict[str, Any] | str | Path, setup=None) -> None:
    """Blocking: build the world from `config` (a dict or a JSON file) and serve until SIGINT/SIGTERM."""
    if not isinstance(config, dict):
        config = json.loads(Path(config).read_text())

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await serve(config, setup, stop)

    asyncio.run(main())
