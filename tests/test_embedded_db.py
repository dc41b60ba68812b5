"""The embedded database: a SecantusDB child process that keeps its data across restarts."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from pymongo import AsyncMongoClient

from FileStream.embedded_db import (
    EMBEDDED_NOTICE,
    STORAGE_SUBDIR,
    EmbeddedDatabase,
    EmbeddedDatabaseError,
    database_command,
)

REPO = Path(__file__).resolve().parents[1]


async def _write_then_read(url: str, value: str | None) -> str | None:
    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(url, serverSelectionTimeoutMS=5000)
    try:
        coll = client["filestream"]["probe"]
        if value is not None:
            await coll.insert_one({"_id": "probe", "value": value})
        doc = await coll.find_one({"_id": "probe"})
        return None if doc is None else str(doc["value"])
    finally:
        await client.close()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0); it is gone for our purposes.
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split(") ", 1)[1].startswith("Z"))


async def test_data_survives_a_restart_on_the_same_directory(tmp_path: Path) -> None:
    db = EmbeddedDatabase()
    url = await db.start(tmp_path)
    try:
        assert url.startswith("mongodb://127.0.0.1:")
        assert await _write_then_read(url, "kept") == "kept"
    finally:
        pid = db.pid
        await db.stop()
    assert pid is not None and not _alive(pid)
    assert (tmp_path / STORAGE_SUBDIR).is_dir()

    again = EmbeddedDatabase()
    url2 = await again.start(tmp_path)
    try:
        assert await _write_then_read(url2, None) == "kept"
    finally:
        await again.stop()
    await again.stop()  # stopping twice is harmless


async def test_a_directory_in_use_by_another_instance_is_refused_in_words(tmp_path: Path) -> None:
    first = EmbeddedDatabase()
    await first.start(tmp_path)
    try:
        with pytest.raises(EmbeddedDatabaseError) as caught:
            await EmbeddedDatabase().start(tmp_path)
    finally:
        await first.stop()
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("could not start the embedded database (")
    assert re.search(r"exited with code \d+: .+\)", message)
    assert "set DATABASE_URL" in message
    assert f"DATA_DIR={tmp_path}" in message and "not used by another FileStream" in message


async def test_a_data_dir_that_cannot_be_created_is_refused_in_words(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    with pytest.raises(EmbeddedDatabaseError) as caught:
        await EmbeddedDatabase().start(blocker / "data")
    message = str(caught.value)
    assert "cannot write to" in message and "DATA_DIR=" in message and "set DATABASE_URL" in message


async def test_a_missing_program_says_how_to_get_one(tmp_path: Path) -> None:
    db = EmbeddedDatabase(command=[str(tmp_path / "no-such-secantusd")])
    with pytest.raises(EmbeddedDatabaseError, match="set DATABASE_URL.*pip install secantusdb"):
        await db.start(tmp_path / "data")


async def test_a_database_that_never_answers_times_out_and_is_stopped(tmp_path: Path) -> None:
    # Any extra arguments land in sys.argv of this process, which ignores them and waits for a signal.
    db = EmbeddedDatabase(command=[sys.executable, "-c", "import signal; signal.pause()"], start_timeout=1.5)
    with pytest.raises(EmbeddedDatabaseError, match=r"no answer on mongodb://127\.0\.0\.1:\d+.* within 1\.5 s"):
        await db.start(tmp_path)
    assert db.pid is None


async def test_an_early_exit_reports_the_last_line_it_wrote(tmp_path: Path) -> None:
    script = "import sys; print('starting', file=sys.stderr); print('disk on fire', file=sys.stderr); sys.exit(3)"
    db = EmbeddedDatabase(command=[sys.executable, "-c", script])
    with pytest.raises(EmbeddedDatabaseError, match=r"exited with code 3: disk on fire\)"):
        await db.start(tmp_path)


def test_the_program_is_the_console_script_beside_the_interpreter() -> None:
    command = database_command()
    assert command == [str(Path(sys.executable).with_name("secantusd-py"))]
    help_text = subprocess.run([*command, "--help"], capture_output=True, text=True, timeout=60).stdout
    for flag in ("--host", "--port", "--storage-path", "--config", "--cache-size", "--log-level"):
        assert flag in help_text
    assert database_command("/nowhere/python3") == ["/nowhere/python3", "-m", "secantus"]


def test_the_notice_tells_production_to_set_database_url() -> None:
    text = EMBEDDED_NOTICE.format(data_dir="/srv/data")
    assert "embedded database" in text and "/srv/data" in text and "DATABASE_URL" in text


def test_filestream_never_imports_secantus() -> None:
    # SecantusDB is GPL-2.0: FileStream may run it as a program, never link it in.
    offenders = [
        str(path.relative_to(REPO))
        for path in (REPO / "FileStream").rglob("*.py")
        if re.search(r"^\s*(import\s+secantus|from\s+secantus)\b", path.read_text(), re.MULTILINE)
    ]
    assert offenders == []
    code = "import sys, FileStream.embedded_db; sys.exit('secantus' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], cwd=REPO, timeout=60).returncode == 0
