"""The command line of `python migrate_files.py`: arguments and .env defaults, the run, what is printed, exit codes."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Mapping, Sequence
from typing import Any, TextIO
from urllib.parse import unquote, urlsplit

from FileStream.config import mask_url
from FileStream.migration.convert import to_int
from FileStream.migration.options import Options
from FileStream.migration.reposting import repost
from FileStream.migration.run import migrate
from FileStream.migration.schema import Unusable

EXIT_OK, EXIT_FAILED, EXIT_UNUSABLE = 0, 1, 2

DEFAULT_SOURCE_DB = "FileStream"  # FileStreamBot's SESSION_NAME default, which names its database


def environment(env_file: str | os.PathLike[str] = ".env") -> dict[str, str]:
    """The process environment over `env_file` (real variables win), blank values left out."""
    from dotenv import dotenv_values  # only needed here

    env = {k: v for k, v in dotenv_values(env_file).items() if v is not None}
    env.update(os.environ)
    return {k: v.strip() for k, v in env.items() if v and v.strip()}


def database_in_url(url: str) -> str | None:
    """The database a MongoDB URL names in its path (mongodb://host/NAME?...), if any."""
    try:
        path = urlsplit(url).path
    except ValueError:
        return None
    name = unquote(path.lstrip("/"))
    return name or None


def source_database(url: str, env: Mapping[str, str]) -> str:
    """FileStreamBot names its database after SESSION_NAME (default FileStream); else the URL's."""
    return env.get("SESSION_NAME") or database_in_url(url) or DEFAULT_SOURCE_DB


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="migrate_files.py",
        description="Migrate a FileStreamBot or older FileStream database to FileStream's current schema. "
                    "With no arguments it reads DATABASE_URL (environment or .env) and migrates in place.",
    )
    parser.add_argument("--source-url", help="MongoDB URL of the database to migrate (default: $DATABASE_URL)")
    parser.add_argument(
        "--source-db",
        help=f"name of the database to migrate (default: $SESSION_NAME, else the URL's path, else {DEFAULT_SOURCE_DB})",
    )
    parser.add_argument("--target-url", help="MongoDB URL to write to (default: --source-url)")
    parser.add_argument("--target-db", help="database to write to (default: --source-db)")
    parser.add_argument(
        "--bin-channel", type=int,
        help="storage channel id, for records that name a message but not its channel (default: $BIN_CHANNEL)",
    )
    parser.add_argument(
        "--file-ttl", type=int, metavar="SECONDS",
        help="give migrated files without an expiry one, this long after the migration (default: keep them permanent)",
    )
    parser.add_argument("--dry-run", action="store_true", help="print what would change and write nothing")
    parser.add_argument("--timeout", type=float, default=5.0, metavar="SECONDS", help="how long to wait for a database (default 5)")
    parser.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None, help="progress bar on stderr (default: when it is a terminal)")
    parser.add_argument(
        "--repost", action="store_true",
        help="then make the missing storage copies now instead of on first use: the main bot re-sends each "
             "file into BIN_CHANNEL by its file id (reads API_ID, API_HASH, BOT_TOKEN, BIN_CHANNEL like "
             "FileStream; resumable; safe beside a running service)",
    )
    parser.add_argument("--repost-rate", type=float, default=20.0, metavar="PER_MINUTE",
                        help="storage copies per minute (default 20: Telegram's pace for posts into one channel)")
    return parser


def options_from_args(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> Options:
    """Options from the command line, with defaults from `env` (see environment()); Unusable when
    no database is named anywhere."""
    env = {} if env is None else env
    args = _parser().parse_args(argv)
    if args.file_ttl is not None and args.file_ttl <= 0:
        _parser().error("--file-ttl must be a positive number of seconds")
    if not 0 < args.repost_rate <= 600:
        _parser().error("--repost-rate must be a number of copies per minute above 0 (at most 600)")
    source_url = args.source_url or env.get("DATABASE_URL")
    if not source_url:
        raise Unusable("no database to migrate: set DATABASE_URL (in the environment or .env) or pass --source-url")
    source_db = args.source_db or source_database(source_url, env)
    target_url = args.target_url or source_url
    target_db = args.target_db or source_db
    if target_url == source_url and target_db != source_db and target_db.lower() == source_db.lower():
        raise Unusable(
            f"MongoDB cannot hold databases whose names differ only in case ({source_db!r}, {target_db!r}): "
            f"migrate in place and set DATABASE_NAME={source_db} for FileStream"
        )
    bin_channel = args.bin_channel
    if bin_channel is None and env.get("BIN_CHANNEL"):
        bin_channel = to_int(env["BIN_CHANNEL"])
        if bin_channel is None:
            raise Unusable(f"BIN_CHANNEL must be a channel id like -1001234567890, got {env['BIN_CHANNEL']!r}")
    return Options(
        source_url=source_url,
        source_db=source_db,
        target_url=target_url,
        target_db=target_db,
        dry_run=args.dry_run,
        bin_channel=bin_channel,
        file_ttl=args.file_ttl,
        timeout=args.timeout,
        progress=args.progress,
        repost=args.repost,
        repost_rate=args.repost_rate,
    )


def database_name_advice(options: Options, env: Mapping[str, str]) -> str | None:
    """A line for the operator when FileStream, as configured, would read another database."""
    if env.get("DATABASE_URL") not in (None, options.target_url):
        return None  # FileStream runs on another server: nothing to say about names there
    reads = env.get("DATABASE_NAME") or "filestream"
    if reads == options.target_db:
        return None
    return (f"note: FileStream reads the database named by DATABASE_NAME ({reads!r}); set "
            f"DATABASE_NAME={options.target_db} in its .env to serve the migrated records")


def bot_settings(env: Mapping[str, str]) -> Any:
    """FileStream's settings for --repost, or Unusable naming the variable to set."""
    from FileStream.config import ConfigError, Settings

    try:
        return Settings.from_env(env)
    except ConfigError as exc:
        raise Unusable(f"--repost needs the bot's settings: {exc}") from exc


def report(options: Options, summary, copies, env: Mapping[str, str]) -> list[str]:
    """What the command says on stdout when it is done: direction, counts, copies, advice."""
    direction = f"{options.source_db} -> {options.target_db}"
    if not options.in_place:
        direction = f"{mask_url(options.source_url)} {options.source_db} -> {mask_url(options.target_url)} {options.target_db}"
    lines = [f"migrate_files: {'dry run, ' if options.dry_run else ''}{direction}", *summary.lines(options.dry_run)]
    if copies is not None:
        lines.append(f"storage copies: {copies.made} made, {copies.refused} refused by Telegram (their links answer 410), "
                     f"{copies.already} made meanwhile elsewhere")
    elif options.repost:
        lines.append("storage copies: none made in a dry run")
    if (advice := database_name_advice(options, env)) is not None:
        lines.append(advice)
    return lines


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None,
         out: TextIO | None = None, err: TextIO | None = None) -> int:
    """The command: its report is its output (stdout), a reason it cannot run one line on stderr."""
    out = sys.stdout if out is None else out
    err = sys.stderr if err is None else err
    env = environment() if env is None else env
    try:
        options = options_from_args(argv, env)
        settings = bot_settings(env) if options.repost and not options.dry_run else None
        summary = asyncio.run(migrate(options))
        copies = asyncio.run(repost(options, settings)) if settings is not None else None
    except Unusable as exc:
        err.write(f"migrate_files: {exc}\n")
        return EXIT_UNUSABLE
    out.write("".join(f"{line}\n" for line in report(options, summary, copies, env)))
    return EXIT_OK
