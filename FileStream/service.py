"""Builds and wires everything; `Service(settings).start()` / `.stop()` is the whole lifecycle."""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
from collections.abc import Callable, Iterator
from contextlib import aclosing, contextmanager
from datetime import datetime, timedelta, timezone
from urllib.parse import urlsplit, urlunsplit

from aiohttp import web
from pyrogram.enums import ParseMode
from pyrogram.errors import FloodWait, RPCError

from FileStream.bot import bundles as bot_bundles
from FileStream.bot import register_handlers
from FileStream.bot import replies as bot_replies
from FileStream.bot import texts as bot_texts
from FileStream.bot.context import BotContext
from FileStream.bot.language import speak_to
from FileStream.bot.replies import NO_PREVIEW
from FileStream.core.button_urls import telegram_takes_button_url
from FileStream.core.usage import day_of
from FileStream.embedded_db import EmbeddedDatabase, EmbeddedDatabaseError
from FileStream.errors import StartupError
from FileStream.i18n import Catalogs
from FileStream.jobs.expiry import CopiesRefused, ExpiryJob
from FileStream.jobs.runner import PeriodicJob
from FileStream.jobs.stale_requests import StaleRequestJob
from FileStream.observability import Operations, StreamMetrics, StreamObservers
from FileStream.core.client_slots import StreamsPerClient
from FileStream.services.bundles import BundleMaker
from FileStream.services.channel_copies import ChannelLane
from FileStream.services.deep_links import DeepLinks
from FileStream.services.healing import CopyKeeper
from FileStream.services.intake import FileIntake
from FileStream.services.leased_copies import LeasedCopies
from FileStream.services.links import LinkMaker
from FileStream.services.mirror import CopyCheck, Mirror
from FileStream.services.posting_lease import PostingLease
from FileStream.services.ratelimit import BundleFileLimit, FileRateLimit
from FileStream.services.remux import MediaTools, RemuxService
from FileStream.services.requests import RequestTracker
from FileStream.services.storage_channels import StorageChannels
from FileStream.services.storage_copies import StorageCopies
from FileStream.services.traffic import TrafficMeter
from FileStream.services.storage_status import StorageStatus
from FileStream.services.usage import DownloadCounter
from FileStream.store.database import Database, DatabaseUnavailable, Deadlines
from FileStream.store.requests import KEEP_FINISHED
from FileStream.telegram.clients import (
    TgCryptoMissing,
    build_client,
    require_tgcrypto,
    start_member,
    stop_client,
)
from FileStream.telegram.media_sessions import MediaSessions
from FileStream.telegram.memory_budget import MemoryBudget
from FileStream.telegram.pool import BotPool, PoolMember
from FileStream.telegram.storage import ChannelReader
from FileStream.telegram.streamer import Streamer, StreamTuning
from FileStream.telegram.thumbnails import Thumbnails
from FileStream.telegram.updates import CatchingUpClient
from FileStream.web.app import HttpProtocolLog, build_app
from FileStream.web.context import CONTEXT as WEB_CONTEXT
from FileStream.web.fairness import HttpFairness
from FileStream.web.ops import add_ops_routes

log = logging.getLogger(__name__)

# What aiohttp waits for handlers after stop() waited out SHUTDOWN_GRACE for the streams:
# enough for a page or /health answer under way, nothing more.
_RUNNER_SHUTDOWN_SECONDS = 1.0

# The jobs sleep until their next work is due; this is how long they sleep at most (the
# fallback poll: work another instance created, a due time they could not look up).
JOB_INTERVAL_SECONDS = 30.0
# How often download counts gathered in memory are added to the database: at most this
# much of them is lost on a crash, and one batch write per instance this often is cheap.
USAGE_FLUSH_SECONDS = 2.0
# The posting lease (services/posting_lease.py) lasts this long and is renewed three times
# as often: a stopped holder's work passes to another instance within this time.
POSTING_LEASE_SECONDS = 30.0
# How often the lease holder looks for copies other instances asked it to make again, and
# other instances take in the storage channels' state.
HEAL_QUEUE_SECONDS = 1.0
CHANNEL_STATE_SECONDS = 30.0
# The mirror pass runs when a file is stored, and at least this often (files it could not
# mirror then, a mirror copy found lost).
MIRROR_SECONDS = 60.0
# The copy check reads the messages of COPY_CHECK_BATCH stored files this often (one
# getMessages call per channel): a walk through 10 000 files takes about 8 hours.
COPY_CHECK_SECONDS = 60.0
# Heal and mirror intents of another instance older than this are its leftovers for the lease
# holder's periodic pass (a send lasts seconds; the lease moves only after 30 s unrenewed).
LEFTOVER_AGE_SECONDS = 120.0
COPY_CHECK_BATCH = 20


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


class ActiveStreams:
    """Counts the responses reading the byte source, so shutdown can let them finish (wraps the
    source; the web layer's ByteSource).

    One response is one running stream however many streams it reads: a bundle's ZIP holds
    the source for its whole length (`hold`) and reads its files' bytes and CRC-32 passes
    inside that, so the count never touches zero between two of its files. Streams and
    holds are counted per task (a response's handler reads its source in its own task).
    """

    def __init__(self, source) -> None:
        self._source = source
        self._users: dict[asyncio.Task | None, int] = {}   # task -> streams and holds it has open
        self._idle = asyncio.Event()
        self._idle.set()

    @property
    def count(self) -> int:
        return len(self._users)

    def stream(self, file, start: int, end: int, *, whole: bool = False):
        return self.stream_parts(((file, start, end),), whole=whole)

    async def stream_parts(self, parts, *, whole: bool = False):
        with self.hold():
            # aclosing: closing this stream closes the source's at once (its blocks fetched
            # ahead cancelled, its leases and memory given back), not whenever it is collected.
            async with aclosing(self._source.stream_parts(parts, whole=whole)) as chunks:
                async for chunk in chunks:
                    yield chunk

    @contextmanager
    def hold(self) -> Iterator[None]:
        user = asyncio.current_task()   # kept: a generator may be closed from another task
        self._users[user] = self._users.get(user, 0) + 1
        self._idle.clear()
        try:
            yield
        finally:
            if self._users[user] > 1:
                self._users[user] -= 1
            else:
                del self._users[user]
                if not self._users:
                    self._idle.set()

    async def wait_idle(self, timeout: float) -> bool:
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
            return True
        except asyncio.TimeoutError:
            return False


class _FileLookup:
    """The web layer's view of the files collection (records, and old links of migrated ones):
    one lookup per link request, with its deadline."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def get_file(self, file_id: str):
        # Past the deadline it raises, and the link answers 503 with Retry-After.
        with self._db.deadline(self._db.deadlines.link_lookup):
            return await self._db.files.get(file_id)

    async def file_id_for_legacy(self, legacy_id: str):
        with self._db.deadline(self._db.deadlines.link_lookup):
            return await self._db.files.id_for_legacy(legacy_id)


class _BundleLookup:
    """The web layer's view of the bundles and files collections (web.ports.BundleLookup): the
    lookups of a bundle link have the link lookup's deadline, like a file's."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def get_bundle(self, bundle_id: str):
        with self._db.deadline(self._db.deadlines.link_lookup):
            return await self._db.bundles.get(bundle_id)

    async def get_files(self, file_ids):
        with self._db.deadline(self._db.deadlines.link_lookup):
            return await self._db.files.get_many(list(file_ids))

    async def get_crc32s(self, file_unique_ids) -> dict[str, int]:
        with self._db.deadline(self._db.deadlines.link_lookup):
            return await self._db.files.get_crc32s(list(file_unique_ids))

    async def set_crc32(self, file_unique_id: str, crc: int) -> None:
        await self._db.files.set_crc32(file_unique_id, crc)


class Service:
    """The whole of FileStream in one process: bots, pool, streamer, web server, jobs."""

    def __init__(self, settings, *, clock: Callable[[], datetime] = utc_now,
                 deadlines: Deadlines | None = None) -> None:
        """`clock`: aware UTC now (tests move it); `deadlines`: how long database calls may take."""
        self.settings = settings
        self.clock = clock
        self.deadlines = deadlines or Deadlines()
        self.started_at: datetime | None = None
        self.db: Database | None = None
        self.main_client = None
        self.pool: BotPool | None = None
        self.sessions: MediaSessions | None = None
        self.streamer: Streamer | None = None
        self.streams: ActiveStreams | None = None
        self.fairness: HttpFairness | None = None
        self.links: LinkMaker | None = None
        self.copies: LeasedCopies | None = None
        self.lane: ChannelLane | None = None
        # Lanes of the other storage channels in BIN_CHANNEL, made when a copy first goes there.
        self.lanes: dict[int, ChannelLane] = {}
        # This process, in what it leaves in the database while working (requests, copy
        # intents, claims): a restart tells its predecessor's leftovers from its own.
        self.instance_id = secrets.token_hex(8)
        self.channels: StorageChannels | None = None
        self.lease: PostingLease | None = None
        self.keeper: CopyKeeper | None = None
        self.mirror: Mirror | None = None
        self.copy_check: CopyCheck | None = None
        self.storage_jobs: list[PeriodicJob] = []
        self.storage_status: StorageStatus | None = None
        self.public_url = settings.public_url
        self._runner: web.AppRunner | None = None
        self._embedded_db: EmbeddedDatabase | None = None
        self.ctx: BotContext | None = None
        self.jobs: list[PeriodicJob] = []
        self._stale_requests: StaleRequestJob | None = None
        self.ops = Operations(self)
        self.usage: DownloadCounter | None = None
        self.traffic: TrafficMeter | None = None
        self.languages = Catalogs.english_only()
        self.usage_job: PeriodicJob | None = None
        self.remux: RemuxService | None = None
        self._stopped = asyncio.Event()
        # Set by stop() once the web server takes no new connections (running responses go on).
        self.web_closed = asyncio.Event()

    # -- start ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Start everything; a failure an operator can fix raises StartupError, in words."""
        try:
            require_tgcrypto()
        except TgCryptoMissing as error:
            raise StartupError(str(error)) from error
        settings = self.settings
        self.started_at = self.clock()
        database_url = settings.database_url
        try:
            if database_url is None:
                self._embedded_db = EmbeddedDatabase()
                database_url = await self._embedded_db.start(settings.data_dir)
            self.db = await Database.connect(database_url, settings.database_name, deadlines=self.deadlines)
        except EmbeddedDatabaseError as error:
            raise StartupError(str(error)) from error
        except DatabaseUnavailable as error:
            raise StartupError(f"{error} (check DATABASE_URL)") from error
        secret = settings.link_secret or await self.db.settings.get_or_create_link_secret()
        self.languages = Catalogs.load()
        # ALLOWED_USERS seeds the list /allow and /disallow change (a removed entry stays removed).
        await self.db.allowed.seed(settings.allowed_users, self.clock())

        self.main_client = build_client(
            token=settings.bot_token, api_id=settings.api_id, api_hash=settings.api_hash,
            session_dir=str(settings.session_dir), workers=settings.workers,
            receives_updates=not settings.link_only)
        main = PoolMember("main", self.main_client, is_main=True)
        backends = [
            PoolMember(f"backend{n}", build_client(
                token=token, api_id=settings.api_id, api_hash=settings.api_hash,
                session_dir=str(settings.session_dir), workers=1, receives_updates=False))
            for n, token in enumerate(settings.multi_tokens if settings.multi_bot_mode else (), start=1)
        ]
        self.pool = BotPool(main=main)
        self.channels = StorageChannels(self.db.copies, settings.storage_channels, settings.mirror_channel,
                                        self.clock, tell_owner=self._tell_owner)
        self.lease = PostingLease(self.db.leases, self.clock, ttl=POSTING_LEASE_SECONDS, bot=not settings.link_only)
        self.keeper = CopyKeeper(self.db.copies, self.pool, self.channels, self.clock,
                                 may_post=self.lease.may_post, metrics=self.ops.metrics, lane_for=self.lane_for)
        self.lease.before_posting.append(self._account_for_leased_copies)
        self.sessions = MediaSessions(load_key=self.db.sessions.get_media_key, save_key=self.db.sessions.set_media_key,
                                      connections=settings.media_connections)
        budget = MemoryBudget(settings.stream_memory_mb << 20)
        self.streamer = Streamer(self.pool, self.sessions, StreamTuning(
            prefetch=settings.stream_prefetch, stripe=settings.stream_stripe), metrics=self.ops.metrics,
            budget=budget, locate=self.keeper.locate)
        self.streams = ActiveStreams(self.streamer)
        self.fairness = HttpFairness(stall_timeout=float(settings.stall_timeout),
                                     streams=StreamsPerClient(settings.streams_per_ip),
                                     trusted_proxies=settings.trusted_proxies)
        self.usage = DownloadCounter(self.db.usage, self.clock)
        # Every instance serves links, so every instance (link-only too) writes its counts.
        self.traffic = TrafficMeter(self.db.traffic, self.clock, limit_bytes=settings.traffic_limit_mb << 20,
                                    exempt_ids=settings.owner_ids, notify=self._traffic_notice)

        async def flush_counts() -> None:
            await self.usage.flush()
            await self.traffic.flush()
        self.usage_job = PeriodicJob("download counts", flush_counts, USAGE_FLUSH_SECONDS)
        # The storage channel's copies, one at a time with people in turns (every other channel
        # listed in BIN_CHANNEL gets a lane of its own when a copy first goes there).
        self.lane = self.lane_for(settings.bin_channel)
        # Late copies of migrated files: made by the instance that holds the posting lease.
        self.copies = LeasedCopies(StorageCopies(self.db.files, self.pool, settings.bin_channel, self.clock,
                                                 claimant=self.instance_id, lane=self.lane),
                                   self.db.copies, self.db.files, self.lease.may_post, self.clock)

        # Bound before the links are made: PORT=0 picks the port the links must name.
        sock = self._bind_web()
        self.remux = self._make_remux(budget)
        self.links = LinkMaker(public_url=self.public_url, secret=secret)
        link_buttons = telegram_takes_button_url(self.public_url)
        if not link_buttons and not settings.link_only:
            log.warning("Telegram refuses buttons that link to PUBLIC_URL %s (a web address in a button needs "
                        "a host with a dot, like files.example.com, or an IP address): the bot sends links as "
                        "text only", self.public_url)
        # The main bot must answer people, so its handlers exist before it starts.
        ctx = None
        if not settings.link_only:
            ctx = BotContext(
                settings=settings, db=self.db, pool=self.pool,
                intake=FileIntake(self.main_client, self.pool, self.db.files, settings.bin_channel, self.clock,
                                  lane=self.lane, channels=self.channels, lane_for=self.lane_for),
                links=self.links,
                copies=self.copies,
                requests=RequestTracker(self.db.requests, self.clock, settings.request_timeout,
                                        instance=self.instance_id),
                rate_limit=FileRateLimit.on_requests(self.db, limit=settings.rate_limit_files,
                                                     window_seconds=settings.rate_limit_window, clock=self.clock),
                clock=self.clock, started_at=self.started_at, link_buttons=link_buttons,
                deep_links=DeepLinks(self.db.files, self.clock, legacy_links=settings.legacy_links))
            ctx.languages = self.languages
            ctx.instance = self.instance_id
            ctx.bundles = BundleMaker(self.db, ctx.intake, ctx.requests, self.clock,
                                      max_files=settings.bundle_max_files)
            ctx.bundle_limit = BundleFileLimit.on_requests(self.db, limit=settings.rate_limit_bundle_files,
                                                           window_seconds=settings.rate_limit_bundle_window,
                                                           clock=self.clock)
            register_handlers(self.main_client, ctx)
            self.jobs = self._make_jobs(ctx)
        self.ctx = ctx

        self.storage_jobs = self._make_storage_jobs(ctx)
        self.storage_status = StorageStatus(self.channels, self.db.copies, self.keeper, self.lease, self.copy_check)
        if ctx is not None:
            ctx.storage = self.storage_status
            ctx.keeper = self.keeper
        await self.channels.refresh()
        # Requests the previous process was working on when it stopped: nobody will finish
        # them. Released before the bot takes updates, so their people are not told "busy".
        released = await self._stale_requests.release_left_behind() if ctx is not None else []
        # A bot that reads any storage channel (or the mirror) can serve links.
        readable = (*settings.storage_channels, *((settings.mirror_channel,) if settings.mirror_channel else ()))
        results = await asyncio.gather(*(start_member(m, readable) for m in [main, *backends]))
        if not results[0] and not main.client.is_connected:
            raise StartupError(f"the main bot could not start ({main.last_error}); check BOT_TOKEN, API_ID and API_HASH")
        self.pool.backends = [m for m, ok in zip(backends, results[1:]) if ok]
        self.pool.left_out = [m for m, ok in zip(backends, results[1:]) if not ok]
        if ctx is not None:
            ctx.bot_username = main.username
            if settings.auth_channel is not None and isinstance(self.main_client, CatchingUpClient):
                await self.main_client.watch_channels([settings.auth_channel])
        await self._reconcile_copies(link_only=settings.link_only)
        await self._serve_web(sock, secret, bot_username=main.username or "")
        self.usage_job.start()
        await self.lease.renew()
        for job in [*self.storage_jobs, *self.jobs]:
            job.start()
        if ctx is not None:
            # Those that name their message are handled again (bot/missed_links.py, an on_started
            # hook); it tells the people of any it cannot take up.
            await self._forget_unfinished(ctx)
            ctx.left_behind = [doc for doc in released if doc.get("message_id") is not None]
            await self._stale_requests.tell_released([doc for doc in released if doc.get("message_id") is None])
            for hook in ctx.on_started:
                await hook()
        log.info("FileStream is up at %s with %d backend bot(s)", self.public_url, len(self.pool.backends))

    async def _forget_unfinished(self, ctx: BotContext) -> None:
        """Records of requests that ended without their links (the database stalled between
        a record and its request's completion, and the record's removal was not taken, or a
        process stopped in between): removed before any of their messages is handled again."""
        try:
            ended = await ctx.db.requests.ended_unfinished(self.clock() - KEEP_FINISHED)
            if gone := await ctx.intake.forget_unfinished(ended):
                log.info("Removed %d record(s) of requests that ended without their links", gone)
        except Exception as error:  # noqa: BLE001 - the next start tries again
            log.warning("Could not look for records of requests that ended without their links: %r", error)

    def lane_for(self, chat_id: int) -> ChannelLane:
        """The lane of copies into storage channel `chat_id` (one per channel, made at first use)."""
        lane = self.lanes.get(chat_id)
        if lane is None:
            lane = self.lanes[chat_id] = ChannelLane(chat_id, ChannelReader(self.main_client, chat_id),
                                                     self.db.copy_intents, self.db.files, self.instance_id,
                                                     self.clock)
        return lane

    def _posting_channels(self) -> list[int]:
        """Every channel copies are posted into: BIN_CHANNEL's, then MIRROR_CHANNEL."""
        mirror = self.settings.mirror_channel
        return [*self.settings.storage_channels, *((mirror,) if mirror is not None else ())]

    async def _account_for_leased_copies(self) -> None:
        """This instance has just taken the posting lease: heal and mirror copies a stopped holder
        posted but never recorded are deleted, and its heal claims released, before it posts."""
        released = await self.db.copies.release_heals_of_others(self.keeper.claimant)
        if released:
            log.info("Released %d heal claim(s) of the previous posting lease holder", released)
        await self._leased_leftovers()

    async def _leased_leftovers_again(self) -> None:
        """The lease holder, now and then: intents the taking could not settle (a delete that
        failed) are tried again; younger ones are left (a send under way as the lease moved)."""
        if self.lease.may_post():
            await self._leased_leftovers(older_than=self.clock() - timedelta(seconds=LEFTOVER_AGE_SECONDS))

    async def _leased_leftovers(self, older_than=None) -> None:
        for chat_id in self._posting_channels():
            try:
                await self.lane_for(chat_id).reconcile_leased(older_than)
            except Exception as error:  # noqa: BLE001 - the intents stay for the next taking
                log.warning("Could not account for copies the previous lease holder left in channel %s: %r",
                            chat_id, error)

    async def _reconcile_copies(self, *, link_only: bool) -> None:
        """Copies a stopped process made but never recorded: adopted or deleted (see ChannelLane)."""
        for chat_id in self._posting_channels():
            try:
                await self.lane_for(chat_id).reconcile(intake=not link_only, stale_after=self.copies.claim_timeout)
            except Exception as error:  # noqa: BLE001 - the intents stay for the next start
                log.warning("Could not account for copies a stopped process left in BIN_CHANNEL %s: %r",
                            chat_id, error)

    def _make_jobs(self, ctx: BotContext) -> list[PeriodicJob]:
        """Background jobs of the instance that talks to people (not of link-only ones).

        Each sleeps until its next piece of work is due (asked from the database) and is
        woken early when this instance opens a request or stores a file due sooner.
        """
        client = self.main_client

        async def send(chat_id: int, text: str) -> None:
            await client.send_message(chat_id, text, parse_mode=ParseMode.HTML, link_preview_options=NO_PREVIEW)

        async def edit(chat_id: int, message_id: int, text: str) -> None:
            await bot_replies.edit_now(client, chat_id, message_id, text)

        async def delete_copies(chat_id: int, message_ids: list[int]) -> None:
            try:
                await client.delete_messages(chat_id, message_ids)
            except FloodWait:
                raise  # a pause, not a refusal: the next pass tries again
            except RPCError as error:
                raise CopiesRefused(error.ID or str(error)) from error

        async def timed_out(request: dict, state: str) -> None:
            if request.get("bundle_id"):
                await bot_bundles.end_unfinished(ctx, client, request["bundle_id"], state)

        async def in_language_of(user_id: int) -> None:
            await speak_to(self.db.users, self.languages, user_id)

        expiry = ExpiryJob(self.db.files, send, edit, self.clock, warning_seconds=self.settings.expiry_warning,
                           delete_copies=None if self.settings.keep_expired_copies else delete_copies,
                           bundles=self.db.bundles, speak_to=in_language_of)
        stale = StaleRequestJob(ctx.requests, send, on_timed_out=timed_out, speak_to=in_language_of)
        expiry_job = PeriodicJob("expiry notices", expiry.run_once, JOB_INTERVAL_SECONDS,
                                 next_due=expiry.next_due, clock=self.clock)
        stale_job = PeriodicJob("stale requests", stale.run_once, JOB_INTERVAL_SECONDS,
                                next_due=stale.next_due, clock=self.clock)
        ctx.intake.on_stored.append(lambda file: [expiry_job.due_at(when) for when in expiry.due_times(file)])
        ctx.requests.on_opened.append(lambda request: stale_job.due_at(request.timeout_at))
        self._stale_requests = stale
        ctx.tell_released = stale.tell_released
        return [expiry_job, stale_job]

    async def _traffic_notice(self, owner_id: int, limit_bytes: int, retry_after: int) -> None:
        """Tells a person, once a day whichever instance finds out first, that their links stopped."""
        day = day_of(self.clock())
        try:
            if not await self.db.settings.add(f"traffic_notice:{owner_id}:{day:%Y-%m-%d}", self.clock()):
                return
            await speak_to(self.db.users, self.languages, owner_id)
            await self.main_client.send_message(owner_id, bot_texts.traffic_limit_reached(limit_bytes, retry_after),
                                                parse_mode=ParseMode.HTML, link_preview_options=NO_PREVIEW)
        except Exception as error:  # noqa: BLE001 - they may have blocked the bot; the pages still say it
            log.info("Could not tell %s that their links reached the traffic limit: %r", owner_id, error)

    def _make_storage_jobs(self, ctx: BotContext | None) -> list[PeriodicJob]:
        """Jobs of every instance that keep the stored copies: the posting lease, the storage
        channels' state, and (run by the lease holder only) the heal queue, the mirror pass
        and the copy check."""
        keeper, lease = self.keeper, self.lease
        jobs = [
            PeriodicJob("posting lease", lease.renew, POSTING_LEASE_SECONDS / 3),
            PeriodicJob("storage channel states", self.channels.refresh, CHANNEL_STATE_SECONDS),
            PeriodicJob("heal queue", keeper.heal_wanted_pass, HEAL_QUEUE_SECONDS),
            PeriodicJob("late copies asked for", self.copies.wanted_pass, HEAL_QUEUE_SECONDS),
        ]
        self.copy_check = CopyCheck(self.db.copies, self.pool, self.channels, keeper, may_post=lease.may_post,
                                    batch=COPY_CHECK_BATCH)
        jobs.append(PeriodicJob("copy check", self.copy_check.run_once, COPY_CHECK_SECONDS))
        jobs.append(PeriodicJob("leftover heal and mirror copies", self._leased_leftovers_again, COPY_CHECK_SECONDS))
        if self.settings.mirror_channel is not None:
            self.mirror = Mirror(self.db.copies, self.pool, self.channels, keeper, self.clock,
                                 may_post=lease.may_post, metrics=self.ops.metrics, lane_for=self.lane_for)
            mirror_job = PeriodicJob("mirror copies", self.mirror.run_once, MIRROR_SECONDS)
            lease.on_taken.append(mirror_job.wake)
            keeper.on_copies_changed.append(mirror_job.wake)
            if ctx is not None:
                ctx.intake.on_stored.append(lambda file: mirror_job.wake())
            jobs.append(mirror_job)
        return jobs

    async def _tell_owner(self, text: str) -> None:
        """One message to each owner (a storage channel became unusable)."""
        for owner_id in self.settings.owner_ids:
            try:
                await self.main_client.send_message(owner_id, text)
            except Exception as error:  # noqa: BLE001 - the log says it as well
                log.warning("Could not send owner %s a notice: %r", owner_id, error)

    def _make_remux(self, budget: MemoryBudget) -> RemuxService | None:
        """Conversion of videos the browser cannot play as stored, if FFmpeg is there and REMUX_MAX is not 0."""
        settings = self.settings
        jobs = settings.remux_max if settings.remux_max is not None else max(1, os.cpu_count() or 1)
        if jobs == 0:
            log.info("REMUX_MAX=0: videos are served only as stored")
            return None
        tools = MediaTools.find()
        if tools.missing:
            log.warning("%s", tools.missing)
            return None
        # The child reads our own /stream links on loopback, through the address we listen on.
        host = settings.bind_address
        host = "127.0.0.1" if host in ("", "0.0.0.0") else "[::1]" if host == "::" else (
            f"[{host}]" if ":" in host else host)
        return RemuxService(tools=tools, files=self.db.files, source=self.streams,
                            loopback_url=lambda: f"http://{host}:{self.web_port}", max_jobs=jobs,
                            memory_bytes=settings.remux_memory_mb << 20, budget=budget)

    def _bind_web(self) -> socket.socket:
        settings = self.settings
        try:
            sock = socket.create_server((settings.bind_address, settings.port))
        except OSError as error:
            raise StartupError(f"cannot listen on {settings.bind_address}:{settings.port} ({error.strerror}); "
                               "set PORT or BIND_ADDRESS") from error
        self.web_port = sock.getsockname()[1]
        if settings.port == 0:
            self.public_url = _with_port(self.public_url, self.web_port)
        return sock

    async def _serve_web(self, sock: socket.socket, secret: bytes, *, bot_username: str) -> None:
        lookup = _FileLookup(self.db)
        app = build_app(files=lookup, source=self.streams, link_secret=secret,
                        public_url=self.public_url, clock=self.clock,
                        observer=StreamObservers(StreamMetrics(self.ops.metrics), self.usage, self.traffic),
                        traffic=self.traffic if self.settings.traffic_limit_mb else None,
                        copies=self.copies, legacy=lookup if self.settings.legacy_links else None,
                        bundles=_BundleLookup(self.db),
                        thumbnails=Thumbnails(self.pool, self.sessions, read_message=self.keeper.readable),
                        bot_username=bot_username, remux=self.remux, fairness=self.fairness,
                        languages=self.languages)
        add_ops_routes(app, health=self.ops.health, metrics=self.ops.exposition,
                       count_status=self.ops.metrics.http_response, metrics_token=self.settings.metrics_token)
        # stop() gives running streams SHUTDOWN_GRACE itself (wait_idle); what is left when
        # the runner shuts down is cut at once, not given the grace a second time.
        self._runner = web.AppRunner(app, shutdown_timeout=_RUNNER_SHUTDOWN_SECONDS,
                                     handler_cancellation=True, access_log=None, logger=HttpProtocolLog())
        await self._runner.setup()
        await web.SockSite(self._runner, sock).start()

    # -- stop ----------------------------------------------------------------------------

    async def stop(self) -> None:
        """Stop accepting, let running streams finish for the grace period, then close all."""
        if self._stopped.is_set():
            return
        grace = float(self.settings.shutdown_grace)
        if self.ctx is not None:
            for hook in self.ctx.on_stopping:
                try:
                    await hook()
                except Exception as error:  # noqa: BLE001 - shutting down: say it, go on
                    log.warning("A shutdown step failed: %s", error)
        for job in [*self.jobs, *self.storage_jobs]:
            await job.stop()
        if self._runner is not None:
            for site in list(self._runner.sites):
                await site.stop()
            self.web_closed.set()
            crcs = self._runner.app[WEB_CONTEXT].crcs
            if crcs is not None:
                await crcs.aclose()   # CRC-32 passes serve no response: not worth the grace
            if self.streams is not None and not await self.streams.wait_idle(grace):
                log.warning("%d stream(s) still running after %.0f s; closing them", self.streams.count, grace)
            await self._runner.cleanup()
        if self.remux is not None:
            await self.remux.close()   # the children of responses just cut are reaped
        if self.usage_job is not None:
            # After the web server: every response has ended, so its bytes are in the last batch.
            await self.usage_job.stop()
            await self.usage.flush()   # a database error is logged there, never raised
            await self.traffic.flush()
            await self.traffic.close()
        if self.copies is not None:
            await self.copies.close()
        if self.keeper is not None:
            await self.keeper.close()
        if self.lease is not None:
            await self.lease.give_up()
        if self.ctx is not None:
            await self.ctx.stop_background()
            await self.ctx.requests.close()
        for lane in self.lanes.values():
            await lane.close()
        if self.sessions is not None:
            await self.sessions.close()
        clients = [m.client for m in self.pool.members + self.pool.left_out] if self.pool else []
        await asyncio.gather(*(stop_client(c) for c in clients))
        if self.db is not None:
            await self.db.close()
        if self._embedded_db is not None:
            await self._embedded_db.stop()
        self._stopped.set()
        log.info("FileStream stopped")

    async def wait_closed(self) -> None:
        await self._stopped.wait()


def _with_port(url: str, port: int) -> str:
    parts = urlsplit(url)
    if parts.port not in (0, None):
        return url
    host = parts.hostname or "127.0.0.1"
    return urlunsplit(parts._replace(netloc=f"{host}:{port}"))
