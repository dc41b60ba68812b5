"""The HTTP decision for one file request: status, headers and byte window, with no I/O.

Deciding is kept apart from sending (the web layer only copies bytes): every rule of
RFC 9110 the service relies on is here and unit-tested case by case.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Literal
from urllib.parse import quote

from FileStream.core.mime import effective_mime_type, is_inline_safe
from FileStream.core.models import StoredFile
from FileStream.core.ranges import ByteWindow, RangeKind, choose_range, parse_range

Disposition = Literal["inline", "attachment"]

# Cache lifetimes for a link. Never beyond the link's own expiry; capped at an hour even
# for permanent links because the owner can delete a file and the URL is a capability
# (hence `private`: shared caches must not keep it).
MAX_CACHE_SECONDS = 3600
NO_STORE_BELOW_SECONDS = 60

# Every file response's Content-Security-Policy (see plan_response).
FILE_CSP = "sandbox"

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTH_RE = "(" + "|".join(_MONTHS) + ")"
_TIME_RE = r"([0-9]{2}):([0-9]{2}):([0-9]{2})"
# RFC 9110 §5.6.7: IMF-fixdate, plus the obsolete rfc850-date and asctime-date forms.
_IMF_FIXDATE = re.compile(rf"^[A-Za-z]{{3}}, ([0-9]{{2}}) {_MONTH_RE} ([0-9]{{4}}) {_TIME_RE} GMT$")
_RFC850_DATE = re.compile(rf"^[A-Za-z]{{6,9}}, ([0-9]{{2}})-{_MONTH_RE}-([0-9]{{2}}) {_TIME_RE} GMT$")
_ASCTIME_DATE = re.compile(rf"^[A-Za-z]{{3}} {_MONTH_RE} ([0-9 ][0-9]) {_TIME_RE} ([0-9]{{4}})$")

# etagc = %x21 / %x23-7E / obs-text (RFC 9110 §8.8.3). Our own tags stay ASCII: obs-text
# would reach the wire as UTF-8 bytes and compare differently across clients.
_ETAGC = re.compile(r'^[\x21\x23-\x7e]*$')
_ENTITY_TAG = re.compile(r'(W/)?"([\x21\x23-\x7e\x80-\xff]*)"')

# attr-char of RFC 8187 minus ALPHA/DIGIT, which quote() never encodes.
_ATTR_CHAR_PUNCT = "!#$&+-.^_`|~"


# ---------------------------------------------------------------- dates


def http_date(moment: datetime) -> str:
    """IMF-fixdate (RFC 9110 §5.6.7) of a datetime; naive datetimes are taken as UTC."""
    utc = _as_utc(moment)
    return (
        f"{_DAYS[utc.weekday()]}, {utc.day:02d} {_MONTHS[utc.month - 1]} {utc.year:04d} "
        f"{utc.hour:02d}:{utc.minute:02d}:{utc.second:02d} GMT"
    )


def parse_http_date(value: str, *, now: datetime | None = None) -> datetime | None:
    """A timezone-aware UTC datetime from any of the three HTTP-date forms, or None if invalid.

    `now` anchors the two-digit years of rfc850-date (§5.6.7: never more than 50 years ahead).
    """
    value = value.strip()
    try:
        if m := _IMF_FIXDATE.match(value):
            day, month, year, hh, mm, ss = m.groups()
            year_n = int(year)
        elif m := _RFC850_DATE.match(value):
            day, month, yy, hh, mm, ss = m.groups()
            this_year = _as_utc(now).year if now else datetime.now(timezone.utc).year
            year_n = (this_year // 100) * 100 + int(yy)
            if year_n > this_year + 50:
                year_n -= 100
        elif m := _ASCTIME_DATE.match(value):
            month, day, hh, mm, ss, year = m.groups()
            year_n = int(year)
        else:
            return None
        return datetime(
            year_n, _MONTHS.index(month) + 1, int(day.strip()),
            int(hh), int(mm), int(ss), tzinfo=timezone.utc,
        )
    except ValueError:  # 31 Feb, 25:00 and similar
        return None


def _as_utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        return moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


def _whole_seconds(moment: datetime) -> datetime:
    # HTTP dates have one-second resolution; validators compare at that resolution.
    return _as_utc(moment).replace(microsecond=0)


# ---------------------------------------------------------------- validators


def strong_etag(file_unique_id: str) -> str:
    """A strong ETag from Telegram's file_unique_id, which names the bytes, not the upload."""
    if file_unique_id and _ETAGC.match(file_unique_id):
        return f'"{file_unique_id}"'
    # Defensive: an id with quotes or controls would break the header; hash it instead.
    digest = hashlib.sha256(file_unique_id.encode("utf-8", "surrogatepass")).hexdigest()[:32]
    return f'"{digest}"'


def _entity_tags(value: str) -> list[tuple[bool, str]] | None:
    """(weak, opaque-tag) pairs of a comma-separated entity-tag list, or None if malformed."""
    tags: list[tuple[bool, str]] = []
    for element in value.split(","):
        element = element.strip(" \t")
        if not element:
            continue
        m = _ENTITY_TAG.fullmatch(element)
        if m is None:
            return None
        tags.append((m.group(1) is not None, m.group(2)))
    return tags


def _opaque(etag: str) -> str:
    return etag[2:] if etag.startswith("W/") else etag


def if_none_match_matches(value: str, etag: str) -> bool:
    """§13.1.2: `*` or any listed tag equal to ours under weak comparison (§8.8.3.2)."""
    if value.strip(" \t") == "*":
        return True
    tags = _entity_tags(value)
    if not tags:
        return False
    ours = _opaque(etag).strip('"')
    return any(tag == ours for _weak, tag in tags)


def if_range_holds(value: str, etag: str, last_modified: datetime | None, *, now: datetime | None = None) -> bool:
    """§13.1.5: the Range may be honoured only if the validator still names these bytes.

    An entity-tag must match strongly (a weak tag never does); a date must equal
    Last-Modified exactly (never, when `last_modified` is None: dates do not validate these
    bytes). Anything else, malformed values included, means "send it all".
    """
    value = value.strip(" \t")
    if value.startswith(('"', "W/")):
        m = _ENTITY_TAG.fullmatch(value)
        if m is None or m.group(1) is not None or etag.startswith("W/"):
            return False
        return m.group(2) == etag.strip('"')
    if last_modified is None:
        return False
    date = parse_http_date(value, now=now)
    return date is not None and date == _whole_seconds(last_modified)


def if_modified_since_unchanged(value: str, last_modified: datetime, *, now: datetime | None = None) -> bool:
    """§13.1.3: true (answer 304) when the file is not newer than the given date; invalid dates are ignored."""
    date = parse_http_date(value, now=now)
    return date is not None and _whole_seconds(last_modified) <= date


# ---------------------------------------------------------------- headers


def clean_file_name(file_name: str) -> str:
    """The file name without controls, bidi tricks or path separators; never empty."""
    name = unicodedata.normalize("NFC", file_name or "")
    kept = []
    for char in name:
        category = unicodedata.category(char)
        if category in ("Cc", "Cf", "Cs", "Zl", "Zp"):
            continue  # CR/LF and friends, and U+202E-style reordering that disguises extensions
        kept.append("_" if char in "/\\" else char)
    cleaned = "".join(kept).strip()
    return cleaned if cleaned.strip(".") else "file"


def _ascii_fallback(name: str) -> str:
    # Keep base letters of accented characters, replace the rest; '"' '\' and '%' are
    # replaced too, because some user agents unescape or mis-split them in filename=.
    decomposed = unicodedata.normalize("NFKD", name)
    out = []
    for char in decomposed:
        if unicodedata.category(char) == "Mn":
            continue
        if " " <= char <= "~" and char not in '"\\%;':
            out.append(char)
        elif not out or out[-1] != "_":
            out.append("_")
    result = "".join(out).strip()
    return result if result.strip("._ ") else "file"


def content_disposition(disposition: Disposition, file_name: str) -> str:
    """RFC 6266 header value with an ASCII `filename` and an RFC 8187 `filename*`."""
    name = clean_file_name(file_name)
    encoded = quote(name, safe=_ATTR_CHAR_PUNCT, encoding="utf-8", errors="replace")
    return f'{disposition}; filename="{_ascii_fallback(name)}"; filename*=UTF-8\'\'{encoded}'


def cache_control(now: datetime, link_expires_at: datetime | None) -> str:
    """Cache-Control that never outlives the link (and says no-store when it is about to end)."""
    if link_expires_at is None:
        return f"private, max-age={MAX_CACHE_SECONDS}"
    left = int((_as_utc(link_expires_at) - _as_utc(now)).total_seconds())
    if left < NO_STORE_BELOW_SECONDS:
        return "no-store"
    return f"private, max-age={min(left, MAX_CACHE_SECONDS)}"


# ---------------------------------------------------------------- the decision


@dataclass(frozen=True, slots=True)
class FileFacts:
    """What the HTTP decision needs to know about a file."""

    size: int
    etag: str                 # complete header value, quotes included
    last_modified: datetime
    content_type: str
    file_name: str
    disposition: Disposition  # already forced to attachment for unsafe types
    # False when the bytes can change without the date changing (a bundle's ZIP loses a
    # deleted file): no Last-Modified is sent, and only the ETag validates.
    dates_validate: bool = True


def file_facts(file: StoredFile, *, download: bool) -> FileFacts:
    """Facts for a stored file; `download` asks for attachment, otherwise inline when safe."""
    content_type = effective_mime_type(file.mime_type, file.file_name)
    # An uploaded page or script must never run on the service's origin: attachment it is.
    inline = not download and is_inline_safe(content_type)
    return FileFacts(
        size=file.file_size,
        etag=strong_etag(file.file_unique_id),
        last_modified=file.created_at,
        content_type=content_type,
        file_name=file.file_name,
        disposition="inline" if inline else "attachment",
    )


@dataclass(frozen=True, slots=True)
class RequestFacts:
    """The parts of a request that decide the answer (raw header values, None when absent)."""

    method: str = "GET"
    range: str | None = None
    if_range: str | None = None
    if_none_match: str | None = None
    if_modified_since: str | None = None


@dataclass(frozen=True, slots=True)
class Outcome:
    """The answer: status, headers, and the bytes it represents.

    `window` is the byte range the headers describe (None for 304, 416 and empty files);
    `send_body` is False for HEAD, which gets exactly the headers GET would get.
    """

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    window: ByteWindow | None = None
    send_body: bool = False


def plan_response(
    request: RequestFacts,
    facts: FileFacts,
    *,
    now: datetime,
    link_expires_at: datetime | None,
) -> Outcome:
    """Decide status, headers and byte window for a GET or HEAD of a file."""
    method = request.method.upper()
    if method not in ("GET", "HEAD"):
        raise ValueError(f"only GET and HEAD are planned here, not {request.method!r}")
    # §9.3.2: HEAD gets the same header fields as GET. That includes honouring Range on
    # HEAD (strictly §14.2 defines Range for GET only) because players probe with it.
    wants_body = method == "GET"

    validators = {
        "ETag": facts.etag,
        "Last-Modified": http_date(facts.last_modified),
        "Cache-Control": cache_control(now, link_expires_at),
        "Accept-Ranges": "bytes",
        "X-Content-Type-Options": "nosniff",
        # Opened directly, a file is a page of its own origin-less sandbox: no script, no
        # forms, no access to the service's cookies or storage, whatever its type says.
        "Content-Security-Policy": FILE_CSP,
    }
    last_modified: datetime | None = facts.last_modified
    if not facts.dates_validate:
        del validators["Last-Modified"]
        last_modified = None

    # §13.2.2 order: If-None-Match, else If-Modified-Since; then If-Range.
    if request.if_none_match is not None:
        if if_none_match_matches(request.if_none_match, facts.etag):
            return Outcome(304, dict(validators))
    elif request.if_modified_since is not None and last_modified is not None:
        if if_modified_since_unchanged(request.if_modified_since, facts.last_modified, now=now):
            return Outcome(304, dict(validators))

    specs = parse_range(request.range)
    if specs is not None and request.if_range is not None:
        if not if_range_holds(request.if_range, facts.etag, last_modified, now=now):
            specs = None  # the client's copy is stale: it needs the whole new body
    choice = choose_range(specs, facts.size)

    if choice.kind is RangeKind.UNSATISFIABLE:
        headers = dict(validators)
        headers["Content-Range"] = f"bytes */{facts.size}"
        headers["Content-Length"] = "0"
        return Outcome(416, headers)

    headers = dict(validators)
    headers["Content-Type"] = facts.content_type
    headers["Content-Disposition"] = content_disposition(facts.disposition, facts.file_name)
    if choice.kind is RangeKind.PARTIAL:
        window = choice.window
        assert window is not None
        headers["Content-Range"] = f"bytes {window.start}-{window.end}/{facts.size}"
        headers["Content-Length"] = str(window.length)
        return Outcome(206, headers, window, wants_body)
    headers["Content-Length"] = str(facts.size)
    window = ByteWindow(0, facts.size - 1) if facts.size > 0 else None
    return Outcome(200, headers, window, wants_body and window is not None)
