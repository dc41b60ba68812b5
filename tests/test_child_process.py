"""Children for untrusted media work end at their limits: memory, CPU, wall time, silence; and
closing a stream ends its child at once."""

from __future__ import annotations

import asyncio
import os
import sys

import pytest

from FileStream.services.child_process import ChildFailed, ChildLimits, run_child, stream_child

LIMITS = ChildLimits(memory_bytes=256 << 20, cpu_seconds=5, wall_seconds=20, stall_seconds=20)


def python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


async def test_a_child_that_asks_for_too_much_memory_is_refused_it_and_fails():
    with pytest.raises(ChildFailed) as failed:
        await run_child(python("x = bytearray(1 << 30); print(len(x))"), LIMITS)
    assert "MemoryError" in failed.value.stderr and "status 1" in failed.value.reason


async def test_a_child_that_spins_is_stopped_at_its_cpu_limit():
    with pytest.raises(ChildFailed) as failed:
        await run_child(python("while True: pass"), ChildLimits(memory_bytes=256 << 20, cpu_seconds=1, wall_seconds=30))
    assert "signal" in failed.value.reason or "killed" in failed.value.reason


async def test_a_child_that_hangs_is_killed_at_its_wall_time():
    started = asyncio.get_running_loop().time()
    with pytest.raises(ChildFailed) as failed:
        await run_child(python("import signal; signal.pause()"), ChildLimits(256 << 20, 5, wall_seconds=0.5))
    assert "did not finish within" in failed.value.reason
    assert asyncio.get_running_loop().time() - started < 10


async def test_a_stream_whose_child_falls_silent_fails_and_a_closed_stream_kills_its_child():
    silent = stream_child(python("import signal, sys; sys.stdout.write('x'); sys.stdout.flush(); signal.pause()"),
                          ChildLimits(256 << 20, 5, stall_seconds=0.5))
    assert await silent.__anext__() == b"x"
    with pytest.raises(ChildFailed) as failed:
        await silent.__anext__()
    assert "produced nothing" in failed.value.reason

    endless = stream_child(python("import os, sys\nprint(os.getpid(), flush=True)\nwhile True: sys.stdout.write('y' * 65536)"),
                           LIMITS)
    first = await endless.__anext__()
    pid = int(first.split(b"\n")[0])
    await endless.aclose()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)   # reaped: gone


async def test_a_child_that_fails_before_its_first_byte_says_so():
    with pytest.raises(ChildFailed) as failed:
        async for _chunk in stream_child(python("import sys; sys.stderr.write('broken input'); sys.exit(3)"), LIMITS):
            pass
    assert "status 3" in failed.value.reason and "broken input" in failed.value.stderr
