"""The person's language: message catalogs, the language being answered in, and formatting in it.

The catalogs are gettext .po files under locales/, read with Babel. Texts are marked where
they are written: `_("...")` translates now, `N_("...")` only marks a text that is
translated later (a constant), `ngettext(singular, plural, n)` picks a plural form.
Placeholders are `{name}` and filled with `.format()` after translation, so a translator may
move them. The language is a context variable: the bot sets it for each update
(bot/language.py), the web app for each request (Accept-Language), the jobs for each person
they write to. Unset, it is English (the texts themselves, no catalog).

The .po files are compiled in memory when the service starts (`Catalogs.load()`), so there
are no .mo files to build or keep in step. Adding a language: see README, "Adding a language".
"""

from __future__ import annotations

import gettext
import io
import re
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import cache
from pathlib import Path

from babel import Locale
from babel.dates import format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal

LOCALES_DIR = Path(__file__).resolve().parent / "locales"
DOMAIN = "messages"
DEFAULT = "en"
# Every language the bot speaks, by code, with its name in itself (the /language buttons).
LANGUAGES: dict[str, str] = {
    "en": "English",
    "es": "Español",
    "ru": "Русский",
    "hi": "हिन्दी",
    "id": "Bahasa Indonesia",
}


@dataclass(frozen=True, slots=True)
class Language:
    """One language: its code, its compiled catalog, and Babel's locale data for formatting."""

    code: str
    translations: gettext.NullTranslations
    locale: Locale

    @property
    def name(self) -> str:
        return LANGUAGES.get(self.code, self.code)


@cache
def english() -> Language:
    """The texts as written: no catalog needed."""
    return Language(DEFAULT, gettext.NullTranslations(), Locale.parse(DEFAULT))


def compile_po(path: Path, code: str) -> gettext.GNUTranslations:
    """A .po file as a gettext catalog, compiled in memory (fuzzy entries are left out)."""
    with path.open("rb") as source:
        catalog = read_po(source, locale=code, domain=DOMAIN)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return gettext.GNUTranslations(compiled)


class Catalogs:
    """Every language FileStream speaks, loaded once at start (never at import)."""

    def __init__(self, languages: dict[str, Language]) -> None:
        self.languages = {DEFAULT: english(), **languages}

    @classmethod
    def load(cls, directory: Path = LOCALES_DIR) -> Catalogs:
        found = {}
        for code in LANGUAGES:
            path = directory / code / "LC_MESSAGES" / f"{DOMAIN}.po"
            if code != DEFAULT and path.exists():
                found[code] = Language(code, compile_po(path, code), Locale.parse(code))
        return cls(found)

    @classmethod
    def english_only(cls) -> Catalogs:
        return cls({})

    def get(self, code: str | None) -> Language:
        return self.languages.get(code or "", self.languages[DEFAULT])

    def supported(self, code: str | None) -> str | None:
        """The code of ours that a Telegram language_code or a language tag means ("es-419" is
        "es"), or None when we do not speak it."""
        if not code:
            return None
        code = code.strip().lower().replace("_", "-")
        if code in self.languages:
            return code
        base = code.split("-", 1)[0]
        return base if base in self.languages else None

    def pick(self, chosen: str | None, telegram_code: str | None) -> Language:
        """The person's choice (/language), else their Telegram app's language, else English."""
        return self.get(self.supported(chosen) or self.supported(telegram_code))

    def for_accept_language(self, header: str | None) -> Language:
        """The language a browser asks for most (Accept-Language, RFC 9110 §12.5.4) that we speak."""
        best: tuple[float, int] | None = None
        chosen = None
        for position, part in enumerate((header or "").split(",")):
            tag, *params = part.split(";")
            weight = _weight(params)
            code = self.supported(tag.strip())
            if code is None or weight <= 0:
                continue
            rank = (weight, -position)
            if best is None or rank > best:
                best, chosen = rank, code
        return self.get(chosen)


def _weight(params: list[str]) -> float:
    """The q of an Accept-Language entry: 1 when absent, 0 (skip it) when malformed."""
    for param in params:
        name, _, value = param.partition("=")
        if name.strip().lower() == "q":
            return float(value) if _QVALUE.fullmatch(value.strip()) else 0.0
    return 1.0


_QVALUE = re.compile(r"0(\.\d{0,3})?|1(\.0{0,3})?")   # RFC 9110 §12.4.2


# -- the language of what is being answered -----------------------------------------------

_current: ContextVar[Language] = ContextVar("FileStream.language")


def speak(language: Language) -> None:
    """Answer in `language` from here on, in this task (one bot update, one page, one job step)."""
    _current.set(language)


def current() -> Language:
    return _current.get(None) or english()


def _(message: str) -> str:
    """`message` in the current language (itself when its catalog lacks it)."""
    return current().translations.gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    """The form for `n` in the current language (Russian has three, Indonesian one)."""
    return current().translations.ngettext(singular, plural, n)


def N_(message: str) -> str:
    """Marks a text for the catalogs without translating it: a constant, translated where used."""
    return message


# -- numbers, sizes, durations, dates in the current language -----------------------------

def number(value: float, digits: int = 0) -> str:
    """A number with the language's decimal sign (1.5 / 1,5), without grouping (sizes and
    durations stay below 1024 but for TiB and days, where 8192 reads better than 8,192)."""
    pattern = "0" + ("." + "0" * digits if digits else "")
    return format_decimal(value, pattern, locale=current().locale)


_SIZE_UNITS = (N_("{number} KiB"), N_("{number} MiB"), N_("{number} GiB"), N_("{number} TiB"))


def size(byte_count: int) -> str:
    """`512 B`, `1.5 KiB`, `10.0 MiB` (binary units, one decimal above bytes) in the current language."""
    if byte_count < 1024:
        return _("{number} B").format(number=number(byte_count))
    value = float(byte_count)
    for unit in _SIZE_UNITS:
        value /= 1024
        # Round first so 1023.95 KiB reads "1.0 MiB", not "1024.0 KiB".
        if round(value, 1) < 1024 or unit == _SIZE_UNITS[-1]:
            return _(unit).format(number=number(round(value, 1), digits=1))
    raise AssertionError("unreachable")


def duration(span: timedelta | float | int) -> str:
    """`45 s`, `59 min`, `1 h 5 min`, `1 day 3 h`, `2 days`: the two largest units, rounded down."""
    seconds = max(int(span.total_seconds() if isinstance(span, timedelta) else span), 0)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)

    def days_(n: int) -> str:
        return ngettext("{count} day", "{count} days", n).format(count=number(n))

    def hours_(n: int) -> str:
        return ngettext("{count} h", "{count} h", n).format(count=number(n))

    def minutes_(n: int) -> str:
        return _("{count} min").format(count=number(n))

    if days:
        return days_(days) + (" " + hours_(hours) if hours else "")
    if hours:
        return hours_(hours) + (" " + minutes_(minutes) if minutes else "")
    if minutes:
        return minutes_(minutes)
    return _("{count} s").format(count=number(secs))


def date_time(moment: datetime) -> str:
    """A date and time in UTC as the language writes them (`2030-01-05 14:00` in English)."""
    utc = moment.astimezone(timezone.utc)
    if current().code == DEFAULT:
        return utc.strftime("%Y-%m-%d %H:%M")
    return format_datetime(utc, "short", tzinfo=timezone.utc, locale=current().locale)


def time_left(expires_at: datetime | None, now: datetime) -> str:
    """How long a link still works, in words: `never expires`, `expired`, or a duration."""
    if expires_at is None:
        return _("never expires")
    left = expires_at - now
    if left.total_seconds() <= 0:
        return _("expired")
    return duration(left)
