"""What a migration recognises and writes: schema version, collection names, the one error it stops on."""

from __future__ import annotations

# 3: a file record may have no storage message yet (storage_*_id null, legacy_file_ids).
SCHEMA_VERSION = 3
SCHEMA_KEY = "schema_version"  # a settings document: {_id: "schema_version", value: N}
BATCH = 500

USER_COLLECTIONS = ("users",)
BAN_COLLECTIONS = ("blacklist", "banned")
FILE_COLLECTIONS = ("file", "files")
RECOGNISED = (*USER_COLLECTIONS, *BAN_COLLECTIONS, *FILE_COLLECTIONS, "settings")
# Our collections that old documents can share with ours during an in-place migration.
OURS = frozenset({"users", "files"})


class Unusable(Exception):
    """The run cannot go on; str() is the one line to print."""
