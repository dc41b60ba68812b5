"""Driving a test server in another process: JSON lines over a loopback socket.

The server side (`ControlServer`) runs inside `python -m tgserver`; scripts use `RemoteServer`:

    remote = await RemoteServer.connect(info["control_port"])
    message_id = await remote.call("send_text", user="alice", bot="main", text="/start")
    reply = await remote.call("next_message", user="alice", bot="main", timeout=10)
"""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any

from .content import SeededSpec

log = logging.getLogger("tgserver.control")


def _snapshot(message) -> dict[str, Any]:
    media = message.media
    return {
        "message_id": message.message_id,
        "text": message.text,
        "edited": message.edited,
        "buttons": [[{"text": b.text, "url": b.url,
                      "callback_data": b.callback_data.decode(errors="replace") if b.callback_data else None}
                     for b in row] for row in message.buttons],
        "media": _media(media),
    }


def _media(media) -> dict[str, Any] | None:
    if media is None:
        return None
    content = media.content
    return {"id": media.id, "dc_id": media.dc_id, "size": media.size, "kind": media.kind,
            "mime_type": media.mime_type, "file_name": media.file_name,
            "seed": getattr(content, "seed", None)}


class ControlServer:
    def __init__(self, server, names: dict[str, Any]):
        self.server = server
        self.names = names  # config names -> world objects
        self._listener: asyncio.base_events.Server | None = None
        self.port = 0

    async def start(self, host: str = "127.0.0.1") -> int:
        self._listener = await asyncio.start_server(self._serve, host, 0)
        self.port = self._listener.sockets[0].getsockname()[1]
        return self.port

    def close(self) -> None:
        if self._listener is not None:
            self._listener.close()

    def _get(self, name: Any):
        if isinstance(name, int):
            found = self.server.world.account(name) or self.server.world.channel(name)
        else:
            found = self.names.get(name)
        if found is None:
            raise KeyError(f"unknown name {name!r}")
        return found

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while line := await reader.readline():
                request = json.loads(line)
                try:
                    result = await self.handle(request.pop("op"), request)
                    answer = {"ok": True, "result": result}
                except Exception as e:  # noqa: BLE001 - reported to the remote caller
                    answer = {"ok": False, "error": f"{type(e).__name__}: {e}"}
                writer.write(json.dumps(answer).encode() + b"\n")
                await writer.drain()
        finally:
            writer.close()

    async def handle(self, op: str, args: dict[str, Any]) -> Any:
        server, world = self.server, self.server.world
        if op == "send_text":
            return await server.person(self._get(args["user"])).send_text(self._get(args["bot"]), args["text"])
        if op in ("send_file", "post_file"):
            person = server.person(self._get(args["user"]))
            # "path": a real file's bytes (the remux bench sends a film); else seeded content.
            data = Path(args["path"]).read_bytes() if "path" in args else SeededSpec(int(args["size"]), int(args.get("seed", 0)))
            options = {k: args[k] for k in ("file_name", "mime_type", "kind", "dc_id", "caption") if k in args}
            if op == "send_file":
                message = await person.send_file(self._get(args["bot"]), data, **options)
            else:
                message = await person.post_file(self._get(args["channel"]), data, **options)
            return {"message_id": message.id, "media": _media(message.media)}
        if op in ("next_message", "next_edit"):
            person = server.person(self._get(args["user"]))
            wait = person.next_message if op == "next_message" else person.next_edit
            return _snapshot(await wait(self._get(args["bot"]), timeout=float(args.get("timeout", 10))))
        if op == "press_button":
            person = server.person(self._get(args["user"]))
            return await person.press_button(self._get(args["bot"]), int(args["message_id"]), args["callback_data"],
                                             timeout=float(args.get("timeout", 10)))
        if op == "channel_message":
            message = world.channel_message(self._get(args["channel"]), int(args["message_id"]))
            return _snapshot(message.snapshot())
        if op == "faults":
            if "latency" in args:
                server.faults.latency = float(args["latency"] or 0)
            if "bandwidth" in args:
                server.faults.bandwidth = args["bandwidth"]
            if "bandwidth_per" in args:
                server.faults.bandwidth_per = args["bandwidth_per"]
            if "rpc_error" in args:
                spec = args["rpc_error"]
                bot = self._get(spec["bot"]) if spec.get("bot") is not None else None
                server.faults.rpc_error(bot, spec["method"], int(spec.get("code", 400)),
                                        spec.get("message", "LOCATION_INVALID"), spec.get("times", 1))
            if "flood_wait" in args:
                spec = args["flood_wait"]
                server.faults.flood_wait(self._get(spec["bot"]), spec["method"], int(spec.get("seconds", 2)),
                                         spec.get("times", 1))
            if "drop_connections" in args:
                return server.faults.drop_connections(self._get(args["drop_connections"]), args.get("dc_id"),
                                                      args.get("limit"))
            if "refuse_dc" in args:
                server.faults.refuse_dc(int(args["refuse_dc"]), bool(args.get("refuse", True)))
            if "download_rate" in args:  # {"bytes_per_second": N or None, "burst_bytes": M}
                spec = args["download_rate"] or {}
                server.limits.download_rate(spec.get("bytes_per_second"), int(spec.get("burst_bytes", 8 << 20)))
            if "file_reference_lifetime" in args:  # seconds, or None to pin references
                server.world.file_references.lifetime = args["file_reference_lifetime"]
            return True
        if op == "expire_file_reference":
            message = world.channel_message(self._get(args["channel"]), int(args["message_id"]))
            world.expire_file_reference(message)
            return True
        if op == "delete_channel_message":
            channel = self._get(args["channel"])
            world.delete([world.channel_message(channel, int(args["message_id"]))], None)
            return True
        if op == "remove_from_channel":  # the channel's creator removes an admin (a bot) from it
            self._get(args["channel"]).remove(self._get(args["account"]))
            return True
        if op == "delete_channel":
            world.delete_channel(self._get(args["channel"]))
            return True
        if op == "rpc_log":
            account = self._get(args["bot"]) if args.get("bot") is not None else None
            return [{"method": c.method, "dc_id": c.dc_id, "at": c.at, "account_id": c.account_id, "error": c.error}
                    for c in server.rpc_log(account, args.get("method"), args.get("dc_id"))]
        if op == "ping":
            return "pong"
        raise ValueError(f"unknown op {op!r}")


class RemoteServer:
    """Async client of ControlServer."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self._reader = reader
        self._writer = writer
        self._lock = asyncio.Lock()

    @classmethod
    async def connect(cls, port: int, host: str = "127.0.0.1") -> RemoteServer:
        reader, writer = await asyncio.open_connection(host, port, limit=1 << 24)
        return cls(reader, writer)

    async def call(self, op: str, **args: Any) -> Any:
        async with self._lock:
            self._writer.write(json.dumps({"op": op, **args}).encode() + b"\n")
            await self._writer.drain()
            answer = json.loads(await self._reader.readline())
        if not answer["ok"]:
            raise RuntimeError(answer["error"])
        return answer["result"]

    async def close(self) -> None:
        self._writer.close()
