"""Child processes for untrusted media work: memory and CPU limits, a wall or stall timeout, always killed at the end.

Every file is someone's upload, so FFmpeg reads it in a child of its own. The limits are
set on the child right after it starts (resource.prlimit: no preexec_fn, which is unsafe
in a process with threads), before it has read a byte of the file: a crash, a hang or a
memory blow-up on a malformed file ends that child only.
"""

from __future__ import annotations

import asyncio
import logging
import resource
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

log = logging.getLogger(__name__)

READ_CHUNK = 64 << 10
_STDERR_KEPT = 2000


@dataclass(frozen=True, slots=True)
class ChildLimits:
    """What one child may use: address space, CPU seconds, and how long it may keep us waiting."""

    memory_bytes: int
    cpu_seconds: int
    wall_seconds: float | None = None   # the whole run (a probe); None: as long as it produces
    stall_seconds: float = 30.0         # the longest wait for its next output bytes
    max_output: int = 16 << 20          # run_child only: more output than this is refused


class Reaper:
    """The children still being reaped after their job ended: a shutdown waits for them
    (`wait`), so none outlives the service or leaves its pipes to a closed event loop."""

    def __init__(self) -> None:
        self.pending: set[asyncio.Task] = set()

    def track(self, task: asyncio.Task) -> None:
        self.pending.add(task)
        task.add_done_callback(self.pending.discard)

    async def wait(self, timeout: float) -> None:
        if self.pending:
            await asyncio.wait(set(self.pending), timeout=timeout)


class ChildFailed(Exception):
    """The child ended badly: killed at a limit, or exited with an error; `reason` says which in words."""

    def __init__(self, reason: str, stderr: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.stderr = stderr


@dataclass(frozen=True, slots=True)
class ChildResult:
    stdout: bytes
    stderr: str


async def _start(argv: Sequence[str], limits: ChildLimits) -> asyncio.subprocess.Process:
    process = await asyncio.create_subprocess_exec(
        *argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, start_new_session=True)
    try:
        resource.prlimit(process.pid, resource.RLIMIT_AS, (limits.memory_bytes, limits.memory_bytes))
        resource.prlimit(process.pid, resource.RLIMIT_CPU, (limits.cpu_seconds, limits.cpu_seconds + 1))
        resource.prlimit(process.pid, resource.RLIMIT_CORE, (0, 0))
    except (ProcessLookupError, OSError):
        pass   # it has already ended: its exit status says how
    return process


class _StderrTail:
    """Keeps the end of what the child says on stderr (read all along, so it never blocks on a full pipe)."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.text = b""
        self.task = asyncio.ensure_future(self._drain(process))

    async def _drain(self, process: asyncio.subprocess.Process) -> None:
        assert process.stderr is not None
        while chunk := await process.stderr.read(4096):
            self.text = (self.text + chunk)[-_STDERR_KEPT:]

    def words(self) -> str:
        return self.text.decode("utf-8", "replace").strip()


async def _end(process: asyncio.subprocess.Process, tail: _StderrTail, reaper: Reaper | None = None) -> int:
    """Kill the child if it still runs, reap it, and finish reading its stderr.

    The reaping is a task of its own, finished even when the caller is cancelled again while
    it runs (a shutdown cancels a response's handler, then its clean-up): a child is never
    left unreaped, nor its pipes open for a closed event loop."""
    if process.returncode is None:
        try:
            process.kill()
        except ProcessLookupError:
            pass
    reaping = asyncio.ensure_future(_reap(process, tail))
    if reaper is not None:
        reaper.track(reaping)
    try:
        return await asyncio.shield(reaping)
    except asyncio.CancelledError:
        await asyncio.wait([reaping], timeout=3.0)
        raise


async def _reap(process: asyncio.subprocess.Process, tail: _StderrTail) -> int:
    # Python 3.11's Process.wait() returns only once every pipe is closed, and a stdout pipe
    # whose unread bytes filled the reader's buffer is paused and never reaches its end: what
    # the child wrote and nobody read is discarded while we wait, or a killed child is never reaped.
    draining = asyncio.ensure_future(_discard(process.stdout)) if process.stdout is not None else None
    try:
        code = await process.wait()
    finally:
        if draining is not None:
            try:
                await asyncio.wait_for(draining, 1.0)
            except (asyncio.TimeoutError, Exception):  # noqa: BLE001 - only tidying up
                draining.cancel()
    try:
        await asyncio.wait_for(tail.task, 1.0)
    except (asyncio.TimeoutError, Exception):  # noqa: BLE001 - stderr is only for the log
        tail.task.cancel()
    return code


async def _discard(stream: asyncio.StreamReader) -> None:
    while await stream.read(READ_CHUNK):
        pass


def _exit_words(code: int) -> str:
    if code == -9:
        return "killed (memory or CPU limit)"
    if code < 0:
        return f"ended by signal {-code} (a crash, or the CPU limit)"
    return f"exited with status {code}"


async def run_child(argv: Sequence[str], limits: ChildLimits, reaper: Reaper | None = None) -> ChildResult:
    """Run to the end and give back its output; ChildFailed on a non-zero exit or a limit."""
    process = await _start(argv, limits)
    tail = _StderrTail(process)
    output = bytearray()
    try:
        async def read_all() -> None:
            assert process.stdout is not None
            while chunk := await process.stdout.read(READ_CHUNK):
                output.extend(chunk)
                if len(output) > limits.max_output:
                    raise ChildFailed(f"more than {limits.max_output} bytes of output")
            await process.wait()
        try:
            await asyncio.wait_for(read_all(), limits.wall_seconds)
        except asyncio.TimeoutError:
            raise ChildFailed(f"did not finish within {limits.wall_seconds:.0f} s") from None
    finally:
        code = await _end(process, tail, reaper)
    if code != 0:
        raise ChildFailed(_exit_words(code), tail.words())
    return ChildResult(bytes(output), tail.words())


async def stream_child(argv: Sequence[str], limits: ChildLimits, reaper: Reaper | None = None) -> AsyncIterator[bytes]:
    """The child's output as it comes; ChildFailed when it stalls, or fails before its first byte.

    Closing the generator (the client went away) kills the child at once. A child that
    fails after some output just ends the stream: the bytes sent are all there is.
    """
    process = await _start(argv, limits)
    tail = _StderrTail(process)
    sent = 0
    try:
        assert process.stdout is not None
        while True:
            try:
                chunk = await asyncio.wait_for(process.stdout.read(READ_CHUNK), limits.stall_seconds)
            except asyncio.TimeoutError:
                raise ChildFailed(f"produced nothing for {limits.stall_seconds:.0f} s", tail.words()) from None
            if not chunk:
                break
            sent += len(chunk)
            yield chunk
        code = await process.wait()
        if code != 0:
            if sent == 0:
                raise ChildFailed(_exit_words(code), (await _stderr_after(tail)))
            # What it said may name its input (a link): the caller logs it, cleaned; here only the fact.
            log.info("media child %s after %d bytes", _exit_words(code), sent)
    finally:
        await _end(process, tail, reaper)


async def _stderr_after(tail: _StderrTail) -> str:
    try:
        await asyncio.wait_for(asyncio.shield(tail.task), 1.0)
    except (asyncio.TimeoutError, Exception):  # noqa: BLE001
        pass
    return tail.words()
