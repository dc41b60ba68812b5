"""Converting: FileStreamBot's records (and older FileStream ones) into today's documents. Pure, no I/O."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any

from bson import ObjectId

from FileStream.core.mime import effective_mime_type
from FileStream.core.models import StoredFile
from FileStream.core.storage_copy import known_file_ids
from FileStream.store.files import file_document

# Where forks keep the storage-channel copy of a file, most specific first.
MESSAGE_ID_FIELDS = ("storage_message_id", "message_id", "msg_id", "log_msg_id", "bin_message_id")
CHAT_ID_FIELDS = ("storage_chat_id", "chat_id", "channel_id", "bin_channel")
MEDIA_KINDS = ("document", "video", "audio", "voice", "animation", "video_note", "photo")

NO_MESSAGE = "no storage message id and no usable file id (cannot be streamed)"
NO_CHANNEL = "no storage channel (pass --bin-channel) and no usable file id"
NO_SIZE = "no file size"
NO_UNIQUE_ID = "no file_unique_id"
BAD_USER = "no usable user id"


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

