"""FileStream streaming benchmark: the real service against a local Telegram, with a baseline and a ceiling.

    .venv/bin/python bench/stream_bench.py [--quick] [--check] [--out bench/out/results.json] [--write-readme]

Processes (all on loopback):
- the Telegram test server (bench/tg_server.py: tgserver in its own process, uvloop), with a
  simulated round trip (`faults.latency`) and a bandwidth cap (`faults.bandwidth`) per
  connection or per bot account (`faults.bandwidth_per`);
- the database (SecantusDB as a child process, through FileStream.embedded_db.EmbeddedDatabase);
- the FileStream service (bench/run_service.py: the real Service, pyrogram pointed at the test server),
  restarted for each deployment: one bot, main + 3 backends, 4 backends;
- this process: a scripted person sends files to the bot through the server's control socket,
  reads the links from the bot's reply, and downloads them over HTTP; it also runs the
  sequential baseline (what FileStreamBot-style projects do: one 1 MiB GetFile at a time on
  one connection) and the bare-client ceiling (a bot of its own, no HTTP).

File contents are seeded (tgserver's SeededContent): nothing large is stored or generated up
front, and every byte downloaded (service, baseline and ceiling alike) is checked by sha256.
Prints markdown tables and writes the numbers as JSON; `--check` exits 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import re
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import add_paths, run  # noqa: E402

add_paths()

import _fairness_bot  # noqa: E402
import _fairness_zip  # noqa: E402
import _fairness_http  # noqa: E402
import zip_bench  # noqa: E402
import aiohttp  # noqa: E402
import pyrogram  # noqa: E402
from _measure import (  # noqa: E402
    MIB, PHASE_TIMEOUT, REQUEST_TIMEOUT, Child, CpuWatch, Fetch, RssWatch, fetch, limited_by, seeded_bytes,
    seeded_sha256)
from _report import markdown, targets, write_readmes  # noqa: E402
from pyrogram import raw  # noqa: E402
from tgserver import RemoteServer, client_patch  # noqa: E402

from FileStream.config import VARIABLES  # noqa: E402
from FileStream.embedded_db import EmbeddedDatabase  # noqa: E402
from FileStream.telegram.media import location_of  # noqa: E402
from FileStream.telegram.media_sessions import MediaSessions  # noqa: E402
from FileStream.telegram.streamer import StreamTuning  # noqa: E402

BENCH_DIR = Path(__file__).resolve().parent
HOME_DC, FILE_DC, COLD_DC = 2, 4, 5
DEFAULTS = {name: default for name, default, _ in VARIABLES}
PHASES = ("single", "many", "zip", "fair_zip", "fair_http", "caps", "fairness")


@dataclass(frozen=True)
class Profile:
    name: str
    main_size: int          # single-stream throughput file
    big_size: int           # "1 GiB" file: RSS while streaming it, TTFB at 70 %
    many_size: int          # file for the many-streams test
    many_streams: int
    runs: int               # runs per throughput number (median)
    rtts: tuple[float, ...]
    ttfb_tries: int
    cap: int                # bandwidth cap C, bytes/s
    cap_size: int


FULL = Profile("full", main_size=64 * MIB, big_size=1 << 30, many_size=16 * MIB, many_streams=100, runs=3,
               rtts=(0.0, 0.020, 0.050), ttfb_tries=9, cap=8 * MIB, cap_size=64 * MIB)
QUICK = Profile("quick", main_size=32 * MIB, big_size=32 * MIB, many_size=MIB + 12345, many_streams=20, runs=1,
                rtts=(0.0, 0.050), ttfb_tries=2, cap=8 * MIB, cap_size=8 * MIB)

# Deployments the cap phases compare (the pool streams from backends when it has any).
ONE_BOT = ("one bot", 0)              # MULTI_TOKENS empty: the main bot streams
MAIN_AND_3 = ("main + 3 backends", 3)
FOUR_BACKENDS = ("4 backends", 4)


def median(values: list[float]) -> float:
    return statistics.median(values) if values else 0.0


@dataclass(frozen=True)
class Options:
    prefetch: int
    media_connections: int
    memory_mb: int
    phases: tuple[str, ...]


class Bench:
    def __init__(self, profile: Profile, workdir: Path, options: Options):
        self.p = profile
        self.workdir = workdir
        self.o = options
        self.tuning = StreamTuning()
        self.results: dict = {
            "profile": asdict(profile), "prefetch": options.prefetch, "media_connections": options.media_connections,
            "memory_mb": options.memory_mb, "per_connection_requests": self.tuning.per_connection_requests,
            "phases": list(options.phases), "cpus": os.cpu_count(), "python": sys.version.split()[0]}
        self.db: EmbeddedDatabase | None = None
        self.db_url = ""
        self.server: Child | None = None
        self.info: dict = {}
        self.remote: RemoteServer | None = None
        self.service: Child | None = None
        self.service_url = ""
        self.deployment = ""
        self.backends = 0
        self.service_count = 0
        self.http: aiohttp.ClientSession | None = None
        self.reader: pyrogram.Client | None = None
        self.reader_sessions = MediaSessions(connections=options.media_connections)
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
            "users": [{"name": "alice", "first_name": "Alice", "username": "alice", "home_dc": 1},
                      *_fairness_bot.USERS],
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

    async def faults(self, *, latency: float | None = None, bandwidth: float | None | str = "keep",
                     per: str | None = None) -> None:
        args: dict = {}
        if latency is not None:
            args["latency"] = latency
        if bandwidth != "keep":
            args["bandwidth"] = bandwidth
        if per is not None:
            args["bandwidth_per"] = per
        await self.remote.call("faults", **args)

    def cpu(self) -> CpuWatch:
        pids = {"bench": os.getpid(), "tgserver": self.server.pid}
        if self.service is not None:
            pids["service"] = self.service.pid
        return CpuWatch(pids)

    async def start_service(self, deployment: tuple[str, int]) -> None:
        await self.stop_service()
        self.service_count += 1
        n = self.service_count
        self.deployment, self.backends = deployment
        bots = self.info["bots"]
        env = {
            "API_ID": "12345", "API_HASH": "0123456789abcdef0123456789abcdef",
            "BOT_TOKEN": bots["main"]["token"], "OWNER_ID": str(self.info["users"]["alice"]["id"]),
            "BIN_CHANNEL": str(self.info["channels"]["bin"]["id"]),
            # One database and session folder for every deployment, as a restart of one install:
            # bots do not log in again, links stay valid, media keys are reused.
            "DATABASE_URL": self.db_url, "DATABASE_NAME": "bench",
            "PUBLIC_URL": "http://127.0.0.1:0", "BIND_ADDRESS": "127.0.0.1", "PORT": "0",
            "SESSION_DIR": str(self.workdir / "sessions"), "DATA_DIR": str(self.workdir / "data"),
            "SHUTDOWN_GRACE": "1", "RATE_LIMIT_FILES": "0", "FILE_TTL": "86400",
            "STREAM_PREFETCH": str(self.o.prefetch), "MEDIA_CONNECTIONS": str(self.o.media_connections),
            "STREAM_MEMORY_MB": str(self.o.memory_mb),
            # Every download of the bench comes from 127.0.0.1 and stands for a person of its own.
            "STREAMS_PER_IP": "0",
        }
        if self.backends:
            env["MULTI_BOT_MODE"] = "true"
            env["MULTI_TOKENS"] = ",".join(bots[f"worker{i}"]["token"] for i in range(1, self.backends + 1))
        settings_path = self.workdir / f"service{n}.json"
        settings_path.write_text(json.dumps(env))
        self.service = Child(f"service{n}", [sys.executable, str(BENCH_DIR / "run_service.py"),
                                             str(self.workdir / "tgserver.json"), str(settings_path)],
                             self.workdir / f"service{n}.log")
        ready = await self.service.start("service ready")
        self.service_url = ready.split()[0]
        for f in self.files.values():  # the same links, at the new instance's port
            f["url"] = re.sub(r"^https?://[^/]+", self.service_url, f["url"])
        self.log(f"service ({self.deployment}) up at {self.service_url} (pid {self.service.pid})")

    async def stop_service(self) -> None:
        if self.service is not None:
            await self.service.stop()
            self.service = None

    def streaming_bots(self) -> list[str]:
        return [f"backend{n}" for n in range(1, self.backends + 1)] if self.backends else ["main"]

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

    async def gauge(self, name: str) -> float:
        """One unlabelled gauge of the service's /metrics."""
        async with self.http.get(f"{self.service_url}/metrics") as response:
            text = await response.text()
        found = re.search(rf"^filestream_{name} ([0-9.e+]+)$", text, re.M)
        return float(found[1]) if found else 0.0

    async def connections_ready(self, timeout: float = 30.0) -> dict:
        """Waits until every streaming bot has all its media connections to FILE_DC open (from /metrics)."""
        want = {(bot, str(FILE_DC)) for bot in self.streaming_bots()}
        pattern = re.compile(r'filestream_media_connections_ready\{client="([^"]+)",dc="(\d+)"\} ([0-9.e+]+)')
        ready: dict = {}
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            async with self.http.get(f"{self.service_url}/metrics") as response:
                text = await response.text()
            ready = {(m[1], m[2]): float(m[3]) for m in pattern.finditer(text)}
            if all(ready.get(key, 0) >= self.o.media_connections for key in want):
                break
            await asyncio.sleep(0.1)
        return {f"{bot} DC{dc}": int(count) for (bot, dc), count in sorted(ready.items())}

    # -- checked downloads -----------------------------------------------------------
    def _check(self, key: str, result: Fetch, start: int = 0, end: int | None = None) -> Fetch:
        f = self.files[key]
        end = f["size"] - 1 if end is None else end
        if result.error or result.status not in (200, 206) or result.nbytes != end - start + 1:
            raise RuntimeError(f"download of {key} [{start}-{end}] failed: {result}")
        if result.sha256 != seeded_sha256(f["size"], f["seed"], start, end):
            raise RuntimeError(f"download of {key} [{start}-{end}]: sha256 differs from the file's")
        return result

    async def download(self, key: str) -> Fetch:
        return self._check(key, await fetch(self.http, self.files[key]["url"]))

    async def first_bytes(self, key: str, start: int) -> Fetch:
        f = self.files[key]
        result = await fetch(self.http, f["url"], start=start, first_chunk_only=True)
        if result.error or result.status != 206 or not result.first_chunk:
            raise RuntimeError(f"range request on {key} at {start} failed: {result}")
        if result.first_chunk != seeded_bytes(f["size"], f["seed"], start, len(result.first_chunk)):
            raise RuntimeError(f"range request on {key} at {start}: the first bytes differ from the file's")
        return result

    # -- the bare client: baseline and ceiling ----------------------------------------
    async def reader_location(self, size: int, seed: int):
        """The bench's own bot reads a copy of the file posted in the storage channel."""
        posted = await self.remote.call("post_file", user="alice", channel="bin", size=size, seed=seed,
                                        dc_id=FILE_DC, kind="video", file_name="reader.mp4")
        message = await self.reader.get_messages(self.info["channels"]["bin"]["id"], posted["message_id"])
        location, dc = location_of(message)
        connections = await self.reader_sessions.get("reader", self.reader, dc)
        await connections.settle()
        await self._get_file(connections.connections[0].session, location, 0, MIB)  # warm, untimed
        return {"connections": connections, "location": location, "size": size, "seed": seed}

    @staticmethod
    async def _get_file(session, location, offset: int, limit: int) -> bytes:
        answer = await session.invoke(raw.functions.upload.GetFile(location=location, offset=offset, limit=limit),
                                      retries=1, timeout=60, sleep_threshold=0)
        return answer.bytes

    async def sequential(self, reader: dict) -> float:
        """The FileStreamBot way: one 1 MiB GetFile at a time on one connection. MiB/s (sha256 checked)."""
        session, size = reader["connections"].connections[0].session, reader["size"]
        digest = hashlib.sha256()
        began = time.perf_counter()
        async with asyncio.timeout(REQUEST_TIMEOUT):
            for offset in range(0, size, MIB):
                digest.update(await self._get_file(session, reader["location"], offset, MIB))
        seconds = time.perf_counter() - began
        if digest.hexdigest() != seeded_sha256(size, reader["seed"]):
            raise RuntimeError("the baseline's bytes differ from the file's")
        return size / MIB / seconds

    async def pipelined(self, reader: dict, in_flight: int) -> float:
        """The ceiling: the same client library with the service's connections and blocks in flight,
        least busy connection first, no HTTP. MiB/s (sha256 checked)."""
        connections, size = reader["connections"], reader["size"]

        async def block(offset: int) -> bytes:
            connection = connections.pick()
            with connections.lease(connection):
                return await self._get_file(connection.session, reader["location"], offset, MIB)

        digest = hashlib.sha256()
        offsets = iter(range(0, size, MIB))
        window: list[asyncio.Task] = []
        began = time.perf_counter()
        async with asyncio.timeout(REQUEST_TIMEOUT):
            for offset in offsets:
                window.append(asyncio.ensure_future(block(offset)))
                if len(window) >= in_flight:
                    break
            while window:
                digest.update(await window.pop(0))
                offset = next(offsets, None)
                if offset is not None:
                    window.append(asyncio.ensure_future(block(offset)))
        seconds = time.perf_counter() - began
        if digest.hexdigest() != seeded_sha256(size, reader["seed"]):
            raise RuntimeError("the ceiling's bytes differ from the file's")
        return size / MIB / seconds

    # -- measurements ----------------------------------------------------------------
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
                await self.first_bytes(key, n * 8 * MIB)
            else:
                await asyncio.sleep(0.5)
            times.append((await self.first_bytes(key, start)).ttfb * 1000)
        return times

    async def concurrent(self, key: str, streams: int) -> dict:
        """`streams` downloads of the whole file at once; each one's sha256 checked."""
        f = self.files[key]
        began = time.perf_counter()
        results = await asyncio.gather(*(fetch(self.http, f["url"]) for _ in range(streams)))
        seconds = time.perf_counter() - began
        expected = seeded_sha256(f["size"], f["seed"])
        errors = [r for r in results if r.error or r.status != 200 or r.nbytes != f["size"]]
        mismatched = [r for r in results if r not in errors and r.sha256 != expected]
        total = sum(r.nbytes for r in results)
        return {"streams": streams, "seconds": round(seconds, 2), "aggregate_mibps": round(total / MIB / seconds, 1),
                "errors": len(errors), "mismatched": len(mismatched), "byte_exact": not errors and not mismatched,
                "error_samples": [r.error or f"status {r.status}, {r.nbytes} bytes" for r in errors[:3]]}

    async def single_streams(self, reader: dict) -> None:
        p, r = self.p, self.results
        self.log(f"RSS while streaming the {p.big_size // MIB} MiB file once")
        async with asyncio.timeout(PHASE_TIMEOUT):
            async with RssWatch(self.service.pid) as watch:
                one = await self.download("big")
        r["rss_single"] = {"before_mib": round(watch.before / MIB, 1), "peak_mib": round(watch.peak / MIB, 1),
                           "growth_mib": round(watch.growth / MIB, 1), "mibps": round(one.mibps, 1)}
        in_flight = min(self.o.prefetch, self.o.media_connections * self.tuning.per_connection_requests)
        r["single_stream"] = []
        for rtt in p.rtts:
            await self.faults(latency=rtt)
            self.log(f"single stream at {rtt * 1000:.0f} ms")
            ours, base, ceiling = [], [], []
            async with asyncio.timeout(PHASE_TIMEOUT):
                with self.cpu() as cpu:
                    for _ in range(p.runs):  # interleaved, so a busy moment of the machine hits both
                        ours.append((await self.download("main")).mibps)
                        base.append(await self.sequential(reader))
                        if rtt == 0:
                            ceiling.append(await self.pipelined(reader, in_flight))
                warm = await self.ttfb("big", 0.7, p.ttfb_tries)
                seek = await self.ttfb("big", 0.7, p.ttfb_tries, seek=True)
            row = {"rtt_ms": round(rtt * 1000), "ours_mibps": round(median(ours), 1),
                   "baseline_mibps": round(median(base), 1), "ratio": round(median(ours) / median(base), 2),
                   "ttfb_warm_ms": round(median(warm), 1), "ttfb_seek_ms": round(median(seek), 1),
                   "cpu_cores": cpu.cores, "machine_busy": cpu.machine_busy,
                   "limited_by": limited_by(cpu, os.cpu_count() or 1, "round trips"),
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
        r["ttfb"] = {"rtt_ms": round(rtt * 1000), "cold_ms": round(cold[0], 1), "warm_ms": round(median(warm_same), 1)}
        await self.faults(latency=0)

    async def many_streams(self) -> None:
        p = self.p
        self.log(f"{p.many_streams} concurrent streams of {p.many_size / MIB:.1f} MiB, byte-exact, RSS watched")
        async with asyncio.timeout(PHASE_TIMEOUT):
            async with RssWatch(self.service.pid) as watch:
                with self.cpu() as cpu:
                    result = await self.concurrent("many", p.many_streams)
        self.results["many_streams"] = {
            "file_mib": round(p.many_size / MIB, 2), **result,
            "rss_before_mib": round(watch.before / MIB, 1), "rss_peak_mib": round(watch.peak / MIB, 1),
            "rss_growth_mib": round(watch.growth / MIB, 1), "budget_mib": self.o.memory_mb,
            "budget_peak_mib": round(await self.gauge("stream_memory_peak_bytes") / MIB, 1),
            "cpu_cores": cpu.cores, "limited_by": limited_by(cpu, os.cpu_count() or 1, "-")}

    async def capped(self, mode: str, reader: dict) -> dict:
        """One stream of the cap file under a bandwidth cap `mode` ("connection" or "account"), and the baseline."""
        p = self.p
        key = "cap"
        if key not in self.files:
            await self.send(key, p.cap_size, 5, FILE_DC)
        await self.faults(latency=0, bandwidth=None)
        await self.download(key)  # every streaming bot makes its connections before the cap is on
        ready = await self.connections_ready()
        self.log(f"bandwidth cap {p.cap / MIB:g} MiB/s per {mode}, {self.deployment}")
        await self.faults(latency=0, bandwidth=p.cap, per=mode)
        await self.remote.call("mark")
        ours, base = [], []
        async with asyncio.timeout(PHASE_TIMEOUT):
            with self.cpu() as cpu:
                for _ in range(p.runs):
                    ours.append((await self.download(key)).mibps)
                    base.append(await self.sequential(reader))
        spread = await self.remote.call("count_calls", method="upload.GetFile")
        await self.faults(bandwidth=None, per="connection")
        cap = p.cap / MIB
        return {"mode": mode, "deployment": self.deployment, "bots_streaming": len(self.streaming_bots()),
                "mibps": round(median(ours), 1), "times_cap": round(median(ours) / cap, 2),
                "baseline_mibps": round(median(base), 1), "ratio": round(median(ours) / median(base), 2),
                "getfile_by_bot": {k: v for k, v in spread.items() if k != "reader"}, "connections_ready": ready,
                "cpu_cores": cpu.cores, "limited_by": limited_by(cpu, os.cpu_count() or 1, f"the cap per {mode}"),
                "runs": {"ours": ours, "baseline": base}}

    # -- the run ---------------------------------------------------------------------
    async def run(self) -> dict:
        p, r, phases = self.p, self.results, self.o.phases
        r["loadavg_start"] = os.getloadavg()
        await self.start()
        await self.start_service(ONE_BOT)
        await self.faults(latency=0, bandwidth=None, per="connection")
        # Expected digests are computed before anything is timed.
        for size, seed in ((p.main_size, 1), (p.big_size, 2), (p.many_size, 3), (p.big_size, 4), (p.cap_size, 5)):
            seeded_sha256(size, seed)
        await self.send("main", p.main_size, 1, FILE_DC)
        await self.download("main")  # warm-up (untimed): media connections, first code paths
        await self.connections_ready()
        if "fairness" in phases:
            self.log("bot replies to ten people while one floods the bot")
            async with asyncio.timeout(PHASE_TIMEOUT):
                r["bot_fairness"] = await _fairness_bot.run_phase(self.remote)
        if "single" in phases:
            await self.send("big", p.big_size, 2, FILE_DC)
            await self.send("cold", p.big_size, 4, COLD_DC)
            await self.single_streams(await self.reader_location(p.main_size, 1))
        if "many" in phases:
            await self.send("many", p.many_size, 3, FILE_DC)
            await self.many_streams()
        if "zip" in phases:
            self.log("bundle ZIP against the same files one after another")
            async with asyncio.timeout(PHASE_TIMEOUT):
                r["bundle_zip"] = await zip_bench.run_phase(self.remote, self.http, fetch, quick=p.name == "quick")
        if "fair_zip" in phases:
            self.log("ZIP tail cost in GetFile calls on a fresh bundle")
            async with asyncio.timeout(PHASE_TIMEOUT):
                r["fair_zip"] = await _fairness_zip.run_phase(self.remote, self.http, quick=p.name == "quick")
        if "fair_http" in phases:
            self.log("normal downloads with and without stalled readers")
            async with asyncio.timeout(PHASE_TIMEOUT):
                r["fair_http"] = await _fairness_http.run_phase(self, quick=p.name == "quick")
        if "caps" in phases:
            cap_reader = await self.reader_location(p.cap_size, 5)
            rows = [await self.capped("connection", cap_reader), await self.capped("account", cap_reader)]
            await self.start_service(MAIN_AND_3)
            rows.append(await self.capped("connection", cap_reader))
            await self.start_service(FOUR_BACKENDS)
            rows.append(await self.capped("account", cap_reader))
            r["bandwidth_cap"] = {"cap_mibps": p.cap / MIB, "rows": rows}
        await self.faults(latency=0, bandwidth=None, per="connection")
        r["server_bugs"] = await self.remote.call("bugs")
        r["seconds"] = round(time.monotonic() - self.started, 1)
        r["loadavg_end"] = os.getloadavg()
        return r


async def amain(args) -> int:
    profile = QUICK if args.quick else FULL
    if args.cap_mib or args.cap_size_mib:
        profile = replace(profile, cap=int((args.cap_mib or profile.cap / MIB) * MIB),
                          cap_size=int((args.cap_size_mib or profile.cap_size / MIB) * MIB))
    phases = tuple(args.phases.split(",")) if args.phases else PHASES
    unknown = set(phases) - set(PHASES)
    if unknown:
        print(f"--phases: unknown {', '.join(sorted(unknown))} (choose from {', '.join(PHASES)})", file=sys.stderr)
        return 2
    options = Options(prefetch=args.prefetch or int(DEFAULTS["STREAM_PREFETCH"]),
                      media_connections=args.media_connections or int(DEFAULTS["MEDIA_CONNECTIONS"]),
                      memory_mb=args.memory_mb or int(DEFAULTS["STREAM_MEMORY_MB"]), phases=phases)
    with tempfile.TemporaryDirectory(prefix="filestream-bench-") as tmp:
        bench = Bench(profile, Path(tmp), options)
        try:
            async with asyncio.timeout(args.timeout or (200 if args.quick else 900)):
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
    checked = targets(results)
    results["targets"] = [{"target": name, "measured": value, "reference": reference, "met": ok}
                          for name, value, reference, ok in checked]
    print(table)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(f"\nresults written to {out}", file=sys.stderr)
    if args.write_readme:
        for path in write_readmes(results, BENCH_DIR.parent):
            print(f"table written to {path}", file=sys.stderr)
    missed = [name for name, _value, _reference, ok in checked if ok is False]
    if args.check and missed:
        print(f"targets missed: {'; '.join(missed)}", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small files, one run each (about a minute)")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument("--out", default=str(BENCH_DIR / "out" / "results.json"), help="JSON results file")
    parser.add_argument("--write-readme", action="store_true",
                        help="put the tables into bench/README.md and the summary into docs/benchmark.md")
    parser.add_argument("--prefetch", type=int, help="STREAM_PREFETCH for the service (default: the service's)")
    parser.add_argument("--media-connections", type=int, help="MEDIA_CONNECTIONS (default: the service's)")
    parser.add_argument("--memory-mb", type=int, help="STREAM_MEMORY_MB (default: the service's)")
    parser.add_argument("--phases", help=f"comma-separated subset of {','.join(PHASES)} (default: all)")
    parser.add_argument("--cap-mib", type=float, help="bandwidth cap C in MiB/s (default: 8)")
    parser.add_argument("--cap-size-mib", type=int, help="file size for the cap phases in MiB (default: 64)")
    parser.add_argument("--timeout", type=float, help="give up after this many seconds")
    args = parser.parse_args(argv)
    return run(amain(args))


if __name__ == "__main__":
    sys.exit(main())
