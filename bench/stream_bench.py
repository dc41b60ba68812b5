"""FileStream streaming benchmark: the real service against a local Telegram, with a baseline and a ceiling.

    .venv/bin/python bench/stream_bench.py [--quick] [--out bench/out/results.json]

Processes (all on loopback):
- the Telegram test server (bench/tg_server.py: tgserver in its own process, uvloop), with a
  simulated round trip (`faults.latency`) and a per-connection bandwidth cap (`faults.bandwidth`);
- the database (SecantusDB as a child process, through FileStream.embedded_db.EmbeddedDatabase);
- the FileStream service (bench/run_service.py: the real Service, pyrogram pointed at the test server);
- this process: a scripted person sends files to the bot through the server's control socket,
  reads the links from the bot's reply, and downloads them over HTTP; it also runs the
  sequential baseline and the bare-client ceiling (a bot of its own, no HTTP).

File contents are seeded (tgserver's SeededContent): nothing large is stored or generated up front.
Prints markdown tables and writes the numbers as JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import add_paths, run  # noqa: E402

add_paths()

import aiohttp  # noqa: E402
import pyrogram  # noqa: E402
from pyrogram import raw  # noqa: E402
from tgserver import RemoteServer, SeededContent, client_patch  # noqa: E402

from FileStream.embedded_db import EmbeddedDatabase  # noqa: E402
from FileStream.telegram.media import location_of  # noqa: E402
from FileStream.telegram.media_sessions import MediaSessions  # noqa: E402
from FileStream.telegram.streamer import StreamTuning  # noqa: E402

MIB = 1 << 20
BENCH_DIR = Path(__file__).resolve().parent
HOME_DC, FILE_DC, COLD_DC = 2, 4, 5
PHASE_TIMEOUT = 240.0     # no phase of the benchmark may take longer than this
REQUEST_TIMEOUT = 120.0   # one HTTP download or one client loop


@dataclass(frozen=True)
class Profile:
    name: str
    main_size: int          # single-stream throughput file
    big_size: int           # "1 GiB" file: RSS while streaming it, TTFB at 70 %
    many_size: int          # file for the many-streams test
    many_streams: int
    rss_streams: int        # concurrent streams for the RSS test
    rss_range: int          # bytes each of those streams reads
    runs: int               # runs per throughput number (median)
    rtts: tuple[float, ...]
    ttfb_tries: int
    cap: int                # per-connection bandwidth cap C, bytes/s
    cap_size: int
    cap_backends: tuple[int, ...]


FULL = Profile("full", main_size=64 * MIB, big_size=1 << 30, many_size=16 * MIB, many_streams=100,
               rss_streams=50, rss_range=16 * MIB, runs=3, rtts=(0.0, 0.020, 0.050), ttfb_tries=5,
               cap=8 * MIB, cap_size=64 * MIB, cap_backends=(1, 2, 4))
QUICK = Profile("quick", main_size=8 * MIB, big_size=32 * MIB, many_size=MIB + 12345, many_streams=20,
                rss_streams=10, rss_range=2 * MIB, runs=1, rtts=(0.0, 0.050), ttfb_tries=2,
                cap=8 * MIB, cap_size=8 * MIB, cap_backends=(1, 2))


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


# ------------------------------------------------------------------------------------ memory
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


# ------------------------------------------------------------------------------------ HTTP
@dataclass
class Fetch:
    status: int = 0
    nbytes: int = 0
    seconds: float = 0.0
    ttfb: float = 0.0
    sha256: str | None = None
    error: str | None = None

    @property
    def mibps(self) -> float:
        return self.nbytes / MIB / self.seconds if self.seconds else 0.0


async def fetch(http: aiohttp.ClientSession, url: str, *, start: int | None = None, end: int | None = None,
                digest: bool = False, first_chunk_only: bool = False) -> Fetch:
    headers = {}
    if start is not None:
        headers["Range"] = f"bytes={start}-{'' if end is None else end}"
    result = Fetch()
    sha = hashlib.sha256() if digest else None
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
                            response.close()
                            break
                    result.nbytes += len(chunk)
                    if sha is not None:
                        sha.update(chunk)
    except Exception as error:  # noqa: BLE001 - counted and reported
        result.error = f"{type(error).__name__}: {error}"
    result.seconds = time.perf_counter() - began
    if sha is not None:
        result.sha256 = sha.hexdigest()
    return result


# ------------------------------------------------------------------------------------ the bench
def median(values: list[float]) -> float:
    return statistics.median(values) if values else 0.0


class Bench:
    def __init__(self, profile: Profile, workdir: Path, prefetch: int | None, per_client: int | None):
        self.p = profile
        self.workdir = workdir
        self.tuning = StreamTuning()
        self.prefetch = prefetch or self.tuning.prefetch
        self.results: dict = {"profile": asdict(profile), "prefetch": self.prefetch,
                              "per_client_requests": self.tuning.per_client_requests,
                              "cpus": os.cpu_count(), "python": sys.version.split()[0]}
        self.db: EmbeddedDatabase | None = None
        self.db_url = ""
        self.server: Child | None = None
        self.info: dict = {}
        self.remote: RemoteServer | None = None
        self.service: Child | None = None
        self.service_count = 0
        self.http: aiohttp.ClientSession | None = None
        self.reader: pyrogram.Client | None = None
        self.reader_sessions = MediaSessions()
        self.files: dict[str, dict] = {}
        self.started = time.monotonic()

    def log(self, text: str) -> None:
        print(f"[{time.monotonic() - self.started:6.1f}s] {text}", file=sys.stderr, flush=True)

    # -- set-up ----------------------------------------------------------------------
    async def start(self) -> None:
        self.db = EmbeddedDatabase()
        self.db_url = await self.db.start(self.workdir / "db")
        self.log(f"database at {self.db_url}")
        bots = [{"name": "main", "username": "filestream_bot", "home_dc": HOME_DC},
                *({"name": f"worker{n}", "username": f"filestream_worker{n}_bot", "home_dc": HOME_DC}
                  for n in range(1, 5)),
                {"name": "reader", "username": "bench_reader_bot", "home_dc": HOME_DC}]
        config = {
            "dc_count": 5, "connection_file": str(self.workdir / "tgserver.json"),
            "bots": bots,
            "users": [{"name": "alice", "first_name": "Alice", "username": "alice", "home_dc": 1}],
            "channels": [{"name": "bin", "title": "FileStream bin", "new_style_id": True,
                          "admins": [b["name"] for b in bots] + ["alice"]}],
        }
        (self.workdir / "tgserver-config.json").write_text(json.dumps(config))
        self.server = Child("tgserver", [sys.executable, str(BENCH_DIR / "tg_server.py"),
                                         str(self.workdir / "tgserver-config.json")],
                            self.workdir / "tgserver.log")
        path = await self.server.start("tgserver ready")
        self.info = json.loads(Path(path).read_text())
        self.remote = await RemoteServer.connect(self.info["control_port"])
        client_patch.install_from_file(path)
        self.http = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0, force_close=False), auto_decompress=False,
            read_bufsize=1 << 20, timeout=aiohttp.ClientTimeout(total=None, sock_read=60))
        self.reader = pyrogram.Client("bench-reader", api_id=1, api_hash="x" * 32, in_memory=True, no_updates=True,
                                      bot_token=self.info["bots"]["reader"]["token"], workdir=str(self.workdir))
        await asyncio.wait_for(self.reader.start(), 60)
        self.log(f"Telegram test server up (pid {self.server.pid})")

    async def close(self) -> None:
        if self.http is not None:
            await self.http.close()
        await self.reader_sessions.close()
        if self.reader is not None:
            try:
                await asyncio.wait_for(self.reader.stop(), 10)
            except Exception:  # noqa: BLE001 - tearing down
                pass
        await self.stop_service()
        if self.remote is not None:
            await self.remote.close()
        if self.server is not None:
            await self.server.stop()
        if self.db is not None:
            await self.db.stop()

    async def faults(self, *, latency: float | None = None, bandwidth: float | None | str = "keep") -> None:
        args = {}
        if latency is not None:
            args["latency"] = latency
        if bandwidth != "keep":
            args["bandwidth"] = bandwidth
        await self.remote.call("faults", **args)

    async def start_service(self, backends: int) -> None:
        await self.stop_service()
        self.service_count += 1
        n = self.service_count
        bots = self.info["bots"]
        env = {
            "API_ID": "12345", "API_HASH": "0123456789abcdef0123456789abcdef",
            "BOT_TOKEN": bots["main"]["token"], "OWNER_ID": str(self.info["users"]["alice"]["id"]),
            "BIN_CHANNEL": str(self.info["channels"]["bin"]["id"]),
            "DATABASE_URL": self.db_url, "DATABASE_NAME": f"bench{n}",
            "PUBLIC_URL": "http://127.0.0.1:0", "BIND_ADDRESS": "127.0.0.1", "PORT": "0",
            "SESSION_DIR": str(self.workdir / f"sessions{n}"), "DATA_DIR": str(self.workdir / f"data{n}"),
            "SHUTDOWN_GRACE": "1", "RATE_LIMIT_FILES": "0", "FILE_TTL": "86400",
            "STREAM_PREFETCH": str(self.prefetch),
        }
        if backends:
            env["MULTI_BOT_MODE"] = "true"
            env["MULTI_TOKENS"] = ",".join(bots[f"worker{i}"]["token"] for i in range(1, backends + 1))
        settings_path = self.workdir / f"service{n}.json"
        settings_path.write_text(json.dumps(env))
        self.service = Child(f"service{n}", [sys.executable, str(BENCH_DIR / "run_service.py"),
                                             str(self.workdir / "tgserver.json"), str(settings_path)],
                             self.workdir / f"service{n}.log")
        ready = await self.service.start("service ready")
        self.log(f"service with {backends} backend(s) up at {ready.split()[0]} (pid {self.service.pid})")

    async def stop_service(self) -> None:
        if self.service is not None:
            await self.service.stop()
            self.service = None

    async def send(self, key: str, size: int, seed: int, dc_id: int) -> str:
        """A person sends a seeded file to the bot; returns the download link of the bot's reply."""
        await self.remote.call("send_file", user="alice", bot="main", size=size, seed=seed, dc_id=dc_id,
                               file_name=f"{key}.mp4", kind="video", mime_type="video/mp4")
        # The bot answers with the links, or (when storing takes a while) with a status
        # message that it then edits to hold them.
        name = f"{key}.mp4"
        reply = {"text": ""}
        for n in range(8):
            reply = await self.remote.call("next_message" if n == 0 else "next_edit", user="alice", bot="main",
                                           timeout=30)
            if name not in reply["text"]:
                continue
            for row in reply["buttons"]:
                for button in row:
                    if button["url"] and "/dl/" in button["url"]:
                        self.files[key] = {"size": size, "seed": seed, "dc_id": dc_id, "url": button["url"]}
                        return button["url"]
        raise RuntimeError(f"the bot sent no download link for {key}: last reply {reply['text']!r}")

    # -- measurements ----------------------------------------------------------------
    async def download(self, key: str, digest: bool = False) -> Fetch:
        f = self.files[key]
        result = await fetch(self.http, f["url"], digest=digest)
        if result.error or result.nbytes != f["size"]:
            raise RuntimeError(f"download of {key} failed: {result}")
        return result

    async def reader_location(self, size: int, seed: int, dc_id: int):
        """The bench's own bot reads a copy of the file posted in the storage channel."""
        posted = await self.remote.call("post_file", user="alice", channel="bin", size=size, seed=seed,
                                        dc_id=dc_id, kind="video", file_name="reader.mp4")
        message = await self.reader.get_messages(self.info["channels"]["bin"]["id"], posted["message_id"])
        location, dc = location_of(message)
        session = await self.reader_sessions.get("reader", self.reader, dc)
        await self._get_file(session, location, 0, MIB)  # the media session is made before timing
        return session, location

    @staticmethod
    async def _get_file(session, location, offset: int, limit: int) -> int:
        answer = await session.invoke(raw.functions.upload.GetFile(location=location, offset=offset, limit=limit),
                                      retries=1, timeout=30, sleep_threshold=0)
        return len(answer.bytes)

    async def sequential(self, session, location, size: int) -> float:
        """The FileStreamBot way: one 1 MiB GetFile at a time on one client. MiB/s."""
        began = time.perf_counter()
        got = 0
        async with asyncio.timeout(REQUEST_TIMEOUT):
            for offset in range(0, size, MIB):
                got += await self._get_file(session, location, offset, MIB)
        assert got == size, (got, size)
        return size / MIB / (time.perf_counter() - began)

    async def pipelined(self, session, location, size: int, in_flight: int) -> float:
        """The ceiling: the same client with `in_flight` GetFile requests running, no HTTP. MiB/s."""
        began = time.perf_counter()
        offsets = iter(range(0, size, MIB))
        window: list[asyncio.Task] = []
        got = 0
        async with asyncio.timeout(REQUEST_TIMEOUT):
            for offset in offsets:
                window.append(asyncio.ensure_future(self._get_file(session, location, offset, MIB)))
                if len(window) >= in_flight:
                    break
            while window:
                got += await window.pop(0)
                offset = next(offsets, None)
                if offset is not None:
                    window.append(asyncio.ensure_future(self._get_file(session, location, offset, MIB)))
        assert got == size, (got, size)
        return size / MIB / (time.perf_counter() - began)

    async def ttfb(self, key: str, at: float, tries: int, seek: bool = False) -> list[float]:
        """Milliseconds to the first body byte of `bytes=<at * size>-` (a little further each try).

        Each try starts on an idle service (the answers to the previous, aborted request have
        drained). With `seek`, each try instead comes right after aborting a running download of
        the same file, as a player's seek does: the connection still carries that stream's answers.
        """
        f = self.files[key]
        times = []
        for n in range(tries):
            start = min(int(f["size"] * at) + n * (MIB + 4099), f["size"] - 1)
            if seek:
                await fetch(self.http, f["url"], start=n * 8 * MIB, first_chunk_only=True)
            else:
                await asyncio.sleep(0.5)
            result = await fetch(self.http, f["url"], start=start, first_chunk_only=True)
            if result.error or result.status != 206:
                raise RuntimeError(f"range request failed: {result}")
            times.append(result.ttfb * 1000)
        return times

    async def concurrent(self, key: str, streams: int, length: int | None, digest: bool) -> dict:
        f = self.files[key]
        size = f["size"]
        spans = []
        for n in range(streams):
            if length is None:
                spans.append((None, None))
            else:
                start = (n * 7919 * 4096 + n * 1001) % max(1, size - length)
                spans.append((start, start + length - 1))
        began = time.perf_counter()
        results = await asyncio.gather(*(fetch(self.http, f["url"], start=s, end=e, digest=digest) for s, e in spans))
        seconds = time.perf_counter() - began
        expected = sha256_of_seeded(size, f["seed"]) if digest else None
        want = size if length is None else length
        errors = [r for r in results if r.error or r.status not in (200, 206) or r.nbytes != want]
        mismatched = [r for r in results if digest and not r.error and r.nbytes == want and r.sha256 != expected]
        total = sum(r.nbytes for r in results)
        return {"streams": streams, "seconds": round(seconds, 2), "aggregate_mibps": round(total / MIB / seconds, 1),
                "errors": len(errors), "mismatched": len(mismatched), "byte_exact": digest and not errors and not mismatched,
                "error_samples": [r.error or f"status {r.status}, {r.nbytes} bytes" for r in errors[:3]]}

    # -- the run ---------------------------------------------------------------------
    async def run(self) -> dict:
        p, r = self.p, self.results
        r["loadavg_start"] = os.getloadavg()
        await self.start()
        await self.start_service(backends=1)
        await self.faults(latency=0, bandwidth=None)
        await self.send("main", p.main_size, 1, FILE_DC)
        await self.send("big", p.big_size, 2, FILE_DC)
        await self.send("many", p.many_size, 3, FILE_DC)
        await self.send("cold", p.big_size, 4, COLD_DC)
        # Warm-up (untimed): every backend's media session on the files' DC, the first code paths.
        await self.download("main")
        session, location = await self.reader_location(p.main_size, 1, FILE_DC)

        self.log(f"RSS while streaming the {p.big_size // MIB} MiB file once")
        async with asyncio.timeout(PHASE_TIMEOUT):
            async with RssWatch(self.service.pid) as watch:
                one = await self.download("big")
        r["rss_single"] = {"before_mib": round(watch.before / MIB, 1), "peak_mib": round(watch.peak / MIB, 1),
                           "growth_mib": round(watch.growth / MIB, 1), "mibps": round(one.mibps, 1)}

        in_flight = min(self.prefetch, self.tuning.per_client_requests)
        r["single_stream"] = []
        for rtt in p.rtts:
            await self.faults(latency=rtt)
            self.log(f"single stream at {rtt * 1000:.0f} ms")
            ours, base, ceiling = [], [], []
            async with asyncio.timeout(PHASE_TIMEOUT):
                for _ in range(p.runs):  # interleaved, so a busy moment of the machine hits both
                    ours.append((await self.download("main")).mibps)
                    base.append(await self.sequential(session, location, p.main_size))
                    if rtt == 0:
                        ceiling.append(await self.pipelined(session, location, p.main_size, in_flight))
                warm = await self.ttfb("big", 0.7, p.ttfb_tries)
                seek = await self.ttfb("big", 0.7, p.ttfb_tries, seek=True)
            row = {"rtt_ms": round(rtt * 1000), "ours_mibps": round(median(ours), 1),
                   "baseline_mibps": round(median(base), 1), "ratio": round(median(ours) / median(base), 2),
                   "ttfb_warm_ms": round(median(warm), 1), "ttfb_seek_ms": round(median(seek), 1),
                   "runs": {"ours": ours, "baseline": base, "ttfb_warm": warm, "ttfb_seek": seek}}
            if ceiling:
                row.update(ceiling_mibps=round(median(ceiling), 1), ceiling_in_flight=in_flight,
                           of_ceiling=round(median(ours) / median(ceiling), 3))
                row["runs"]["ceiling"] = ceiling
            r["single_stream"].append(row)
        rtt = p.rtts[-1]
        self.log(f"cold time to first byte at {rtt * 1000:.0f} ms (first request to DC{COLD_DC})")
        cold = await self.ttfb("cold", 0.7, 1)
        warm_same = await self.ttfb("cold", 0.71, p.ttfb_tries)
        r["ttfb"] = {"rtt_ms": round(rtt * 1000), "cold_ms": round(cold[0], 1),
                     "warm_ms": round(median(warm_same), 1)}

        await self.faults(latency=0)
        self.log(f"RSS with {p.rss_streams} concurrent streams")
        async with asyncio.timeout(PHASE_TIMEOUT):
            async with RssWatch(self.service.pid) as watch:
                many_rss = await self.concurrent("big", p.rss_streams, p.rss_range, digest=False)
        bound = p.rss_streams * (self.prefetch + 1) * MIB
        r["rss_concurrent"] = {"streams": p.rss_streams, "bytes_each_mib": p.rss_range / MIB,
                               "before_mib": round(watch.before / MIB, 1), "peak_mib": round(watch.peak / MIB, 1),
                               "growth_mib": round(watch.growth / MIB, 1),
                               "per_stream_mib": round(watch.growth / MIB / p.rss_streams, 2),
                               "bound_mib": round(bound / MIB), "errors": many_rss["errors"],
                               "aggregate_mibps": many_rss["aggregate_mibps"]}

        self.log(f"{p.many_streams} concurrent streams of {p.many_size / MIB:.1f} MiB, byte-exact")
        async with asyncio.timeout(PHASE_TIMEOUT):
            r["many_streams"] = {"file_mib": round(p.many_size / MIB, 2),
                                 **await self.concurrent("many", p.many_streams, None, digest=True)}

        r["bandwidth_cap"] = {"cap_mibps": p.cap / MIB, "rows": []}
        for backends in p.cap_backends:
            if backends != 1:
                await self.faults(latency=0, bandwidth=None)
                await self.start_service(backends)
                await self.send(f"cap{backends}", p.cap_size, 5, FILE_DC)
                # every backend makes its media session before the cap is on
                await asyncio.gather(*(fetch(self.http, self.files[f"cap{backends}"]["url"], start=n * MIB,
                                             end=n * MIB + 9) for n in range(backends * 2)))
            else:
                await self.send("cap1", p.cap_size, 5, FILE_DC)
            self.log(f"bandwidth cap {p.cap / MIB:.0f} MiB/s per connection, {backends} backend(s)")
            await self.faults(latency=0, bandwidth=p.cap)
            await self.remote.call("mark")
            async with asyncio.timeout(PHASE_TIMEOUT):
                speeds = [(await self.download(f"cap{backends}")).mibps for _ in range(p.runs)]
            spread = await self.remote.call("count_calls", method="upload.GetFile")
            r["bandwidth_cap"]["rows"].append({"backends": backends, "mibps": round(median(speeds), 1),
                                               "times_cap": round(median(speeds) / (p.cap / MIB), 2),
                                               "getfile_by_bot": spread, "runs": speeds})
        await self.faults(latency=0, bandwidth=None)
        bugs = await self.remote.call("bugs")
        r["server_bugs"] = bugs
        r["seconds"] = round(time.monotonic() - self.started, 1)
        r["loadavg_end"] = os.getloadavg()
        return r


_sha_cache: dict[tuple[int, int], str] = {}


def sha256_of_seeded(size: int, seed: int) -> str:
    key = (size, seed)
    if key not in _sha_cache:
        content = SeededContent(size, seed)
        digest = hashlib.sha256()
        for offset in range(0, size, 4 * MIB):
            digest.update(content.read(offset, 4 * MIB))
        _sha_cache[key] = digest.hexdigest()
    return _sha_cache[key]


# ------------------------------------------------------------------------------------ report
def targets(r: dict) -> list[tuple[str, str, bool | None]]:
    rows = []
    by_rtt = {row["rtt_ms"]: row for row in r["single_stream"]}
    if 50 in by_rtt:
        rows.append(("50 ms: single stream ≥ 3.5× baseline", f"{by_rtt[50]['ratio']}×", by_rtt[50]["ratio"] >= 3.5))
    if 0 in by_rtt and "of_ceiling" in by_rtt[0]:
        share = by_rtt[0]["of_ceiling"]
        rows.append(("0 ms: HTTP path ≥ 75% of ceiling", f"{share:.0%}", share >= 0.75))
    caps = {row["backends"]: row for row in r["bandwidth_cap"]["rows"]}
    if 4 in caps:
        rows.append(("cap C, 4 backends: ≥ 3× C", f"{caps[4]['times_cap']}× C", caps[4]["times_cap"] >= 3))
    t = r["ttfb"]
    warm = max(row["ttfb_warm_ms"] - row["rtt_ms"] for row in r["single_stream"])
    rows.append(("warm TTFB at 70% ≤ RTT + 30 ms", f"RTT + {warm:.0f} ms (worst RTT)", warm <= 30))
    rows.append((f"cold TTFB at 70% ({t['rtt_ms']} ms RTT; no target)", f"{t['cold_ms']:.0f} ms", None))
    growth = r["rss_single"]["growth_mib"]
    rows.append(("RSS growth streaming the big file ≤ 40 MiB", f"{growth} MiB", growth <= 40))
    c = r["rss_concurrent"]
    base = 40
    rows.append((f"{c['streams']} streams ≤ (prefetch+1) MiB each + {base} MiB",
                 f"{c['growth_mib']} MiB (bound {c['bound_mib'] + base})", c["growth_mib"] <= c["bound_mib"] + base))
    m = r["many_streams"]
    rows.append((f"{m['streams']} streams: zero errors, byte-exact", f"{m['errors']} errors, {m['mismatched']} mismatched",
                 m["errors"] == 0 and m["mismatched"] == 0))
    return rows


def markdown(r: dict) -> str:
    p = r["profile"]
    load = "/".join(f"{x:.1f}" for x in r["loadavg_start"])
    out = [f"FileStream stream benchmark ({p['name']}; {r['cpus']} CPUs, load average at start {load}, "
           f"Python {r['python']}, prefetch {r['prefetch']}, {r['per_client_requests']} GetFile per client; "
           f"{r['seconds']} s)", ""]
    out += [f"Single stream, {p['main_size'] // MIB} MiB file, service with 1 backend bot (median of {p['runs']}):", "",
            "| RTT | FileStream MiB/s | baseline MiB/s | ours / baseline | ceiling MiB/s | HTTP / ceiling "
            "| TTFB @70% warm | TTFB @70% right after a seek |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for row in r["single_stream"]:
        ceiling = f"{row['ceiling_mibps']} ({row['ceiling_in_flight']} in flight)" if "ceiling_mibps" in row else "–"
        share = f"{row['of_ceiling']:.0%}" if "of_ceiling" in row else "–"
        out.append(f"| {row['rtt_ms']} ms | {row['ours_mibps']} | {row['baseline_mibps']} | {row['ratio']}× | "
                   f"{ceiling} | {share} | {row['ttfb_warm_ms']} ms | {row['ttfb_seek_ms']} ms |")
    cap = r["bandwidth_cap"]
    out += ["", f"Per-connection cap C = {cap['cap_mibps']:g} MiB/s, {p['cap_size'] // MIB} MiB file:", "",
            "| backends | MiB/s | × C | GetFile per bot |", "|---:|---:|---:|---|"]
    for row in cap["rows"]:
        spread = ", ".join(f"{k} {v}" for k, v in sorted(row["getfile_by_bot"].items()))
        out.append(f"| {row['backends']} | {row['mibps']} | {row['times_cap']}× | {spread} |")
    t, s, c, m = r["ttfb"], r["rss_single"], r["rss_concurrent"], r["many_streams"]
    out += ["", "| measure | value |", "|---|---|",
            f"| TTFB at 70%, cold (first request to DC{COLD_DC}), RTT {t['rtt_ms']} ms | {t['cold_ms']} ms |",
            f"| TTFB at 70%, warm, same file | {t['warm_ms']} ms |",
            f"| RSS streaming {p['big_size'] // MIB} MiB once: before → peak (growth) | "
            f"{s['before_mib']} → {s['peak_mib']} MiB (+{s['growth_mib']} MiB) at {s['mibps']} MiB/s |",
            f"| RSS with {c['streams']} streams × {c['bytes_each_mib']:g} MiB: before → peak (growth) | "
            f"{c['before_mib']} → {c['peak_mib']} MiB (+{c['growth_mib']}, {c['per_stream_mib']} MiB/stream), "
            f"{c['errors']} errors |",
            f"| {m['streams']} streams × {m['file_mib']:g} MiB: aggregate | {m['aggregate_mibps']} MiB/s in {m['seconds']} s, "
            f"{m['errors']} errors, byte-exact: {'yes' if m['byte_exact'] else 'NO'} |"]
    out += ["", "| target | measured | met |", "|---|---|---|"]
    out += [f"| {name} | {value} | {'–' if ok is None else 'yes' if ok else 'no'} |" for name, value, ok in targets(r)]
    return "\n".join(out)


async def amain(args) -> int:
    profile = QUICK if args.quick else FULL
    with tempfile.TemporaryDirectory(prefix="filestream-bench-") as tmp:
        bench = Bench(profile, Path(tmp), args.prefetch, None)
        try:
            async with asyncio.timeout(args.timeout or (90 if args.quick else 600)):
                results = await bench.run()
        except BaseException:
            for log in sorted(Path(tmp).glob("*.log")):
                tail = log.read_text(errors="replace")[-2000:]
                if tail.strip():
                    print(f"--- {log.name} (tail)\n{tail}", file=sys.stderr)
            raise
        finally:
            await bench.close()
    table = markdown(results)
    results["table"] = table
    results["targets"] = [{"target": name, "measured": value, "met": ok} for name, value, ok in targets(results)]
    print(table)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(f"\nresults written to {out}", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small files, one run each (under a minute)")
    parser.add_argument("--out", default=str(BENCH_DIR / "out" / "results.json"), help="JSON results file")
    parser.add_argument("--prefetch", type=int, help="STREAM_PREFETCH for the service (default: the service's)")
    parser.add_argument("--timeout", type=float, help="give up after this many seconds")
    args = parser.parse_args(argv)
    return run(amain(args))


if __name__ == "__main__":
    sys.exit(main())
