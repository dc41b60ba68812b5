"""What the benchmark measures with: HTTP fetches checked by sha256, RSS and CPU of processes, child processes."""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from tgserver import SeededContent

MIB = 1 << 20
PHASE_TIMEOUT = 300.0     # no phase of the benchmark may take longer than this
REQUEST_TIMEOUT = 180.0   # one HTTP download or one client loop


# ------------------------------------------------------------------------------------ processes
class Child:
    """A child process that prints one ready line; stderr goes to a log file."""

    def __init__(self, name: str, argv: list[str], log_path: Path, env: dict[str, str] | None = None):
        self.name, self.argv, self.log_path, self.env = name, argv, log_path, env
        self.process: asyncio.subprocess.Process | None = None
        self._log = None

    async def start(self, ready_prefix: str, timeout: float = 90.0) -> str:
        self._log = open(self.log_path, "ab")
        self.process = await asyncio.create_subprocess_exec(
            *self.argv, stdout=asyncio.subprocess.PIPE, stderr=self._log, stdin=asyncio.subprocess.DEVNULL,
            env={**os.environ, **(self.env or {})}, cwd=str(self.log_path.parent))
        deadline = time.monotonic() + timeout
        for _ in range(1000):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                line = await asyncio.wait_for(self.process.stdout.readline(), remaining)
            except asyncio.TimeoutError:
                break
            if not line:
                break
            text = line.decode(errors="replace").strip()
            if text.startswith(ready_prefix):
                return text[len(ready_prefix):].strip()
        await self.stop()
        tail = self.log_path.read_text(errors="replace")[-3000:]
        raise RuntimeError(f"{self.name} did not start (log {self.log_path}):\n{tail}")

    @property
    def pid(self) -> int:
        return self.process.pid

    async def stop(self, timeout: float = 20.0) -> None:
        process = self.process
        if process is not None and process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), timeout)
            except asyncio.TimeoutError:
                process.kill()
                await process.wait()
        if self._log is not None:
            self._log.close()
            self._log = None


# ------------------------------------------------------------------------------------ memory and CPU
def read_status(pid: int) -> dict[str, int]:
    """VmRSS / VmHWM of a process in bytes, from /proc (no psutil)."""
    values = {}
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                values[key] = int(rest.split()[0]) * 1024
    return values


class RssWatch:
    """Peak RSS of a process while a block runs: VmHWM reset at the start, VmRSS sampled."""

    def __init__(self, pid: int, interval: float = 0.02):
        self.pid, self.interval = pid, interval
        self.before = 0
        self.peak = 0
        self._task: asyncio.Task | None = None
        self._stop = asyncio.Event()

    async def __aenter__(self) -> RssWatch:
        try:  # "5" resets VmHWM to the current RSS (Linux >= 4.0); sampling covers kernels without it
            with open(f"/proc/{self.pid}/clear_refs", "w") as refs:
                refs.write("5")
        except OSError:
            pass
        self.before = read_status(self.pid)["VmRSS"]
        self.peak = self.before
        self._task = asyncio.ensure_future(self._sample())
        return self

    async def _sample(self) -> None:
        for _ in range(int(PHASE_TIMEOUT / self.interval) + 1):
            self.peak = max(self.peak, read_status(self.pid)["VmRSS"])
            try:
                await asyncio.wait_for(self._stop.wait(), self.interval)
                return
            except asyncio.TimeoutError:
                pass

    async def __aexit__(self, *exc) -> None:
        self._stop.set()
        await self._task
        status = read_status(self.pid)
        self.peak = max(self.peak, status["VmRSS"], status.get("VmHWM", 0))

    @property
    def growth(self) -> int:
        return self.peak - self.before


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (/proc/<pid>/stat fields 14 and 15)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_busy_seconds() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far, from /proc/stat."""
    with open("/proc/stat") as stat:
        fields = [int(x) for x in stat.readline().split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    ticks = os.sysconf("SC_CLK_TCK")
    return (sum(fields) - idle) / ticks, sum(fields) / ticks


class CpuWatch:
    """Cores each named process used while a block runs (CPU seconds / wall seconds), and how busy
    the whole machine was (other people's work included)."""

    def __init__(self, pids: dict[str, int]):
        self.pids = pids
        self.cores: dict[str, float] = {}
        self.machine_busy = 0.0   # share of all cores busy, 0..1

    def __enter__(self) -> CpuWatch:
        self._began = time.perf_counter()
        self._start = {name: cpu_seconds(pid) for name, pid in self.pids.items()}
        self._machine = machine_busy_seconds()
        return self

    def __exit__(self, *exc) -> None:
        wall = max(time.perf_counter() - self._began, 1e-6)
        self.cores = {name: round((cpu_seconds(pid) - self._start[name]) / wall, 2) for name, pid in self.pids.items()}
        busy, total = machine_busy_seconds()
        self.machine_busy = round((busy - self._machine[0]) / max(total - self._machine[1], 1e-6), 2)


def limited_by(watch: CpuWatch, cpus: int, otherwise: str) -> str:
    """What held a measurement back: a process on one core (the GIL), every core (ours or other
    people's work on a shared machine), or `otherwise`."""
    cores = watch.cores
    if cores:
        name, busiest = max(cores.items(), key=lambda item: item[1])
        if busiest >= 0.85:
            return f"CPU: {name} on one core ({busiest:.2f})"
        if sum(cores.values()) >= 0.85 * cpus:
            return f"CPU: all {cpus} cores ({sum(cores.values()):.1f} ours)"
    if watch.machine_busy >= 0.9:
        return f"CPU: machine {watch.machine_busy:.0%} busy, {sum(cores.values()):.1f} cores ours"
    return otherwise


# ------------------------------------------------------------------------------------ content
_digests: dict[tuple[int, int, int, int], str] = {}


def seeded_sha256(size: int, seed: int, start: int = 0, end: int | None = None) -> str:
    """sha256 of bytes start..end (inclusive) of SeededContent(size, seed); cached."""
    end = size - 1 if end is None else end
    key = (size, seed, start, end)
    if key not in _digests:
        content = SeededContent(size, seed)
        digest = hashlib.sha256()
        for offset in range(start, end + 1, 4 * MIB):
            digest.update(content.read(offset, min(4 * MIB, end + 1 - offset)))
        _digests[key] = digest.hexdigest()
    return _digests[key]


def seeded_bytes(size: int, seed: int, start: int, length: int) -> bytes:
    return bytes(SeededContent(size, seed).read(start, length))


# ------------------------------------------------------------------------------------ HTTP
@dataclass
class Fetch:
    status: int = 0
    nbytes: int = 0
    seconds: float = 0.0
    ttfb: float = 0.0
    sha256: str | None = None
    first_chunk: bytes = b""
    error: str | None = None

    @property
    def mibps(self) -> float:
        return self.nbytes / MIB / self.seconds if self.seconds else 0.0


async def fetch(http: aiohttp.ClientSession, url: str, *, start: int | None = None, end: int | None = None,
                first_chunk_only: bool = False) -> Fetch:
    """GET url (optionally a range); times the body, hashes it (sha256) or keeps its first chunk."""
    headers = {}
    if start is not None:
        headers["Range"] = f"bytes={start}-{'' if end is None else end}"
    result = Fetch()
    sha = hashlib.sha256()
    began = time.perf_counter()
    try:
        async with asyncio.timeout(REQUEST_TIMEOUT):
            async with http.get(url, headers=headers) as response:
                result.status = response.status
                first = True
                async for chunk in response.content.iter_any():
                    if first:
                        result.ttfb = time.perf_counter() - began
                        first = False
                        if first_chunk_only:
                            result.nbytes = len(chunk)
                            result.first_chunk = bytes(chunk)
                            response.close()
                            break
                    result.nbytes += len(chunk)
                    sha.update(chunk)
    except Exception as error:  # noqa: BLE001 - counted and reported
        result.error = f"{type(error).__name__}: {error}"
    result.seconds = time.perf_counter() - began
    if not first_chunk_only:
        result.sha256 = sha.hexdigest()
    return result
