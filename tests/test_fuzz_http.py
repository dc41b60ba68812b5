"""Generated HTTP requests against the running service: never a 5xx, never a warning in the log
that is not an expected refusal, and every answer to a link the one RFC 9110 prescribes.

The service runs as in production (local Telegram, the test database, a backend bot); each
request is written raw on a fresh socket, so odd methods, paths, versions and header bytes
reach aiohttp's parser as they would from any client. Hypothesis generates them.

The expected status, Content-Range, Content-Length and bytes of a link request come from
`Oracle`, a model of RFC 9110's conditional requests (§13) and ranges (§14) written here from
the RFC, not from the product's code. HEAD is compared with the same GET, header by header.
Paths under every route prefix get long and odd segments.

Two runs: the `ci` profile's derandomized examples (the same every time), then a fixed
budget of fresh ones from a seed printed at the start (HYPOTHESIS_SEED=<n> replays it).
"""

from __future__ import annotations

import asyncio
import collections
import logging
import os
import random
import re
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from FileStream.core.http_plan import http_date
from FileStream.core.tokens import make_link_token, new_file_id
from service_harness import (fuzz_examples, http_client, make_world, running_service, send_and_get_links,
                             tracebacks, under_libfaketime)

HTTP_REQUESTS = 10_000
# A link example is tried on /stream, /dl and /watch, as GET and as HEAD when it is a GET:
# about 3.5 requests per example on average, so this many examples send over HTTP_REQUESTS.
EXAMPLES = fuzz_examples(3_000)   # a tenth under libfaketime, see service_harness
FRESH_EXAMPLES = fuzz_examples(400)  # drawn anew each run, from FRESH_SEED
FRESH_SEED = int(os.environ.get("HYPOTHESIS_SEED") or random.SystemRandom().randrange(2**32))
METRICS_TOKEN = "fuzz-metrics-" + "t" * 16
ANSWER_TIMEOUT = 20  # seconds; a safety net, every answer normally comes in milliseconds

# (name, content, mime type): what people sent; every live token names one of them.
FILES = [
    ("notes.txt", bytes(range(256)) * 12, "text/plain"),
    ("page.html", b"<html><script>alert(1)</script></html>" * 40, "text/html"),
    ("clip.mp4", bytes((n * 7 + n // 251) % 256 for n in range(150_000)), "video/mp4"),
    ('odd "name" ünï\\cøde %2F.bin', b"\x00\xff" * 999, "application/octet-stream"),
]

# Bytes a header value or path may carry. CR and LF stay out: they end the line, and a
# second request hidden behind one would keep the connection open past our Connection: close.
ODD_BYTES = st.binary(max_size=40).map(lambda b: b.replace(b"\r", b"\t").replace(b"\n", b"\x7f"))
TCHAR = "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
# Header junk that gets past the parser (which turns other bytes away with a 400 on its own).
PRINTABLE = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=30)


@dataclass
class Token:
    text: str
    kind: str                  # live, expired, unknown, tampered, deleted, junk
    content: bytes | None = field(default=None, repr=False)
    etag: str = '"none"'
    last_modified: str = "Thu, 01 Jan 1970 00:00:00 GMT"


@dataclass
class Request:
    method: bytes
    target: bytes
    version: bytes
    headers: list[tuple[bytes, bytes]]
    token: Token | None
    clean: bool            # nothing odd: the status is predictable from the token alone

    def wire(self) -> bytes:
        lines = [self.method + b" " + self.target + b" " + self.version]
        lines += [name + b": " + value for name, value in self.headers]
        lines.append(b"Connection: close")
        return b"\r\n".join(lines) + b"\r\n\r\n"


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes


@dataclass
class Tally:
    examples: int = 0
    sent: int = 0
    statuses: collections.Counter = field(default_factory=collections.Counter)
    by_oracle: int = 0     # answers compared with the oracle's, field by field
    gray: int = 0          # requests the RFC leaves open (see Gray)
    head_vs_get: int = 0   # HEAD answers compared with their GET


async def exchange(port: int, raw: bytes) -> Response | None:
    """One request on a fresh connection; the whole answer, or None if the server sent nothing."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(raw)
        data = await asyncio.wait_for(reader.read(), ANSWER_TIMEOUT)  # Connection: close - up to EOF
    finally:
        writer.close()
    if not data:
        return None
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return Response(int(status_line.split()[1]), headers, body)


# -------------------------------------------------------------- the oracle (RFC 9110, written here)

_DAY = r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)"
_LONG_DAY = r"(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)"
_MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
_MONTH = "(" + "|".join(_MONTHS) + ")"
_TIME = r"(\d\d):(\d\d):(\d\d)"
# §5.6.7: IMF-fixdate, and the obsolete rfc850-date and asctime-date a recipient must accept.
_IMF = re.compile(_DAY + r", (\d\d) " + _MONTH + r" (\d{4}) " + _TIME + " GMT")
_RFC850 = re.compile(_LONG_DAY + r", (\d\d)-" + _MONTH + r"-(\d\d) " + _TIME + " GMT")
_ASCTIME = re.compile(_DAY + " " + _MONTH + r" ( \d|\d\d) " + _TIME + r" (\d{4})")
# §8.8.3: entity-tag = [ "W/" ] DQUOTE *etagc DQUOTE; etagc = "!" / %x23-7E (ASCII here)
_ENTITY_TAG = re.compile(r'(W/)?"([\x21\x23-\x7e]*)"')


class Gray(Exception):
    """The RFC leaves this request's answer open (a leap second, a century boundary of a
    two-digit year, whitespace the list grammar does not allow but a server may accept):
    the oracle checks only what holds whichever way the server reads it."""


@dataclass(frozen=True)
class Expected:
    status: int
    content_range: str | None = None
    body: bytes = b""            # what a GET carries (a HEAD carries nothing)


def http_date_of(text: str, now: datetime) -> datetime | None:
    """The moment an HTTP-date names, None when it is not one; Gray where the RFC wavers."""
    text = text.strip(" \t")
    if m := _IMF.fullmatch(text):
        day, month, year, hh, mi, ss = m.groups()
    elif m := _RFC850.fullmatch(text):
        day, month, yy, hh, mi, ss = m.groups()
        # §5.6.7: a two-digit year more than 50 years ahead is the most recent past one.
        year = (now.year // 100) * 100 + int(yy)
        if year - now.year == 50 or year - now.year == -50:
            raise Gray("an rfc850 year on the 50-year boundary")
        if year > now.year + 50:
            year -= 100
    elif m := _ASCTIME.fullmatch(text):
        month, day, hh, mi, ss, year = m.groups()
    else:
        return None
    if ss == "60":
        raise Gray("a leap second")
    try:
        return datetime(int(year), _MONTHS.index(month) + 1, int(day), int(hh), int(mi), int(ss),
                        tzinfo=timezone.utc)
    except ValueError:
        return None   # 31 Feb, 25:00: not a date at all


def entity_tags(text: str) -> list[tuple[bool, str]] | None:
    """§5.6.1 #entity-tag: (weak, opaque) of each element, empty elements skipped; None if malformed."""
    tags = []
    for element in text.split(","):
        element = element.strip(" \t")
        if element:
            m = _ENTITY_TAG.fullmatch(element)
            if m is None:
                return None
            tags.append((m.group(1) is not None, m.group(2)))
    return tags


def byte_ranges(text: str) -> list[tuple[int | None, int | None]] | None:
    """§14.1-14.2: the (first, last) of each range-spec of a bytes Range (first None: a suffix of
    `last`), or None when the header is to be ignored (another unit, or not valid)."""
    unit, equals, range_set = text.strip(" \t").partition("=")
    if not equals or unit.lower() != "bytes":
        return None
    if range_set != range_set.strip(" \t"):
        raise Gray("whitespace around the range-set")   # 1#range-spec has none there; lenient servers allow it
    specs = []
    for element in range_set.split(","):
        element = element.strip(" \t")
        if not element:
            continue
        if m := re.fullmatch(r"(\d+)-(\d*)", element):
            first, last = int(m.group(1)), int(m.group(2)) if m.group(2) else None
            if last is not None and last < first:
                return None       # §14.1.1: invalid, so the whole header is
            specs.append((first, last))
        elif m := re.fullmatch(r"-(\d+)", element):
            specs.append((None, int(m.group(1))))
        else:
            return None
    return specs or None


def expected_answer(method: bytes, headers: list[tuple[bytes, bytes]], token: Token, now: datetime) -> Expected:
    """What RFC 9110 says a GET (or HEAD, which answers the same) of a live file gets."""
    fields = {name.decode().lower(): value.decode() for name, value in headers}
    content, size = token.content, len(token.content)
    last_modified = http_date_of(token.last_modified, now)
    # §13.2.2: If-None-Match, else If-Modified-Since (GET and HEAD only) ...
    if "if-none-match" in fields:
        value = fields["if-none-match"].strip(" \t")
        tags = [] if value == "*" else entity_tags(value)
        ours = token.etag.strip('"')
        if value == "*" or (tags and any(opaque == ours for _weak, opaque in tags)):   # weak comparison
            return Expected(304)
    elif "if-modified-since" in fields:
        since = http_date_of(fields["if-modified-since"], now)
        if since is not None and last_modified <= since:
            return Expected(304)
    # ... then If-Range (§13.1.5), which matters only with a Range.
    specs = byte_ranges(fields["range"]) if "range" in fields else None
    if specs is not None and "if-range" in fields:
        value = fields["if-range"].strip(" \t")
        if value.startswith(('"', "W/")):
            m = _ENTITY_TAG.fullmatch(value)
            holds = m is not None and m.group(1) is None and m.group(2) == token.etag.strip('"')   # strong
        else:
            holds = http_date_of(value, now) == last_modified
        if not holds:
            specs = None
    if specs is None:
        return Expected(200, None, content)
    # §14.1.1: which specs are satisfiable, and the bytes each selects (an end past the last byte is clamped).
    windows = []
    for first, last in specs:
        if first is None:
            if last > 0:
                windows.append((max(size - last, 0), size - 1))
        elif first < size:
            windows.append((first, size - 1 if last is None else min(last, size - 1)))
    if not windows:
        return Expected(416, f"bytes */{size}")
    # Several ranges: the service's documented choice (docs, http-streaming) is to merge the
    # ones that overlap or touch and answer 206 when one window is left, else 200 (§14.2 allows both).
    windows.sort()
    start, end = windows[0]
    for first, last in windows[1:]:
        if first > end + 1:
            return Expected(200, None, content)
        end = max(end, last)
    return Expected(206, f"bytes {start}-{end}/{size}", content[start:end + 1])


def expect_from_oracle(request: Request, response: Response, now: datetime, tally: Tally) -> str | None:
    """How the answer to a GET or HEAD of a live /dl or /stream link differs from the oracle's."""
    try:
        want = expected_answer(request.method, request.headers, request.token, now)
    except Gray:
        tally.gray += 1
        return None
    tally.by_oracle += 1
    got = response
    if got.status != want.status:
        return f"status {got.status}, RFC 9110 says {want.status}"
    if got.headers.get("content-range") != want.content_range:
        return f"Content-Range {got.headers.get('content-range')!r}, expected {want.content_range!r}"
    body = want.body if want.status in (200, 206) else b""
    length = got.headers.get("content-length")
    if want.status in (200, 206) and length != str(len(body)):
        return f"Content-Length {length}, expected {len(body)}"
    if want.status == 304 and length not in (None, str(len(request.token.content))):
        return f"Content-Length {length} on a 304 (§8.6: only the 200's length may be sent)"
    if want.status in (200, 206, 304) and got.headers.get("etag") != request.token.etag:
        return f"ETag {got.headers.get('etag')!r}, expected {request.token.etag!r}"
    if request.method == b"GET" and want.status in (200, 206) and got.body != body:
        return f"wrong bytes: {len(got.body)} sent, {len(body)} expected"
    return None


def check(request: Request, response: Response | None, now: datetime, tally: Tally) -> str | None:
    """What is wrong with this answer, or None."""
    if response is None:
        return "no answer at all"
    if response.status >= 500:
        return f"status {response.status}"
    length = response.headers.get("content-length")
    if length is not None and request.method != b"HEAD" and int(length) != len(response.body):
        return f"Content-Length {length} but {len(response.body)} bytes"
    if request.method == b"HEAD" and response.body and request.version in (b"HTTP/1.1", b"HTTP/1.0") \
            and response.status != 400:   # a request the parser refuses is not known to be a HEAD
        return f"a HEAD answered with {len(response.body)} bytes of body"
    token = request.token
    if token is None:
        return None
    route = request.target.split(b"/")[1]
    if token.kind == "live" and route in (b"dl", b"stream") and response.status in (200, 206) \
            and request.method == b"GET":
        content = token.content     # whatever was asked, the bytes sent are the file's own
        if response.status == 206:
            first, last, size = map(int, re.fullmatch(r"bytes (\d+)-(\d+)/(\d+)",
                                                       response.headers["content-range"]).groups())
            assert size == len(content)
            content = content[first:last + 1]
        if response.body != content:
            return f"wrong bytes: {len(response.body)} sent, {len(content)} expected"
    if not request.clean:
        return None
    if request.method not in (b"GET", b"HEAD"):
        return None if response.status == 405 else f"status {response.status} for {request.method!r}, expected 405"
    refused = {"expired": 410, "unknown": 404, "deleted": 404, "tampered": 404, "junk": 404}
    if token.kind in refused:
        wanted = refused[token.kind]
        return None if response.status == wanted else f"status {response.status} for a {token.kind} token, expected {wanted}"
    if route == b"watch":
        return None if response.status == 200 else f"status {response.status} for the player page, expected 200"
    return expect_from_oracle(request, response, now, tally)


def same_but_the_body(get: Response, head: Response) -> str | None:
    """§9.3.2: HEAD answers with the status and header fields of the same GET, without content."""
    if get.status != head.status:
        return f"HEAD answered {head.status}, GET {get.status}"
    # The clock moves between the two (max-age is checked below); framing is the body's business.
    skip = {"date", "cache-control", "transfer-encoding"}
    got, want = ({k: v for k, v in r.headers.items() if k not in skip} for r in (head, get))
    if "content-length" not in get.headers:   # a chunked GET: HEAD need not count its bytes
        got.pop("content-length", None)
    if got != want:
        differ = sorted(k for k in got.keys() | want.keys() if got.get(k) != want.get(k))
        return f"HEAD and GET differ in {differ}: {[(got.get(k), want.get(k)) for k in differ]}"
    ages = [re.search(r"max-age=(\d+)", r.headers.get("cache-control", "")) for r in (get, head)]
    if all(ages) and abs(int(ages[0].group(1)) - int(ages[1].group(1))) > 1:
        return f"Cache-Control {get.headers['cache-control']!r} on GET, {head.headers['cache-control']!r} on HEAD"
    return None


# -------------------------------------------------------------- what requests are made of

def rarely(common, odd):
    """`common` nine times in ten: odd requests are worth trying, but aiohttp turns most of
    them away at the parser with a 400, and the routes behind it need the ordinary ones."""
    # (one_of would not do: it keeps one copy of repeated branches, so each would get half.)
    return st.sampled_from([False] * 9 + [True]).flatmap(lambda is_odd: odd if is_odd else common)


def numbers(size: int):
    return rarely(st.one_of(st.integers(0, size + 10), st.sampled_from([0, 1, size - 1, size, size + 1])),
                  st.integers(0, 2**70))


def ranges(size: int):
    n = numbers(size)
    ordered = st.tuples(n, n).map(sorted)
    return st.one_of(
        ordered.map(lambda pair: "bytes={}-{}".format(*pair)),
        ordered.map(lambda pair: "bytes={}-{}".format(*pair)),
        st.builds("bytes={}-{}".format, n, n),
        st.builds("bytes={}-".format, n),
        st.builds("bytes=-{}".format, n),
        st.builds("bytes={}-{},{}-{}".format, n, n, n, n),
        st.builds("bytes={} - {} ".format, n, n),
        st.sampled_from(["bytes=", "bytes=-", "bytes=0-0", "bytes=-0", "bytes=a-b", "items=0-1", "bytes=1-0",
                         "bytes=0-1,", "bytes=--1", "bytes=0-18446744073709551616", "bytes=" + "9" * 400]),
        PRINTABLE,
    ).map(str.encode)


def dates(token: Token):
    moments = st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31),
                           timezones=st.just(timezone.utc))
    return st.one_of(
        st.just(token.last_modified),
        moments.map(http_date),
        moments.map(lambda d: d.strftime("%A, %d-%b-%y %H:%M:%S GMT")),
        moments.map(lambda d: d.strftime("%a %b %e %H:%M:%S %Y")),
        st.sampled_from(["Mon, 32 Jan 2024 00:00:00 GMT", "yesterday", "", "Thu, 01 Jan 1970 00:00:00 UTC",
                         "Tue, 29 Feb 2100 00:00:00 GMT", "Fri, 31 Dec 9999 23:59:60 GMT"]),
        PRINTABLE,
    ).map(lambda text: text.encode("utf-8"))


def etags(token: Token):
    tag = token.etag
    return st.one_of(
        st.sampled_from([tag, "W/" + tag, "*", f"{tag}, \"other\"", tag.strip('"'), '"', "W/", '""',
                         f'"x", W/{tag}', ", , ,", tag + tag]),
        PRINTABLE,
    ).map(lambda text: text.encode("utf-8"))


def authorizations():
    return st.sampled_from([f"Bearer {METRICS_TOKEN}", "Bearer", f"Bearer {METRICS_TOKEN}x", f"Basic {METRICS_TOKEN}",
                            f"bearer {METRICS_TOKEN}", "Bearer " + "é" * 20]).map(lambda t: t.encode("utf-8"))


def headers_for(token: Token, size: int):
    odd_name = st.text(alphabet=TCHAR, min_size=1, max_size=20).map(str.encode)
    rng = st.tuples(st.just(b"Range"), ranges(size))
    header = rarely(
        st.one_of(rng, rng, rng,
                  st.tuples(st.just(b"If-Range"), st.one_of(
                      st.sampled_from([token.etag, "W/" + token.etag, token.last_modified]).map(str.encode),
                      etags(token), dates(token))),
                  st.tuples(st.just(b"If-None-Match"), etags(token)),
                  st.tuples(st.just(b"If-Modified-Since"), dates(token)),
                  st.tuples(st.just(b"Authorization"), authorizations())),
        st.one_of(st.tuples(st.sampled_from([b"Accept-Encoding", b"Accept", b"User-Agent", b"Cookie", b"Range",
                                             b"If-None-Match", b"X-Forwarded-For"]), ODD_BYTES),
                  st.tuples(odd_name, ODD_BYTES)),
    )
    # Mostly each field once (what the oracle can answer); now and then the same field twice.
    return rarely(st.lists(header, max_size=4, unique_by=lambda h: h[0]), st.lists(header, max_size=4))


def is_clean(headers) -> bool:
    """Only fields the oracle knows, each once (two Range fields make a request the RFC does not answer)."""
    known = {b"Host", b"Range", b"If-Range", b"If-None-Match", b"If-Modified-Since", b"Authorization"}
    names = [name for name, _ in headers]
    return len(names) == len(set(names)) and all(
        name in known and all(32 <= c < 127 for c in value) for name, value in headers)


METHODS = rarely(st.sampled_from([b"GET"] * 6 + [b"HEAD"] * 3 + [b"POST", b"PUT", b"DELETE", b"OPTIONS", b"PATCH"]),
                 st.one_of(st.sampled_from([b"TRACE", b"CONNECT", b"get", b"PROPFIND"]),
                           st.text(alphabet=TCHAR, min_size=1, max_size=12).map(str.encode),
                           ODD_BYTES.filter(lambda b: b and b" " not in b)))
VERSIONS = rarely(st.sampled_from([b"HTTP/1.1"] * 5 + [b"HTTP/1.0"]),
                  st.sampled_from([b"HTTP/2.0", b"HTTP/0.9", b"HTTP/1.1x", b"http/1.1", b"HTTP/9.9", b""]))
PAGES = st.sampled_from([b"/", b"/health", b"/metrics", b"/static/player.js", b"/static/style.css",
                         b"/static/../config.py", b"/static/%2e%2e/app.py", b"//", b"/watch/", b"/dl",
                         b"/stream//x", b"*", b"http://127.0.0.1/health", b"/%00", b"/" + b"a" * 5000,
                         b"/static/" + b"n" * 300])
NAMES = st.one_of(st.just(""), st.just("/"), st.just("/" + quote(FILES[0][0])),
                  st.text(max_size=20).map(lambda t: "/" + quote(t)),
                  st.integers(200, 3000).map(lambda n: "/" + "n" * n))
# Every route prefix, each followed by segments long and odd: what a link looks like after a
# careless copy, a crawler, or someone probing.
PREFIXES = [b"/static/", b"/thumb/", b"/b/", b"/dl/", b"/stream/", b"/watch/"]
SEGMENTS = st.one_of(
    st.integers(1, 4000).map(lambda n: b"a" * n),
    st.integers(200, 2000).map(lambda n: quote("é" * n).encode()),
    st.sampled_from([b"..", b".", b"%2e%2e", b"%2F", b"%00", b"%ff", b"~", b";x=1", b"a/b/c", b"player.js",
                     b"style.css/extra", b"zip", b"m3u", b"A" * 48, b"A" * 48 + b"/zip/x", b"A" * 48 + b"/m3u",
                     b"A" * 47, b"A" * 49, b"-" * 48, b"_" * 48]),
    st.text(max_size=60).map(lambda t: quote(t, safe="/").encode()),
)
PREFIXED = st.builds(lambda prefix, parts: prefix + b"/".join(parts), st.sampled_from(PREFIXES),
                     st.lists(SEGMENTS, min_size=1, max_size=3))
QUERIES = st.sampled_from(["", "?", "?download=1", "?a=%ZZ"])


def request_strategy(tokens: list[Token]):
    """One generated request: a link with every route it has (/stream, /dl, /watch, and the same
    as HEAD), or a page, or odd bytes. Each token's header strategies are built once, up front.
    """
    # Working links get most of the requests: they reach the range and caching logic.
    choices = [(token, headers_for(token, len(token.content or b"")), ranges(len(token.content or b"")))
               for token in tokens for _ in range(4 if token.kind == "live" else 1)]
    no_token = headers_for(Token("", "junk"), 0)

    @st.composite
    def requests(draw) -> list[Request]:
        token, headers, byte_range = draw(st.sampled_from(choices))
        shape = draw(st.sampled_from(["token"] * 8 + ["page", "odd", "prefixed", "prefixed"]))
        method, version = draw(METHODS), draw(VERSIONS)
        if shape != "token":
            target = {"page": PAGES, "prefixed": PREFIXED}.get(shape)
            target = draw(target) if target is not None else b"/" + draw(ODD_BYTES).replace(b" ", b"%20")
            headers = with_host(draw, version, draw(no_token))
            methods = [method, b"HEAD"] if method == b"GET" and shape == "prefixed" else [method]
            return [Request(each, target, version, headers, None, False) for each in methods]
        headers = with_host(draw, version, draw(headers))
        if draw(st.integers(0, 3)) and b"Range" not in [name for name, _ in headers]:  # most ask for a range
            headers.append((b"Range", draw(byte_range)))
        name, query = draw(NAMES), draw(QUERIES)
        clean = is_clean(headers) and version in (b"HTTP/1.1", b"HTTP/1.0") \
            and method in (b"GET", b"HEAD", b"POST", b"PUT", b"DELETE", b"PATCH")
        methods = [method, b"HEAD"] if method == b"GET" else [method]
        return [Request(each, b"/" + route + b"/" + quote(token.text, safe="").encode() + (name + query).encode(),
                        version, headers, token, clean and (route != b"watch" or name == ""))
                for route in (b"stream", b"dl", b"watch") for each in methods]

    return requests()


def with_host(draw, version: bytes, headers: list) -> list:
    if version != b"HTTP/1.0" or draw(st.booleans()):
        return [(b"Host", b"127.0.0.1"), *headers]
    return headers


# -------------------------------------------------------------- the story

async def tokens_for(service, world) -> list[Token]:
    """Live tokens of every file (with their ETag and Last-Modified), and every kind of bad one."""
    secret, now = service.links.secret, service.clock()
    live = []
    async with http_client() as http:
        for name, content, mime in FILES:
            download = (await send_and_get_links(world, content, name, mime_type=mime)).links.download
            async with http.head(download) as response:
                live.append(Token(download.split("/dl/", 1)[1].split("/", 1)[0], "live", content,
                                  response.headers["ETag"], response.headers["Last-Modified"]))
    await send_and_get_links(world, b"deleted by its owner", "gone.txt")
    files, _ = await service.db.files.list_by_owner(world.person.id, now, 0)
    gone = next(f for f in files if f.file_name == "gone.txt")
    kept = next(f for f in files if f.file_name == FILES[0][0])
    await service.db.files.delete(gone.id)
    bad = [
        Token(make_link_token(secret, kept.id, now - timedelta(minutes=1)), "expired"),
        Token(make_link_token(secret, kept.id, datetime(1970, 1, 2, tzinfo=timezone.utc)), "expired"),
        Token(make_link_token(secret, new_file_id(), now + timedelta(hours=1)), "unknown"),
        Token(make_link_token(secret, new_file_id(), None), "unknown"),
        Token(make_link_token(secret, gone.id, gone.expires_at), "deleted"),
        Token(make_link_token(b"another secret entirely", kept.id, None), "tampered"),
        Token(live[0].text[:-1] + ("A" if live[0].text[-1] != "A" else "B"), "tampered"),
        Token(live[0].text[:10] + live[0].text[11:] + "A", "tampered"),
        Token("A" * 48, "junk"), Token("short", "junk"), Token("é" * 48, "junk"), Token(live[0].text * 2, "junk"),
    ]
    return live + bad


@dataclass
class Target:
    """The running service as the generated requests see it."""

    port: int
    requests: st.SearchStrategy     # built once: a strategy per token costs time to build
    tally: Tally = field(default_factory=Tally)


@pytest.fixture
async def target(telegram, stack_settings, caplog):
    async for each in running_target(telegram, stack_settings, caplog, EXAMPLES, HTTP_REQUESTS):
        yield each


@pytest.fixture
async def fresh_target(telegram, stack_settings, caplog):
    print(f"\nfresh examples from seed {FRESH_SEED} (HYPOTHESIS_SEED={FRESH_SEED} replays them)")
    async for each in running_target(telegram, stack_settings, caplog, FRESH_EXAMPLES, 0):
        yield each


async def running_target(telegram, stack_settings, caplog, examples: int, requests: int):
    world = make_world(telegram, backends=1)
    async with running_service(stack_settings(world, METRICS_TOKEN=METRICS_TOKEN, RATE_LIMIT_FILES=0)) as service:
        target = Target(service.web_port, request_strategy(await tokens_for(service, world)))
        caplog.set_level(logging.INFO)
        started, cpu = time.monotonic(), time.process_time()
        yield target
        took, cpu = time.monotonic() - started, time.process_time() - cpu
    tally = target.tally
    print(f"\n{tally.sent} generated HTTP requests ({tally.examples} examples) in {took:.1f} s ({cpu:.1f} s CPU, service included); "
          f"statuses {dict(sorted(tally.statuses.items(), key=str))}; {tally.by_oracle} answered as the oracle "
          f"said, {tally.gray} left open by the RFC, {tally.head_vs_get} HEADs compared with their GET")
    assert tally.examples >= examples, "every example ran"
    if not under_libfaketime() and requests:
        assert tally.sent >= requests
        assert tally.by_oracle >= requests // 10 and tally.head_vs_get >= requests // 10, "the oracle saw enough"
    if not under_libfaketime() and requests:  # the generated requests reach every outcome of a link
        assert all(tally.statuses[status] for status in (200, 206, 304, 404, 410, 416))


# Lines a refusal logs at WARNING by design (a client asked for something the service turns away).
EXPECTED_WARNINGS = re.compile(r"^$")


def unexpected_log_lines(records) -> list[str]:
    """WARNING and ERROR lines of the service (the local Telegram's own aside) that are not an
    expected refusal: a warning logged with %r from an `except Exception` is a bug found."""
    return [f"{r.levelname} {r.name}: {r.getMessage()}" for r in records
            if r.levelno >= logging.WARNING and not r.name.startswith("tgserver")
            and not EXPECTED_WARNINGS.search(r.getMessage())] + tracebacks(records)


async def run_example(target: Target, caplog, requests: list[Request]) -> None:
    logged = len(caplog.records)
    target.tally.examples += 1
    answers = []
    for request in requests:
        now = datetime.now(timezone.utc)
        response = await exchange(target.port, request.wire())
        target.tally.sent += 1
        target.tally.statuses[response.status if response else None] += 1
        problem = check(request, response, now, target.tally)
        assert problem is None, f"{problem}\n{request.wire()[:600]!r}"
        answers.append((request, response))
    # A GET is followed by the same request as HEAD.
    for (get, got), (head, headed) in zip(answers, answers[1:]):
        if get.method == b"GET" and head.method == b"HEAD" and head.target == get.target \
                and head.headers == get.headers and got.status < 500 and got.status != 400 \
                and get.version in (b"HTTP/1.1", b"HTTP/1.0"):
            problem = same_but_the_body(got, headed)
            target.tally.head_vs_get += 1
            assert problem is None, f"{problem}\n{get.wire()[:600]!r}"
    lines = unexpected_log_lines(caplog.records[logged:])
    assert lines == [], lines


# The examples run in the test's event loop, one after the other (pytest-asyncio runs each).
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
async def test_ten_thousand_generated_http_requests_get_the_answer_rfc_9110_prescribes_and_no_5xx(target, caplog, data):
    await run_example(target, caplog, data.draw(target.requests, label="requests"))


@settings(max_examples=FRESH_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=False)
@seed(FRESH_SEED)
@given(data=st.data())
async def test_fresh_generated_http_requests_from_a_printed_seed_get_the_answer_rfc_9110_prescribes(
        fresh_target, caplog, data):
    await run_example(fresh_target, caplog, data.draw(fresh_target.requests, label="requests"))
