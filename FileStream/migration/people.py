"""FileStreamBot's people: user records and ban lists, into our users collection."""

from __future__ import annotations

from typing import Any

from pymongo import UpdateOne
from pymongo.errors import DuplicateKeyError

from FileStream.migration.convert import legacy_ban, legacy_user_to_doc, own_user_upgrade
from FileStream.migration.reading import batches, existing_ids
from FileStream.migration.writing import Writer, without_id


async def migrate_users(run: Writer, name: str) -> None:
    async for batch in batches(run.source[name], {}):
        # FileStreamBot users carry `id` beside their own _id; ours are keyed by the id.
        legacy = [doc for doc in batch if "id" in doc and doc["_id"] != doc["id"]]
        await run.own(name, [doc for doc in batch if not ("id" in doc and doc["_id"] != doc["id"])], own_user_upgrade)
        if legacy:
            run.note("FileStreamBot users")
            await _legacy_users(run, legacy)
            await run.move_aside(name, legacy)
        run.advance(len(batch))


async def _legacy_users(run: Writer, batch: list[dict[str, Any]]) -> None:
    docs = {}
    for old in batch:
        new = legacy_user_to_doc(old)
        if new is None:
            run.summary.users_skipped += 1
        else:
            docs[new["_id"]] = new
    present = await existing_ids(run.target["users"], list(docs))
    run.summary.users_present += len(present)
    fresh = [doc for uid, doc in docs.items() if uid not in present]
    run.summary.users_migrated += len(fresh)
    if fresh and not run.dry:
        await run.target["users"].bulk_write(
            [UpdateOne({"_id": d["_id"]}, {"$setOnInsert": without_id(d)}, upsert=True) for d in fresh],
            ordered=False,
        )
    for old in batch:
        if (ban := legacy_ban(old, run.now, "banned in FileStreamBot", listed=False)) is not None:
            await _ban(run, *ban)


async def migrate_ban_list(run: Writer, name: str) -> None:
    run.note(f"FileStreamBot {name}")
    async for batch in batches(run.source[name], {}):
        for old in batch:
            ban = legacy_ban(old, run.now, f"on the FileStreamBot {name}", listed=True)
            if ban is None:
                run.summary.users_skipped += 1
            else:
                await _ban(run, *ban)
        run.advance(len(batch))


async def _ban(run: Writer, user_id: int, ban: dict[str, Any]) -> None:
    users = run.target["users"]
    if await users.find_one({"_id": user_id, "ban": {"$exists": True}}, {"_id": 1}) is not None:
        run.summary.banned_already += 1
        return
    run.summary.banned += 1
    if run.dry:
        return
    try:
        # Same shape as UserStore.ban: an unknown person gets a record holding only the ban.
        await users.update_one({"_id": user_id, "ban": {"$exists": False}}, {"$set": {"ban": ban}}, upsert=True)
    except DuplicateKeyError:
        run.summary.banned -= 1
        run.summary.banned_already += 1
