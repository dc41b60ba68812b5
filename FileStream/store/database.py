"""The MongoDB connection: one client, its indexes, and a store object per collection."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import PyMongoError

from FileStream.config import mask_url
from FileStream.store.broadcasts import BroadcastStore
from FileStream.store.bundles import BundleStore
from FileStream.store.files import KEEP_EXPIRED, FileStore
from FileStream.store.requests import RequestStore
from FileStream.store.sessions import SessionStore
from FileStream.store.settings_store import SettingsStore
from FileStream.store.users import UserStore


class DatabaseUnavailable(RuntimeError):
    """The database could not be reached or set up; str() says where and why, in one line."""


class Database:
    """One connected database. Build it with `await Database.connect(...)`, end with `close()`."""

    def __init__(
        self,
        client: AsyncMongoClient[dict[str, Any]],
        db: AsyncDatabase[dict[str, Any]],
        *,
        keep_expired: timedelta = KEEP_EXPIRED,
    ) -> None:
        self.client = client
        self.db = db
        self.files = FileStore(db["files"], keep_expired=keep_expired)
        self.bundles = BundleStore(db["bundles"], keep_expired=keep_expired)
        self.users = UserStore(db["users"])
        self.requests = RequestStore(db["requests"])
        self.settings = SettingsStore(db["settings"])
        self.broadcasts = BroadcastStore(db["broadcasts"])
        self.sessions = SessionStore(db["sessions"])

    @classmethod
    async def connect(
        cls,
        url: str,
        name: str,
        *,
        keep_expired: timedelta = KEEP_EXPIRED,
        server_selection_timeout: float = 15.0,
        **client_options: Any,
    ) -> Database:
        """Connect, check the server answers, and make sure every index exists.

        `keep_expired`: how long an expired file record stays before MongoDB's TTL
        monitor deletes it (see FileStore). Extra keyword arguments go to AsyncMongoClient.
        """
        if not url:
            # AsyncMongoClient(None) would quietly try localhost:27017 instead.
            raise ValueError("Database.connect needs a MongoDB URL (start the embedded database first)")
        # tz_aware: datetimes come back as aware UTC, as StoredFile promises.
        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
            url,
            tz_aware=True,
            appname="FileStream",
            serverSelectionTimeoutMS=int(server_selection_timeout * 1000),
            **client_options,
        )
        try:
            await client.admin.command("ping")
            database = cls(client, client[name], keep_expired=keep_expired)
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
        for store in (self.files, self.bundles, self.users, self.requests, self.settings, self.broadcasts, self.sessions):
            await store.ensure_indexes()

    async def close(self) -> None:
        await self.client.close()
