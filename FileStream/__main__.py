"""`python -m FileStream`: load settings, run the service until a signal, clear exit codes."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from collections.abc import Coroutine
from typing import Any

from FileStream.config import ConfigError, Settings, load_settings
from FileStream.errors import StartupError
from FileStream.logging_setup import configure_logging

EXIT_OK, EXIT_FAILED, EXIT_CONFIG = 0, 1, 2
log = logging.getLogger("FileStream")


def _configure_logging(settings: Settings) -> None:
    secrets = [settings.api_hash, settings.bot_token, *settings.multi_tokens]
    if settings.link_secret:
        secrets.append(settings.link_secret.decode("utf-8", "replace"))
    configure_logging(settings.log_level, settings.log_json, secrets=secrets)


async def _serve(service_cls: Any, settings: Settings) -> int:
    service = service_cls(settings)
    loop = asyncio.get_running_loop()
    stop_requested = asyncio.Event()

    def on_signal(signum: int) -> None:
        if stop_requested.is_set():
            # A second signal means the operator will not wait for the graceful stop.
            log.warning("second %s: exiting now", signal.Signals(signum).name)
            os._exit(EXIT_FAILED)
        log.info("%s received: stopping", signal.Signals(signum).name)
        stop_requested.set()

    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, on_signal, signum)
    try:
        await service.start()
        log.info("FileStream running at %s", settings.public_url)
        closed = asyncio.ensure_future(service.wait_closed())
        stopping = asyncio.ensure_future(stop_requested.wait())
        await asyncio.wait({closed, stopping}, return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        if closed.done():
            closed.result()  # the service ended on its own: surface its error, if any
        else:
            closed.cancel()
        return EXIT_OK
    except StartupError as error:
        # Something the operator can fix (database, port, token): words, not a traceback.
        log.error("FileStream could not start: %s", error)
        return EXIT_CONFIG
    except Exception:
        log.exception("FileStream stopped because of an error")
        return EXIT_FAILED
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
        # stop() must be safe after a partial start and when already stopped.
        await service.stop()


def _run(main: Coroutine[Any, Any, int]) -> int:
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    return uvloop.run(main)


def main() -> int:
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"FileStream: configuration error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    _configure_logging(settings)
    log.debug("settings: %r", settings)
    # Imported only now so a configuration error never pays for the Telegram and web stacks.
    from FileStream.service import Service

    return _run(_serve(Service, settings))


if __name__ == "__main__":
    sys.exit(main())
