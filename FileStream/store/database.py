"""The MongoDB connection: one client, its indexes, and a store object per collection."""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pymongo
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import ConnectionFailure, PyMongoError

from FileStream.config import mask_url
from FileStream.store.allowed import AllowedStore
from FileStream.store.broadcasts import BroadcastStore
from FileStream.store.bundles import BundleStore
from FileStream.store.copies import CopyStore
from FileStream.store.copy_intents import CopyIntentStore
from FileStream.store.files import KEEP_EXPIRED, FileStore
from FileStream.store.leases import LeaseStore
from FileStream.store.posts_in_hand import PostsInHandStore
from FileStream.store.requests import RequestStore
from FileStream.store.sessions import SessionStore
from FileStream.store.settings_store import SettingsStore
from FileStream.store.traffic import TrafficStore
from FileStream.store.usage import UsageStore
from FileStream.store.users import UserStore


class DatabaseUnavailable(RuntimeError):
    """The database could not be reached or set up; str() says where and why, in one line."""


@dataclass(frozen=True, slots=True)
class Deadlines:
    """How long database work may take, in seconds, by use (PyMongo's client-side timeout).

    Work that runs out raises a PyMongoError whose `timeout` is True; the connection it
    used is closed, so a stalled server never holds a caller longer than its deadline.
    """

    default: float = 5.0            # every call not named below: handlers, jobs, broadcast steps
    link_lookup: float = 3.0        # a link request; it answers 503 with Retry-After after this
    health: float = 1.0             # /health's ping: /health answers within 2 s
    metrics: float = 2.0            # /metrics' counts; past it the scrape shows the last ones
    startup: float = 60.0           # connecting and making indexes
    listing: float = 120.0          # reading every recipient of a broadcast at once
    server_selection: float = 15.0  # the first answer at start-up; later each call's deadline bounds it


def is_unavailable(error: BaseException) -> bool:
    """True when `error` means the database is away or too slow right now (worth retrying
    later), not that the request itself is wrong."""
    return isinstance(error, ConnectionFailure) or (isinstance(error, PyMongoError) and error.timeout)


class Database:
    """One connected database. Build it with `await Database.connect(...)`, end with `close()`."""

    def __init__(
        self,
        client: AsyncMongoClient[dict[str, Any]],
        db: AsyncDatabase[dict[str, Any]],
        *,
        keep_expired: timedelta = KEEP_EXPIRED,
        deadlines: Deadlines | None = None,
    ) -> None:
        self.client = client
        self.db = db
        self.deadlines = deadlines or Deadlines()
        self.files = FileStore(db["files"], keep_expired=keep_expired)
        self.bundles = BundleStore(db["bundles"], keep_expired=keep_expired)
        self.users = UserStore(db["users"])
        self.allowed = AllowedStore(db["allowed_users"])
        self.requests = RequestStore(db["requests"])
        self.settings = SettingsStore(db["settings"])
        self.broadcasts = BroadcastStore(db["broadcasts"])
        self.sessions = SessionStore(db["sessions"])
        self.usage = UsageStore(db["files"], db["usage_daily"], db["usage_totals"])
        self.traffic = TrafficStore(db["traffic_daily"])
        self.copies = CopyStore(db["files"], db["storage_channels"])
        self.leases = LeaseStore(db["leases"])
        self.copy_intents = CopyIntentStore(db["copy_intents"])
        self.posts_in_hand = PostsInHandStore(db["posts_in_hand"])

    @classmethod
    async def connect(
        cls,
        url: str,
        name: str,
        *,
        keep_expired: timedelta = KEEP_EXPIRED,
        deadlines: Deadlines | None = None,
        **client_options: Any,
    ) -> Database:
        """Connect, check the server answers, and make sure every index exists.

        `keep_expired`: how long an expired file record stays before MongoDB's TTL
        monitor deletes it (see FileStore). `deadlines`: how long calls may take; every
        call gets `deadlines.default` unless it runs inside `deadline(...)`. Extra keyword
        arguments go to AsyncMongoClient.
        """
        deadlines = deadlines or Deadlines()
        if not url:
            # AsyncMongoClient(None) would quietly try localhost:27017 instead.
            raise ValueError("Database.connect needs a MongoDB URL (start the embedded database first)")
        # tz_aware: datetimes come back as aware UTC, as StoredFile promises.
        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
            url,
            tz_aware=True,
            appname="FileStream",
            serverSelectionTimeoutMS=int(deadlines.server_selection * 1000),
            timeoutMS=int(deadlines.default * 1000),
            **client_options,
        )
        try:
            # Under a deadline PyMongo waits for a server as long as the deadline allows, so
            # the first contact gets the selection timeout as its deadline.
            with pymongo.timeout(deadlines.server_selection):
                await client.admin.command("ping")
            database = cls(client, client[name], keep_expired=keep_expired, deadlines=deadlines)
            with pymongo.timeout(deadlines.startup):
                await database.ensure_indexes()
        except PyMongoError as exc:
            await client.close()
            raise DatabaseUnavailable(
                f"cannot use the database {name!r} at {mask_url(url)}: {exc}".splitlines()[0]
            ) from exc
        except BaseException:
            await client.close()
            raise
        return database

    async def ensure_indexes(self) -> None:
        """Create every index the stores rely on (idempotent)."""
        for store in (self.files, self.bundles, self.users, self.allowed, self.requests, self.settings, self.broadcasts,
                      self.sessions, self.usage, self.traffic, self.copies, self.leases, self.copy_intents,
                      self.posts_in_hand):
            await store.ensure_indexes()

    def deadline(self, seconds: float) -> AbstractContextManager[None]:
        """`with db.deadline(s):` every database call inside must finish within `s` seconds
        in all (a deadline inside another can only shorten it). Spawn no long-lived task
        inside: it would inherit the deadline."""
        return pymongo.timeout(seconds)

    async def ping(self) -> None:
        """Raises unless the server answers within the health deadline."""
        with self.deadline(self.deadlines.health):
            await self.client.admin.command("ping")

    async def close(self) -> None:
        await self.client.close()
