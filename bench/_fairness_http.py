"""Benchmark phase: normal downloads with and without 150 stalled readers (time to first byte, throughput, RSS).

stream_bench.py calls `run_phase` once its service is up (0 ms round trip, no cap) and adds
`report` / `targets` to its output. A stalled reader asks for the file on a raw socket with a
4 KiB receive buffer and never reads (TCP zero window), as the readers of issue 18 did. Each
comes from an address of its own (127.0.1.n), so STREAMS_PER_IP does not turn them away: the
phase measures what holds when one limit per address is not enough (many addresses, or a
limit set high). The normal downloads come from 127.0.0.2, all at once, and are checked by
sha256; the quiet run comes first, then the same downloads while every stalled reader is
blocked in its write (the service says so in /metrics), within STALL_TIMEOUT of their start.
"""

from __future__ import annotations

import asyncio
import socket
import statistics
import time
from urllib.parse import urlsplit

import aiohttp
from _measure import MIB, RssWatch, fetch, seeded_sha256

FILE_DC = 4
SEED = 300
DOWNLOADS = 10
STALLED = 150
TTFB_FACTOR = 2.0   # target: TTFB under the stalled readers ≤ this × the quiet figure
RSS_SLACK_MIB = 40  # target: RSS growth ≤ STREAM_MEMORY_MB + this
NORMAL_SOURCE = "127.0.0.2"


def _stalled_source(n: int) -> str:
    return f"127.0.1.{n % 250 + 1}" if n < 250 else f"127.0.2.{n % 250 + 1}"


async def _open_stalled(url: str, source: str) -> socket.socket:
    parts = urlsplit(url)
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.bind((source, 0))
    sock.setblocking(False)
    loop = asyncio.get_running_loop()
    await loop.sock_connect(sock, (parts.hostname, parts.port))
    await loop.sock_sendall(sock, f"GET {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\n\r\n".encode())
    return sock


async def _until(read, predicate, timeout: float, what: str) -> float:
    deadline = time.monotonic() + timeout
    while True:
        value = await read()
        if predicate(value):
            return value
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what}: still {value} after {timeout:.0f} s")
        await asyncio.sleep(0.05)


async def _downloads(url: str, size: int) -> dict:
    """DOWNLOADS downloads of the whole file at once from NORMAL_SOURCE; each checked by sha256."""
    connector = aiohttp.TCPConnector(limit=0, local_addr=(NORMAL_SOURCE, 0), force_close=True)
    async with aiohttp.ClientSession(connector=connector, auto_decompress=False, read_bufsize=1 << 20,
                                     timeout=aiohttp.ClientTimeout(total=None, sock_read=60)) as http:
        began = time.perf_counter()
        results = await asyncio.gather(*(fetch(http, url) for _ in range(DOWNLOADS)))
        seconds = time.perf_counter() - began
    expected = seeded_sha256(size, SEED)
    bad = [r for r in results if r.error or r.status != 200 or r.nbytes != size or r.sha256 != expected]
    if bad:
        raise RuntimeError(f"{len(bad)} of {DOWNLOADS} normal downloads failed or differ: {bad[0]}")
    ttfbs = [r.ttfb * 1000 for r in results]
    return {"ttfb_median_ms": round(statistics.median(ttfbs), 1), "ttfb_worst_ms": round(max(ttfbs), 1),
            "mibps_each": round(statistics.median(r.mibps for r in results), 1),
            "aggregate_mibps": round(DOWNLOADS * size / MIB / seconds, 1), "seconds": round(seconds, 2),
            "runs": {"ttfb_ms": ttfbs, "mibps": [r.mibps for r in results]}}


async def run_phase(bench, *, quick: bool) -> dict:
    """Quiet downloads, then the same under STALLED stalled readers; RSS of the service meanwhile."""
    size = 4 * MIB if quick else 16 * MIB
    stalled_count = 40 if quick else STALLED
    url = await bench.send("fair-http", size, SEED, FILE_DC)
    await _downloads(url, size)                      # untimed warm-up
    quiet = await _downloads(url, size)
    sockets: list[socket.socket] = []
    try:
        async with RssWatch(bench.service.pid) as watch:
            began = time.monotonic()
            # Ten at a time, each ten answered before the next: the readers, not the database, are the load.
            while len(sockets) < stalled_count:
                sockets += [await _open_stalled(url, _stalled_source(len(sockets) + n)) for n in range(10)]
                await _until(lambda: bench.gauge("active_streams"), lambda v: v >= len(sockets), 30,
                             "stalled readers streaming")
            await _until(lambda: bench.gauge("streams_blocked"), lambda v: v >= stalled_count, 45,
                         "stalled readers blocked in their writes")
            setup = time.monotonic() - began
            used_blocked = await bench.gauge("stream_memory_used_bytes") / MIB
            loaded = await _downloads(url, size)
            cut_meanwhile = await bench.gauge("streams_stalled_cut")
    finally:
        for sock in sockets:
            sock.close()
    return {"file_mib": size / MIB, "stalled": stalled_count, "downloads": DOWNLOADS, "quiet": quiet,
            "stalled_run": loaded, "setup_seconds": round(setup, 1), "cut_meanwhile": int(cut_meanwhile),
            "memory_held_by_stalled_mib": round(used_blocked, 1), "budget_mib": bench.o.memory_mb,
            "rss_before_mib": round(watch.before / MIB, 1), "rss_peak_mib": round(watch.peak / MIB, 1),
            "rss_growth_mib": round(watch.growth / MIB, 1)}


def report(results: dict) -> list[str]:
    """Markdown lines for the bench's output."""
    f = results.get("fair_http")
    if not f:
        return []
    q, s = f["quiet"], f["stalled_run"]
    return ["", f"{f['downloads']} downloads of {f['file_mib']:g} MiB at once from one address, quiet and while "
            f"{f['stalled']} readers from other addresses hold a request for the same file and read nothing "
            f"(all blocked in their writes after {f['setup_seconds']} s; they held "
            f"{f['memory_held_by_stalled_mib']} MiB of stream memory):", "",
            "| run | TTFB median | TTFB worst | MiB/s each (median) | MiB/s together |", "|---|---:|---:|---:|---:|",
            f"| quiet | {q['ttfb_median_ms']} ms | {q['ttfb_worst_ms']} ms | {q['mibps_each']} | {q['aggregate_mibps']} |",
            f"| {f['stalled']} stalled readers | {s['ttfb_median_ms']} ms | {s['ttfb_worst_ms']} ms | {s['mibps_each']} "
            f"| {s['aggregate_mibps']} |",
            f"| RSS of the service with them | {f['rss_before_mib']} → {f['rss_peak_mib']} MiB "
            f"(+{f['rss_growth_mib']}) | | | |"]


def targets(results: dict) -> list[tuple[str, str, str, bool]]:
    f = results.get("fair_http")
    if not f:
        return []
    q, s = f["quiet"], f["stalled_run"]
    bound = f["budget_mib"] + RSS_SLACK_MIB
    return [
        (f"TTFB of {f['downloads']} downloads under {f['stalled']} stalled readers ≤ {TTFB_FACTOR:g}× the quiet figure",
         f"{s['ttfb_median_ms']} ms median, {s['ttfb_worst_ms']} ms worst",
         f"quiet: {q['ttfb_median_ms']} ms median, {q['ttfb_worst_ms']} ms worst",
         s["ttfb_median_ms"] <= TTFB_FACTOR * q["ttfb_median_ms"]),
        (f"RSS growth with {f['stalled']} stalled readers ≤ budget + {RSS_SLACK_MIB} MiB",
         f"+{f['rss_growth_mib']} MiB (peak {f['rss_peak_mib']} MiB)",
         f"bound {bound} MiB (STREAM_MEMORY_MB {f['budget_mib']})", f["rss_growth_mib"] <= bound),
    ]
