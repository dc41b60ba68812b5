"""The HTTP decision for a file request, case by case with RFC 9110 / 6266 / 8187 references."""

import re
from datetime import datetime, timedelta, timezone
from urllib.parse import unquote

import pytest

from FileStream.core.http_plan import (
    FileFacts, RequestFacts, cache_control, content_disposition, file_facts, http_date,
    parse_http_date, plan_response, strong_etag,
)
from FileStream.core.mime import effective_mime_type, is_inline_safe, player_kind
from FileStream.core.models import StoredFile
from FileStream.core.ranges import ByteWindow

NOW = datetime(2026, 11, 22, 12, 0, 0, tzinfo=timezone.utc)
UPLOADED = datetime(2026, 11, 20, 8, 30, 15, 123456, tzinfo=timezone.utc)
UPLOADED_HTTP = "Fri, 20 Nov 2026 08:30:15 GMT"
ETAG = '"AgADBAADxyz"'


def facts(size: int = 1000, **over) -> FileFacts:
    values = dict(size=size, etag=ETAG, last_modified=UPLOADED, content_type="video/mp4",
                  file_name="movie.mp4", disposition="inline")
    values.update(over)
    return FileFacts(**values)


def plan(request: RequestFacts | None = None, f: FileFacts | None = None, expires=NOW + timedelta(days=1)):
    return plan_response(request or RequestFacts(), f or facts(), now=NOW, link_expires_at=expires)


def stored(**over) -> StoredFile:
    values = dict(id="AAAAAAAAAAAAAAAA", file_name="movie.mp4", file_size=1000, mime_type="video/mp4",
                  file_unique_id="AgADBAADxyz", media_type="video", dc_id=4, storage_chat_id=-1001,
                  storage_message_id=7, created_at=UPLOADED, expires_at=None)
    values.update(over)
    return StoredFile(**values)


# ------------------------------------------------------------ status, window, framing headers

def test_full_get_is_200_with_exact_length_and_no_content_range():
    out = plan()
    assert out.status == 200
    assert out.window == ByteWindow(0, 999) and out.send_body
    h = out.headers
    assert h["Content-Length"] == "1000"
    assert "Content-Range" not in h                       # §14.4: only on 206/416
    assert h["Accept-Ranges"] == "bytes"                  # §14.3
    assert h["ETag"] == ETAG                              # §8.8.3
    assert h["Last-Modified"] == UPLOADED_HTTP            # §8.8.2, whole seconds
    assert h["Content-Type"] == "video/mp4"
    assert h["X-Content-Type-Options"] == "nosniff"
    assert h["Content-Disposition"].startswith("inline;")


def test_head_has_the_same_headers_as_get_and_no_body():
    # §9.3.2: HEAD answers what GET would, without content; Range is honoured on both.
    for rng in (None, "bytes=10-19", "bytes=5000-", "garbage"):
        get = plan(RequestFacts("GET", range=rng))
        head = plan(RequestFacts("HEAD", range=rng))
        assert (head.status, head.headers, head.window) == (get.status, get.headers, get.window)
        assert head.send_body is False


def test_single_range_is_206_with_content_range():
    out = plan(RequestFacts(range="bytes=10-19"))
    assert out.status == 206                              # §15.3.7
    assert out.window == ByteWindow(10, 19) and out.send_body
    assert out.headers["Content-Range"] == "bytes 10-19/1000"
    assert out.headers["Content-Length"] == "10"


@pytest.mark.parametrize("rng, start, end", [
    ("bytes=0-0", 0, 0), ("bytes=-1", 999, 999), ("bytes=990-", 990, 999), ("bytes=990-5000", 990, 999),
    ("bytes=-5000", 0, 999), ("bytes=0-", 0, 999),
])
def test_range_forms(rng, start, end):
    out = plan(RequestFacts(range=rng))
    assert out.status == 206 and out.window == ByteWindow(start, end)
    assert out.headers["Content-Range"] == f"bytes {start}-{end}/1000"
    assert out.headers["Content-Length"] == str(end - start + 1)


@pytest.mark.parametrize("rng", ["bytes=1000-", "bytes=1000-2000", "bytes=-0", "bytes=5000-5001,-0"])
def test_unsatisfiable_is_416_with_star_content_range(rng):
    out = plan(RequestFacts(range=rng))
    assert out.status == 416                              # §15.5.17
    assert out.headers["Content-Range"] == "bytes */1000"
    assert out.headers["Content-Length"] == "0"
    assert out.window is None and not out.send_body
    assert out.headers["Accept-Ranges"] == "bytes"


@pytest.mark.parametrize("rng", ["bytes=abc", "bytes=5-1", "chars=0-1", "bytes 0-1", "bytes="])
def test_malformed_range_is_ignored(rng):
    out = plan(RequestFacts(range=rng))                   # §14.2: ignore, send 200
    assert out.status == 200 and out.window == ByteWindow(0, 999)


def test_multi_range_choice():
    assert plan(RequestFacts(range="bytes=0-9,10-19")).window == ByteWindow(0, 19)
    out = plan(RequestFacts(range="bytes=0-9,100-109"))
    assert out.status == 200 and out.window == ByteWindow(0, 999) and "Content-Range" not in out.headers


def test_zero_byte_file():
    out = plan(f=facts(size=0))
    assert out.status == 200 and out.headers["Content-Length"] == "0"
    assert out.window is None and out.send_body is False
    for rng in ("bytes=0-0", "bytes=0-", "bytes=-1"):
        out = plan(RequestFacts(range=rng), facts(size=0))
        assert out.status == 416 and out.headers["Content-Range"] == "bytes */0"


def test_only_get_and_head_are_planned():
    with pytest.raises(ValueError):
        plan(RequestFacts("POST"))


# ------------------------------------------------------------ If-Range (§13.1.5)

@pytest.mark.parametrize("if_range, status", [
    (ETAG, 206),                                   # strong match: honour the Range
    ('W/"AgADBAADxyz"', 200),                      # weak tags never match in If-Range
    ('"something-else"', 200),                     # the file changed: send it all
    (UPLOADED_HTTP, 206),                          # exact date match
    ("Fri, 20 Nov 2026 08:30:16 GMT", 200),        # any other date: all
    ("Friday, 20-Nov-26 08:30:15 GMT", 206),       # obsolete rfc850 form still a date
    ("garbage", 200),
    ('"unterminated', 200),
])
def test_if_range(if_range, status):
    out = plan(RequestFacts(range="bytes=10-19", if_range=if_range))
    assert out.status == status
    assert out.window == (ByteWindow(10, 19) if status == 206 else ByteWindow(0, 999))


def test_if_range_without_range_is_ignored():
    assert plan(RequestFacts(if_range='"other"')).status == 200


def test_if_range_mismatch_also_overrides_unsatisfiable_range():
    assert plan(RequestFacts(range="bytes=5000-", if_range='"other"')).status == 200


# ------------------------------------------------------------ If-None-Match / If-Modified-Since

@pytest.mark.parametrize("inm", [ETAG, 'W/"AgADBAADxyz"', '"a", "AgADBAADxyz"', '"a",W/"AgADBAADxyz" ', "*", " * "])
def test_if_none_match_hit_is_304_without_body(inm):
    for method in ("GET", "HEAD"):
        out = plan(RequestFacts(method, if_none_match=inm, range="bytes=0-1"))
        assert out.status == 304                       # §13.1.2 weak comparison; §13.2.2 before Range
        assert out.window is None and not out.send_body
        h = out.headers
        assert h["ETag"] == ETAG and h["Last-Modified"] == UPLOADED_HTTP and "Cache-Control" in h  # §15.4.5
        assert "Content-Length" not in h and "Content-Type" not in h and "Content-Range" not in h


@pytest.mark.parametrize("inm", ['"other"', "AgADBAADxyz", '"a" "b"', "", 'W/"x", "y"'])
def test_if_none_match_miss(inm):
    assert plan(RequestFacts(if_none_match=inm)).status == 200


@pytest.mark.parametrize("ims, status", [
    (UPLOADED_HTTP, 304),                              # not modified since exactly then
    ("Sat, 21 Nov 2026 00:00:00 GMT", 304),
    ("Fri, 20 Nov 2026 08:30:14 GMT", 200),            # modified after that
    ("yesterday", 200),                                # invalid: ignored (§13.1.3)
    ("Sun Nov 22 00:00:00 2026", 304),                 # asctime form
])
def test_if_modified_since(ims, status):
    assert plan(RequestFacts(if_modified_since=ims)).status == status


def test_if_none_match_takes_precedence_over_if_modified_since():
    # §13.1.3: If-Modified-Since is ignored when If-None-Match is present.
    out = plan(RequestFacts(if_none_match='"other"', if_modified_since="Sat, 21 Nov 2026 00:00:00 GMT"))
    assert out.status == 200


# ------------------------------------------------------------ dates (§5.6.7)

def test_http_date_is_imf_fixdate_in_gmt():
    assert http_date(UPLOADED) == UPLOADED_HTTP
    cet = timezone(timedelta(hours=1))
    assert http_date(datetime(2026, 11, 20, 9, 30, 15, tzinfo=cet)) == UPLOADED_HTTP
    assert http_date(datetime(1994, 11, 6, 8, 49, 37)) == "Sun, 06 Nov 1994 08:49:37 GMT"


@pytest.mark.parametrize("text", [
    "Sun, 06 Nov 1994 08:49:37 GMT", "Sunday, 06-Nov-94 08:49:37 GMT", "Sun Nov  6 08:49:37 1994",
])
def test_parse_http_date_three_forms(text):
    assert parse_http_date(text, now=NOW) == datetime(1994, 11, 6, 8, 49, 37, tzinfo=timezone.utc)


def test_rfc850_two_digit_year_never_more_than_50_years_ahead():
    assert parse_http_date("Monday, 01-Jan-70 00:00:00 GMT", now=NOW).year == 2070
    assert parse_http_date("Monday, 01-Jan-77 00:00:00 GMT", now=NOW).year == 2077 - 100


@pytest.mark.parametrize("text", [
    "Sun, 30 Feb 1994 08:49:37 GMT", "Sun, 06 Nov 1994 25:49:37 GMT", "Sun, 06 Nov 1994 08:49:37 UTC",
    "Sun, 6 Nov 1994 08:49:37 GMT", "1994-11-06T08:49:37Z", "", "Sun, 06 Foo 1994 08:49:37 GMT",
])
def test_parse_http_date_rejects(text):
    assert parse_http_date(text, now=NOW) is None


# ------------------------------------------------------------ ETag, Content-Type, Content-Disposition

def test_strong_etag():
    assert strong_etag("AgADBAADxyz") == ETAG
    for odd in ('a"b', "a\r\nb", "", "ünï"):
        tag = strong_etag(odd)
        assert re.fullmatch(r'"[\x21\x23-\x7e]+"', tag), tag


@pytest.mark.parametrize("stored, name, expected", [
    ("video/mp4", "x.bin", "video/mp4"),
    ("VIDEO/X-Matroska", "x.mkv", "video/x-matroska"),
    ("None/unknown", "clip.mp4", "video/mp4"),
    (None, "song.mp3", "audio/mpeg"),
    ("", "page.html", "text/html"),
    ("application/octet-stream", "clip.webm", "video/webm"),
    ("application/octet-stream", "noext", "application/octet-stream"),
    ("nonsense", "", "application/octet-stream"),
    ("video/mp4\r\nX-Evil: 1", "a.mkv", "video/x-matroska"),   # never smuggle header text
    ("text/html; charset=utf-8", "a.txt", "text/plain"),
])
def test_effective_mime_type(stored, name, expected):
    assert effective_mime_type(stored, name) == expected


@pytest.mark.parametrize("mime, safe", [
    ("video/mp4", True), ("audio/ogg", True), ("image/png", True), ("text/plain", True),
    ("text/html", False), ("image/svg+xml", False), ("application/xhtml+xml", False), ("text/xml", False),
    ("application/xml", False), ("text/javascript", False), ("application/javascript", False),
    ("application/pdf", False), ("application/octet-stream", False), ("text/css", False),
    ("multipart/x-mixed-replace", False), ("video/x-ms-asf", False), ("video/vnd.something+xml", False),
    ("audio/x-mpegurl", False), ("video/webm", True), ("VIDEO/MP4", True), ("audio/mpeg", True),
])
def test_inline_safety(mime, safe):
    assert is_inline_safe(mime) is safe


def test_player_kind():
    assert [player_kind(m) for m in ("video/mp4", "audio/mpeg", "image/jpeg", "image/svg+xml", "text/plain")] == [
        "video", "audio", "image", "", ""]


@pytest.mark.parametrize("name, mime", [
    ("page.html", "text/html"), ("x.svg", None), ("x.xml", None), ("evil.js", None), ("x.xhtml", None),
    ("doc.pdf", None), ("video.mp4", "text/html"),   # a stored HTML type wins over a harmless name
])
def test_executable_types_are_always_attachments(name, mime):
    f = file_facts(stored(file_name=name, mime_type=mime), download=False)
    assert f.disposition == "attachment"
    out = plan(f=f)
    assert out.headers["Content-Disposition"].startswith("attachment;")
    assert out.headers["X-Content-Type-Options"] == "nosniff"


def test_file_facts_for_media():
    f = file_facts(stored(), download=False)
    assert (f.disposition, f.content_type, f.etag, f.size, f.last_modified) == (
        "inline", "video/mp4", ETAG, 1000, UPLOADED)
    assert file_facts(stored(), download=True).disposition == "attachment"




def _disposition_parts(value: str) -> tuple[str, str, str]:
    m = re.fullmatch(r"(inline|attachment); filename=\"([^\"]*)\"; filename\*=UTF-8''([A-Za-z0-9!#$&+\-.^_`|~%]+)", value)
    assert m, value
    return m.group(1), m.group(2), unquote(m.group(3), encoding="utf-8", errors="strict")


@pytest.mark.parametrize("name, fallback, full", [
    ("movie.mp4", "movie.mp4", "movie.mp4"),
    ('my "best" movie.mp4', "my _best_ movie.mp4", 'my "best" movie.mp4'),
    ("back\\slash.mkv", "back_slash.mkv", "back_slash.mkv"),
    ("dir/../etc/passwd", "dir_.._etc_passwd", "dir_.._etc_passwd"),
    ("line\r\nX-Injected: 1.mp4", "lineX-Injected: 1.mp4", "lineX-Injected: 1.mp4"),
    ("Фильм 2026.mkv", "_ 2026.mkv", "Фильм 2026.mkv"),
    ("café.mp3", "cafe.mp3", "café.mp3"),
    ("100%.txt", "100_.txt", "100%.txt"),
    ("evil\u202egnp.exe", "evilgnp.exe", "evilgnp.exe"),    # no bidi override to disguise the extension
    ("", "file", "file"),
    ("..", "file", "file"),
    ("🎬.mp4", "_.mp4", "🎬.mp4"),
    ("a;b.mp4", "a_b.mp4", "a;b.mp4"),
])
def test_content_disposition(name, fallback, full):
    value = content_disposition("attachment", name)
    assert "\r" not in value and "\n" not in value
    kind, got_fallback, got_full = _disposition_parts(value)
    assert (kind, got_fallback, got_full) == ("attachment", fallback, full)
    assert got_fallback.isascii()


# ------------------------------------------------------------ Cache-Control never outlives the link

@pytest.mark.parametrize("expires, value", [
    (None, "private, max-age=3600"),
    (NOW + timedelta(days=2), "private, max-age=3600"),
    (NOW + timedelta(seconds=600), "private, max-age=600"),
    (NOW + timedelta(seconds=59), "no-store"),
    (NOW - timedelta(seconds=1), "no-store"),
])
def test_cache_control(expires, value):
    assert cache_control(NOW, expires) == value
    assert plan(expires=expires).headers["Cache-Control"] == value
