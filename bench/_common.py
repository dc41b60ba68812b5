"""Small helpers shared by the benchmark's processes (paths, event loop, parent watch)."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TESTS = REPO / "tests"


def add_paths() -> None:
    """FileStream from the repository, tgserver from tests/ (test code: only the bench uses it)."""
    for path in (str(REPO), str(TESTS)):
        if path not in sys.path:
            sys.path.insert(0, path)


def run(main) -> object:
    """uvloop when installed, as `python -m FileStream` does."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    return uvloop.run(main)


async def exit_with_parent(stop: asyncio.Event, interval: float = 0.5) -> None:
    """Sets `stop` when the process that started us is gone (the bench died): no orphans."""
    parent = os.getppid()
    while not stop.is_set():
        if os.getppid() != parent:
            stop.set()
            return
        try:
            await asyncio.wait_for(stop.wait(), interval)
        except asyncio.TimeoutError:
            pass
