"""Remux benchmark: which FFmpeg to run (the `ffmpeg` command or PyAV), what a remux costs, and how
soon a seek plays at 50 ms round trip. Prints markdown tables; targets are printed, not asserted.

    .venv/bin/python bench/remux_bench.py                 # everything (about 2 minutes)
    .venv/bin/python bench/remux_bench.py --tools-only    # only the ffmpeg-versus-PyAV table
    PYTHONPATH=/path/to/av bench/remux_bench.py           # PyAV from a folder (pip install --target)

1. Tools: CPU seconds per minute of video remuxed to fragmented MP4 by the `ffmpeg` command
   and by PyAV in a child process (the same work: video copied; audio copied, or AC-3
   decoded and encoded to AAC), from a local file.
2. The service (bench/run_service.py against bench/tg_server.py, as stream_bench.py runs them)
   with a 60 s H.264 + AC-3 Matroska film stored in Telegram:
   - CPU of one remux in real time: the film's /play read whole, the service's own CPU and
     its FFmpeg children's, per second of film;
   - time to first frame after a seek at 50 ms round trip, in headless Chromium: the person
     drags the jump bar; from the drag to the first frame painted at the new place (median).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))
from _common import add_paths  # noqa: E402

add_paths()

FILM_SECONDS = 60
FRAGMENTED = ["-f", "mp4", "-movflags", "frag_keyframe+empty_moov+default_base_moof", "-frag_duration", "500000"]

PYAV_REMUX = r"""
import sys, av
source, mode = sys.argv[1], sys.argv[2]
inp = av.open(source)
out = av.open(sys.stdout.buffer, "w", format="mp4",
              options={"movflags": "frag_keyframe+empty_moov+default_base_moof", "frag_duration": "500000"})
vin, ain = inp.streams.video[0], inp.streams.audio[0]
vout = out.add_stream_from_template(vin)
aout = out.add_stream_from_template(ain) if mode == "copy" else out.add_stream("aac", rate=ain.rate, layout="stereo")
for packet in inp.demux(vin, ain):
    if packet.dts is None:
        continue
    if packet.stream is vin or mode == "copy":
        packet.stream = vout if packet.stream is vin else aout
        out.mux(packet)
    else:
        for frame in packet.decode():
            for encoded in aout.encode(frame):
                out.mux(encoded)
if mode != "copy":
    for encoded in aout.encode(None):
        out.mux(encoded)
out.close()
"""


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", *args], check=True)


def make_films(folder: Path) -> dict[str, Path]:
    """640x360 H.264 at 25 fps, a keyframe every 2 s, with AC-3 (and the same with AAC), 60 s."""
    ac3 = folder / "film-ac3.mkv"
    ffmpeg("-f", "lavfi", "-i", f"testsrc2=size=640x360:rate=25:duration={FILM_SECONDS}",
           "-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={FILM_SECONDS}",
           "-c:v", "libx264", "-preset", "veryfast", "-b:v", "1M", "-g", "50",
           "-c:a", "ac3", "-b:a", "192k", "-ac", "2", str(ac3))
    aac = folder / "film-aac.mkv"
    ffmpeg("-i", str(ac3), "-c:v", "copy", "-c:a", "aac", "-b:a", "160k", str(aac))
    return {"ac3": ac3, "aac": aac}


def child_cpu(argv: list[str], env: dict | None = None) -> tuple[float, int]:
    """CPU seconds (user + system) of one child run to its end, and its output size."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), len(done.stdout)


def tools_table(films: dict[str, Path], runs: int = 3) -> tuple[str, dict]:
    cases = {"copy video + copy audio (H.264 + AAC)": (films["aac"], "copy"),
             "copy video + AC-3 → AAC (H.264 + AC-3)": (films["ac3"], "aac")}
    try:
        import av  # noqa: F401
        pyav = True
    except ImportError:
        pyav = False
    rows, numbers = [], {}
    for name, (film, mode) in cases.items():
        audio = ["-c:a", "copy"] if mode == "copy" else ["-c:a", "aac", "-b:a", "160k", "-ac", "2"]
        command = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-threads", "1", "-i", str(film),
                   "-map", "0:v:0", "-map", "0:a:0", "-c:v", "copy", *audio, *FRAGMENTED, "pipe:1"]
        ours = statistics.median(child_cpu(command)[0] for _ in range(runs))
        theirs = None
        if pyav:
            env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
            theirs = statistics.median(child_cpu([sys.executable, "-c", PYAV_REMUX, str(film), mode], env)[0]
                                       for _ in range(runs))
        numbers[name] = {"ffmpeg": ours, "pyav": theirs}
        per_minute = 60 / FILM_SECONDS
        rows.append(f"| {name} | {ours * per_minute:.2f} s ({ours / FILM_SECONDS:.1%} of a core) | "
                    + (f"{theirs * per_minute:.2f} s ({theirs / FILM_SECONDS:.1%} of a core)" if theirs is not None
                       else "not installed") + " |")
    table = "\n".join(["| remux of 1 min of 640x360 video to fragmented MP4 | `ffmpeg` command (Debian) | PyAV in a child |",
                       "|---|---|---|", *rows])
    return table, numbers


# ---------------------------------------------------------------------------------- service
SEEK_FIRST_FRAME = """async (share) => {
  const video = document.querySelector('video');
  const seek = document.querySelector('.seek');
  const target = parseFloat(seek.max) * share;
  const before = video.currentSrc;
  const began = performance.now();
  seek.value = target;
  seek.dispatchEvent(new Event('input'));
  seek.dispatchEvent(new Event('change'));
  while (video.currentSrc === before) await new Promise(resolve => setTimeout(resolve, 5));
  const asked = performance.now() - began;
  const frame = await new Promise(resolve => video.requestVideoFrameCallback((now, meta) => resolve(meta.mediaTime)));
  return {ms: performance.now() - began, asked, frame, at: video.filestream.position(), target};
}"""

FIRST_PLAY = """async () => {
  const video = document.querySelector('video');
  video.muted = true;
  await video.play();
  await new Promise(resolve => video.requestVideoFrameCallback(() => resolve()));
  return video.currentSrc;
}"""


def children_cpu(pid: int) -> float:
    """CPU seconds of a process's children that have ended (/proc/<pid>/stat cutime + cstime)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[13]) + int(fields[14])) / os.sysconf("SC_CLK_TCK")


async def service_tables(films: dict[str, Path], workdir: Path, rtt: float) -> tuple[str, dict]:
    import aiohttp
    from _measure import cpu_seconds
    from stream_bench import QUICK, Bench, Options

    bench = Bench(QUICK, workdir, Options(prefetch=32, media_connections=4, memory_mb=256, phases=()))
    numbers: dict = {}
    try:
        await bench.start()
        await bench.start_service(("one bot", 0))
        await bench.remote.call("send_file", user="alice", bot="main", path=str(films["ac3"]),
                                file_name="Film.mkv", kind="video", mime_type="video/x-matroska", dc_id=4)
        watch = None
        for n in range(8):
            reply = await bench.remote.call("next_message" if n == 0 else "next_edit", user="alice", bot="main",
                                            timeout=30)
            urls = [b["url"] for row in reply["buttons"] for b in row if b["url"] and "/watch/" in b["url"]]
            if urls:
                watch = urls[0]
                break
        assert watch is not None, "the bot sent no watch link"
        async with aiohttp.ClientSession() as http:
            async with http.get(watch) as page:   # the first view probes the film
                assert page.status == 200 and 'data-mode="remux"' in await page.text()
            play = watch.replace("/watch/", "/play/")
            await bench.faults(latency=0)
            pid = bench.service.pid
            own, kids, began = cpu_seconds(pid), children_cpu(pid), time.perf_counter()
            size = 0
            async with http.get(play) as body:
                async for chunk in body.content.iter_chunked(1 << 16):
                    size += len(chunk)
            wall = time.perf_counter() - began
            await asyncio.sleep(0.5)   # the child is reaped
            numbers["remux"] = {"service_cpu": cpu_seconds(pid) - own, "ffmpeg_cpu": children_cpu(pid) - kids,
                                "wall": wall, "bytes": size}
        await bench.faults(latency=rtt)
        numbers["seeks"] = await _browser_seeks(watch)
        numbers["http_seeks"] = await _http_seeks(watch)
        numbers["machine_load"] = os.getloadavg()[0]
        await bench.faults(latency=0)
    finally:
        await bench.close()
    remux, seeks = numbers["remux"], numbers["seeks"]
    per_second = (remux["service_cpu"] + remux["ffmpeg_cpu"]) / FILM_SECONDS
    first_frames = [s["ms"] for s in seeks]
    fragments = [s["first_fragment_ms"] for s in numbers["http_seeks"]]
    answers = [s["start_ms"] for s in numbers["http_seeks"]]
    numbers["targets"] = {
        "first_frame_ms": statistics.median(first_frames),
        "core_share": per_second,
    }
    table = "\n".join([
        "| measure | result | target | met |", "|---|---|---|---|",
        f"| time to first frame after a seek, {rtt * 1000:.0f} ms RTT (median of {len(first_frames)}, Chromium) | "
        f"{statistics.median(first_frames):.0f} ms (all: {', '.join(f'{m:.0f}' for m in first_frames)}) | ≤ 2000 ms | "
        f"{'yes' if statistics.median(first_frames) <= 2000 else 'no'} |",
        f"| of which the server: /play/start (keyframe from the index) | {statistics.median(answers):.0f} ms | – | – |",
        f"| of which the server: /play/start, then /play to its first fragment (moov + moof + mdat) | "
        f"{statistics.median(fragments):.0f} ms | – | – |",
        f"| machine load while measured (1-minute load average, {os.cpu_count()} cores) | "
        f"{numbers['machine_load']:.1f} | – | – |",
        f"| H.264 + AC-3 remux, CPU per second of film (service {remux['service_cpu']:.2f} s + FFmpeg "
        f"{remux['ffmpeg_cpu']:.2f} s for {FILM_SECONDS} s; read at full speed in {remux['wall']:.1f} s) | "
        f"{per_second:.1%} of one core | ≤ 10% | {'yes' if per_second <= 0.10 else 'no'} |",
    ])
    return table, numbers


async def _http_seeks(watch: str) -> list[dict]:
    """The server's part of a seek: /play/start, then /play from there until its first fragment
    with a picture (the first moof after the moov), as a player without a browser sees it."""
    import aiohttp

    play = watch.replace("/watch/", "/play/")
    found = []
    async with aiohttp.ClientSession() as http:
        for share in (0.3, 0.45, 0.6, 0.75, 0.9):
            began = time.perf_counter()
            async with http.get(f"{play}/start?t={FILM_SECONDS * share:.3f}") as answer:
                start = (await answer.json())["start"]
            asked = time.perf_counter() - began
            async with http.get(f"{play}?t={start}") as body:
                first = await body.content.readany()
                header = time.perf_counter() - began
                seen = first
                while b"mdat" not in seen:
                    seen += await body.content.readany()
            found.append({"start_ms": asked * 1000, "first_byte_ms": header * 1000,
                          "first_fragment_ms": (time.perf_counter() - began) * 1000})
    return found


async def _browser_seeks(watch: str) -> list[dict]:
    from playwright.async_api import async_playwright

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium, args=[
            "--no-sandbox", "--disable-gpu", "--autoplay-policy=no-user-gesture-required"])
        try:
            page = await browser.new_page()
            await page.goto(watch)
            await page.evaluate(FIRST_PLAY)
            return [await page.evaluate(SEEK_FIRST_FRAME, share) for share in (0.3, 0.45, 0.6, 0.75, 0.9)]
        finally:
            await browser.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tools-only", action="store_true", help="only compare the ffmpeg command with PyAV")
    parser.add_argument("--rtt", type=float, default=0.05, help="simulated round trip to Telegram, seconds")
    parser.add_argument("--json", type=Path, default=BENCH_DIR / "out" / "remux.json")
    args = parser.parse_args(argv)
    if shutil.which("ffmpeg") is None:
        print("ffmpeg is not installed (Debian: apt-get install ffmpeg)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="remux-bench-") as folder:
        films = make_films(Path(folder))
        table, numbers = tools_table(films)
        print("## ffmpeg command or PyAV\n\n" + table + "\n")
        results = {"tools": numbers}
        if not args.tools_only:
            from _common import run
            table, results["service"] = run(service_tables(films, Path(folder), args.rtt))
            print("## Remux through the service\n\n" + table + "\n")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
