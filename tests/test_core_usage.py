"""Which responses count as a download or play: byte 0, a body, and more than a probe."""

from datetime import datetime, timedelta, timezone

from hypothesis import given, strategies as st

from FileStream.core.usage import PROBE_BYTES, UsageDelta, counts_as_download, day_of, is_probe

MIB = 1024 * 1024


def test_a_whole_file_from_byte_zero_counts():
    assert counts_as_download(0, 10 * MIB - 1, 10 * MIB)


def test_an_open_ended_range_from_zero_counts_like_a_browser_player():
    # <video> asks for bytes=0-: the window is the rest of the file.
    assert counts_as_download(0, 700 * MIB - 1, 700 * MIB)


def test_probes_of_a_few_bytes_at_the_start_do_not_count():
    for end in (0, 1, 1023, PROBE_BYTES - 2):
        assert is_probe(0, end, 10 * MIB) and not counts_as_download(0, end, 10 * MIB)


def test_the_first_part_of_a_segmented_download_counts_once_it_is_not_a_probe():
    assert counts_as_download(0, PROBE_BYTES - 1, 10 * MIB)
    assert counts_as_download(0, 5 * MIB - 1, 10 * MIB)


def test_seeks_and_resumed_downloads_do_not_count():
    assert not counts_as_download(1, 10 * MIB - 1, 10 * MIB)
    assert not counts_as_download(5 * MIB, 10 * MIB - 1, 10 * MIB)


def test_a_small_file_fetched_whole_is_a_download_not_a_probe():
    assert counts_as_download(0, 99, 100)
    assert counts_as_download(0, 0, 1)
    assert not counts_as_download(0, 0, 100)


@given(size=st.integers(1, 2**40), data=st.data())
def test_every_window_is_exactly_one_of_probe_download_or_elsewhere(size, data):
    start = data.draw(st.integers(0, size - 1))
    end = data.draw(st.integers(start, size - 1))
    kinds = [is_probe(start, end, size), counts_as_download(start, end, size), start > 0]
    assert kinds.count(True) == 1
    if start == 0 and end == size - 1:
        assert counts_as_download(start, end, size)


def test_day_is_the_utc_midnight():
    moment = datetime(2030, 3, 1, 0, 30, tzinfo=timezone(timedelta(hours=2)))   # 22:30 UTC the day before
    assert day_of(moment) == datetime(2030, 2, 28, tzinfo=timezone.utc)


def test_deltas_add_and_merge_keeping_the_latest_access():
    t = datetime.now(timezone.utc)
    a = UsageDelta("f", "a.mp4", day_of(t))
    a.add(1, 100, t)
    b = UsageDelta("f", "a.mp4", day_of(t))
    b.add(0, 50, t - timedelta(seconds=5))
    a.merge(b)
    assert (a.downloads, a.bytes_served, a.last_access) == (1, 150, t)
