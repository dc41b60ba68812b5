"""Migrate an existing FileStreamBot (or older FileStream) database to FileStream's current schema.

    python migrate_files.py            # DATABASE_URL from the environment or .env, in place
    python migrate_files.py [--source-url URL] [--source-db NAME]
                            [--target-url URL] [--target-db NAME] [--bin-channel ID]
                            [--file-ttl SECONDS] [--dry-run] [--progress]
                            [--repost [--repost-rate PER_MINUTE]]

Where it reads
  --source-url defaults to DATABASE_URL (environment, else .env). --source-db defaults to
  SESSION_NAME (FileStreamBot names its database after it), else the database in the URL's
  path, else FileStream (FileStreamBot's default). The target defaults to the source.

What it reads
  FileStreamBot deployments: `users` ({id, join_date}), `blacklist` / `banned`
  ({id or user_id, ban_date}), and `file` or `files` ({_id: ObjectId, user_id, file_id,
  file_unique_id, file_name, file_size, mime_type, time, maybe file_ids and, in some
  forks, the copy's message_id / msg_id in the storage channel}).
  FileStream schema versions 1 and 2: file records without `source` (and permanent ones
  without `expires_at`) are completed. Version 3 is what FileStream/store reads.

What it writes
  Our `files` records keep the old id in `legacy_id` (unique index), so a second run finds
  them and changes nothing, and the old links (/dl/<id>, /watch/<id>, ?start=file_<id>)
  find them (LEGACY_LINKS); our `users` records are keyed by the Telegram id already.
  When source and target are the same database, old documents that sit in a collection we
  use (`users`, `files`) move to `legacy_users` / `legacy_files` instead of being deleted.
  Migrated files that had no expiry keep none (they were permanent links) unless
  --file-ttl is given; then they expire that long after the migration.
  FileStreamBot kept no storage-channel message, only file ids. Such a file keeps them
  (`legacy_file_ids`) and is counted as "needing a storage copy": the service re-sends it
  into BIN_CHANNEL by its file id the first time it is needed (no bytes are uploaded).
  Only a file with neither a message nor a usable file id is skipped, with the reason.
  --repost makes those copies right away instead, paced (20 a minute by default, Telegram's
  pace for posts into one channel), with a progress bar; it is resumable and safe beside a
  running service (the same claims in MongoDB), and needs the bot settings FileStream reads.

Exit codes: 0 done, 1 unexpected failure (traceback), 2 no database named, the database
cannot be reached, its schema is unknown or newer, or the arguments are wrong (one line
on stderr).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any
from urllib.parse import unquote, urlsplit

from bson import ObjectId
from pymongo import AsyncMongoClient, UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, ConfigurationError, DuplicateKeyError, PyMongoError
from tqdm import tqdm

from FileStream.config import mask_url
from FileStream.core.mime import effective_mime_type
from FileStream.core.models import StoredFile
from FileStream.core.storage_copy import known_file_ids
from FileStream.core.tokens import new_file_id
from FileStream.store.database import Database
from FileStream.store.files import file_document

# 3: a file record may have no storage message yet (storage_*_id null, legacy_file_ids).
SCHEMA_VERSION = 3
SCHEMA_KEY = "schema_version"  # a settings document: {_id: "schema_version", value: N}
EXIT_OK, EXIT_FAILED, EXIT_UNUSABLE = 0, 1, 2
BATCH = 500

USER_COLLECTIONS = ("users",)
BAN_COLLECTIONS = ("blacklist", "banned")
FILE_COLLECTIONS = ("file", "files")
RECOGNISED = (*USER_COLLECTIONS, *BAN_COLLECTIONS, *FILE_COLLECTIONS, "settings")
# Our collections that old documents can share with ours during an in-place migration.
OURS = frozenset({"users", "files"})

# Where forks keep the storage-channel copy of a file, most specific first.
MESSAGE_ID_FIELDS = ("storage_message_id", "message_id", "msg_id", "log_msg_id", "bin_message_id")
CHAT_ID_FIELDS = ("storage_chat_id", "chat_id", "channel_id", "bin_channel")
MEDIA_KINDS = ("document", "video", "audio", "voice", "animation", "video_note", "photo")

NO_MESSAGE = "no storage message id and no usable file id (cannot be streamed)"
NO_CHANNEL = "no storage channel (pass --bin-channel) and no usable file id"
NO_SIZE = "no file size"
NO_UNIQUE_ID = "no file_unique_id"
BAD_USER = "no usable user id"


class Unusable(Exception):
    """The run cannot go on; str() is the one line to print."""


# ---------------------------------------------------------------- pure transformations


@dataclass(frozen=True, slots=True)
class Skip:
    """A legacy record that is not migrated, and why."""

    legacy_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class MigratedFile:
    legacy_id: str
    doc: dict[str, Any]  # our files document, `_id` and `legacy_id` included

    @property
    def needs_copy(self) -> bool:
        """No storage message yet: the service makes one from the file id when first needed."""
        return self.doc.get("storage_message_id") is None


def to_datetime(value: Any) -> datetime | None:
    """A timezone-aware UTC datetime from unix seconds, a datetime, a date or an ISO string."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        # Some bots stored milliseconds; no file was stored after the year 33658.
        seconds = value / 1000 if value > 1e12 else value
        try:
            return datetime.fromtimestamp(seconds, timezone.utc)
        except (OverflowError, OSError, ValueError):
            return None
    if isinstance(value, datetime):
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=timezone.utc)
    if isinstance(value, str):
        try:
            return to_datetime(datetime.fromisoformat(value.strip()))
        except ValueError:
            try:
                return to_datetime(float(value))
            except ValueError:
                return None
    return None


def to_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _first(doc: Mapping[str, Any], names: Iterable[str]) -> Any:
    for name in names:
        if doc.get(name) not in (None, "", 0):
            return doc[name]
    return None


def _created(doc: Mapping[str, Any]) -> datetime | None:
    when = to_datetime(_first(doc, ("time", "created_at", "date", "timestamp")))
    if when is None and isinstance(doc.get("_id"), ObjectId):
        when = doc["_id"].generation_time  # an ObjectId carries its creation second
    return when


def decode_file_id(file_id: Any) -> tuple[int, str] | None:
    """(dc_id, media kind) from a Bot API / Pyrogram file id, or None when it does not decode."""
    if not isinstance(file_id, str) or not file_id:
        return None
    # Imported here: pyrogram is heavy, and --help or a bad URL should not wait for it.
    from pyrogram.file_id import FileId

    try:
        decoded = FileId.decode(file_id)
    except Exception:  # any malformed id: the caller falls back to the mime type
        return None
    kind = decoded.file_type.name.lower()
    return decoded.dc_id, kind if kind in MEDIA_KINDS else "document"


def _kind_from_mime(mime: str) -> str:
    top = mime.split("/", 1)[0]
    return {"video": "video", "audio": "audio"}.get(top, "document")


def legacy_file_to_doc(
    doc: Mapping[str, Any],
    *,
    new_id: str,
    now: datetime,
    bin_channel: int | None = None,
    file_ttl: int | None = None,
) -> MigratedFile | Skip:
    """Our files document for a FileStreamBot file record, or why it cannot be one.

    A record with a storage-channel message keeps it. One without (FileStreamBot never kept
    one) keeps its file ids instead: the service re-sends the file into BIN_CHANNEL by such
    an id the first time it is needed (FileStream/services/storage_copies.py).
    """
    legacy_id = str(doc.get("_id"))
    size = to_int(doc.get("file_size"))
    if not size or size <= 0:
        return Skip(legacy_id, NO_SIZE)
    unique_id = doc.get("file_unique_id")
    if not isinstance(unique_id, str) or not unique_id:
        return Skip(legacy_id, NO_UNIQUE_ID)
    known = known_file_ids(doc.get("file_id"), doc.get("file_ids"))
    decoded = next((d for d in (decode_file_id(k.file_id) for k in known) if d is not None), None)
    message_id = to_int(_first(doc, MESSAGE_ID_FIELDS))
    chat_id = to_int(_first(doc, CHAT_ID_FIELDS)) or bin_channel
    if not (message_id and message_id > 0 and chat_id):
        if decoded is None:
            # Without a message to read and without an id Telegram could take, nothing can fetch it.
            return Skip(legacy_id, NO_MESSAGE if not (message_id and message_id > 0) else NO_CHANNEL)
        message_id = chat_id = None  # the copy is made when the file is first needed

    name = str(doc.get("file_name") or "").strip()
    mime = effective_mime_type(doc.get("mime_type"), name or None)
    if decoded is not None:
        dc_id, kind = decoded
    else:
        # 0: not known; the streamer learns the DC from the storage message anyway.
        dc_id, kind = 0, _kind_from_mime(mime)
    if not name:
        name = f"{kind}_{message_id or legacy_id}"

    # FileStreamBot kept the channel's id (negative) as `user_id` of a channel post.
    owner = to_int(_first(doc, ("user_id", "owner_id", "from_user_id")))
    if owner is not None and owner < 0:
        owner = None
    expires_at = to_datetime(doc.get("expires_at"))
    if expires_at is None and file_ttl:
        expires_at = now + timedelta(seconds=file_ttl)
    record = StoredFile(
        id=new_id,
        file_name=name,
        file_size=size,
        mime_type=mime,
        file_unique_id=unique_id,
        media_type=kind,
        dc_id=dc_id,
        storage_chat_id=chat_id,
        storage_message_id=message_id,
        created_at=_created(doc) or now,
        expires_at=expires_at,
        owner_id=owner,
        source="private" if owner else "channel",
    )
    migrated = {**stored_file_doc(record), "legacy_id": legacy_id}
    if message_id is None:
        migrated["legacy_file_ids"] = [{"file_id": k.file_id, "bot_id": k.bot_id} for k in known]
    return MigratedFile(legacy_id, migrated)


def stored_file_doc(record: StoredFile) -> dict[str, Any]:
    """A StoredFile as the files collection holds it (`id` becomes `_id`)."""
    return file_document(record)


def legacy_user_to_doc(doc: Mapping[str, Any]) -> dict[str, Any] | None:
    """Our users document for a FileStreamBot user record; None without a usable id."""
    user_id = to_int(doc.get("id", doc.get("user_id")))
    if not user_id:
        return None
    joined = to_datetime(_first(doc, ("join_date", "joined", "date"))) or _created(doc)
    return {
        "_id": user_id,
        "first_name": doc.get("first_name"),
        "username": doc.get("username"),
        "first_seen": joined,
        "last_active": joined,
        "blocked": False,
    }


def legacy_ban(
    doc: Mapping[str, Any], now: datetime, default_reason: str, *, listed: bool
) -> tuple[int, dict[str, Any]] | None:
    """(user id, our `ban` subdocument) or None.

    `listed`: the document is an entry of a ban list (blacklist, banned), so it is a ban by
    being there; otherwise it is a user record, banned only when its ban_status says so.
    """
    status = doc.get("ban_status") if isinstance(doc.get("ban_status"), Mapping) else None
    if status is not None and not status.get("is_banned"):
        return None
    if status is None and not listed:
        return None
    source = status or doc
    raw_id = doc.get("id", doc.get("user_id"))
    if raw_id is None and listed and not isinstance(doc.get("_id"), ObjectId):
        raw_id = doc.get("_id")  # some forks key the blacklist by the user id itself
    user_id = to_int(raw_id)
    if not user_id:
        return None
    reason = str(source.get("ban_reason") or source.get("reason") or default_reason)
    at = to_datetime(_first(source, ("ban_date", "banned_on", "banned_at", "time"))) or now
    return user_id, {"reason": reason, "at": at}


def is_own_file(doc: Mapping[str, Any]) -> bool:
    """True for a FileStream file record (any version), False for a FileStreamBot one."""
    return isinstance(doc.get("_id"), str) and "storage_message_id" in doc


def own_file_upgrade(doc: Mapping[str, Any]) -> dict[str, Any]:
    """The fields a version-1 file record lacks, with their version-2 values ({} when current)."""
    missing: dict[str, Any] = {}
    if "source" not in doc:
        missing["source"] = "private" if doc.get("owner_id") is not None else "channel"
    if "expires_at" not in doc:
        missing["expires_at"] = None
    return missing


def own_user_upgrade(doc: Mapping[str, Any]) -> dict[str, Any]:
    """Users records did not change between versions 1 and 2 (a missing `blocked` is false)."""
    return {}


# ---------------------------------------------------------------- the run


@dataclass
class Summary:
    source_schema: list[str] = field(default_factory=list)
    users_migrated: int = 0
    users_present: int = 0
    users_skipped: int = 0
    banned: int = 0
    banned_already: int = 0
    files_migrated: int = 0
    files_present: int = 0
    files_need_copy: int = 0  # migrated now or before, still without a storage copy
    files_skipped: Counter[str] = field(default_factory=Counter)
    own_files_upgraded: int = 0
    own_users_upgraded: int = 0
    own_copied: Counter[str] = field(default_factory=Counter)
    moved_aside: Counter[str] = field(default_factory=Counter)
    schema_before: int | None = None
    schema_written: bool = False

    @property
    def changes(self) -> int:
        return (
            self.users_migrated + self.banned + self.files_migrated + self.own_files_upgraded
            + self.own_users_upgraded + sum(self.own_copied.values()) + sum(self.moved_aside.values())
            + int(self.schema_written)
        )

    def lines(self, dry_run: bool) -> list[str]:
        would = "would be " if dry_run else ""
        out = [
            f"source schema: {', '.join(self.source_schema) or 'nothing to migrate'}",
            f"users: {self.users_migrated} {would}migrated, {self.users_present} already present"
            + (f", {self.users_skipped} skipped ({BAD_USER})" if self.users_skipped else ""),
            f"banned: {self.banned} {would}banned, {self.banned_already} already banned",
            f"files: {self.files_migrated} {would}migrated, {self.files_present} already migrated, "
            f"{self.files_need_copy} needing a storage copy, {sum(self.files_skipped.values())} skipped",
        ]
        if self.files_need_copy:
            out.append("  (a file needing a copy gets one the first time it is needed: the bot re-sends it "
                       "into BIN_CHANNEL by its old file id)")
        out += [f"  skipped {n}: {reason}" for reason, n in sorted(self.files_skipped.items())]
        if self.own_files_upgraded or self.own_users_upgraded:
            out.append(
                f"FileStream records {would}upgraded to schema {SCHEMA_VERSION}: "
                f"{self.own_files_upgraded} files, {self.own_users_upgraded} users"
            )
        out += [f"{name}: {n} FileStream records {would}copied" for name, n in sorted(self.own_copied.items())]
        out += [f"{name}: {n} old documents {would}moved to legacy_{name}" for name, n in sorted(self.moved_aside.items())]
        before = "none" if self.schema_before is None else str(self.schema_before)
        if self.schema_written:
            out.append(f"schema version: {SCHEMA_VERSION} {'would be ' if dry_run else ''}written (was {before})")
        else:
            out.append(f"schema version: {before}")
        out.append(("dry run: nothing was written; " if dry_run else "") + f"{self.changes} changes")
        return out


@dataclass(frozen=True)
class Options:
    source_url: str
    source_db: str
    target_url: str
    target_db: str
    dry_run: bool = False
    bin_channel: int | None = None
    file_ttl: int | None = None
    timeout: float = 5.0
    progress: bool | None = None  # None: only when stderr is a terminal
    repost: bool = False          # make the missing storage copies now (needs the bot settings)
    repost_rate: float = 20.0     # storage copies per minute (Telegram: ~20 posts a minute per channel)

    @property
    def in_place(self) -> bool:
        return (self.source_url, self.source_db) == (self.target_url, self.target_db)


async def _connect(url: str, timeout: float) -> AsyncMongoClient[dict[str, Any]]:
    try:
        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
            url, tz_aware=True, appname="FileStream-migrate", serverSelectionTimeoutMS=int(timeout * 1000)
        )
    except (ConfigurationError, ValueError, TypeError) as exc:
        raise Unusable(f"bad database URL {mask_url(url)}: {exc}".splitlines()[0]) from exc
    try:
        await client.admin.command("ping")
    except PyMongoError as exc:
        await client.close()
        raise Unusable(
            f"cannot reach the database at {mask_url(url)} within {timeout:g} s: {exc}".splitlines()[0][:300]
        ) from exc
    return client


class Migration:
    """One run: reads `source`, writes `target` (or only counts, in a dry run)."""

    def __init__(self, source: AsyncDatabase[dict[str, Any]], target: AsyncDatabase[dict[str, Any]], options: Options) -> None:
        self.source = source
        self.target = target
        self.options = options
        self.dry = options.dry_run
        self.now = datetime.now(timezone.utc)
        self.summary = Summary()
        self.bar: tqdm[Any] | None = None

    async def run(self) -> Summary:
        names = set(await self.source.list_collection_names())
        found = [name for name in RECOGNISED if name in names]
        if not found:
            listed = ", ".join(sorted(names)) or "none"
            raise Unusable(
                f"unknown schema in database {self.options.source_db!r}: none of "
                f"{', '.join(RECOGNISED)} (collections found: {listed}); check --source-db"
            )
        await self._check_schema_version()
        if not self.dry:
            # The store's own indexes: TTL on expires_at, and the unique legacy_id this script relies on.
            await Database(self.target.client, self.target).ensure_indexes()
        total = sum([await self.source[name].estimated_document_count() for name in found if name != "settings"])
        show = self.options.progress
        self.bar = tqdm(total=total, unit="doc", file=sys.stderr, disable=None if show is None else not show, leave=False)
        try:
            for name in USER_COLLECTIONS:
                if name in names:
                    await self._users(name)
            for name in BAN_COLLECTIONS:
                if name in names:
                    await self._ban_list(name)
            for name in FILE_COLLECTIONS:
                if name in names:
                    await self._files(name)
            if "settings" in names and not self.options.in_place:
                await self._copy_settings()
        finally:
            self.bar.close()
        await self._write_schema_version()
        return self.summary

    def _note(self, kind: str) -> None:
        if kind not in self.summary.source_schema:
            self.summary.source_schema.append(kind)

    async def _check_schema_version(self) -> None:
        for db in (self.source, self.target):
            doc = await db["settings"].find_one({"_id": SCHEMA_KEY})
            version = to_int(doc.get("value")) if doc else None
            if version is not None and version > SCHEMA_VERSION:
                raise Unusable(
                    f"database {db.name!r} has schema version {version}, newer than this script's "
                    f"{SCHEMA_VERSION}: use the migrate_files.py of that FileStream version"
                )
            if db is self.target:
                self.summary.schema_before = version

    async def _write_schema_version(self) -> None:
        if self.summary.schema_before == SCHEMA_VERSION:
            return
        self.summary.schema_written = True
        if not self.dry:
            await self.target["settings"].update_one(
                {"_id": SCHEMA_KEY}, {"$set": {"value": SCHEMA_VERSION}}, upsert=True
            )

    async def _batches(self, collection: AsyncCollection[dict[str, Any]], query: dict[str, Any]):  # type: ignore[no-untyped-def]
        batch: list[dict[str, Any]] = []
        async for doc in collection.find(query).sort("_id", 1):
            batch.append(doc)
            if len(batch) >= BATCH:
                yield batch
                batch = []
        if batch:
            yield batch

    def _advance(self, n: int) -> None:
        if self.bar is not None:
            self.bar.update(n)

    async def _move_aside(self, name: str, docs: Sequence[dict[str, Any]]) -> None:
        """In place: take old documents out of a collection we use, keeping them in legacy_<name>."""
        if not (self.options.in_place and name in OURS and docs):
            return
        self.summary.moved_aside[name] += len(docs)
        if self.dry:
            return
        try:
            await self.source[f"legacy_{name}"].insert_many(docs, ordered=False)
        except BulkWriteError as exc:
            # Already copied by an interrupted earlier run: the copy is there, go on.
            if any(error.get("code") != 11000 for error in exc.details.get("writeErrors", [])):
                raise
        await self.source[name].delete_many({"_id": {"$in": [doc["_id"] for doc in docs]}})

    async def _users(self, name: str) -> None:
        collection = self.source[name]
        async for batch in self._batches(collection, {}):
            # FileStreamBot users carry `id` beside their own _id; ours are keyed by the id.
            legacy = [doc for doc in batch if "id" in doc and doc["_id"] != doc["id"]]
            await self._own(name, [doc for doc in batch if not ("id" in doc and doc["_id"] != doc["id"])], own_user_upgrade)
            if legacy:
                self._note("FileStreamBot users")
                await self._legacy_users(legacy)
                await self._move_aside(name, legacy)
            self._advance(len(batch))

    async def _legacy_users(self, batch: list[dict[str, Any]]) -> None:
        docs = {}
        for old in batch:
            new = legacy_user_to_doc(old)
            if new is None:
                self.summary.users_skipped += 1
            else:
                docs[new["_id"]] = new
        present = await self._existing_ids(self.target["users"], list(docs))
        self.summary.users_present += len(present)
        fresh = [doc for uid, doc in docs.items() if uid not in present]
        self.summary.users_migrated += len(fresh)
        if fresh and not self.dry:
            await self.target["users"].bulk_write(
                [UpdateOne({"_id": d["_id"]}, {"$setOnInsert": _without_id(d)}, upsert=True) for d in fresh],
                ordered=False,
            )
        for old in batch:
            if (ban := legacy_ban(old, self.now, "banned in FileStreamBot", listed=False)) is not None:
                await self._ban(*ban)

    async def _ban_list(self, name: str) -> None:
        self._note(f"FileStreamBot {name}")
        async for batch in self._batches(self.source[name], {}):
            for old in batch:
                ban = legacy_ban(old, self.now, f"on the FileStreamBot {name}", listed=True)
                if ban is None:
                    self.summary.users_skipped += 1
                else:
                    await self._ban(*ban)
            self._advance(len(batch))

    async def _ban(self, user_id: int, ban: dict[str, Any]) -> None:
        users = self.target["users"]
        if await users.find_one({"_id": user_id, "ban": {"$exists": True}}, {"_id": 1}) is not None:
            self.summary.banned_already += 1
            return
        self.summary.banned += 1
        if self.dry:
            return
        try:
            # Same shape as UserStore.ban: an unknown person gets a record holding only the ban.
            await users.update_one({"_id": user_id, "ban": {"$exists": False}}, {"$set": {"ban": ban}}, upsert=True)
        except DuplicateKeyError:
            self.summary.banned -= 1
            self.summary.banned_already += 1

    async def _files(self, name: str) -> None:
        collection = self.source[name]
        # Records this script wrote carry legacy_id: leaving them out keeps an in-place run
        # from reading back what it just inserted into the same collection.
        async for batch in self._batches(collection, {"legacy_id": {"$exists": False}}):
            legacy = [doc for doc in batch if not is_own_file(doc)]
            await self._own(name, [doc for doc in batch if is_own_file(doc)], own_file_upgrade)
            if legacy:
                self._note(f"FileStreamBot {name}")
                # Asked first, so a record migrated before counts as such even when this
                # run could not migrate it (say, --bin-channel forgotten).
                present = await self._migrated_ids([str(old["_id"]) for old in legacy])
                self.summary.files_present += len(present)
                self.summary.files_need_copy += sum(1 for has_copy in present.values() if not has_copy)
                migrated: list[MigratedFile] = []
                for old in legacy:
                    if str(old["_id"]) in present:
                        continue
                    result = legacy_file_to_doc(
                        old, new_id=new_file_id(), now=self.now,
                        bin_channel=self.options.bin_channel, file_ttl=self.options.file_ttl,
                    )
                    if isinstance(result, Skip):
                        self.summary.files_skipped[result.reason] += 1
                    else:
                        migrated.append(result)
                await self._insert_files(migrated)
                await self._move_aside(name, legacy)
            self._advance(len(batch))

    async def _migrated_ids(self, legacy_ids: list[str]) -> dict[str, bool]:
        """The ones of `legacy_ids` migrated before, and whether each has its storage copy yet."""
        cursor = self.target["files"].find({"legacy_id": {"$in": legacy_ids}}, {"legacy_id": 1, "storage_message_id": 1})
        return {doc["legacy_id"]: bool(doc.get("storage_message_id")) async for doc in cursor}

    async def _insert_files(self, migrated: list[MigratedFile]) -> None:
        if not migrated:
            return
        self.summary.files_migrated += len(migrated)
        self.summary.files_need_copy += sum(1 for m in migrated if m.needs_copy)
        if self.dry:
            return
        try:
            await self.target["files"].insert_many([m.doc for m in migrated], ordered=False)
        except BulkWriteError as exc:
            # The unique legacy_id index turns a concurrent run's inserts into duplicates
            # here: those records are migrated all the same, just not by this run.
            errors = exc.details.get("writeErrors", [])
            if any(error.get("code") != 11000 for error in errors):
                raise
            self.summary.files_migrated -= len(errors)
            self.summary.files_present += len(errors)

    async def _existing_ids(self, collection: AsyncCollection[dict[str, Any]], ids: list[Any]) -> set[Any]:
        if not ids:
            return set()
        return {doc["_id"] async for doc in collection.find({"_id": {"$in": ids}}, {"_id": 1})}

    async def _own(self, name: str, batch: list[dict[str, Any]], upgrade: Any) -> None:
        """FileStream records: upgrade them in place, or copy them (upgraded) to another database."""
        if not batch:
            return
        if self.options.in_place:
            ops = [UpdateOne({"_id": doc["_id"]}, {"$set": fields}) for doc in batch if (fields := upgrade(doc))]
            if not ops:
                return
            self._note(f"FileStream schema 1 {name}")
            if name == "files":
                self.summary.own_files_upgraded += len(ops)
            else:
                self.summary.own_users_upgraded += len(ops)
            if not self.dry:
                await self.source[name].bulk_write(ops, ordered=False)
            return
        await self._copy(name, [{**doc, **upgrade(doc)} for doc in batch])

    async def _copy(self, name: str, docs: list[dict[str, Any]]) -> None:
        """Copy documents to the target's `name`, never overwriting what is there."""
        present = await self._existing_ids(self.target[name], [doc["_id"] for doc in docs])
        fresh = [doc for doc in docs if doc["_id"] not in present]
        if not fresh:
            return
        self._note(f"FileStream {name}")
        self.summary.own_copied[name] += len(fresh)
        if not self.dry:
            await self.target[name].bulk_write(
                [UpdateOne({"_id": doc["_id"]}, {"$setOnInsert": _without_id(doc)}, upsert=True) for doc in fresh],
                ordered=False,
            )

    async def _copy_settings(self) -> None:
        # The link secret above all: without it every link the old database gave out breaks.
        async for batch in self._batches(self.source["settings"], {"_id": {"$ne": SCHEMA_KEY}}):
            await self._copy("settings", batch)


def _without_id(doc: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if k != "_id"}


async def migrate(options: Options) -> Summary:
    """Run the migration described by `options`; raises Unusable with a one-line reason."""
    source_client = await _connect(options.source_url, options.timeout)
    try:
        same_server = options.target_url == options.source_url
        target_client = source_client if same_server else await _connect(options.target_url, options.timeout)
        try:
            migration = Migration(source_client[options.source_db], target_client[options.target_db], options)
            return await migration.run()
        finally:
            if not same_server:
                await target_client.close()
    finally:
        await source_client.close()


DEFAULT_SOURCE_DB = "FileStream"  # FileStreamBot's SESSION_NAME default, which names its database


def environment(env_file: str | os.PathLike[str] = ".env") -> dict[str, str]:
    """The process environment over `env_file` (real variables win), blank values left out."""
    from dotenv import dotenv_values  # only needed here

    env = {k: v for k, v in dotenv_values(env_file).items() if v is not None}
    env.update(os.environ)
    return {k: v.strip() for k, v in env.items() if v and v.strip()}


def database_in_url(url: str) -> str | None:
    """The database a MongoDB URL names in its path (mongodb://host/NAME?...), if any."""
    try:
        path = urlsplit(url).path
    except ValueError:
        return None
    name = unquote(path.lstrip("/"))
    return name or None


def source_database(url: str, env: Mapping[str, str]) -> str:
    """FileStreamBot names its database after SESSION_NAME (default FileStream); else the URL's."""
    return env.get("SESSION_NAME") or database_in_url(url) or DEFAULT_SOURCE_DB


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="migrate_files.py",
        description="Migrate a FileStreamBot or older FileStream database to FileStream's current schema. "
                    "With no arguments it reads DATABASE_URL (environment or .env) and migrates in place.",
    )
    parser.add_argument("--source-url", help="MongoDB URL of the database to migrate (default: $DATABASE_URL)")
    parser.add_argument(
        "--source-db",
        help=f"name of the database to migrate (default: $SESSION_NAME, else the URL's path, else {DEFAULT_SOURCE_DB})",
    )
    parser.add_argument("--target-url", help="MongoDB URL to write to (default: --source-url)")
    parser.add_argument("--target-db", help="database to write to (default: --source-db)")
    parser.add_argument(
        "--bin-channel", type=int,
        help="storage channel id, for records that name a message but not its channel (default: $BIN_CHANNEL)",
    )
    parser.add_argument(
        "--file-ttl", type=int, metavar="SECONDS",
        help="give migrated files without an expiry one, this long after the migration (default: keep them permanent)",
    )
    parser.add_argument("--dry-run", action="store_true", help="print what would change and write nothing")
    parser.add_argument("--timeout", type=float, default=5.0, metavar="SECONDS", help="how long to wait for a database (default 5)")
    parser.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None, help="progress bar on stderr (default: when it is a terminal)")
    parser.add_argument(
        "--repost", action="store_true",
        help="then make the missing storage copies now instead of on first use: the main bot re-sends each "
             "file into BIN_CHANNEL by its file id (reads API_ID, API_HASH, BOT_TOKEN, BIN_CHANNEL like "
             "FileStream; resumable; safe beside a running service)",
    )
    parser.add_argument("--repost-rate", type=float, default=20.0, metavar="PER_MINUTE",
                        help="storage copies per minute (default 20: Telegram's pace for posts into one channel)")
    return parser


def options_from_args(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> Options:
    """Options from the command line, with defaults from `env` (see environment()); Unusable when
    no database is named anywhere."""
    env = {} if env is None else env
    args = _parser().parse_args(argv)
    if args.file_ttl is not None and args.file_ttl <= 0:
        _parser().error("--file-ttl must be a positive number of seconds")
    if not 0 < args.repost_rate <= 600:
        _parser().error("--repost-rate must be a number of copies per minute above 0 (at most 600)")
    source_url = args.source_url or env.get("DATABASE_URL")
    if not source_url:
        raise Unusable("no database to migrate: set DATABASE_URL (in the environment or .env) or pass --source-url")
    source_db = args.source_db or source_database(source_url, env)
    target_url = args.target_url or source_url
    target_db = args.target_db or source_db
    if target_url == source_url and target_db != source_db and target_db.lower() == source_db.lower():
        raise Unusable(
            f"MongoDB cannot hold databases whose names differ only in case ({source_db!r}, {target_db!r}): "
            f"migrate in place and set DATABASE_NAME={source_db} for FileStream"
        )
    bin_channel = args.bin_channel
    if bin_channel is None and env.get("BIN_CHANNEL"):
        bin_channel = to_int(env["BIN_CHANNEL"])
        if bin_channel is None:
            raise Unusable(f"BIN_CHANNEL must be a channel id like -1001234567890, got {env['BIN_CHANNEL']!r}")
    return Options(
        source_url=source_url,
        source_db=source_db,
        target_url=target_url,
        target_db=target_db,
        dry_run=args.dry_run,
        bin_channel=bin_channel,
        file_ttl=args.file_ttl,
        timeout=args.timeout,
        progress=args.progress,
        repost=args.repost,
        repost_rate=args.repost_rate,
    )


async def repost(options: Options, settings: Any) -> Any:
    """Make every missing storage copy in the target database now (paced, resumable).

    `settings`: FileStream's Settings (the bot token, api id/hash, BIN_CHANNEL). Returns
    services.storage_copies.PendingCopies. Raises Unusable when the database or the bot
    cannot be used.
    """
    # Imported here: the migration itself needs no Telegram client.
    from FileStream.core.storage_copy import CopyNotNow
    from FileStream.services.storage_copies import StorageCopies
    from FileStream.store.database import DatabaseUnavailable, Deadlines
    from FileStream.telegram.clients import build_client, start_member, stop_client
    from FileStream.telegram.pool import BotPool, PoolMember

    try:
        database = await Database.connect(options.target_url, options.target_db,
                                          deadlines=Deadlines(server_selection=options.timeout))
    except DatabaseUnavailable as exc:
        raise Unusable(str(exc)) from exc
    client = build_client(token=settings.bot_token, api_id=settings.api_id, api_hash=settings.api_hash,
                          session_dir=str(settings.session_dir), workers=1, receives_updates=False, in_memory=True)
    main = PoolMember("main", client, is_main=True)
    try:
        if not await start_member(main, settings.bin_channel):
            raise Unusable(f"the main bot cannot re-send files: {main.last_error} (check BOT_TOKEN and BIN_CHANNEL)")
        clock = lambda: datetime.now(timezone.utc)  # noqa: E731
        copies = StorageCopies(database.files, BotPool(main=main), settings.bin_channel, clock)
        total = len(await database.files.ids_needing_copy(clock()))
        show = options.progress
        with tqdm(total=total, unit="file", file=sys.stderr, disable=None if show is None else not show,
                  leave=False) as bar:
            try:
                return await copies.make_pending(per_minute=options.repost_rate, on_done=lambda _: bar.update(1))
            except CopyNotNow as exc:
                raise Unusable(f"{exc} (the copies made so far are kept: run --repost again to go on)") from exc
            finally:
                await copies.close()
    finally:
        await stop_client(client)
        await database.close()


def database_name_advice(options: Options, env: Mapping[str, str]) -> str | None:
    """A line for the operator when FileStream, as configured, would read another database."""
    if env.get("DATABASE_URL") not in (None, options.target_url):
        return None  # FileStream runs on another server: nothing to say about names there
    reads = env.get("DATABASE_NAME") or "filestream"
    if reads == options.target_db:
        return None
    return (f"note: FileStream reads the database named by DATABASE_NAME ({reads!r}); set "
            f"DATABASE_NAME={options.target_db} in its .env to serve the migrated records")


def bot_settings(env: Mapping[str, str]) -> Any:
    """FileStream's settings for --repost, or Unusable naming the variable to set."""
    from FileStream.config import ConfigError, Settings

    try:
        return Settings.from_env(env)
    except ConfigError as exc:
        raise Unusable(f"--repost needs the bot's settings: {exc}") from exc


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    env = environment() if env is None else env
    try:
        options = options_from_args(argv, env)
        settings = bot_settings(env) if options.repost and not options.dry_run else None
        summary = asyncio.run(migrate(options))
        copies = asyncio.run(repost(options, settings)) if settings is not None else None
    except Unusable as exc:
        print(f"migrate_files: {exc}", file=sys.stderr)
        return EXIT_UNUSABLE
    direction = f"{options.source_db} -> {options.target_db}"
    if not options.in_place:
        direction = f"{mask_url(options.source_url)} {options.source_db} -> {mask_url(options.target_url)} {options.target_db}"
    print(f"migrate_files: {'dry run, ' if options.dry_run else ''}{direction}")
    for line in summary.lines(options.dry_run):
        print(line)
    if copies is not None:
        print(f"storage copies: {copies.made} made, {copies.refused} refused by Telegram (their links answer 410), "
              f"{copies.already} made meanwhile elsewhere")
    elif options.repost:
        print("storage copies: none made in a dry run")
    if (advice := database_name_advice(options, env)) is not None:
        print(advice)
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
