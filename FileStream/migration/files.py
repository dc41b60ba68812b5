"""FileStreamBot's file records into our files collection (keyed by a new id, the old one kept as legacy_id)."""

from __future__ import annotations

from pymongo.errors import BulkWriteError

from FileStream.core.tokens import new_file_id
from FileStream.migration.convert import MigratedFile, Skip, is_own_file, legacy_file_to_doc, own_file_upgrade
from FileStream.migration.reading import batches, migrated_files
from FileStream.migration.writing import Writer


async def migrate_files(run: Writer, name: str) -> None:
    # Records this script wrote carry legacy_id: leaving them out keeps an in-place run
    # from reading back what it just inserted into the same collection.
    async for batch in batches(run.source[name], {"legacy_id": {"$exists": False}}):
        legacy = [doc for doc in batch if not is_own_file(doc)]
        await run.own(name, [doc for doc in batch if is_own_file(doc)], own_file_upgrade)
        if legacy:
            run.note(f"FileStreamBot {name}")
            # Asked first, so a record migrated before counts as such even when this
            # run could not migrate it (say, --bin-channel forgotten).
            present = await migrated_files(run.target["files"], [str(old["_id"]) for old in legacy])
            run.summary.files_present += len(present)
            run.summary.files_need_copy += sum(1 for has_copy in present.values() if not has_copy)
            migrated: list[MigratedFile] = []
            for old in legacy:
                if str(old["_id"]) in present:
                    continue
                result = legacy_file_to_doc(
                    old, new_id=new_file_id(), now=run.now,
                    bin_channel=run.options.bin_channel, file_ttl=run.options.file_ttl,
                )
                if isinstance(result, Skip):
                    run.summary.files_skipped[result.reason] += 1
                else:
                    migrated.append(result)
            await _insert(run, migrated)
            await run.move_aside(name, legacy)
        run.advance(len(batch))


async def _insert(run: Writer, migrated: list[MigratedFile]) -> None:
    if not migrated:
        return
    run.summary.files_migrated += len(migrated)
    run.summary.files_need_copy += sum(1 for m in migrated if m.needs_copy)
    if run.dry:
        return
    try:
        await run.target["files"].insert_many([m.doc for m in migrated], ordered=False)
    except BulkWriteError as exc:
        # The unique legacy_id index turns a concurrent run's inserts into duplicates
        # here: those records are migrated all the same, just not by this run.
        errors = exc.details.get("writeErrors", [])
        if any(error.get("code") != 11000 for error in errors):
            raise
        run.summary.files_migrated -= len(errors)
        run.summary.files_present += len(errors)
