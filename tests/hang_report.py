"""A test that hangs says where: its name, every asyncio task's stack and every thread's.

Nothing in the suite should take long; a stuck test would otherwise hang CI with no clue.
After REPORT_AFTER seconds the stacks go to stderr once (the test goes on: a slow machine
is not a failure); after GIVE_UP_AFTER the run ends with exit code 3 instead of hanging.
"""

from __future__ import annotations

import asyncio
import faulthandler
import os
import sys
import threading

import pytest
import pytest_asyncio

REPORT_AFTER = float(os.environ.get("TEST_HANG_REPORT_SECONDS", "180"))
GIVE_UP_AFTER = 900.0

_loop: list[asyncio.AbstractEventLoop] = []


@pytest_asyncio.fixture(scope="session", loop_scope="session", autouse=True)
async def _remember_the_loop():
    """The session's event loop, whose tasks a report lists."""
    _loop.append(asyncio.get_running_loop())
    yield


def _report(item, after: float) -> None:
    # Past pytest's output capture, or nobody would see it until the test ends.
    capture = item.config.pluginmanager.getplugin("capturemanager")
    with capture.global_and_fixture_disabled():
        _write(item.nodeid, after, sys.stderr)


def _write(nodeid: str, after: float, out) -> None:
    out.write(f"\n=== {nodeid} is still running after {after:.0f} s ===\n")
    if _loop and not _loop[0].is_closed():
        # Read from this thread while the loop may be running: a snapshot, good enough to read.
        for task in list(asyncio.all_tasks(_loop[0])):
            out.write(f"--- {task!r}\n")
            task.print_stack(limit=12, file=out)
    faulthandler.dump_traceback(file=out, all_threads=True)
    out.flush()


def _give_up(item) -> None:
    _report(item, GIVE_UP_AFTER)
    os.write(2, f"=== giving up on {item.nodeid}: ending the test run ===\n".encode())
    os._exit(3)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item):
    timers = [threading.Timer(REPORT_AFTER, _report, (item, REPORT_AFTER)),
              threading.Timer(GIVE_UP_AFTER, _give_up, (item,))]
    for timer in timers:
        timer.daemon = True
        timer.start()
    try:
        yield
    finally:
        for timer in timers:
            timer.cancel()
