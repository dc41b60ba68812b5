"""Migrating an existing FileStreamBot (or older FileStream) database to FileStream's current schema.

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

from FileStream.migration.cli import (
    EXIT_FAILED, EXIT_OK, EXIT_UNUSABLE, bot_settings, database_in_url, database_name_advice, environment, main,
    options_from_args, source_database,
)
from FileStream.migration.convert import (
    BAD_USER, NO_CHANNEL, NO_MESSAGE, NO_SIZE, NO_UNIQUE_ID, MigratedFile, Skip, decode_file_id, is_own_file,
    legacy_ban, legacy_file_to_doc, legacy_user_to_doc, own_file_upgrade, own_user_upgrade, stored_file_doc,
    to_datetime, to_int,
)
from FileStream.migration.options import Options
from FileStream.migration.reposting import repost
from FileStream.migration.run import Migration, migrate
from FileStream.migration.schema import SCHEMA_KEY, SCHEMA_VERSION, Unusable
from FileStream.migration.summary import Summary

__all__ = [
    "BAD_USER", "EXIT_FAILED", "EXIT_OK", "EXIT_UNUSABLE", "Migration", "MigratedFile", "NO_CHANNEL", "NO_MESSAGE",
    "NO_SIZE", "NO_UNIQUE_ID", "Options", "SCHEMA_KEY", "SCHEMA_VERSION", "Skip", "Summary", "Unusable",
    "bot_settings", "database_in_url", "database_name_advice", "decode_file_id", "environment", "is_own_file",
    "legacy_ban", "legacy_file_to_doc", "legacy_user_to_doc", "main", "migrate", "options_from_args",
    "own_file_upgrade", "own_user_upgrade", "repost", "source_database", "stored_file_doc", "to_datetime", "to_int",
]
