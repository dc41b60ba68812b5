"""Waiting in tests for a state the code announces (its `on_change` lists), never on a timer."""

from __future__ import annotations

import asyncio
from collections.abc import Callable


async def until(holds: Callable[[], bool], *on_change: list[Callable[[], object]], timeout: float = 60) -> None:
    """Until `holds()` is true: checked now and again whenever one of the `on_change` lists
    (the product's own change notifications, such as Streamer.on_change) reports a change.
    `timeout` is only a safety net for a broken story."""
    changed = asyncio.Event()
    wake = changed.set
    for listeners in on_change:
        listeners.append(wake)
    try:
        async with asyncio.timeout(timeout):
            while not holds():
                await changed.wait()
                changed.clear()
    finally:
        for listeners in on_change:
            listeners.remove(wake)
