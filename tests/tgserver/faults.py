"""Fault controls for tests, each with a count that shows it fired: flood waits, RPC errors,
held answers, latency, bandwidth, dropped sockets, refusing DCs.

Bandwidth has two modes, so nobody mistakes one for the other:
- per connection (`bandwidth_per = "connection"`, the default): each TCP connection gets
  `bandwidth` bytes/s of answers, however many a client opens;
- per account (`bandwidth_per = "account"`): all connections of one account (every DC,
  every session) share `bandwidth` bytes/s; a client gains only by using more accounts.
Answers are paced whole: a write waits until the link (or the account's share) is free,
then goes out at once.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

from . import client_patch
from .errors import RpcFail, flood_wait

if TYPE_CHECKING:
    from .server import TelegramServer
    from .world import Account


def _method_name(method: Any) -> str:
    if isinstance(method, str):
        return method
    qualname = getattr(method, "QUALNAME", None)
    if qualname:
        return qualname.split(".", 1)[1]
    raise TypeError(f"method must be a name like 'upload.GetFile' or a raw function class, not {method!r}")


def _concerns(account_id: int | None, account: Account | None) -> bool:
    return account_id is None or (account is not None and account.id == account_id)


@dataclass(eq=False)
class FloodRule:
    account_id: int | None
    method: str
    seconds: int
    remaining: int | None  # None: every time
    hits: int = 0


@dataclass(eq=False)
class ErrorRule:
    account_id: int | None
    method: str
    code: int
    message: str
    remaining: int | None  # None: every time
    hits: int = 0


BANDWIDTH_MODES = ("connection", "account")


@dataclass(frozen=True)
class HeldCall:
    """A request the server keeps unanswered for a Hold."""

    method: str
    account: Account | None
    dc_id: int
    query: Any  # the raw request, e.g. upload.GetFile with its .offset


class Hold:
    """Requests matching it wait at the server, unanswered, until release().

    While one waits, the work that needs its answer provably has not finished (a stream
    cannot send the bytes of a block it has not got), so a fault armed then lands in the
    middle of that work, and the held request itself meets it: the hold comes before the
    flood rules and the method's handler (an expired file reference, a blocked person...).
    """

    def __init__(self, server: TelegramServer, account_id: int | None, method: str,
                 when: Callable[[Any], bool] | None, times: int | None):
        self._server = server
        self.account_id = account_id
        self.method = method
        self.when = when
        self.remaining = times
        self.held: list[HeldCall] = []
        self._released = asyncio.Event()

    @property
    def hits(self) -> int:
        return len(self.held)

    @property
    def released(self) -> bool:
        return self._released.is_set()

    def _claims(self, account: Account | None, method: str, query: Any) -> bool:
        if self.released or method != self.method or not _concerns(self.account_id, account):
            return False
        if self.remaining is not None and self.remaining <= 0:
            return False
        if self.when is not None and not self.when(query):
            return False
        if self.remaining is not None:
            self.remaining -= 1
        return True

    async def _wait(self, call: HeldCall) -> None:
        self.held.append(call)
        self._server.world.notify()
        await self._released.wait()

    async def reached(self, timeout: float = 10.0) -> HeldCall:
        """The first request this hold caught, once there is one."""
        await self._server.wait_until(lambda: self.held, timeout)
        return self.held[0]

    def release(self) -> None:
        """Let every held request (and any later match) go on to be answered."""
        self._released.set()


class Refusal:
    """A DC refusing connections (Faults.refuse_dc): what it cut and how many attempts it refused.

    Nothing listens on a refusing port, so the operating system refuses the attempts; the
    patched client library (client_patch) reports each one here."""

    def __init__(self, server: TelegramServer, dc_id: int):
        self._server = server
        self.dc_id = dc_id
        self.cut = 0              # open connections closed when the refusal began
        self.refused_attempts = 0  # client connection attempts refused since
        self._stop_listening: Callable[[], None] | None = None

    def _attempt_refused(self, host: str, port: int) -> None:
        if (host, port) == (self._server.host, self._server.dcs[self.dc_id].port):
            self.refused_attempts += 1
            self._server.world.notify()

    def _begin(self) -> None:
        self._stop_listening = client_patch.on_refused_connect(self._attempt_refused)

    def _end(self) -> None:
        if self._stop_listening is not None:
            self._stop_listening()
            self._stop_listening = None


class Faults:
    """Every fault here counts what it did, so a test can assert that its fault fired:
    `FloodRule.hits`, `ErrorRule.hits`, `Hold.held`, `delayed`/`most_delayed_at_once`,
    `paced_writes`/`paced_bytes`, `dropped`, `Refusal.cut` and `Refusal.refused_attempts`;
    errors a method answers itself (FILE_REFERENCE_EXPIRED, USER_IS_BLOCKED, ...) are in the
    server's `rpc_log`. Each count wakes `wait_until`."""

    def __init__(self, server: TelegramServer):
        self._server = server
        self.latency: float = 0.0
        # bytes per second of answers (outgoing), or None for unlimited; see bandwidth_per
        self.bandwidth: float | None = None
        self._bandwidth_per = "connection"
        self._account_free: dict[int, float] = {}  # per-account mode: when each account's share is free
        self.flood_rules: list[FloodRule] = []
        self.error_rules: list[ErrorRule] = []
        self.holds: list[Hold] = []
        self.refusals: dict[int, Refusal] = {}
        self.delayed = 0        # requests answered `latency` late
        self.delaying = 0       # ...waiting it out now, and the most that ever did at once
        self.most_delayed_at_once = 0
        self.paced_writes = 0   # writes (and their bytes) sent at the bandwidth cap's pace
        self.paced_bytes = 0
        self.dropped = 0        # connections closed by drop_connections()

    @property
    def bandwidth_per(self) -> str:
        return self._bandwidth_per

    @bandwidth_per.setter
    def bandwidth_per(self, mode: str) -> None:
        if mode not in BANDWIDTH_MODES:
            raise ValueError(f"bandwidth_per must be one of {BANDWIDTH_MODES}, not {mode!r}")
        self._bandwidth_per = mode
        self._account_free.clear()

    def pace(self, connection: Any, nbytes: int, now: float) -> float:
        """Seconds `connection` must wait before writing `nbytes` under the cap (0 without one).

        Reserves the link from when it is free for as long as the bytes take, so answers of
        one connection (or of one account, in per-account mode) never overlap."""
        bandwidth = self.bandwidth
        if not bandwidth:
            return 0.0
        self.paced_writes += 1
        self.paced_bytes += nbytes
        account = self._account_of(connection) if self._bandwidth_per == "account" else None
        free_at = self._account_free.get(account.id, 0.0) if account is not None else connection._next_free
        start = max(now, free_at)
        done = start + nbytes / bandwidth
        if account is not None:
            self._account_free[account.id] = done
        else:
            connection._next_free = done
        return done - now

    @staticmethod
    def _account_of(connection: Any) -> Account | None:
        for session in connection.sessions:
            if session.auth_key.account is not None:
                return session.auth_key.account
        return None

    def rpc_error(self, account: Account | None, method: Any, code: int = 400, message: str = "LOCATION_INVALID",
                  times: int | None = 1) -> ErrorRule:
        """Answer `method` of `account` (None: anyone) with rpc_error(code, message)."""
        rule = ErrorRule(account.id if account is not None else None, _method_name(method), code, message, times)
        self.error_rules.append(rule)
        return rule

    def flood_wait(self, account: Account | None, method: Any, seconds: int = 2, times: int | None = 1) -> FloodRule:
        """Answer `method` (e.g. "upload.GetFile") of `account` (None: anyone) with FLOOD_WAIT_<seconds>."""
        rule = FloodRule(account.id if account is not None else None, _method_name(method), seconds, times)
        self.flood_rules.append(rule)
        return rule

    def hold(self, method: Any, account: Account | None = None, when: Callable[[Any], bool] | None = None,
             times: int | None = 1) -> Hold:
        """Keep the next `times` requests of `method` by `account` (None: anyone) for which
        `when(request)` is true unanswered until the returned Hold is released."""
        hold = Hold(self._server, account.id if account is not None else None, _method_name(method), when, times)
        self.holds.append(hold)
        return hold

    def check(self, account: Account | None, method: str) -> None:
        for rule in [*self.flood_rules, *self.error_rules]:
            if rule.method != method or not _concerns(rule.account_id, account):
                continue
            if rule.remaining is not None:
                if rule.remaining <= 0:
                    continue
                rule.remaining -= 1
            rule.hits += 1
            self._server.world.notify()
            if isinstance(rule, FloodRule):
                raise flood_wait(rule.seconds)
            raise RpcFail(rule.code, rule.message)

    async def before_answer(self, account: Account | None, method: str, query: Any, dc_id: int) -> None:
        """Run by the server before a method's handler: holds, then flood and error rules."""
        for hold in self.holds:
            if hold._claims(account, method, query):
                await hold._wait(HeldCall(method, account, dc_id, query))
        self.check(account, method)

    async def delay(self) -> None:
        """The round trip `latency` adds to every request."""
        if self.latency:
            self.delayed += 1
            self.delaying += 1
            self.most_delayed_at_once = max(self.most_delayed_at_once, self.delaying)
            self._server.world.notify()
            try:
                await asyncio.sleep(self.latency)
            finally:
                self.delaying -= 1

    def clear(self) -> None:
        self.flood_rules.clear()
        self.error_rules.clear()
        for hold in self.holds:
            hold.release()
        self.holds.clear()
        for dc_id in list(self.refusals):
            self.refuse_dc(dc_id, False)
        self.latency = 0.0
        self.bandwidth = None
        self.bandwidth_per = "connection"

    def stop(self) -> None:
        """At server stop (held requests are cancelled with the server's tasks): no refusal
        listens to the client library any more."""
        for refusal in self.refusals.values():
            refusal._end()

    def drop_connections(self, account: Account | None = None, dc_id: int | None = None,
                         limit: int | None = None) -> int:
        """Close the sockets of `account` (all accounts if None), on one DC or all, at most `limit`
        of them (None: all); returns how many."""
        if limit is None:
            dropped = self._server.drop_connections(account, dc_id)
        else:
            dropped = self._drop_some(account, dc_id, limit)
        self.dropped += dropped
        if dropped:
            self._server.world.notify()
        return dropped

    def _drop_some(self, account: Account | None, dc_id: int | None, limit: int) -> int:
        dropped = 0
        for dc in self._server.dcs.values():
            if dc_id is not None and dc.dc_id != dc_id:
                continue
            for connection in sorted(dc.connections, key=lambda c: c.peer):
                if dropped >= limit:
                    return dropped
                if account is None or account in {s.auth_key.account for s in connection.sessions}:
                    connection.close()
                    dropped += 1
        return dropped

    def refuse_dc(self, dc_id: int, refuse: bool = True) -> Refusal | None:
        """Stop (or resume) accepting connections on a DC: its port refuses, its open sockets close.

        Returns the Refusal when it begins (counting what it cut and refused), None when it ends."""
        dc = self._server.dcs[dc_id]
        if not refuse:
            refusal = self.refusals.pop(dc_id, None)
            if refusal is not None:
                refusal._end()
            dc.set_refusing(False)
            return None
        refusal = self.refusals.get(dc_id)
        if refusal is None:
            refusal = self.refusals[dc_id] = Refusal(self._server, dc_id)
            refusal._begin()
            refusal.cut = sum(1 for connection in dc.connections if not connection.closed)
            dc.set_refusing(True)
            self._server.world.notify()
        return refusal
