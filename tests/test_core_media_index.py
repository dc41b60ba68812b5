"""Keyframe times read from a container's own index (Matroska Cues, MP4 stss) agree with what
FFmpeg finds by decoding; damaged or hostile bytes give no index, never an exception."""

from __future__ import annotations

import subprocess

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from FileStream.core import media_index
from media_files import FFMPEG, ffmpeg

pytestmark = pytest.mark.skipif(FFMPEG is None, reason="ffmpeg is not installed (Debian package 'ffmpeg')")


def keyframes_by_decoding(path) -> list[float]:
    out = subprocess.run([FFMPEG.replace("ffmpeg", "ffprobe"), "-v", "error", "-select_streams", "v", "-skip_frame",
                          "nokey", "-show_entries", "frame=pts_time", "-of", "csv=p=0", str(path)],
                         capture_output=True, text=True, check=True).stdout
    return [float(line.strip(",")) for line in out.split()]


def matroska_index(data: bytes) -> list[float]:
    layout = media_index.matroska_layout(data[:65536])
    assert layout is not None and layout.cues_at is not None
    _kind, body, size = media_index.element_header(data[layout.cues_at:layout.cues_at + 12])
    return media_index.matroska_cue_times(data[layout.cues_at:layout.cues_at + body + size], layout)


def mp4_index(data: bytes) -> list[float] | None:
    offset = 0
    while offset < len(data):
        kind, body, end = media_index.mp4_box(data[offset:offset + 16], offset, len(data))
        if kind == b"moov":
            return media_index.mp4_keyframe_times(data[body:end])
        offset = end
    return None


def test_the_cues_of_a_matroska_film_name_its_keyframes(tmp_path):
    path = tmp_path / "film.mkv"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=160x90:rate=10:duration=12", "-c:v", "libx264", "-preset",
           "ultrafast", "-g", "15", str(path))
    assert matroska_index(path.read_bytes()) == pytest.approx(keyframes_by_decoding(path), abs=0.002)


@pytest.mark.parametrize("moov_first", [True, False], ids=["moov at the start", "moov at the end"])
def test_the_sync_samples_of_an_mp4_with_b_frames_name_its_keyframes(tmp_path, moov_first):
    path = tmp_path / "film.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=160x90:rate=25:duration=10", "-c:v", "libx264", "-g", "30",
           "-bf", "2", *(["-movflags", "+faststart"] if moov_first else []), str(path))
    found = mp4_index(path.read_bytes())
    assert found == pytest.approx(keyframes_by_decoding(path), abs=0.002) and len(found) == 9


def test_a_seek_starts_at_the_keyframe_at_or_before_it():
    keyframes = [0.0, 2.0, 4.0, 6.0]
    assert [media_index.keyframe_at(keyframes, t) for t in (0, 1.99, 2.0, 5.5, 100)] == [0, 0, 2, 4, 6]
    assert media_index.keyframe_at([], 5) == 0


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=4096), st.integers(0, 64))
def test_damaged_bytes_give_no_index_and_never_an_exception(data, cut):
    header = bytes.fromhex("1A45DFA3 84 42868101 18538067 01FFFFFFFFFFFFFF")
    layout = media_index.matroska_layout(header + data)
    if layout is not None:
        media_index.matroska_cue_times(data[cut:], layout)
    box = media_index.mp4_box(data[:16], 0, len(data))
    media_index.mp4_keyframe_times(data)
    media_index.mp4_keyframe_times(b"\x00\x00\x00\x40trak" + data)
    assert box is None or box[2] <= len(data)
