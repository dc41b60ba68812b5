"""migrate_files.py: pure transformations, then whole runs against seeded databases."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
from bson import ObjectId
from pymongo import AsyncMongoClient
from pyrogram.file_id import FileId, FileType, ThumbnailSource

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from FileStream import migration as mf  # noqa: E402
from FileStream.core.models import StoredFile  # noqa: E402
from FileStream.store.database import Database  # noqa: E402
from clocks import real_now  # noqa: E402

NOW = real_now()  # migrated records reach a database whose TTL index runs on the real clock
BIN = -1001234567890
T0 = 1_700_000_000  # 2023-11-14, a FileStreamBot `time`


def file_id(kind: FileType = FileType.VIDEO, dc: int = 4) -> str:
    photo = dict(thumbnail_source=ThumbnailSource.THUMBNAIL, thumbnail_file_type=FileType.PHOTO,
                 thumbnail_size="y", volume_id=0, local_id=0) if kind == FileType.PHOTO else {}
    return FileId(file_type=kind, dc_id=dc, media_id=123, access_hash=456, file_reference=b"ref", **photo).encode()


def legacy_file(**fields: Any) -> dict[str, Any]:
    doc = {
        "_id": ObjectId(),
        "user_id": 1001,
        "file_id": file_id(),
        "file_unique_id": "AgADuniq",
        "file_name": "movie.mkv",
        "file_size": 734003200,
        "mime_type": "video/x-matroska",
        "time": T0,
        "msg_id": 77,
    }
    doc.update(fields)
    return {k: v for k, v in doc.items() if v is not None}


# ---------------------------------------------------------------- pure functions


def test_to_datetime_reads_what_old_bots_stored() -> None:
    expected = datetime.fromtimestamp(T0, timezone.utc)
    assert mf.to_datetime(T0) == expected
    assert mf.to_datetime(T0 + 0.5) == expected + timedelta(seconds=0.5)
    assert mf.to_datetime(T0 * 1000) == expected  # milliseconds
    assert mf.to_datetime(str(T0)) == expected
    assert mf.to_datetime("2023-11-14") == datetime(2023, 11, 14, tzinfo=timezone.utc)
    assert mf.to_datetime(date(2023, 11, 14)) == datetime(2023, 11, 14, tzinfo=timezone.utc)
    assert mf.to_datetime(datetime(2023, 11, 14, 1)) == datetime(2023, 11, 14, 1, tzinfo=timezone.utc)
    for nothing in (None, True, "soon", [], 1e300):
        assert mf.to_datetime(nothing) is None


def test_a_legacy_file_becomes_a_stored_file_record() -> None:
    old = legacy_file()
    result = mf.legacy_file_to_doc(old, new_id="A" * 16, now=NOW, bin_channel=BIN)
    assert isinstance(result, mf.MigratedFile)
    assert result.legacy_id == str(old["_id"])
    doc = result.doc
    assert doc.pop("legacy_id") == str(old["_id"])
    record = StoredFile(id=doc.pop("_id"), **doc)  # exactly StoredFile's fields, nothing missing
    assert record == StoredFile(
        id="A" * 16,
        file_name="movie.mkv",
        file_size=734003200,
        mime_type="video/x-matroska",
        file_unique_id="AgADuniq",
        media_type="video",
        dc_id=4,
        storage_chat_id=BIN,
        storage_message_id=77,
        created_at=datetime.fromtimestamp(T0, timezone.utc),
        expires_at=None,  # permanent before, permanent after
        owner_id=1001,
        source="private",
    )


def test_legacy_file_details() -> None:
    # Per-bot ids only, a meaningless mime type, no name, chat id in the record, no time.
    oid = ObjectId()
    old = legacy_file(
        _id=oid, file_id=None, file_ids={"0": "garbage", "1": file_id(FileType.AUDIO, 2)},
        mime_type="None/unknown", file_name=None, time=None, message_id=9, msg_id=None, chat_id=-100555,
    )
    doc = mf.legacy_file_to_doc(old, new_id="B" * 16, now=NOW).doc  # type: ignore[union-attr]
    assert (doc["media_type"], doc["dc_id"]) == ("audio", 2)
    assert doc["file_name"] == "audio_9" and doc["mime_type"] == "application/octet-stream"
    assert doc["storage_chat_id"] == -100555 and doc["storage_message_id"] == 9
    assert doc["created_at"] == oid.generation_time

    # No decodable file id: kind from the mime type, DC unknown (0).
    doc = mf.legacy_file_to_doc(legacy_file(file_id="xx", mime_type="audio/mpeg"), new_id="C" * 16, now=NOW, bin_channel=BIN).doc  # type: ignore[union-attr]
    assert (doc["media_type"], doc["dc_id"], doc["mime_type"]) == ("audio", 0, "audio/mpeg")

    # --file-ttl: expiry counted from the migration; a stored expiry is kept as it is.
    doc = mf.legacy_file_to_doc(legacy_file(), new_id="D" * 16, now=NOW, bin_channel=BIN, file_ttl=3600).doc  # type: ignore[union-attr]
    assert doc["expires_at"] == NOW + timedelta(hours=1)
    kept = datetime(2030, 1, 1, tzinfo=timezone.utc)
    doc = mf.legacy_file_to_doc(legacy_file(expires_at=kept), new_id="E" * 16, now=NOW, bin_channel=BIN, file_ttl=3600).doc  # type: ignore[union-attr]
    assert doc["expires_at"] == kept

    # A channel post has no sender.
    doc = mf.legacy_file_to_doc(legacy_file(user_id=None), new_id="F" * 16, now=NOW, bin_channel=BIN).doc  # type: ignore[union-attr]
    assert doc["owner_id"] is None and doc["source"] == "channel"


@pytest.mark.parametrize(
    ("change", "bin_channel", "reason"),
    [
        ({"msg_id": None, "file_id": None}, BIN, mf.NO_MESSAGE),
        ({"msg_id": 0, "file_id": "not a file id"}, BIN, mf.NO_MESSAGE),
        ({"file_id": None}, None, mf.NO_CHANNEL),
        ({"file_size": 0}, BIN, mf.NO_SIZE),
        ({"file_size": None}, BIN, mf.NO_SIZE),
        ({"file_unique_id": None}, BIN, mf.NO_UNIQUE_ID),
    ],
)
def test_files_that_cannot_be_served_are_skipped_with_a_reason(change: dict[str, Any], bin_channel: int | None, reason: str) -> None:
    old = legacy_file(**change)
    assert mf.legacy_file_to_doc(old, new_id="A" * 16, now=NOW, bin_channel=bin_channel) == mf.Skip(str(old["_id"]), reason)


def test_a_filestreambot_file_without_a_message_keeps_its_file_ids_and_needs_a_copy() -> None:
    # FileStreamBot's own shape: no storage message, its main bot's id, maybe ids per bot.
    old = legacy_file(msg_id=None, file_ids={"7000000001": file_id(FileType.VIDEO, 4), "x": "not an id"})
    result = mf.legacy_file_to_doc(old, new_id="G" * 16, now=NOW, bin_channel=BIN)
    assert isinstance(result, mf.MigratedFile) and result.needs_copy
    doc = result.doc
    assert (doc["storage_chat_id"], doc["storage_message_id"]) == (None, None)  # the service makes the copy
    assert doc["legacy_file_ids"] == [
        {"file_id": old["file_id"], "bot_id": None},
        {"file_id": "not an id", "bot_id": None},
    ]  # the per-bot id equal to file_id is kept once
    assert (doc["media_type"], doc["dc_id"], doc["legacy_id"]) == ("video", 4, str(old["_id"]))

    # Only per-bot ids, and a message id but no channel anywhere: kept, needs a copy too.
    per_bot = mf.legacy_file_to_doc(legacy_file(file_id=None, file_ids={"42": file_id(FileType.PHOTO, 2)}),
                                    new_id="H" * 16, now=NOW)
    assert isinstance(per_bot, mf.MigratedFile) and per_bot.needs_copy
    assert per_bot.doc["legacy_file_ids"] == [{"file_id": file_id(FileType.PHOTO, 2), "bot_id": 42}]
    assert per_bot.doc["media_type"] == "photo"

    # A post in a channel: FileStreamBot kept the channel's id as user_id.
    post = mf.legacy_file_to_doc(legacy_file(msg_id=None, user_id=-1001122334455), new_id="I" * 16, now=NOW)
    assert isinstance(post, mf.MigratedFile)
    assert (post.doc["owner_id"], post.doc["source"]) == (None, "channel")


def test_the_database_to_migrate_comes_from_session_name_then_the_url_then_filestream() -> None:
    url = "mongodb://app:pw@db.example.com:27017,db2.example.com/fsbot?authSource=admin"
    assert mf.database_in_url(url) == "fsbot"
    assert mf.database_in_url("mongodb://db.example.com:27017/?replicaSet=rs0") is None
    assert mf.source_database(url, {"SESSION_NAME": "MyBot"}) == "MyBot"
    assert mf.source_database(url, {}) == "fsbot"
    assert mf.source_database("mongodb://db.example.com", {}) == "FileStream"

    options = mf.options_from_args([], {"DATABASE_URL": url, "BIN_CHANNEL": str(BIN)})
    assert (options.source_url, options.source_db, options.target_url, options.target_db) == (url, "fsbot", url, "fsbot")
    assert options.in_place and options.bin_channel == BIN and not options.dry_run
    # Every option is still there and wins over the environment.
    options = mf.options_from_args(
        ["--source-url", "mongodb://other", "--source-db", "old", "--target-db", "new", "--bin-channel", "-1009",
         "--file-ttl", "60", "--dry-run", "--timeout", "2", "--no-progress"],
        {"DATABASE_URL": url, "SESSION_NAME": "MyBot"},
    )
    assert (options.source_url, options.source_db, options.target_db, options.bin_channel) == ("mongodb://other", "old", "new", -1009)
    assert (options.file_ttl, options.dry_run, options.timeout, options.progress) == (60, True, 2.0, False)

    options = mf.options_from_args(["--repost", "--repost-rate", "30"], {"DATABASE_URL": url})
    assert (options.repost, options.repost_rate) == (True, 30.0)
    assert not mf.options_from_args([], {"DATABASE_URL": url}).repost

    with pytest.raises(mf.Unusable, match="set DATABASE_URL"):
        mf.options_from_args([], {})
    with pytest.raises(mf.Unusable, match="differ only in case"):
        mf.options_from_args(["--target-db", "filestream"], {"DATABASE_URL": url, "SESSION_NAME": "FileStream"})
    with pytest.raises(mf.Unusable, match="BIN_CHANNEL"):
        mf.options_from_args([], {"DATABASE_URL": url, "BIN_CHANNEL": "the bin"})


def test_repost_without_the_bot_settings_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert mf.main(["--repost"], {"DATABASE_URL": "mongodb://db.example.com/"}) == mf.EXIT_UNUSABLE
    out, err = capsys.readouterr()
    assert out == ""
    assert err == "migrate_files: --repost needs the bot's settings: API_ID is missing: set it in .env (see .env.sample)\n"


def test_the_operator_is_told_which_database_name_filestream_must_read() -> None:
    options = mf.options_from_args([], {"DATABASE_URL": "mongodb://db/"})
    advice = mf.database_name_advice(options, {"DATABASE_URL": "mongodb://db/"})
    assert advice is not None and "DATABASE_NAME=FileStream" in advice
    assert mf.database_name_advice(options, {"DATABASE_URL": "mongodb://db/", "DATABASE_NAME": "FileStream"}) is None
    assert mf.database_name_advice(options, {"DATABASE_URL": "mongodb://elsewhere/"}) is None


def test_users_and_bans() -> None:
    assert mf.legacy_user_to_doc({"_id": ObjectId(), "id": 5, "join_date": T0, "Links": 3}) == {
        "_id": 5, "first_name": None, "username": None,
        "first_seen": datetime.fromtimestamp(T0, timezone.utc),
        "last_active": datetime.fromtimestamp(T0, timezone.utc), "blocked": False,
    }
    assert mf.legacy_user_to_doc({"_id": ObjectId(), "id": "not a number"}) is None

    listed = mf.legacy_ban({"_id": ObjectId(), "id": 7, "ban_date": T0}, NOW, "listed", listed=True)
    assert listed == (7, {"reason": "listed", "at": datetime.fromtimestamp(T0, timezone.utc)})
    assert mf.legacy_ban({"_id": 8}, NOW, "listed", listed=True) == (8, {"reason": "listed", "at": NOW})
    banned_user = {"_id": ObjectId(), "id": 9, "ban_status": {"is_banned": True, "ban_reason": "spam", "banned_on": "2024-01-01"}}
    assert mf.legacy_ban(banned_user, NOW, "x", listed=False) == (9, {"reason": "spam", "at": datetime(2024, 1, 1, tzinfo=timezone.utc)})
    assert mf.legacy_ban({"id": 9, "ban_status": {"is_banned": False}}, NOW, "x", listed=False) is None
    assert mf.legacy_ban({"id": 9}, NOW, "x", listed=False) is None


def test_own_schema_1_upgrades() -> None:
    assert mf.own_file_upgrade({"_id": "x", "owner_id": 3}) == {"source": "private", "expires_at": None}
    assert mf.own_file_upgrade({"_id": "x", "owner_id": None, "expires_at": NOW}) == {"source": "channel"}
    assert mf.own_file_upgrade({"_id": "x", "source": "upload", "expires_at": None}) == {}
    assert mf.own_user_upgrade({"_id": 1}) == {}
    assert mf.is_own_file({"_id": "A" * 16, "storage_message_id": 1})
    assert not mf.is_own_file({"_id": ObjectId(), "storage_message_id": 1})


# ---------------------------------------------------------------- whole runs


def options(url: str, db: str, **kw: Any) -> mf.Options:
    return mf.Options(source_url=url, source_db=db, target_url=kw.pop("target_url", url),
                      target_db=kw.pop("target_db", db), progress=False, **kw)


async def seed_filestreambot(client: AsyncMongoClient[dict[str, Any]], name: str, files: str = "file") -> None:
    db = client[name]
    await db.users.insert_many([
        {"id": 1001, "join_date": T0, "Links": 2},
        {"id": 1002, "join_date": "2023-12-01"},
        {"id": 1003, "join_date": T0, "ban_status": {"is_banned": True, "ban_reason": "abuse", "banned_on": T0}},
    ])
    await db.blacklist.insert_many([{"id": 1002, "ban_date": T0}, {"id": 2000, "ban_date": T0}])
    await db[files].insert_many([
        legacy_file(),
        legacy_file(file_id=None, file_ids={"1": file_id(FileType.DOCUMENT, 1)}, file_name="a.pdf",
                    mime_type="application/pdf", file_unique_id="AgADpdf", message_id=78, msg_id=None),
        legacy_file(msg_id=None, file_unique_id="AgADnomsg"),  # FileStreamBot's own shape: kept, needs a copy
        legacy_file(msg_id=None, file_id=None, file_unique_id="AgADlost"),
        legacy_file(file_size=0, file_unique_id="AgADempty", msg_id=80),
    ])


async def snapshot(client: AsyncMongoClient[dict[str, Any]], name: str) -> dict[str, list[Any]]:
    """Every document of every collection, to compare a database before and after."""
    db = client[name]
    return {c: sorted([repr(d) async for d in db[c].find()]) for c in sorted(await db.list_collection_names())}


async def test_filestreambot_database_migrates_and_second_run_changes_nothing(
    database_url: str, database_client: AsyncMongoClient[dict[str, Any]], database_name: str
) -> None:
    await seed_filestreambot(database_client, database_name)
    summary = await mf.migrate(options(database_url, database_name, bin_channel=BIN))
    assert (summary.users_migrated, summary.users_present) == (3, 0)
    assert (summary.banned, summary.banned_already) == (3, 0)  # 1003 by ban_status, 1002 and 2000 listed
    assert (summary.files_migrated, summary.files_present, summary.files_need_copy) == (3, 0, 1)
    assert summary.files_skipped == {mf.NO_MESSAGE: 1, mf.NO_SIZE: 1}
    assert summary.schema_before is None and summary.schema_written
    assert "FileStreamBot users" in summary.source_schema and "FileStreamBot file" in summary.source_schema

    db = await Database.connect(database_url, database_name)
    try:
        user = await db.users.get(1001)
        assert user is not None and user.first_seen == datetime.fromtimestamp(T0, timezone.utc) and not user.banned
        assert await db.users.is_banned(1002) and await db.users.is_banned(1003) and await db.users.is_banned(2000)
        banned_stranger = await db.users.get(2000)
        assert banned_stranger is not None and banned_stranger.first_seen is None
        assert [uid async for uid in db.users.iter_active_ids()] == [1001]
        migrated = [doc async for doc in db.db.files.find().sort("storage_message_id", 1)]
        assert [d["storage_message_id"] for d in migrated] == [None, 77, 78]
        first = await db.files.get(migrated[1]["_id"])
        assert first is not None and first.file_name == "movie.mkv" and first.storage_chat_id == BIN
        assert first.expires_at is None and not first.is_expired(NOW)
        task = await db.files.copy_task(migrated[0]["_id"])
        assert task is not None and not task.file.has_storage_copy and task.claim is None
        assert [k.file_id for k in task.known_ids] == [file_id()]
        assert await db.files.count_live(NOW) == 3
        assert await db.settings.get(mf.SCHEMA_KEY) == mf.SCHEMA_VERSION
    finally:
        await db.close()
    # `file` is not a collection of ours: the old records stay where they were.
    assert await database_client[database_name].file.count_documents({}) == 5

    before = await snapshot(database_client, database_name)
    again = await mf.migrate(options(database_url, database_name, bin_channel=BIN))
    assert again.changes == 0
    # The old users left `users` (ours) in the first run; `file` and `blacklist` are read again.
    assert (again.users_present, again.banned_already, again.files_present) == (0, 2, 3)
    assert again.files_need_copy == 1  # still: the copy is made by the service, not here
    assert await snapshot(database_client, database_name) == before
    # Without --bin-channel nothing new could migrate, but what was migrated still counts so.
    forgot = await mf.migrate(options(database_url, database_name))
    assert forgot.changes == 0 and forgot.files_present == 3


async def test_in_place_old_documents_in_our_collections_move_aside(
    database_url: str, database_client: AsyncMongoClient[dict[str, Any]], database_name: str
) -> None:
    # A fork that used `files`, run in place: old and new share the collection names.
    await seed_filestreambot(database_client, database_name, files="files")
    db = database_client[database_name]
    summary = await mf.migrate(options(database_url, database_name, bin_channel=BIN))
    assert summary.files_migrated == 3 and summary.users_migrated == 3
    assert summary.moved_aside == {"users": 3, "files": 5}
    assert await db.legacy_files.count_documents({}) == 5 and await db.legacy_users.count_documents({}) == 3
    assert await db.files.count_documents({}) == 3
    assert await db.files.count_documents({"_id": {"$type": "objectId"}}) == 0
    assert sorted([d["_id"] async for d in db.users.find()]) == [1001, 1002, 1003, 2000]

    before = await snapshot(database_client, database_name)
    again = await mf.migrate(options(database_url, database_name, bin_channel=BIN))
    assert again.changes == 0 and again.files_migrated == 0
    assert await snapshot(database_client, database_name) == before


async def test_dry_run_writes_nothing_and_reports_what_would_change(
    database_url: str, database_client: AsyncMongoClient[dict[str, Any]], database_name: str
) -> None:
    await seed_filestreambot(database_client, database_name, files="files")
    before = await snapshot(database_client, database_name)
    summary = await mf.migrate(options(database_url, database_name, bin_channel=BIN, dry_run=True))
    assert await snapshot(database_client, database_name) == before
    assert (summary.users_migrated, summary.banned, summary.files_migrated, summary.files_need_copy) == (3, 3, 3, 1)
    assert summary.moved_aside == {"users": 3, "files": 5}
    lines = summary.lines(dry_run=True)
    assert "files: 3 would be migrated, 0 already migrated, 1 needing a storage copy, 2 skipped" in lines
    assert f"  skipped 1: {mf.NO_MESSAGE}" in lines
    assert lines[-1].startswith("dry run: nothing was written")


async def test_own_schema_1_is_upgraded_in_place(
    database_url: str, database_client: AsyncMongoClient[dict[str, Any]], database_name: str
) -> None:
    db = database_client[database_name]
    record = {
        "_id": "Q" * 16, "file_name": "a.mp4", "file_size": 10, "mime_type": "video/mp4",
        "file_unique_id": "u1", "media_type": "video", "dc_id": 2, "storage_chat_id": BIN,
        "storage_message_id": 5, "created_at": NOW, "owner_id": 42,
    }
    await db.files.insert_many([record, {**record, "_id": "R" * 16, "owner_id": None, "expires_at": NOW}])
    await db.users.insert_one({"_id": 42, "first_seen": NOW, "last_active": NOW})
    await db.settings.insert_one({"_id": "link_secret", "value": b"s" * 32})

    summary = await mf.migrate(options(database_url, database_name))
    assert (summary.own_files_upgraded, summary.own_users_upgraded) == (2, 0)
    assert summary.files_migrated == 0 and summary.moved_aside == {}
    store = await Database.connect(database_url, database_name)
    try:
        q, r = await store.files.get("Q" * 16), await store.files.get("R" * 16)
        assert q is not None and (q.source, q.expires_at) == ("private", None)
        assert r is not None and (r.source, r.expires_at) == ("channel", NOW)
        assert [uid async for uid in store.users.iter_active_ids()] == [42]
    finally:
        await store.close()
    assert (await mf.migrate(options(database_url, database_name))).changes == 0


async def test_migrating_to_another_database_copies_our_records_and_the_link_secret(
    database_url: str, database_client: AsyncMongoClient[dict[str, Any]], database_name: str
) -> None:
    target = database_name + "_to"
    try:
        await seed_filestreambot(database_client, database_name)
        source = database_client[database_name]
        await source.settings.insert_one({"_id": "link_secret", "value": b"k" * 32})
        await source.files.insert_one({
            "_id": "S" * 16, "file_name": "b.mp3", "file_size": 3, "mime_type": "audio/mpeg", "file_unique_id": "u2",
            "media_type": "audio", "dc_id": 1, "storage_chat_id": BIN, "storage_message_id": 6, "created_at": NOW, "owner_id": 1,
        })
        before = await snapshot(database_client, database_name)
        summary = await mf.migrate(options(database_url, database_name, target_db=target, bin_channel=BIN))
        assert await snapshot(database_client, database_name) == before  # the source is only read
        assert summary.files_migrated == 3 and summary.own_copied == {"files": 1, "settings": 1}
        store = await Database.connect(database_url, target)
        try:
            assert await store.settings.get("link_secret") == b"k" * 32
            copied = await store.files.get("S" * 16)
            assert copied is not None and copied.source == "private"
            assert await store.files.count_live(NOW) == 4
        finally:
            await store.close()
        assert (await mf.migrate(options(database_url, database_name, target_db=target, bin_channel=BIN))).changes == 0
    finally:
        await database_client.drop_database(target)


async def run_script(*args: str, env: dict[str, str] | None = None, cwd: Path = REPO) -> tuple[int, str, str]:
    """migrate_files.py in its own process; `env`: its whole environment (PATH is added)."""
    if env is not None:
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **env}
    process = await asyncio.create_subprocess_exec(
        sys.executable, str(REPO / "migrate_files.py"), *args,
        cwd=cwd, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_the_script_migrates_and_prints_a_summary(
    database_url: str, database_client: AsyncMongoClient[dict[str, Any]], database_name: str
) -> None:
    await seed_filestreambot(database_client, database_name)
    args = ("--source-url", database_url, "--source-db", database_name, "--bin-channel", str(BIN))
    code, out, err = await run_script(*args, "--dry-run")
    assert code == 0, err
    assert "files: 3 would be migrated" in out and "dry run: nothing was written" in out
    assert await database_client[database_name].files.count_documents({}) == 0

    code, out, err = await run_script(*args, "--file-ttl", "86400")
    assert code == 0, err
    assert f"migrate_files: {database_name} -> {database_name}" in out
    assert "users: 3 migrated, 0 already present" in out
    assert "banned: 3 banned, 0 already banned" in out
    assert "files: 3 migrated, 0 already migrated, 1 needing a storage copy, 2 skipped" in out
    assert f"skipped 1: {mf.NO_MESSAGE}" in out and f"skipped 1: {mf.NO_SIZE}" in out
    expiries = [d["expires_at"] async for d in database_client[database_name].files.find()]
    assert len(expiries) == 3 and all(e is not None for e in expiries)

    code, out, err = await run_script(*args)
    assert code == 0, err
    assert "\n0 changes\n" in out


async def test_an_unreachable_database_is_one_line_and_exit_2() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens here once closed
    url = f"mongodb://admin:hunter2@127.0.0.1:{port}/"
    code, out, err = await run_script("--source-url", url, "--source-db", "x", "--timeout", "0.5")
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("migrate_files: cannot reach the database at mongodb://admin:***@127.0.0.1:")
    assert "hunter2" not in err


async def test_an_unknown_schema_is_one_line_and_exit_2(
    database_url: str, database_client: AsyncMongoClient[dict[str, Any]], database_name: str
) -> None:
    await database_client[database_name].orders.insert_one({"x": 1})
    code, out, err = await run_script("--source-url", database_url, "--source-db", database_name)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "unknown schema" in err and "orders" in err


async def test_a_newer_schema_is_refused(
    database_url: str, database_client: AsyncMongoClient[dict[str, Any]], database_name: str
) -> None:
    await database_client[database_name].settings.insert_one({"_id": mf.SCHEMA_KEY, "value": mf.SCHEMA_VERSION + 1})
    with pytest.raises(mf.Unusable, match="newer than this script's"):
        await mf.migrate(options(database_url, database_name))


def with_database(url: str, name: str) -> str:
    """`url` naming database `name` in its path, as people often write DATABASE_URL."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + name))


async def test_the_script_alone_reads_database_url_dry_runs_migrates_and_changes_nothing_the_second_time(
    database_url: str, database_client: AsyncMongoClient[dict[str, Any]], database_name: str, tmp_path: Path
) -> None:
    await seed_filestreambot(database_client, database_name)
    only_url = {"DATABASE_URL": with_database(database_url, database_name)}
    before = await snapshot(database_client, database_name)

    code, out, err = await run_script("--dry-run", env=only_url, cwd=tmp_path)
    assert code == 0, err
    assert await snapshot(database_client, database_name) == before  # a dry run changes nothing
    assert f"migrate_files: dry run, {database_name} -> {database_name}" in out
    assert "users: 3 would be migrated, 0 already present" in out
    assert "banned: 3 would be banned, 0 already banned" in out
    # No BIN_CHANNEL: the message ids some records name lead nowhere, their file ids do.
    assert "files: 3 would be migrated, 0 already migrated, 3 needing a storage copy, 2 skipped" in out
    assert "dry run: nothing was written" in out

    # No argument at all: the database comes from DATABASE_URL, here through a .env file.
    (tmp_path / ".env").write_text(f"DATABASE_URL={only_url['DATABASE_URL']}\n")
    code, out, err = await run_script(env={}, cwd=tmp_path)
    assert code == 0, err
    assert "files: 3 migrated, 0 already migrated, 3 needing a storage copy, 2 skipped" in out
    assert f"  skipped 1: {mf.NO_MESSAGE}" in out and f"  skipped 1: {mf.NO_SIZE}" in out
    assert f"set DATABASE_NAME={database_name}" in out  # FileStream's default name is another one
    migrated = await snapshot(database_client, database_name)
    assert migrated != before

    code, out, err = await run_script(env=only_url, cwd=tmp_path)
    assert code == 0, err
    assert "files: 0 migrated, 3 already migrated, 3 needing a storage copy" in out and "\n0 changes\n" in out
    assert await snapshot(database_client, database_name) == migrated


async def test_no_database_named_anywhere_is_one_line_and_exit_2(tmp_path: Path) -> None:
    code, out, err = await run_script(env={}, cwd=tmp_path)
    assert code == 2 and out == ""
    assert err == "migrate_files: no database to migrate: set DATABASE_URL (in the environment or .env) or pass --source-url\n"
