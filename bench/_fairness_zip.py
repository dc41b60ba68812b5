"""Benchmark phase (fairness): what the end of a fresh bundle's ZIP costs in GetFile calls.

A ZIP reader's first request is the archive's last bytes (`Range: bytes=-22`, the
end-of-central-directory record). On a fresh bundle no CRC-32 is known yet; the phase
counts the GetFile calls the local Telegram answers for that request, and for a download
manager's segment that starts in the middle of a file and runs into the next one (the
file it starts inside is read once, from its first byte; the next only as far as asked).
Then it downloads the whole ZIP and checks the tail and the segment against it with an
independent reader (Python's zipfile).

stream_bench.py calls `run_phase` once its service is up, and adds `report` / `target`.
It needs the bench's control connection to the Telegram test server (`send_text`,
`send_file`, `next_message`, `next_edit`, `mark`, `count_calls`) and an HTTP session.
"""

from __future__ import annotations

import io
import struct
import zipfile

from zip_bench import bundle_links

MIB = 1 << 20
TARGET_CALLS = 2          # bytes=-22 on a fresh bundle: at most this many GetFile calls
SEED = 300                # file n of the bundle is SeededContent(size, SEED + n)
FULL_FILES, QUICK_FILES = 20, 5
FILE_SIZE = 2 * MIB + 4321


async def _get(http, url: str, **headers) -> tuple[int, bytes]:
    async with http.get(url, headers=headers) as response:
        return response.status, await response.read()


async def _calls_for(remote, http, url: str, **headers) -> tuple[int, bytes, int]:
    """Status, body and the GetFile calls Telegram answered while it was served."""
    await remote.call("mark")
    status, body = await _get(http, url, **headers)
    calls = sum((await remote.call("count_calls", method="upload.GetFile")).values())
    return status, body, calls


async def run_phase(remote, http, *, quick: bool) -> dict:
    count = QUICK_FILES if quick else FULL_FILES
    url, _page = await bundle_links(remote, (FILE_SIZE,) * count, title="Tail cost", seed=SEED,
                                    file_name="tail{n:03d}.bin", kind="document",
                                    mime_type="application/octet-stream", edit_timeout=120)
    tail_status, tail, tail_calls = await _calls_for(remote, http, url, Range="bytes=-22")
    signature, _disk, _cd_disk, _here, entries, cd_size, cd_offset, _comment = struct.unpack("<IHHHHIIH", tail)
    if tail_status != 206 or signature != 0x06054B50 or entries != count:
        raise RuntimeError(f"bytes=-22 answered {tail_status} with {tail!r}")
    size = cd_offset + cd_size + 22
    # The data of entry n starts after its local header (30 bytes + its 11-byte name) and the
    # entries before it (header, data, 16-byte descriptor each).
    middle = count // 2
    data_start = middle * (30 + 11 + FILE_SIZE + 16) + 30 + 11
    first, last = data_start + FILE_SIZE // 2, data_start + FILE_SIZE + 16 + 30 + 11 + 999
    segment_status, segment, segment_calls = await _calls_for(remote, http, url, Range=f"bytes={first}-{last}")
    if segment_status != 206 or len(segment) != last - first + 1:
        raise RuntimeError(f"the segment {first}-{last} answered {segment_status} with {len(segment)} bytes")
    status, whole = await _get(http, url)
    if status != 200 or len(whole) != size or whole[-22:] != tail or whole[first:last + 1] != segment:
        raise RuntimeError("the tail or the segment differ from the same bytes of the whole ZIP")
    with zipfile.ZipFile(io.BytesIO(whole)) as archive:
        if archive.testzip() is not None or len(archive.infolist()) != count:
            raise RuntimeError("zipfile does not read the whole ZIP back")
    blocks_per_file = -(-FILE_SIZE // MIB)
    return {"files": count, "file_mib": round(FILE_SIZE / MIB, 2), "tail_calls": tail_calls,
            "segment_calls": segment_calls, "segment_bound": blocks_per_file + 1,
            "segment_kib": round((last - first + 1) / 1024)}


def report(results: dict) -> list[str]:
    """Markdown lines for the bench's output."""
    z = results.get("fair_zip")
    if not z:
        return []
    return ["", f"ZIP tail cost: a fresh bundle of {z['files']} files of {z['file_mib']} MiB, GetFile calls per request:", "",
            "| request | GetFile calls | bound |", "|---|---:|---:|",
            f"| `Range: bytes=-22` (end of central directory) | {z['tail_calls']} | {TARGET_CALLS} |",
            f"| segment of {z['segment_kib']} KiB from the middle of a file into the next | {z['segment_calls']} "
            f"| {z['segment_bound']} (that file once + one block) |"]


def target(results: dict) -> tuple[str, str, str, bool] | None:
    z = results.get("fair_zip")
    if not z:
        return None
    return (f"ZIP tail (bytes=-22, fresh bundle) ≤ {TARGET_CALLS} GetFile calls", f"{z['tail_calls']} calls",
            f"a segment inside a file: {z['segment_calls']} (bound {z['segment_bound']})",
            z["tail_calls"] <= TARGET_CALLS)
