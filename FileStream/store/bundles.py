"""The bundles collection: files that share one link, from the first file received to expiry.

A bundle document lives through these states (every move is one atomic update, so several
handlers, or instances, racing on one bundle agree on what happened):

    open ──/done──▶ closing ──last file stored──▶ closed
      └──────────── /revoke, timeout ──────────▶ (deleted, with its files)

While open, files join it (`receive` counts them in, `add_item` or `add_failure` counts
them out); a closed bundle is what links open (`get`). Documents have a TTL on
`expires_at` like files; an open bundle carries a deadline there too, so one that is never
finished disappears by itself.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pymongo import ASCENDING, DESCENDING, ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from FileStream.core.models import Bundle
from FileStream.store.files import KEEP_EXPIRED, LinkMessage, claim_notice

OPEN, CLOSING, CLOSED = "open", "closing", "closed"
CLAIMED = "claimed"     # an album's first message took it; its files are not known yet
REFUSED = "refused"     # an album that could not start (busy, rate limit): kept so its other messages stay quiet
VOIDED = "voided"       # its opening got no answer: whenever the database applies it, it opens nothing (void)


def _live(now: datetime) -> dict[str, Any]:
    return {"$or": [{"expires_at": None}, {"expires_at": {"$gt": now}}]}


def _bundle(doc: dict[str, Any]) -> Bundle:
    items = sorted(doc.get("items", []), key=lambda item: (item.get("position", 0), item["file_id"]))
    return Bundle(id=doc["_id"], title=doc.get("title") or "Bundle", file_ids=tuple(i["file_id"] for i in items),
                  created_at=doc["created_at"], expires_at=doc.get("expires_at"), owner_id=doc.get("owner_id"),
                  source=doc.get("source", "private"))


class BundleStore:
    """Bundles by public id. `get` and the listings see closed bundles only; the raw
    document (`get_doc`) shows an open one's progress: `received`, `items`, `failed`."""

    def __init__(self, collection: AsyncCollection[dict[str, Any]], *, keep_expired: timedelta = KEEP_EXPIRED) -> None:
        self._bundles = collection
        self._keep_expired = keep_expired

    async def ensure_indexes(self) -> None:
        await self._bundles.create_index(
            "expires_at", name="expires_at_ttl", expireAfterSeconds=int(self._keep_expired.total_seconds()))
        await self._bundles.create_index(
            [("owner_id", ASCENDING), ("state", ASCENDING), ("created_at", DESCENDING)], name="owner_state_newest")
        # One bundle per album: every message of a media group races to open it, one wins.
        await self._bundles.create_index(
            "group_key", name="one_bundle_per_album", unique=True,
            partialFilterExpression={"group_key": {"$type": "string"}})

    # -- while it is being made ------------------------------------------------------------

    async def open(self, bundle_id: str, *, title: str, owner_id: int | None, source: str, now: datetime,
                   deadline: datetime, group_key: str | None = None, request_id: str | None = None,
                   origin: str = "command", message_id: int | None = None) -> bool:
        """Start a bundle; False when `group_key` (an album) already has one.

        `origin`: "command" (/bundle) or "album"; `deadline`: when an unfinished one goes away;
        `message_id`: an album's message that took it (handled again if a stop cuts the album short).
        """
        doc: dict[str, Any] = {
            "_id": bundle_id, "title": title, "owner_id": owner_id, "source": source, "state": OPEN,
            "origin": origin, "items": [], "received": 0, "failed": 0, "created_at": now, "expires_at": deadline,
        }
        if group_key is not None:
            doc["group_key"] = group_key
        if request_id is not None:
            doc["request_id"] = request_id
        if message_id is not None:
            doc["message_id"] = message_id
        try:
            await self._bundles.insert_one(doc)
        except DuplicateKeyError:
            return False
        return True

    async def void(self, bundle_id: str, now: datetime, *, request_id: str | None = None) -> None:
        """Make sure the bundle `open` got no answer for never takes a place, whenever the
        database applies that opening (a stalled server applies what waited in its socket
        after it resumes). One upsert, right in either order: applied after the opening it
        turns that bundle void and frees its album's key; applied before, it leaves a void
        document under the id, and the opening, applied late, fails on the taken `_id`.
        Either goes by the TTL on `expires_at`. A bundle another request than `request_id`
        (the one its start opened, failed with it) took is left alone."""
        try:
            await self._bundles.update_one(
                # $in matches a missing field too, and gives an upsert nothing to copy.
                {"_id": bundle_id, "request_id": {"$in": [None, request_id]}},
                {"$set": {"state": VOIDED, "expires_at": now}, "$unset": {"group_key": ""}}, upsert=True)
        except DuplicateKeyError:
            pass  # a request took it: it was answered after all, and is not ours to void

    async def get_doc(self, bundle_id: str) -> dict[str, Any] | None:
        return await self._bundles.find_one({"_id": bundle_id})

    async def update(self, bundle_id: str, **fields: Any) -> None:
        """Set plain fields (request_id, status_message, title) of a bundle in the making."""
        await self._bundles.update_one({"_id": bundle_id}, {"$set": fields})

    async def receive(self, bundle_id: str, limit: int, count: int = 1) -> dict[str, Any] | None:
        """Count `count` more files in while the bundle is open and stays within `limit`;
        the document after, or None (closed, cancelled or full)."""
        return await self._bundles.find_one_and_update(
            {"_id": bundle_id, "state": OPEN, "received": {"$lte": limit - count}},
            {"$inc": {"received": count}}, return_document=ReturnDocument.AFTER)

    async def add_item(self, bundle_id: str, file_id: str, position: int) -> dict[str, Any] | None:
        """Record a stored file at `position` (the order it was sent in); None when the bundle
        ended meanwhile (the caller must then drop the file)."""
        return await self._bundles.find_one_and_update(
            # Never a file dropped already: this write may be applied after its drop_item.
            {"_id": bundle_id, "state": {"$in": [OPEN, CLOSING]}, "dropped": {"$ne": file_id}},
            {"$push": {"items": {"file_id": file_id, "position": position}}}, return_document=ReturnDocument.AFTER)

    async def drop_item(self, bundle_id: str, file_id: str) -> None:
        """Count a file whose add_item got no answer as failed (its record was discarded),
        right in either order with that add_item, should the database apply it late: applied
        after it, this takes the item out again; applied before it, `dropped` keeps the
        add_item from matching. Counted once however often it is sent."""
        await self._bundles.update_one(
            {"_id": bundle_id, "dropped": {"$ne": file_id}},
            {"$pull": {"items": {"file_id": file_id}}, "$addToSet": {"dropped": file_id}, "$inc": {"failed": 1}})

    async def add_failure(self, bundle_id: str) -> dict[str, Any] | None:
        """Count a received file that could not be stored."""
        return await self._bundles.find_one_and_update(
            {"_id": bundle_id, "state": {"$in": [OPEN, CLOSING]}},
            {"$inc": {"failed": 1}}, return_document=ReturnDocument.AFTER)

    async def start_closing(self, bundle_id: str) -> dict[str, Any] | None:
        """open → closing (no more files join); None when it was not open."""
        return await self._bundles.find_one_and_update(
            {"_id": bundle_id, "state": OPEN}, {"$set": {"state": CLOSING}}, return_document=ReturnDocument.AFTER)

    async def close(self, bundle_id: str, now: datetime, expires_at: datetime | None, *,
                    buttons_by: str | None = None) -> Bundle | None:
        """closing → closed with its final expiry, once every received file is accounted for.

        Only one caller wins (the others get None), so the links go out once. `buttons_by`:
        the process that now puts buttons on an AUTH_CHANNEL album's posts; noted in the same
        write, so a stop at any instant after the close leaves the note (`buttons_given`).
        """
        closing: dict[str, Any] = {"state": CLOSED, "closed_at": now, "expires_at": expires_at}
        if buttons_by is not None:
            closing["buttons_by"] = buttons_by
        doc = await self._bundles.find_one_and_update(
            {"_id": bundle_id, "state": CLOSING,
             "$expr": {"$eq": ["$received", {"$add": [{"$size": "$items"}, "$failed"]}]}},
            {"$set": closing}, return_document=ReturnDocument.AFTER)
        return None if doc is None else _bundle(doc)

    async def cancel(self, bundle_id: str) -> dict[str, Any] | None:
        """Take an unfinished bundle away (revoked, timed out); the document it had, whose
        items the caller deletes. None when it was already closed or gone."""
        return await self._bundles.find_one_and_delete({"_id": bundle_id, "state": {"$in": [OPEN, CLOSING]}})

    # -- after a stop ------------------------------------------------------------------------

    async def unfinished_albums(self, since: datetime, before: datetime, limit: int) -> list[dict[str, Any]]:
        """Albums taken in [since, before) whose bundle was never closed nor refused (a stopped
        process was storing them), oldest first, at most `limit`."""
        cursor = self._bundles.find(
            {"origin": "album", "state": {"$nin": [CLOSED, REFUSED, VOIDED]}, "message_id": {"$type": "number"},
             "created_at": {"$gte": since, "$lt": before}}).sort("created_at", ASCENDING).limit(limit)
        return [doc async for doc in cursor]

    async def take_unfinished(self, doc: dict[str, Any]) -> dict[str, Any] | None:
        """Remove an unfinished bundle as it was read (frees its album's key): the document, for
        exactly one caller (who takes its files away and handles the album again); else None."""
        return await self._bundles.find_one_and_delete(
            {"_id": doc["_id"], "state": doc.get("state")})

    async def closed_without_links(self, since: datetime, before: datetime, limit: int) -> list[Bundle]:
        """A person's bundles closed in [since, before) whose links were never recorded as sent."""
        cursor = self._bundles.find(
            {"state": CLOSED, "source": "private", "owner_id": {"$ne": None}, "link_message": None,
             "closed_at": {"$gte": since, "$lt": before}}).sort("closed_at", ASCENDING).limit(limit)
        return [_bundle(doc) async for doc in cursor]

    async def buttons_given(self, bundle_id: str) -> None:
        """Every post of the album has its buttons: nothing is left for a restart."""
        await self._bundles.update_one({"_id": bundle_id}, {"$unset": {"buttons_by": ""}})

    async def buttons_left_behind(self, instance: str, since: datetime, limit: int) -> list[dict[str, Any]]:
        """Albums closed since `since` whose posts another process was giving buttons when it
        stopped (its note is still there), oldest first, at most `limit`."""
        cursor = self._bundles.find(
            {"state": CLOSED, "buttons_by": {"$exists": True, "$ne": instance}, "closed_at": {"$gte": since}}
        ).sort("closed_at", ASCENDING).limit(limit)
        return [doc async for doc in cursor]

    async def claim_buttons(self, doc: dict[str, Any], instance: str) -> bool:
        """Take a left album's buttons over (as read in `doc`); True for exactly one claimant."""
        result = await self._bundles.update_one({"_id": doc["_id"], "buttons_by": doc["buttons_by"]},
                                                {"$set": {"buttons_by": instance}})
        return result.modified_count == 1

    # -- once closed ------------------------------------------------------------------------

    async def get(self, bundle_id: str) -> Bundle | None:
        """A closed bundle even when expired (callers check `is_expired`); None otherwise."""
        doc = await self._bundles.find_one({"_id": bundle_id, "state": CLOSED})
        return None if doc is None else _bundle(doc)

    async def delete(self, bundle_id: str) -> Bundle | None:
        """Remove a closed bundle; the bundle it was (its files are the caller's to delete)."""
        doc = await self._bundles.find_one_and_delete({"_id": bundle_id, "state": CLOSED})
        return None if doc is None else _bundle(doc)

    async def list_by_owner(self, owner_id: int, now: datetime, *, skip: int, limit: int) -> tuple[list[Bundle], int]:
        """`limit` of a person's live closed bundles after the first `skip`, newest first, and their total."""
        query = {"owner_id": owner_id, "state": CLOSED, **_live(now)}
        total = await self._bundles.count_documents(query)
        if limit <= 0:
            return [], total
        cursor = self._bundles.find(query).sort([("created_at", DESCENDING), ("_id", DESCENDING)]).skip(skip).limit(limit)
        return [_bundle(doc) async for doc in cursor], total

    async def mark_notice(self, bundle_id: str, kind: str, now: datetime | None = None) -> bool:
        """Record that notice `kind` (expiry warning, expired) went out for the bundle; True once."""
        return await claim_notice(self._bundles, bundle_id, kind, now)

    async def set_link_message(self, bundle_id: str, chat_id: int, message_id: int) -> None:
        await self._bundles.update_one(
            {"_id": bundle_id}, {"$set": {"link_message": {"chat_id": chat_id, "message_id": message_id}}})

    async def link_message(self, bundle_id: str) -> LinkMessage | None:
        doc = await self._bundles.find_one({"_id": bundle_id}, {"link_message": 1})
        found = doc.get("link_message") if doc else None
        return None if not found else LinkMessage(found["chat_id"], found["message_id"])
