"""Choosing a language (the person's choice, their Telegram app's, the browser's) and writing
sizes, durations and dates in it."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from FileStream.core.formatting import human_duration, human_size
from FileStream.i18n import LANGUAGES, Catalogs, current, date_time, duration, english, size, speak, time_left

CATALOGS = Catalogs.load()


@pytest.mark.parametrize("header, code", [
    ("ru-RU,ru;q=0.9,en-US;q=0.8,en;q=0.7", "ru"),
    ("fr-FR,fr;q=0.9,es;q=0.5,id;q=0.4", "es"),
    ("en;q=0.2, hi", "hi"),
    ("ES", "es"),
    ("id;q=0, ru;q=0.1", "ru"),
    ("de-DE,de", "en"),
    ("", "en"),
    (None, "en"),
    ("*", "en"),
    ("es;q=abc, ru;q=0.3", "ru"),
])
def test_a_page_is_in_the_language_the_browser_likes_best_among_ours(header, code):
    assert CATALOGS.for_accept_language(header).code == code


@given(st.text(max_size=200))
def test_any_accept_language_header_picks_a_language_we_speak(header):
    assert CATALOGS.for_accept_language(header).code in LANGUAGES


def test_the_bot_prefers_the_persons_choice_then_their_apps_language_then_english():
    assert CATALOGS.pick("hi", "es").code == "hi"
    assert CATALOGS.pick(None, "es-419").code == "es"
    assert CATALOGS.pick(None, "pt-br").code == "en"
    assert CATALOGS.pick("xx", None).code == "en"


def test_english_reads_exactly_as_before():
    speak(english())
    for n in (0, 500, 1536, 10 * 2**20, 5 * 2**40, 2**53):
        assert size(n) == human_size(n)
    for seconds in (0, 45, 59 * 60, 3900, 86400, 2 * 86400 + 3 * 3600):
        assert duration(seconds) == human_duration(seconds)
    now = datetime(2030, 1, 5, 14, 0, tzinfo=timezone.utc)
    assert date_time(now) == "2030-01-05 14:00"
    assert time_left(None, now) == "never expires" and time_left(now, now) == "expired"


@pytest.mark.parametrize("code, half_mib, three_days, hour", [
    ("es", "1,5 MiB", "3 días", "1 h"),
    ("ru", "1,5 МиБ", "3 дня", "1 ч"),
    ("hi", "1.5 MiB", "3 दिन", "1 घंटे"),
    ("id", "1,5 MiB", "3 hari", "1 jam"),
])
def test_sizes_and_durations_in_each_language(code, half_mib, three_days, hour):
    speak(CATALOGS.get(code))
    try:
        assert size(3 * 2**19) == half_mib
        assert duration(timedelta(days=3)) == three_days
        assert duration(3600) == hour
        assert current().code == code
    finally:
        speak(english())
