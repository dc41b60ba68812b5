"""Sizes, durations, Telegram-HTML escaping and link URLs."""

from datetime import datetime, timedelta, timezone
from urllib.parse import unquote, urlsplit

import pytest

from FileStream.core.formatting import (
    download_url, escape_html, human_duration, human_size, stream_url, time_left, watch_url,
)

TOKEN = "A" * 48


@pytest.mark.parametrize("size, text", [
    (0, "0 B"), (1, "1 B"), (1023, "1023 B"), (1024, "1.0 KiB"), (1536, "1.5 KiB"),
    (10 * 1024 * 1024, "10.0 MiB"), (1024 * 1024 - 1, "1.0 MiB"), (2 * 1024**3, "2.0 GiB"),
    (4 * 1024**3 - 1, "4.0 GiB"), (5 * 1024**4, "5.0 TiB"), (3 * 1024**5, "3072.0 TiB"),
])
def test_human_size(size, text):
    assert human_size(size) == text


@pytest.mark.parametrize("seconds, text", [
    (0, "0 s"), (45, "45 s"), (60, "1 min"), (59 * 60 + 59, "59 min"), (3600, "1 h"),
    (3900, "1 h 5 min"), (86400, "1 day"), (86400 + 3 * 3600 + 59, "1 day 3 h"), (2 * 86400, "2 days"),
    (-5, "0 s"),
])
def test_human_duration(seconds, text):
    assert human_duration(seconds) == text
    assert human_duration(timedelta(seconds=seconds)) == text


def test_time_left():
    now = datetime(2026, 11, 22, tzinfo=timezone.utc)
    assert time_left(None, now) == "never expires"
    assert time_left(now, now) == "expired"
    assert time_left(now - timedelta(hours=1), now) == "expired"
    assert time_left(now + timedelta(minutes=65), now) == "1 h 5 min"


def test_escape_html():
    assert escape_html('<b>"Tom & Jerry"</b>') == "&lt;b&gt;&quot;Tom &amp; Jerry&quot;&lt;/b&gt;"
    assert escape_html("&amp;") == "&amp;amp;"   # escaping is not idempotent: call it once


@pytest.mark.parametrize("name", [
    "movie.mp4", "My Movie (2026).mkv", "a/b\\c.mp4", "100% #1 ?x=y&z.mp4", "Фильм.mkv", "<script>.mp4", "🎬",
])
def test_urls_keep_the_name_in_one_path_segment(name):
    url = stream_url("https://files.example.org/", TOKEN, name)
    parts = urlsplit(url)
    assert parts.scheme == "https" and parts.netloc == "files.example.org"
    assert parts.query == "" and parts.fragment == ""
    segments = parts.path.split("/")
    assert segments[:3] == ["", "stream", TOKEN] and len(segments) == 4
    assert unquote(segments[3]) == name
    assert download_url("https://files.example.org", TOKEN, name) == url.replace("/stream/", "/dl/")


@pytest.mark.parametrize("name", ["", ".", "..", "  "])
def test_urls_never_end_in_dot_segments(name):
    assert stream_url("http://h", TOKEN, name) == f"http://h/stream/{TOKEN}/file"


def test_watch_url():
    assert watch_url("http://h:8080/", TOKEN) == f"http://h:8080/watch/{TOKEN}"
