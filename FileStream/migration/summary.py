"""What a run changed (or would change, in a dry run), counted and said in lines for the operator."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from FileStream.migration.convert import BAD_USER
from FileStream.migration.schema import SCHEMA_VERSION


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
