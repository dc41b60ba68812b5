"""Subtitles beside a video in its album, and WebVTT cues moved to a remux that starts later."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from FileStream.core.subtitles import is_subtitle_name, shift_webvtt, sidecar_subtitles


def test_movie_srt_belongs_to_movie_mp4_and_a_language_after_the_name_becomes_its_label():
    others = [("movie.srt", 1), ("Movie.en.srt", 2), ("movie.English.ass", 3), ("other.srt", 4),
              ("movie.mp3", 5), ("movie.part.two.srt", 6)]
    assert sidecar_subtitles("movie.mp4", others) == [("", 1), ("en", 2), ("English", 3)]
    assert sidecar_subtitles("", others) == []
    assert is_subtitle_name("a.VTT") and not is_subtitle_name("srt")


VTT = """WEBVTT

00:00:01.000 --> 00:00:02.000
gone before the start

00:00:09.500 --> 00:00:11.000 line:80%
under way at the start

01:00:20.250 --> 01:00:21.000
an hour in
"""


def test_cues_move_earlier_by_the_offset_those_ended_are_dropped_and_those_under_way_start_at_zero():
    shifted = shift_webvtt(VTT, 10)
    assert "gone before" not in shifted
    assert "00:00:00.000 --> 00:00:01.000 line:80%\nunder way at the start" in shifted
    assert "01:00:10.250 --> 01:00:11.000\nan hour in" in shifted
    assert shifted.startswith("WEBVTT")
    assert shift_webvtt(VTT, 0) == VTT


STAMP = re.compile(r"(\d+):(\d{2}):(\d{2})\.(\d{3})")


@given(st.lists(st.tuples(st.integers(0, 10**7), st.integers(1, 10**5)), max_size=20),
       st.floats(min_value=0.001, max_value=20000, allow_nan=False))
def test_shifted_cues_never_start_before_zero_nor_end_before_they_start(cues, offset):
    def stamp(ms):
        return f"{ms // 3600000:02d}:{ms // 60000 % 60:02d}:{ms // 1000 % 60:02d}.{ms % 1000:03d}"
    text = "WEBVTT\n\n" + "\n\n".join(f"{stamp(s)} --> {stamp(s + d)}\ncue {n}" for n, (s, d) in enumerate(cues))
    shifted = shift_webvtt(text, offset)
    kept = [n for n, (s, d) in enumerate(cues) if (s + d) / 1000 - offset > 0]
    assert re.findall(r"cue (\d+)", shifted) == [str(n) for n in kept]
    for line in shifted.splitlines():
        if "-->" in line:
            start, end = (int(h) * 3600 + int(m) * 60 + int(s) + int(ms) / 1000 for h, m, s, ms in STAMP.findall(line))
            assert 0 <= start <= end
