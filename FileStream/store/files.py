"""The files collection: StoredFile records, their expiry, notices and link messages."""

from __future__ import annotations

import dataclasses
import re
from datetime import datetime, timedelta
from typing import Any, NamedTuple

import pymongo
from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import ConnectionFailure, PyMongoError

from FileStream.core.models import StoredFile
from FileStream.core.storage_copy import CopyClaim, KnownFileId

# MongoDB's TTL monitor removes a record this long after its stored copies were confirmed
# deleted (`copies_gone_at`), should the expiry job not have removed it itself. Never
# earlier: a record is the only way to find its copy, so a record whose copy is not gone
# stays, however long the bot instance is down. Expiry itself is decided by `expires_at`
# in every query.
KEEP_EXPIRED = timedelta(days=1)

# A new record is written in two steps (see FileStore.insert_confirmed): first an empty
# placeholder {_id, pending_since} stamped with the database's own clock, then the record's
# fields, in an update that only matches while the database's clock is within the confirm
# window of that stamp. The placeholder carries none of a record's fields, so no query that
# looks for an owner, a copy, an expiry or a key can find it; queries that could match it
# (by id, or on fields it lacks, such as `expires_at: None`) leave it out with `_CONFIRMED`.
# A placeholder never confirmed (its intake failed, or its write was applied after the
# intake gave up on it) is removed by MongoDB's TTL monitor after PENDING_KEPT.
PENDING = "pending_since"
_CONFIRMED = {PENDING: {"$exists": False}}
PENDING_KEPT = timedelta(hours=1)
# How long after its placeholder was stamped a new record may still be confirmed. The
# intake gives up on the confirm no later than this after the placeholder's write answered,
# and from then on the database refuses it, however late it applies it.
CONFIRM_WINDOW = 5.0

# The message a record was made from ("chat:message", see origin_key): an intake, first time or
# handled again after a stop, looks for a live record of its message before it stores
# anything, and a unique index lets only one record hold it. Written only by the intake's
# confirm: a placeholder has none (it claims nothing until it is a record), nor has an upload
# (no message of its own), a migrated record (FileStreamBot may have stored one message
# twice), nor one written before 2026-12 (its message is not looked up; it was handled then).
ORIGIN = "origin_key"

_FIELDS = tuple(f.name for f in dataclasses.fields(StoredFile))
_NOTICE_KIND = re.compile(r"[a-z][a-z0-9_]{0,31}")


class CopyTask(NamedTuple):
    """A file without a storage copy: its record, the file ids known for it, and its claim."""

    file: StoredFile
    known_ids: list[KnownFileId]
    claim: CopyClaim | None


class LinkMessage(NamedTuple):
    """The bot's reply that carries a file's links, to edit when the file expires."""

    chat_id: int
    message_id: int


def _live(now: datetime) -> dict[str, Any]:
    # `expires_at: None` also matches records without the field: those never expire (and an
    # unconfirmed placeholder, which has no fields at all: left out).
    return {"$or": [{"expires_at": None}, {"expires_at": {"$gt": now}}], **_CONFIRMED}


def _confirmed(query: dict[str, Any]) -> dict[str, Any]:
    """`query`, matching confirmed records only (never a placeholder of an intake under way or failed)."""
    return {**query, **_CONFIRMED}


class NotConfirmed(Exception):
    """A new record's confirm came too late (its window had passed): it never shows, and
    the placeholder goes by itself."""


class ConfirmUnanswered(Exception):
    """A new record's confirm got no answer in time (the database is away or stalled): it
    most likely never shows, unless the database applied it in time and only its answer
    was lost. The cause is the PyMongoError."""


def file_document(file: StoredFile) -> dict[str, Any]:
    """A StoredFile as the files collection holds it (`id` becomes `_id`)."""
    doc = {name: getattr(file, name) for name in _FIELDS}
    doc["_id"] = doc.pop("id")
    if doc["deep_link_key"] is None:
        del doc["deep_link_key"]  # kept out of the sparse unique index
    return doc


def origin_key(chat_id: int | None, message_id: int | None) -> str | None:
    """The key of the message a file came in (its chat and id), or None when it has none."""
    if chat_id is None or message_id is None:
        return None
    return f"{chat_id}:{message_id}"


def _from_doc(doc: dict[str, Any]) -> StoredFile:
    return StoredFile(id=doc["_id"], **{name: doc.get(name) for name in _FIELDS if name != "id"})


def _check_kind(kind: str) -> str:
    # The kind becomes part of a field path, so it must not carry dots or dollars.
    if not _NOTICE_KIND.fullmatch(kind):
        raise ValueError(f"notice kind must be a short lower_case word, got {kind!r}")
    return kind


async def claim_notice(collection: AsyncCollection[dict[str, Any]], record_id: str, kind: str,
                       now: datetime | None = None) -> bool:
    """Mark notice `kind` as sent on a record; True only for the first caller, on any instance."""
    path = f"notices.{_check_kind(kind)}"
    # The condition and the write are one atomic update, so two instances racing on the
    # same record cannot both win.
    result = await collection.update_one(
        {"_id": record_id, path: {"$exists": False}}, {"$set": {path: now if now is not None else True}}
    )
    return result.modified_count == 1


class FileStore:
    """Files by public id. Datetimes come back at millisecond precision (BSON dates)."""

    def __init__(self, collection: AsyncCollection[dict[str, Any]], *, keep_expired: timedelta = KEEP_EXPIRED) -> None:
        self._files = collection
        self._keep_expired = keep_expired

    async def ensure_indexes(self) -> None:
        # Until 2026-12 the TTL was on `expires_at`: it removed records of a bot instance
        # down for longer than KEEP_EXPIRED before their copies were deleted.
        if "expires_at_ttl" in await self._files.index_information():
            await self._files.drop_index("expires_at_ttl")
        await self._files.create_index("expires_at", name="expires_at")
        await self._files.create_index(
            "copies_gone_at", name="copies_gone_ttl", expireAfterSeconds=int(self._keep_expired.total_seconds())
        )
        await self._files.create_index(
            [("owner_id", ASCENDING), ("created_at", DESCENDING)], name="owner_newest"
        )
        # Only shared files have a deep-link key; the others are written without the field,
        # so a sparse index leaves them out (SecantusDB plans equality on sparse indexes, not
        # on partial ones).
        await self._files.create_index("deep_link_key", name="deep_link_key", unique=True, sparse=True)
        # FileStreamBot's ObjectId of a migrated file: its old links name it. Sparse rather
        # than partial: both leave out our own files, and SecantusDB (the embedded
        # database) plans $in and equality on a sparse one. migrate_files.py relies on it.
        await self._files.create_index("legacy_id", name="legacy_id_unique", unique=True, sparse=True)
        # The bytes' identity: a kept CRC-32 is found by it, whichever record of the bytes kept it.
        await self._files.create_index("file_unique_id", name="file_unique_id")
        # Placeholders of new records never confirmed (insert_confirmed); confirmed records
        # have no such field, so the TTL never touches them.
        await self._files.create_index(PENDING, name="pending_ttl",
                                       expireAfterSeconds=int(PENDING_KEPT.total_seconds()))
        # One record per message taken in (ORIGIN): two intakes of one message (a replay
        # racing another instance) cannot both confirm a record; the loser reuses the
        # winner's. Sparse, so records without the key are left out, and SecantusDB plans
        # the intake's equality lookup on it.
        await self._files.create_index(ORIGIN, name="one_record_per_origin", unique=True, sparse=True)
        # The request a person's file was stored for (insert_confirmed): a start finds by it
        # the records of requests that ended without their links (of_requests).
        await self._files.create_index("request_id", name="request_id", sparse=True)

    async def insert_confirmed(self, file: StoredFile, window: float = CONFIRM_WINDOW, *,
                               request_id: str | None = None) -> None:
        """Add a record that shows only once the database confirmed it within `window` seconds.

        A write that times out is not undone: the database may apply it later (a frozen
        server applies what waits in its socket after it thaws). A plain insert that timed
        out would then add a record for a file its person was told had failed. So: first a
        placeholder that no reader sees, stamped by the database's clock; then the record's
        fields, in an update that matches only while the database's clock is less than
        `window` after that stamp. This call gives up on the update before the window ends
        (the stamp was made before its answer came, and our clock runs as fast as the
        database's), so an update applied after we gave up finds nothing to match. Nothing
        depends on the two clocks agreeing on the time of day.

        Raises NotConfirmed when the database found the window passed; ConfirmUnanswered
        when it did not answer the confirm: then the record is most likely not there, and the
        caller removes it (`delete`) in case the update was applied in time and only its
        answer was lost. A PyMongoError from the placeholder's write (nothing can show then);
        DuplicateKeyError if the id is taken.

        `request_id`: the person's request it is stored for, kept with the record, so that a
        record whose request ended without its links is found and removed even after a
        restart (of_requests), should its removal not have been taken at the time.
        """
        await self.add_placeholder(file.id)
        # The database stamped the placeholder before it answered, so giving up `window`
        # seconds after its answer is no earlier than the database starts refusing.
        await self.confirm(file, window, give_up_after=window, request_id=request_id)

    async def add_placeholder(self, file_id: str) -> None:
        """The first step of insert_confirmed: an empty placeholder stamped by the database's clock."""
        # Matches an existing placeholder only: with the id of a confirmed record the upsert
        # fails on the unique _id instead of hiding that record.
        await self._files.update_one({"_id": file_id, PENDING: {"$exists": True}},
                                     {"$currentDate": {PENDING: True}}, upsert=True)

    async def confirm(self, file: StoredFile, window: float, *, give_up_after: float,
                      request_id: str | None = None) -> None:
        """The second step of insert_confirmed: the placeholder becomes the record if the
        database's clock is less than `window` seconds after its stamp; we wait for the answer
        `give_up_after` seconds at most (within any outer deadline)."""
        doc = file_document(file)
        del doc["_id"]
        if request_id is not None:
            doc["request_id"] = request_id
        if (key := origin_key(file.origin_chat_id, file.origin_message_id)) is not None:
            doc[ORIGIN] = key   # a DuplicateKeyError here: another record holds the message
        # $toLong: SecantusDB (the embedded database) compares $$NOW with a stored date
        # wrongly; as milliseconds since the epoch both it and MongoDB compare right.
        in_time = {"$expr": {"$lt": [{"$toLong": "$$NOW"},
                                     {"$add": [{"$toLong": f"${PENDING}"}, int(window * 1000)]}]}}
        try:
            # Only shortens an outer deadline (the caller's), never lengthens it.
            with pymongo.timeout(give_up_after):
                result = await self._files.update_one({"_id": file.id, PENDING: {"$type": "date"}, **in_time},
                                                      {"$set": doc, "$unset": {PENDING: ""}})
        except PyMongoError as error:
            if isinstance(error, ConnectionFailure) or error.timeout:
                raise ConfirmUnanswered(f"file {file.id}: {error!r}") from error
            raise
        if result.modified_count != 1:
            raise NotConfirmed(f"file {file.id}: the database had passed the confirm window")

    async def get(self, file_id: str) -> StoredFile | None:
        """The record even when expired (callers check `is_expired`); None when gone."""
        doc = await self._files.find_one(_confirmed({"_id": file_id}))
        return None if doc is None else _from_doc(doc)

    async def of_requests(self, request_ids: list[str]) -> list[StoredFile]:
        """The records stored for these requests (insert_confirmed's `request_id`)."""
        cursor = self._files.find(_confirmed({"request_id": {"$in": list(request_ids)}}))
        return [_from_doc(doc) async for doc in cursor]

    async def from_origin(self, chat_id: int, message_id: int, now: datetime) -> StoredFile | None:
        """The live, confirmed record made from message `message_id` of `chat_id` (the intake
        reuses it rather than storing the file again); None when there is none.

        A record of the message that is no longer live (expired, or revoked and its copy not
        yet deleted) gives the message up here, so a new record may take it: one indexed
        lookup, and a write only in that rare case.
        """
        key = origin_key(chat_id, message_id)
        doc = await self._files.find_one(_confirmed({ORIGIN: key}))
        if doc is None:
            return None
        if doc.get("expires_at") is None or doc["expires_at"] > now:
            return _from_doc(doc)
        await self._files.update_one({"_id": doc["_id"], ORIGIN: key}, {"$unset": {ORIGIN: ""}})
        return None

    async def id_for_legacy(self, legacy_id: str) -> str | None:
        """Our id of the file migrated from FileStreamBot's record `legacy_id` (an ObjectId in hex)."""
        doc = await self._files.find_one({"legacy_id": legacy_id}, {"_id": 1})
        return None if doc is None else doc["_id"]

    async def get_live(self, file_id: str, now: datetime) -> StoredFile | None:
        """The record only while it has not expired at `now`."""
        doc = await self._files.find_one({"_id": file_id, **_live(now)})
        return None if doc is None else _from_doc(doc)

    async def get_by_deep_link_key(self, key: str, now: datetime) -> StoredFile | None:
        """The live record whose deep-link key is `key`."""
        if not isinstance(key, str) or not key:
            return None
        doc = await self._files.find_one({"deep_link_key": key, **_live(now)})
        return None if doc is None else _from_doc(doc)

    async def delete(self, file_id: str) -> bool:
        """Remove a record; True when there was one."""
        result = await self._files.delete_one({"_id": file_id})
        return result.deleted_count == 1

    async def take_out(self, file_id: str) -> StoredFile | None:
        """Remove a record and return it as it was at that instant (with a mirror copy
        recorded just before), or None when there was none."""
        doc = await self._files.find_one_and_delete({"_id": file_id})
        return None if doc is None else _from_doc(doc)

    async def list_by_owner(
        self, owner_id: int, now: datetime, page: int, page_size: int = 10
    ) -> tuple[list[StoredFile], int]:
        """One page (0-based) of a person's unexpired files, newest first, and their total.

        Files sent in a bundle are left out: they are listed by their bundle.
        """
        if page < 0 or page_size < 1:
            raise ValueError(f"page must be >= 0 and page_size >= 1, got {page}, {page_size}")
        files, total = await self.list_alone(owner_id, now, skip=page * page_size, limit=page_size)
        return files, total

    async def list_alone(self, owner_id: int, now: datetime, *, skip: int, limit: int) -> tuple[list[StoredFile], int]:
        """`limit` of a person's unexpired files outside bundles after the first `skip`, newest
        first, and how many there are in all."""
        query = {"owner_id": owner_id, "bundle_id": None, **_live(now)}
        total = await self._files.count_documents(query)
        if limit <= 0:
            return [], total
        cursor = (
            self._files.find(query)
            .sort([("created_at", DESCENDING), ("_id", DESCENDING)])
            .skip(skip)
            .limit(limit)
        )
        return [_from_doc(doc) async for doc in cursor], total

    async def get_many(self, file_ids: list[str]) -> dict[str, StoredFile]:
        """The records that exist among `file_ids` (expired ones too), by id."""
        cursor = self._files.find(_confirmed({"_id": {"$in": list(file_ids)}}))
        return {doc["_id"]: _from_doc(doc) async for doc in cursor}

    async def set_expiry(self, file_ids: list[str], expires_at: datetime | None) -> int:
        """Give files one expiry (a bundle's files expire together); returns how many matched."""
        result = await self._files.update_many({"_id": {"$in": list(file_ids)}}, {"$set": {"expires_at": expires_at}})
        return result.matched_count

    async def expire_now(self, file_id: str, now: datetime) -> None:
        """End a file's links now and leave the rest to the expiry job (its copy could not be deleted)."""
        await self._files.update_one({"_id": file_id}, {"$set": {"expires_at": now}})

    async def mark_copies_gone(self, file_ids: list[str], now: datetime) -> None:
        """The stored copies of these files are deleted (or kept on purpose): from now on the
        TTL monitor may remove their records, should nobody else."""
        await self._files.update_many({"_id": {"$in": list(file_ids)}}, {"$set": {"copies_gone_at": now}})

    async def recorded_messages(self, chat_id: int, message_ids: list[int]) -> set[int]:
        """Which of these messages of `chat_id` a record holds as its storage or mirror copy
        (a scan: used only after a crash)."""
        ids = list(message_ids)
        cursor = self._files.find(
            {"$or": [{"storage_chat_id": chat_id, "storage_message_id": {"$in": ids}},
                     {"mirror_chat_id": chat_id, "mirror_message_id": {"$in": ids}}]},
            {"storage_chat_id": 1, "storage_message_id": 1, "mirror_chat_id": 1, "mirror_message_id": 1})
        found: set[int] = set()
        async for doc in cursor:
            for chat_field, message_field in (("storage_chat_id", "storage_message_id"),
                                              ("mirror_chat_id", "mirror_message_id")):
                if doc.get(chat_field) == chat_id and doc.get(message_field) in ids:
                    found.add(doc[message_field])
        return found

    async def delete_many(self, file_ids: list[str]) -> int:
        result = await self._files.delete_many({"_id": {"$in": list(file_ids)}})
        return result.deleted_count

    async def get_crc32s(self, file_unique_ids: list[str]) -> dict[str, int]:
        """The CRC-32s kept for these bytes (Telegram's file_unique_id), from any record of them."""
        found: dict[str, int] = {}
        cursor = self._files.find({"file_unique_id": {"$in": list(file_unique_ids)}, "crc32": {"$exists": True}},
                                  {"file_unique_id": 1, "crc32": 1})
        async for doc in cursor:
            value = doc.get("crc32")
            if isinstance(value, int) and 0 <= value <= 0xFFFFFFFF:
                found[doc["file_unique_id"]] = value
        return found

    async def set_crc32(self, file_unique_id: str, crc: int) -> None:
        """Keep the CRC-32 of these bytes (computed once, by streaming them; they never change) on
        every record of them, so a copy of the same file sent again finds it."""
        if not 0 <= crc <= 0xFFFFFFFF:
            raise ValueError(f"not a CRC-32: {crc}")
        await self._files.update_many({"file_unique_id": file_unique_id}, {"$set": {"crc32": crc}})

    async def get_media(self, file_id: str) -> dict[str, Any] | None:
        """What the probe of the file found (core.media_probe.MediaInfo.to_doc), if it was probed."""
        doc = await self._files.find_one({"_id": file_id}, {"media": 1})
        value = doc.get("media") if doc else None
        return value if isinstance(value, dict) else None

    async def set_media(self, file_id: str, media: dict[str, Any]) -> None:
        """Keep the probe with the record: a page view never probes the file again."""
        await self._files.update_one({"_id": file_id}, {"$set": {"media": media}})

    async def count_live(self, now: datetime) -> int:
        return await self._files.count_documents(_live(now))

    async def find_expiring(
        self, now: datetime, within: timedelta, *, without_notice: str | None = None, limit: int = 500
    ) -> list[StoredFile]:
        """Files still live at `now` that expire within `within`, soonest first.

        `without_notice`: leave out files already marked with that notice kind.
        """
        query: dict[str, Any] = {"expires_at": {"$gt": now, "$lte": now + within}}
        if without_notice is not None:
            query[f"notices.{_check_kind(without_notice)}"] = {"$exists": False}
        cursor = self._files.find(query).sort("expires_at", ASCENDING).limit(limit)
        return [_from_doc(doc) async for doc in cursor]

    async def find_expired(
        self, now: datetime, *, without_notice: str | None = None, with_notice: str | None = None, limit: int = 500
    ) -> list[StoredFile]:
        """Files expired at `now` that the TTL monitor has not removed yet, oldest first.

        `without_notice` / `with_notice`: only files not marked / marked with that notice kind.
        """
        query: dict[str, Any] = {"expires_at": {"$lte": now}}
        if without_notice is not None:
            query[f"notices.{_check_kind(without_notice)}"] = {"$exists": False}
        if with_notice is not None:
            query[f"notices.{_check_kind(with_notice)}"] = {"$exists": True}
        cursor = self._files.find(query).sort("expires_at", ASCENDING).limit(limit)
        return [_from_doc(doc) async for doc in cursor]

    async def next_expiry(self, *, after: datetime | None = None, without_notice: str | None = None) -> datetime | None:
        """The earliest `expires_at` (later than `after`, when given) among files not marked
        with that notice kind; None when there is none. What the expiry job sleeps until."""
        query: dict[str, Any] = {"expires_at": {"$type": "date"} if after is None else {"$gt": after}}
        if without_notice is not None:
            query[f"notices.{_check_kind(without_notice)}"] = {"$exists": False}
        doc = await self._files.find_one(query, {"expires_at": 1}, sort=[("expires_at", ASCENDING)])
        return None if doc is None else doc["expires_at"]

    async def mark_notice(self, file_id: str, kind: str, now: datetime | None = None) -> bool:
        """Record that notice `kind` went out; True only for the first caller, on any instance."""
        return await claim_notice(self._files, file_id, kind, now)

    async def set_link_message(self, file_id: str, chat_id: int, message_id: int) -> bool:
        result = await self._files.update_one(
            {"_id": file_id}, {"$set": {"link_message": {"chat_id": chat_id, "message_id": message_id}}}
        )
        return result.matched_count == 1

    async def link_message(self, file_id: str) -> LinkMessage | None:
        doc = await self._files.find_one({"_id": file_id}, {"link_message": 1})
        found = doc.get("link_message") if doc else None
        return None if not found else LinkMessage(found["chat_id"], found["message_id"])

    # -- storage copies of migrated files (services/storage_copies.py) ---------------------

    async def copy_task(self, file_id: str) -> CopyTask | None:
        """What making `file_id`'s storage copy needs to know; None when the record is gone."""
        doc = await self._files.find_one(_confirmed({"_id": file_id}))
        if doc is None:
            return None
        known = [KnownFileId(k["file_id"], k.get("bot_id")) for k in doc.get("legacy_file_ids") or []
                 if isinstance(k, dict) and isinstance(k.get("file_id"), str)]
        found = doc.get("storage_copy")
        claim = None if not isinstance(found, dict) else CopyClaim(
            state=found.get("state", ""), by=found.get("by", ""), at=found.get("at"), reason=found.get("reason", ""))
        return CopyTask(_from_doc(doc), known, claim)

    async def ids_needing_copy(self, now: datetime) -> list[str]:
        """Live files without a storage copy that nobody found impossible yet, oldest first."""
        query = {"storage_message_id": None, "storage_copy.state": {"$ne": "refused"}, **_live(now)}
        cursor = self._files.find(query, {"_id": 1}).sort([("created_at", ASCENDING), ("_id", ASCENDING)])
        return [doc["_id"] async for doc in cursor]

    async def claim_copy(self, file_id: str, claimant: str, now: datetime, stale_before: datetime) -> bool:
        """Take the job of making the copy; True only for one caller on any instance at a time.

        A claim older than `stale_before` was left by an instance that stopped: it is taken over.
        """
        result = await self._files.update_one(
            {"_id": file_id, "storage_message_id": None,
             "$or": [{"storage_copy": None},
                     {"storage_copy.state": "sending", "storage_copy.at": {"$lt": stale_before}}]},
            {"$set": {"storage_copy": {"state": "sending", "by": claimant, "at": now}}},
        )
        return result.modified_count == 1

    async def record_copy(self, file_id: str, chat_id: int, message_id: int, dc_id: int) -> bool:
        """Keep the new storage message; False when the record has one already (or is gone)."""
        result = await self._files.update_one(
            {"_id": file_id, "storage_message_id": None},
            {"$set": {"storage_chat_id": chat_id, "storage_message_id": message_id, "dc_id": dc_id},
             "$unset": {"storage_copy": ""}},
        )
        return result.modified_count == 1

    async def refuse_copy(self, file_id: str, claimant: str, reason: str, now: datetime) -> bool:
        """Mark the copy as impossible; True only for the claimant that still held the claim."""
        result = await self._files.update_one(
            {"_id": file_id, "storage_copy.by": claimant, "storage_copy.state": "sending"},
            {"$set": {"storage_copy": {"state": "refused", "reason": reason, "at": now}}},
        )
        return result.modified_count == 1

    async def release_copy(self, file_id: str, claimant: str) -> None:
        """Give the claim back (the copy could not be made now); someone may try again."""
        await self._files.update_one(
            {"_id": file_id, "storage_copy.by": claimant, "storage_copy.state": "sending"},
            {"$unset": {"storage_copy": ""}},
        )
