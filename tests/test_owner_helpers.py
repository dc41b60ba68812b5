"""The parts behind the owner's commands: upload files opened safely, progress pacing, stats, user ids."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest

from FileStream.bot.owner.bans import parse_user_id
from FileStream.services.stats import gather_stats, render_stats
from FileStream.services.uploads import ProgressMeter, UploadRefused, UploadStatus, open_upload, progress_text
from FileStream.telegram.pool import BotPool, PoolMember

T0 = datetime(2030, 1, 1, tzinfo=timezone.utc)


@pytest.fixture
def upload_dir(tmp_path):
    root = tmp_path / "uploads"
    (root / "films").mkdir(parents=True)
    (root / "films" / "a.mkv").write_bytes(b"a")
    (root / "inside_link").symlink_to(root / "films" / "a.mkv")
    (root / "films_link").symlink_to(root / "films")
    (tmp_path / "outside.txt").write_bytes(b"x")
    (root / "out_link").symlink_to(tmp_path / "outside.txt")
    (root / "films" / "up").symlink_to(tmp_path)
    return root


def opened(upload_dir, requested: str) -> bytes:
    with open_upload(upload_dir, requested) as upload:
        assert upload.name == "a.mkv" and upload.size == 1
        return upload.file.read()


def refusal(upload_dir, requested: str) -> str:
    with pytest.raises(UploadRefused) as refused:
        open_upload(upload_dir, requested)
    return refused.value.reason


def test_upload_paths_open_inside_the_folder_only(upload_dir, tmp_path):
    assert opened(upload_dir, "films/a.mkv") == b"a"
    assert opened(upload_dir, "./films/../films/a.mkv") == b"a"
    assert opened(upload_dir, str(upload_dir / "films" / "a.mkv")) == b"a"
    for escape in ("../outside.txt", "films/../../outside.txt", str(tmp_path / "outside.txt"),
                   "/etc/passwd", "../../../../../../etc/passwd"):
        assert refusal(upload_dir, escape).startswith("That path leads outside the upload folder"), escape
    assert refusal(upload_dir, "films/a\x00.mkv") == "That path is not valid."
    assert refusal(tmp_path / "nowhere", "a.mkv").endswith("does not exist on the server.")
    assert refusal(upload_dir / "films" / "a.mkv", "a.mkv").endswith("(Not a directory); check UPLOAD_DIR.")


def test_links_are_never_followed_even_when_they_stay_inside(upload_dir):
    for link in ("inside_link", "out_link", "films_link/a.mkv", "films/up/outside.txt"):
        assert " is a link; I only upload files that are really inside" in refusal(upload_dir, link), link


def test_an_upload_dir_reached_through_a_symlink_still_works(upload_dir, tmp_path):
    (tmp_path / "link_to_uploads").symlink_to(upload_dir)
    assert opened(tmp_path / "link_to_uploads", "films/a.mkv") == b"a"


def test_progress_is_reported_at_once_then_at_most_every_two_seconds():
    now = [100.0]
    meter = ProgressMeter(monotonic=lambda: now[0])
    reports = []
    for step in range(1, 40):
        now[0] += 0.25
        report = meter.update(step * 10, 400)
        if report is not None:
            reports.append((now[0], report))
    times = [t for t, _ in reports]
    assert times[0] == 100.25
    assert all(b - a >= 2.0 for a, b in zip(times, times[1:]))
    assert len(reports) == 5
    assert meter.update(400, 400) is None  # the end is the caller's to say
    status = reports[1][1]
    assert status.done == 90 and status.elapsed == pytest.approx(2.25) and status.percent == 22


def test_progress_text_says_percent_speed_and_time_left():
    status = UploadStatus(done=5 * 1024 * 1024, total=20 * 1024 * 1024, elapsed=2.0)
    assert progress_text("a.mkv", status) == (
        "Uploading a.mkv: 25% (5.0 MiB of 20.0 MiB), 2.5 MiB/s, about 6 s left")
    assert "time left unknown" in progress_text("a.mkv", UploadStatus(0, 10, 0.0))


def test_user_ids_are_positive_integers():
    assert parse_user_id("123") == 123
    for text in ("", "-1", "0", "1.5", "abc", "١٢٣", "1" * 30):
        assert parse_user_id(text) is None, text


class _DownDatabase:
    class client:
        class admin:
            @staticmethod
            async def command(name):
                raise ConnectionError("connection refused\nmore detail")


async def test_botstats_says_the_database_is_not_ok_when_it_does_not_answer():
    pool = BotPool(main=PoolMember("main", None, is_main=True, username="filestream_bot", home_dc=2))
    pool.record_failure(pool.main, "<timeout>")
    stats = await gather_stats(pool, _DownDatabase(), now=T0 + timedelta(minutes=3), started_at=T0)
    assert not stats.database_ok and stats.files_live is None
    text = render_stats(stats)
    assert "NOT OK: connection refused" in text
    assert re.search(r"^files live +unknown \(database down\)$", text, re.M)
    assert re.search(r"^uptime +3 min$", text, re.M)
    assert "&lt;timeout&gt;" in text and "<timeout>" not in text  # escaped inside <pre>
    assert "@filestream_bot  no" in text
