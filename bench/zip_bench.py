"""Benchmark phase: a bundle's streamed ZIP against the same files downloaded one after another.

stream_bench.py calls `run_phase` once its service is up (at 0 ms round trip, no cap) and adds
`report` / `target` to its output. The phase needs only the bench's control connection to the
Telegram test server, its HTTP session and its `fetch` (a timed GET returning bytes, seconds
and errors): the person sends /bundle, the files and /done, the phase takes the ZIP link and the
files' download links from the bundle page, and times both ways, interleaved run by run.
"""

from __future__ import annotations

import re
import statistics

from _measure import seeded_sha256

MIB = 1 << 20
FILE_DC = 4
TARGET = 0.80   # the ZIP streams at least 80% as fast as the files one after another

FULL_SIZES = (24 * MIB, 8 * MIB + 4321, 16 * MIB, 12 * MIB - 7, 20 * MIB, 16 * MIB)
QUICK_SIZES = (2 * MIB, MIB + 4321, 3 * MIB - 7)
_DL_LINK = re.compile(r'href="([^"]+/dl/[^"]+)"')
SEED = 200  # file n of the bundle is SeededContent(size, SEED + n)


async def bundle_links(remote, sizes: tuple[int, ...], *, title: str = "Bench bundle", seed: int = SEED,
                       file_name: str = "part{n}.mp4", kind: str = "video", mime_type: str = "video/mp4",
                       edit_timeout: float = 60) -> tuple[str, str]:
    """The person makes a bundle of seeded files (file n is SeededContent(size, seed + n), named
    `file_name` with n filled in); its ZIP link and its page's link."""
    async def say(text: str) -> None:
        await remote.call("send_text", user="alice", bot="main", text=text)

    await say(f"/bundle {title}")
    status = await remote.call("next_message", user="alice", bot="main", timeout=30)
    for number, size in enumerate(sizes):
        await remote.call("send_file", user="alice", bot="main", size=size, seed=seed + number, dc_id=FILE_DC,
                          file_name=file_name.format(n=number), kind=kind, mime_type=mime_type)
    stored = f"{len(sizes)} of {len(sizes)} stored"
    text = status["text"]
    for _ in range(4 * len(sizes) + 4):   # the status message is edited, paced, until all are stored
        if stored in text:
            break
        text = (await remote.call("next_edit", user="alice", bot="main", timeout=edit_timeout))["text"]
    else:
        raise RuntimeError(f"the bundle never showed {stored!r}: {text!r}")
    await say("/done")
    reply = await remote.call("next_message", user="alice", bot="main", timeout=60)
    urls = {b["text"]: b["url"] for row in reply["buttons"] for b in row if b["url"]}
    if "Download all (ZIP)" not in urls:
        raise RuntimeError(f"/done gave no ZIP link: {reply['text']!r}")
    return urls["Download all (ZIP)"], urls["Open the bundle"]


async def run_phase(remote, http, fetch, *, quick: bool, runs: int = 3) -> dict:
    """Median MiB/s of the whole ZIP and of the same files fetched one after another."""
    sizes = QUICK_SIZES if quick else FULL_SIZES
    zip_url, page_url = await bundle_links(remote, sizes)
    async with http.get(page_url) as response:
        files = _DL_LINK.findall(await response.text())
    if len(files) != len(sizes):
        raise RuntimeError(f"the bundle page lists {len(files)} download links, not {len(sizes)}")
    total = sum(sizes)

    async def whole(url: str, want: int | None = None, seed: int | None = None) -> float:
        result = await fetch(http, url)
        if result.error or result.status != 200 or (want is not None and result.nbytes != want):
            raise RuntimeError(f"download of {url} failed: {result}")
        if seed is not None and getattr(result, "sha256", None) not in (None, seeded_sha256(want, seed)):
            raise RuntimeError(f"download of {url}: sha256 differs from the file's")
        return result.seconds

    await whole(files[0], sizes[0], SEED)   # untimed warm-up: media sessions on the files' DC
    zip_speeds, one_by_one = [], []
    zip_size = 0
    for _ in range(1 if quick else runs):   # interleaved, so a busy moment of the machine hits both
        result = await fetch(http, zip_url)
        if result.error or result.status != 200:
            raise RuntimeError(f"ZIP download failed: {result}")
        zip_size = result.nbytes
        zip_speeds.append(result.nbytes / MIB / result.seconds)
        seconds = 0.0
        for number, (url, size) in enumerate(zip(files, sizes)):
            seconds += await whole(url, size, SEED + number)
        one_by_one.append(total / MIB / seconds)
    zip_mibps, files_mibps = statistics.median(zip_speeds), statistics.median(one_by_one)
    return {"files": len(sizes), "total_mib": round(total / MIB, 1), "zip_mib": round(zip_size / MIB, 1),
            "zip_mibps": round(zip_mibps, 1), "one_by_one_mibps": round(files_mibps, 1),
            "ratio": round(zip_mibps / files_mibps, 3), "runs": {"zip": zip_speeds, "one_by_one": one_by_one}}


def report(results: dict) -> list[str]:
    """Markdown lines for the bench's output."""
    z = results.get("bundle_zip")
    if not z:
        return []
    return ["", f"Bundle of {z['files']} files ({z['total_mib']} MiB; the ZIP is {z['zip_mib']} MiB), "
            "one stream at a time, 0 ms RTT:", "",
            "| download | MiB/s |", "|---|---:|",
            f"| whole bundle as one streamed ZIP | {z['zip_mibps']} |",
            f"| the same files one after another | {z['one_by_one_mibps']} |",
            f"| ZIP / one after another | {z['ratio']:.0%} |"]


def target(results: dict) -> tuple[str, str, bool] | None:
    z = results.get("bundle_zip")
    if not z:
        return None
    return (f"bundle ZIP ≥ {TARGET:.0%} of the files one after another", f"{z['ratio']:.0%}", z["ratio"] >= TARGET)
