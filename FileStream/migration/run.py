"""One whole migration run: check the schema versions, walk the recognised collections in order, record the version."""

from __future__ import annotations

import sys

from tqdm import tqdm

from FileStream.migration.convert import to_int
from FileStream.migration.files import migrate_files
from FileStream.migration.options import Options
from FileStream.migration.people import migrate_ban_list, migrate_users
from FileStream.migration.reading import connect
from FileStream.migration.schema import (
    BAN_COLLECTIONS, FILE_COLLECTIONS, RECOGNISED, SCHEMA_KEY, SCHEMA_VERSION, USER_COLLECTIONS, Unusable,
)
from FileStream.migration.summary import Summary
from FileStream.migration.writing import Writer
from FileStream.store.database import Database


class Migration(Writer):
    """One run: reads `source`, writes `target` (or only counts, in a dry run)."""

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
                    await migrate_users(self, name)
            for name in BAN_COLLECTIONS:
                if name in names:
                    await migrate_ban_list(self, name)
            for name in FILE_COLLECTIONS:
                if name in names:
                    await migrate_files(self, name)
            if "settings" in names and not self.options.in_place:
                await self.copy_settings()
        finally:
            self.bar.close()
        await self._write_schema_version()
        return self.summary

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


async def migrate(options: Options) -> Summary:
    """Run the migration described by `options`; raises Unusable with a one-line reason."""
    source_client = await connect(options.source_url, options.timeout)
    try:
        same_server = options.target_url == options.source_url
        target_client = source_client if same_server else await connect(options.target_url, options.timeout)
        try:
            migration = Migration(source_client[options.source_db], target_client[options.target_db], options)
            return await migration.run()
        finally:
            if not same_server:
                await target_client.close()
    finally:
        await source_client.close()


__all__ = ["Migration", "migrate"]
