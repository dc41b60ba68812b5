"""Writing: what every part of a run shares — the target database, the dry-run rule, the counts —
and the moves that apply to any collection (upgrading or copying our own records, setting old ones aside)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

from pymongo import UpdateOne
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError
from tqdm import tqdm

from FileStream.migration.options import Options
from FileStream.migration.reading import batches, existing_ids
from FileStream.migration.schema import OURS, SCHEMA_KEY
from FileStream.migration.summary import Summary

Upgrade = Callable[[Mapping[str, Any]], dict[str, Any]]


def without_id(doc: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if k != "_id"}


class Writer:
    """The state one run shares: reads `source`, writes `target` (or only counts, in a dry run)."""

    def __init__(self, source: AsyncDatabase[dict[str, Any]], target: AsyncDatabase[dict[str, Any]], options: Options) -> None:
        self.source = source
        self.target = target
        self.options = options
        self.dry = options.dry_run
        self.now = datetime.now(timezone.utc)
        self.summary = Summary()
        self.bar: tqdm[Any] | None = None

    def note(self, kind: str) -> None:
        """`kind` of records was found in the source (said once in the summary)."""
        if kind not in self.summary.source_schema:
            self.summary.source_schema.append(kind)

    def advance(self, n: int) -> None:
        if self.bar is not None:
            self.bar.update(n)

    async def move_aside(self, name: str, docs: Sequence[dict[str, Any]]) -> None:
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

    async def own(self, name: str, batch: list[dict[str, Any]], upgrade: Upgrade) -> None:
        """FileStream records: upgrade them in place, or copy them (upgraded) to another database."""
        if not batch:
            return
        if self.options.in_place:
            ops = [UpdateOne({"_id": doc["_id"]}, {"$set": fields}) for doc in batch if (fields := upgrade(doc))]
            if not ops:
                return
            self.note(f"FileStream schema 1 {name}")
            if name == "files":
                self.summary.own_files_upgraded += len(ops)
            else:
                self.summary.own_users_upgraded += len(ops)
            if not self.dry:
                await self.source[name].bulk_write(ops, ordered=False)
            return
        await self.copy(name, [{**doc, **upgrade(doc)} for doc in batch])

    async def copy(self, name: str, docs: list[dict[str, Any]]) -> None:
        """Copy documents to the target's `name`, never overwriting what is there."""
        present = await existing_ids(self.target[name], [doc["_id"] for doc in docs])
        fresh = [doc for doc in docs if doc["_id"] not in present]
        if not fresh:
            return
        self.note(f"FileStream {name}")
        self.summary.own_copied[name] += len(fresh)
        if not self.dry:
            await self.target[name].bulk_write(
                [UpdateOne({"_id": doc["_id"]}, {"$setOnInsert": without_id(doc)}, upsert=True) for doc in fresh],
                ordered=False,
            )

    async def copy_settings(self) -> None:
        # The link secret above all: without it every link the old database gave out breaks.
        async for batch in batches(self.source["settings"], {"_id": {"$ne": SCHEMA_KEY}}):
            await self.copy("settings", batch)
