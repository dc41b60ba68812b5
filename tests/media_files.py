"""Tiny videos made at run time with the system ffmpeg (the one the service uses): Matroska with
AC-3 and SubRip, two audio languages, HEVC, an MP4 with its .srt, and damaged ones."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

FFMPEG = shutil.which("ffmpeg")

# Small and short, so the browser tests run in seconds on 2 shared cores; a keyframe every
# second so a seek lands near where it was asked.
SIZE, RATE = "160x90", 10

FIRST_CUE, SECOND_CUE = "Hello from the first subtitle", "And a second one"
SRT = f"""1
00:00:00,200 --> 00:00:02,500
{FIRST_CUE}

2
00:00:03,000 --> 00:00:05,500
{SECOND_CUE}
"""


def ffmpeg(*args: str) -> None:
    subprocess.run([FFMPEG, "-hide_banner", "-loglevel", "error", "-y", *args], check=True, timeout=120)


def _picture(seconds: int) -> list[str]:
    return ["-f", "lavfi", "-i", f"testsrc2=size={SIZE}:rate={RATE}:duration={seconds}"]


def _tone(seconds: int, frequency: int) -> list[str]:
    return ["-f", "lavfi", "-i", f"sine=frequency={frequency}:sample_rate=48000:duration={seconds}"]


def mkv_h264_ac3_subrip(folder: Path, seconds: int = 8) -> bytes:
    """H.264 + AC-3 + a SubRip track (English) in Matroska."""
    srt = folder / "cues.srt"
    srt.write_text(SRT)
    path = folder / "film.mkv"
    ffmpeg(*_picture(seconds), *_tone(seconds, 440), "-i", str(srt), "-map", "0", "-map", "1", "-map", "2",
           "-c:v", "libx264", "-preset", "ultrafast", "-g", str(RATE), "-c:a", "ac3", "-b:a", "96k",
           "-c:s", "srt", "-metadata:s:s:0", "language=eng", str(path))
    return path.read_bytes()


def mkv_noisy(folder: Path, seconds: int = 10) -> bytes:
    """H.264 + AC-3, noisy so it is large (~10 MB): more than pipes and sockets hold, so a
    viewer who stops reading keeps its conversion waiting."""
    path = folder / "noisy.mkv"
    ffmpeg("-f", "lavfi", "-i", f"testsrc2=size=480x270:rate=25:duration={seconds},noise=alls=40:allf=t",
           *_tone(seconds, 440), "-c:v", "libx264", "-preset", "ultrafast", "-b:v", "8M", "-g", "25",
           "-c:a", "ac3", "-b:a", "96k", str(path))
    return path.read_bytes()


def mkv_two_languages(folder: Path, seconds: int = 6) -> bytes:
    """H.264 with two AC-3 tracks: English "Main" (440 Hz) and French (660 Hz)."""
    path = folder / "languages.mkv"
    ffmpeg(*_picture(seconds), *_tone(seconds, 440), *_tone(seconds, 660), "-map", "0", "-map", "1", "-map", "2",
           "-c:v", "libx264", "-preset", "ultrafast", "-g", str(RATE), "-c:a", "ac3", "-b:a", "96k",
           "-metadata:s:a:0", "language=eng", "-metadata:s:a:0", "title=Main",
           "-metadata:s:a:1", "language=fre", str(path))
    return path.read_bytes()


def mp4_h264_aac(folder: Path, seconds: int = 6) -> bytes:
    path = folder / "movie.mp4"
    ffmpeg(*_picture(seconds), *_tone(seconds, 440), "-c:v", "libx264", "-preset", "ultrafast", "-g", str(RATE),
           "-c:a", "aac", "-b:a", "64k", "-movflags", "+faststart", str(path))
    return path.read_bytes()


def hevc_mp4(folder: Path, seconds: int = 3) -> bytes:
    path = folder / "hevc.mp4"
    ffmpeg(*_picture(seconds), *_tone(seconds, 440), "-c:v", "libx265", "-preset", "ultrafast",
           "-x265-params", "log-level=error", "-tag:v", "hvc1", "-c:a", "aac", "-b:a", "64k", str(path))
    return path.read_bytes()


def matroska_with_absurd_sizes() -> bytes:
    """An EBML header, then a Segment and a Cluster claiming sizes of petabytes, then junk."""
    ebml = bytes.fromhex("1A45DFA3") + bytes([0x80 | 35]) + bytes.fromhex(
        "4286 81 01 42F7 81 01 42F2 81 04 42F3 81 08 4282 88") + b"matroska" + bytes.fromhex("4287 81 04 4285 81 02")
    segment = bytes.fromhex("18538067") + bytes.fromhex("01FFFFFFFFFFFFFE")
    tracks = bytes.fromhex("1654AE6B") + bytes.fromhex("01FFFFFFFFFFFF00")
    cluster = bytes.fromhex("1F43B675") + bytes.fromhex("01FFFFFFFFFFFFF0")
    return ebml + segment + tracks + cluster + bytes(range(256)) * 64
