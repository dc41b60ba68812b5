"""The benchmark's Telegram: tgserver's TelegramServer in this process, driven over a control socket.

    python bench/tg_server.py config.json

Builds the world from the config (tgserver.serve.build), serves the DCs on loopback, writes
the connection file and prints "tgserver ready <path>". The control socket (JSON lines,
loopback) has tgserver's operations (send_file, post_file, next_message, faults, ...) plus
`count_calls` (how many calls of a method each account made since a mark), `mark`, and
`messages_from` (the texts a bot sent to a person).
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import add_paths, exit_with_parent, run  # noqa: E402

add_paths()

from tgserver.control import ControlServer  # noqa: E402
from tgserver.serve import build  # noqa: E402


class BenchControl(ControlServer):
    """tgserver's control operations plus cheap counters (the full rpc_log is large)."""

    def __init__(self, server, names):
        super().__init__(server, names)
        self._mark = 0

    async def handle(self, op, args):
        if op == "mark":
            self._mark = len(self.server.rpc_calls)
            return self._mark
        if op == "count_calls":
            method = args.get("method", "upload.GetFile")
            counts: dict[str, int] = {}
            by_id = {getattr(obj, "id", None): name for name, obj in self.names.items()}
            for name, _dc, _at, auth_key in self.server.rpc_calls[self._mark:]:
                if name != method:
                    continue
                owner = auth_key.account
                label = by_id.get(owner.id, str(owner.id)) if owner is not None else "?"
                counts[label] = counts.get(label, 0) + 1
            return counts
        if op == "bugs":
            return list(self.server.bugs)
        if op == "messages_from":   # the texts of every message a bot sent to a person
            person = self.server.person(self.names[args["user"]])
            return [m.text for m in person.messages_from(self.names[args["bot"]])]
        return await super().handle(op, args)


async def main(config: dict) -> None:
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s tgserver %(levelname)s %(message)s")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    server, names, described = await build(config)
    control = BenchControl(server, names)
    await control.start()
    watcher = asyncio.ensure_future(exit_with_parent(stop))
    try:
        path = config["connection_file"]
        server.write_connection_file(path, {"control_port": control.port, **described})
        print(f"tgserver ready {path}", flush=True)
        await stop.wait()
    finally:
        watcher.cancel()
        control.close()
        await server.stop()


if __name__ == "__main__":
    run(main(json.loads(Path(sys.argv[1]).read_text())))
