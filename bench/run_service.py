"""Runs the real FileStream Service against the benchmark's Telegram server (another process).

    python bench/run_service.py CONNECTION_FILE SETTINGS_JSON

The only thing changed is where pyrogram connects: tgserver's client patch, installed
here from the connection file that bench/tg_server.py wrote. SETTINGS_JSON holds the
environment variables (as `Settings.from_env` reads them). Prints
"service ready <public_url> <pid>" once serving; stops on SIGTERM/SIGINT or when the
parent process goes away.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import add_paths, exit_with_parent, run  # noqa: E402

add_paths()

from tgserver import client_patch  # noqa: E402

from FileStream.config import Settings  # noqa: E402
from FileStream.service import Service  # noqa: E402


async def main(connection_file: str, env: dict[str, str]) -> None:
    logging.basicConfig(level=os.environ.get("BENCH_SERVICE_LOG", "WARNING"),
                        format="%(asctime)s service %(levelname)s %(name)s: %(message)s")
    client_patch.install_from_file(connection_file)
    settings = Settings.from_env(env)
    service = Service(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    watcher = asyncio.ensure_future(exit_with_parent(stop))
    profile = None
    if os.environ.get("BENCH_PROFILE"):  # cProfile of the service, written at stop (for tuning)
        import cProfile
        profile = cProfile.Profile()
    try:
        await asyncio.wait_for(service.start(), 60)
        if profile is not None:
            profile.enable()
        print(f"service ready {service.public_url} {os.getpid()}", flush=True)
        await stop.wait()
    finally:
        watcher.cancel()
        if profile is not None:
            profile.disable()
            profile.dump_stats(os.environ["BENCH_PROFILE"])
        await asyncio.wait_for(service.stop(), 30)


if __name__ == "__main__":
    run(main(sys.argv[1], json.loads(Path(sys.argv[2]).read_text())))
