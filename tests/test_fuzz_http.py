"""Generated HTTP requests against the running service: never a 500, never a traceback, and
every byte served is the file's own.

The service runs as in production (local Telegram, the test database, a backend bot); each
request is written raw on a fresh socket, so odd methods, paths, versions and header bytes
reach aiohttp's parser as they would from any client. Hypothesis generates them; the `ci`
profile (tests/conftest.py) makes the run the same every time.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import re
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from FileStream.core.http_plan import http_date
from FileStream.core.tokens import make_link_token, new_file_id
from service_harness import (fuzz_examples, http_client, make_world, running_service, send_and_get_links,
                             tracebacks, under_libfaketime)

HTTP_REQUESTS = 10_000
# A link example is tried on /stream, /dl and /watch, as GET and as HEAD when it is a GET:
# about 3.5 requests per example on average, so this many examples send over HTTP_REQUESTS.
EXAMPLES = fuzz_examples(3_000)   # a tenth under libfaketime, see service_harness
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


def check(request: Request, response: Response | None) -> str | None:
    """What is wrong with this answer, or None."""
    if response is None:
        return "no answer at all"
    if response.status == 500 or response.status in (502, 504):
        return f"status {response.status}"
    length = response.headers.get("content-length")
    if length is not None and request.method != b"HEAD" and int(length) != len(response.body):
        return f"Content-Length {length} but {len(response.body)} bytes"
    token = request.token
    if token is None or not request.clean:
        return None
    route = request.target.split(b"/")[1]
    expected = {"live": {200, 206, 304, 416}, "expired": {410}, "unknown": {404}, "deleted": {404},
                "tampered": {404}, "junk": {404}}[token.kind]
    if route == b"watch":
        expected = {200} if token.kind == "live" else expected
    if request.method not in (b"GET", b"HEAD"):
        expected = {405}
    if response.status not in expected:
        return f"status {response.status} for a {token.kind} token, expected {sorted(expected)}"
    if request.method == b"GET" and route in (b"dl", b"stream") and response.status in (200, 206):
        content = token.content
        if response.status == 206:
            first, last, size = map(int, re.fullmatch(r"bytes (\d+)-(\d+)/(\d+)",
                                                       response.headers["content-range"]).groups())
            assert size == len(content)
            content = content[first:last + 1]
        if response.body != content:
            return f"wrong bytes: {len(response.body)} sent, {len(content)} expected"
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
    return st.one_of(
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
                  st.tuples(st.just(b"If-Range"), st.one_of(etags(token), dates(token))),
                  st.tuples(st.just(b"If-None-Match"), etags(token)),
                  st.tuples(st.just(b"If-Modified-Since"), dates(token)),
                  st.tuples(st.just(b"Authorization"), authorizations())),
        st.one_of(st.tuples(st.sampled_from([b"Accept-Encoding", b"Accept", b"User-Agent", b"Cookie", b"Range",
                                             b"If-None-Match", b"X-Forwarded-For"]), ODD_BYTES),
                  st.tuples(odd_name, ODD_BYTES)),
    )
    return st.lists(header, max_size=4)


def is_clean(headers) -> bool:
    known = {b"Range", b"If-Range", b"If-None-Match", b"If-Modified-Since", b"Authorization"}
    return all(name in known and all(32 <= c < 127 for c in value) for name, value in headers)


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
                  st.text(max_size=20).map(lambda t: "/" + quote(t)))
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
        shape = draw(st.sampled_from(["token"] * 8 + ["page", "odd"]))
        method, version = draw(METHODS), draw(VERSIONS)
        if shape != "token":
            target = draw(PAGES) if shape == "page" else b"/" + draw(ODD_BYTES).replace(b" ", b"%20")
            return [Request(method, target, version, with_host(draw, version, draw(no_token)), None, False)]
        headers = with_host(draw, version, draw(headers))
        if draw(st.booleans()):  # half the link requests ask for a range
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
    world = make_world(telegram, backends=1)
    async with running_service(stack_settings(world, METRICS_TOKEN=METRICS_TOKEN, RATE_LIMIT_FILES=0)) as service:
        target = Target(service.web_port, request_strategy(await tokens_for(service, world)))
        caplog.set_level(logging.INFO)
        started, cpu = time.monotonic(), time.process_time()
        yield target
        took, cpu = time.monotonic() - started, time.process_time() - cpu
    tally = target.tally
    print(f"\n{tally.sent} generated HTTP requests ({tally.examples} examples) in {took:.1f} s ({cpu:.1f} s CPU, service included); "
          f"statuses {dict(sorted(tally.statuses.items(), key=str))}")
    assert tally.examples >= EXAMPLES, "every example ran"
    if not under_libfaketime():
        assert tally.sent >= HTTP_REQUESTS
    if not under_libfaketime():  # the generated requests reach every outcome of a link
        assert all(tally.statuses[status] for status in (200, 206, 304, 404, 410, 416))


# The examples run in the test's event loop, one after the other (pytest-asyncio runs each).
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
async def test_ten_thousand_generated_http_requests_get_no_500_no_traceback_and_exact_bytes(target, caplog, data):
    logged = len(caplog.records)
    target.tally.examples += 1
    for request in data.draw(target.requests, label="requests"):
        response = await exchange(target.port, request.wire())
        target.tally.sent += 1
        target.tally.statuses[response.status if response else None] += 1
        problem = check(request, response)
        assert problem is None, problem
    assert tracebacks(caplog.records[logged:]) == []
