"""Telegram's sending limits for bots: FLOOD_WAIT_X past them, and a log of the verdicts a bot ignored."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, fields, replace
from typing import Any, Callable

from pyrogram import raw

from .errors import flood_wait


@dataclass(frozen=True)
class SendingLimits:
    """What Telegram lets one bot send (Bot FAQ figures), each rule a token bucket: `*_burst`
    messages at once, refilled at the rate. Edits count as messages; callback answers do not.

    A `*_per_*` of None turns that rule off: only `TelegramServer.limits.relax(...)` in a test
    that says why does that.
    """

    # "Not more than about 30 messages per second" over all chats: a second's worth at once,
    # then the rate (the leaky bucket bot libraries use against the real Telegram).
    overall_per_second: float | None = 30.0
    overall_burst: int = 30
    # "About one message per second" to one person; "short bursts" pass, of a size Telegram
    # does not publish. 10 lets a conversation's flurry through (a reply, the edits of one
    # status message, a few commands in a row), and still trips, within seconds, anything
    # that loops over one chat: a message per item of a list, progress edits faster than 1/s,
    # answers to a batch of a dozen files sent at once - which real bots do get FLOOD_WAIT for.
    private_chat_per_second: float | None = 1.0
    private_chat_burst: int = 10
    # "20 messages per minute to the same group" (channels alike): 20 at once, then one per 3 s.
    group_per_minute: float | None = 20.0
    group_burst: int = 20


# Sends a bot had already let go before a verdict could reach it (in flight, or in the
# client library's queue): refused like any other, but not held against the bot.
IN_FLIGHT_GRACE = 0.5


@dataclass(frozen=True)
class FloodVerdict:
    """One FLOOD_WAIT the limits answered: `scope` ("overall", "private:<id>", "group:<id>") is
    closed to that bot's sends until `until` (time.monotonic()); `wall` is time.time() then."""

    bot_id: int
    scope: str
    method: str
    seconds: int
    at: float
    until: float
    wall: float = 0.0


@dataclass(frozen=True)
class UnhonouredSend:
    """A send the bot made (by its own clock, from the message id) more than IN_FLIGHT_GRACE
    after a verdict on its scope, while that verdict still held: the bot did not wait."""

    bot_id: int
    scope: str
    method: str
    at: float
    verdict: FloodVerdict


def _peer_scope(peer: Any) -> str | None:
    if isinstance(peer, (raw.types.InputPeerUser, raw.types.InputPeerUserFromMessage)):
        return f"private:{peer.user_id}"
    if isinstance(peer, (raw.types.InputPeerChannel, raw.types.InputPeerChannelFromMessage)):
        return f"group:{peer.channel_id}"
    if isinstance(peer, raw.types.InputPeerChat):
        return f"group:{peer.chat_id}"
    return None


def counted_sends(query: Any) -> tuple[str, int] | None:
    """(chat scope, how many messages) for a request that sends or edits messages; None otherwise."""
    if isinstance(query, (raw.functions.messages.SendMessage, raw.functions.messages.SendMedia,
                          raw.functions.messages.EditMessage)):
        scope, count = _peer_scope(query.peer), 1
    elif isinstance(query, raw.functions.messages.SendMultiMedia):
        scope, count = _peer_scope(query.peer), len(query.multi_media or ())
    elif isinstance(query, raw.functions.messages.ForwardMessages):
        scope, count = _peer_scope(query.to_peer), len(query.id or ())
    else:
        return None
    return (scope, max(1, count)) if scope is not None else None


class _Bucket:
    """GCRA: `burst` sends at once, then one per `interval` seconds."""

    def __init__(self, per_second: float, burst: int) -> None:
        self.interval = 1.0 / per_second
        self.burst = max(1, burst)
        self._tat = -math.inf  # full

    def wait(self, now: float, count: int) -> float:
        tat = max(self._tat, now)
        # More than a burst at once (a forward of many messages) needs a full bucket, no more.
        return max(0.0, tat + (min(count, self.burst) - self.burst) * self.interval - now)

    def take(self, now: float, count: int) -> None:
        self._tat = max(self._tat, now) + count * self.interval


class Limits:
    """The sending limits of one server, per bot. Strict by default.

    `relax(**changes)` changes rules for the rest of the test (a test must say why);
    `verdicts` lists every FLOOD_WAIT these limits answered, `unhonoured` every send that
    arrived while a verdict on its scope still held (the `telegram` fixture fails a test
    that leaves any: a bot must wait out the whole verdict, for every send of that scope).
    """

    def __init__(self, rules: SendingLimits | None = None, clock: Callable[[], float] = time.monotonic,
                 wall_clock: Callable[[], float] = time.time) -> None:
        self.rules = rules or SendingLimits()
        self.clock = clock
        self.wall_clock = wall_clock
        self.verdicts: list[FloodVerdict] = []
        self.unhonoured: list[UnhonouredSend] = []
        self._buckets: dict[tuple[int, str], _Bucket] = {}
        self._holding: dict[tuple[int, str], FloodVerdict] = {}
        # upload.getFile bytes per account (off unless a test or benchmark switches it on)
        self.download: tuple[float, int] | None = None
        self.download_verdicts: list[FloodVerdict] = []
        self._download_buckets: dict[int, _Bucket] = {}

    def download_rate(self, bytes_per_second: float | None, burst_bytes: int = 8 << 20) -> None:
        """What one account may download with upload.getFile: `burst_bytes` at once, then
        `bytes_per_second` over all its connections and DCs; past it, FLOOD_WAIT_X (bot authors
        meet it when a bot fetches too much at once). None switches it off."""
        self.download = None if bytes_per_second is None else (bytes_per_second, burst_bytes)
        self._download_buckets.clear()

    def _check_download(self, account: Any, query: Any, method: str) -> None:
        if self.download is None or account is None or not isinstance(query, raw.functions.upload.GetFile):
            return
        bucket = self._download_buckets.get(account.id)
        if bucket is None:
            bucket = self._download_buckets[account.id] = _Bucket(*self.download)
        now = self.clock()
        count = max(1, query.limit)
        wait = bucket.wait(now, count)
        if wait > 0:
            seconds = max(1, math.ceil(wait))
            self.download_verdicts.append(FloodVerdict(account.id, "download", method, seconds, now, now + seconds,
                                                       self.wall_clock()))
            raise flood_wait(seconds)
        bucket.take(now, count)

    def relax(self, **changes: Any) -> SendingLimits:
        """e.g. `relax(private_chat_burst=50)` or `relax(group_per_minute=None)` (rule off).
        The buckets start full again under the new rules."""
        known = {f.name for f in fields(SendingLimits)}
        unknown = set(changes) - known
        if unknown:
            raise TypeError(f"unknown sending limits {sorted(unknown)}; known: {sorted(known)}")
        self.rules = replace(self.rules, **changes)
        self._buckets.clear()
        return self.rules

    def _rule(self, scope: str) -> tuple[float, int] | None:
        rules = self.rules
        if scope == "overall":
            rate, burst = rules.overall_per_second, rules.overall_burst
        elif scope.startswith("private:"):
            rate, burst = rules.private_chat_per_second, rules.private_chat_burst
        else:
            per_minute = rules.group_per_minute
            rate, burst = (per_minute / 60.0 if per_minute is not None else None), rules.group_burst
        return (rate, burst) if rate is not None else None

    def _bucket(self, bot_id: int, scope: str, rule: tuple[float, int]) -> _Bucket:
        key = (bot_id, scope)
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(*rule)
        return bucket

    def check(self, account: Any, query: Any, method: str, sent_at: float | None = None) -> None:
        """Let the send through (counting it) or raise FLOOD_WAIT_X; only bots are limited.

        `sent_at`: when the bot made the request (time.time(), read from its message id)."""
        self._check_download(account, query, method)
        if account is None or not getattr(account, "is_bot", False):
            return
        sends = counted_sends(query)
        if sends is None:
            return
        chat_scope, count = sends
        now = self.clock()
        sent_at = self.wall_clock() if sent_at is None else sent_at
        scopes = ("overall", chat_scope)
        for scope in scopes:
            verdict = self._holding.get((account.id, scope))
            if verdict is not None and now < verdict.until:
                if sent_at > verdict.wall + IN_FLIGHT_GRACE:
                    self.unhonoured.append(UnhonouredSend(account.id, chat_scope, method, now, verdict))
                raise flood_wait(max(1, math.ceil(verdict.until - now)))
        buckets = []
        worst_wait, worst_scope = 0.0, ""
        for scope in scopes:
            rule = self._rule(scope)
            if rule is None:
                continue
            bucket = self._bucket(account.id, scope, rule)
            wait = bucket.wait(now, count)
            if wait > worst_wait:
                worst_wait, worst_scope = wait, scope
            buckets.append(bucket)
        if worst_wait > 0:
            seconds = max(1, math.ceil(worst_wait))
            verdict = FloodVerdict(account.id, worst_scope, method, seconds, now, now + seconds, self.wall_clock())
            self._holding[(account.id, worst_scope)] = verdict
            self.verdicts.append(verdict)
            raise flood_wait(seconds)
        for bucket in buckets:
            bucket.take(now, count)
