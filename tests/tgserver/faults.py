"""Fault controls for tests, each with a count that shows it fired: flood waits, held answers,
latency, bandwidth, dropped sockets, refusing DCs."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

from . import client_patch
from .errors import flood_wait

if TYPE_CHECKING:
    from .mtproto import Connection
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
    `FloodRule.hits`, `Hold.held`, `delayed`/`most_delayed_at_once`, `paced_writes`/`paced_bytes`,
    `dropped`, `Refusal.cut` and `Refusal.refused_attempts`; errors a method answers itself (FILE_REFERENCE_EXPIRED,
    USER_IS_BLOCKED, ...) are in the server's `rpc_log`. Each count wakes `wait_until`."""

    def __init__(self, server: TelegramServer):
        self._server = server
        self.latency: float = 0.0
        # bytes per second per TCP connection (outgoing), or None for unlimited
        self.bandwidth: float | None = None
        self.flood_rules: list[FloodRule] = []
        self.holds: list[Hold] = []
        self.refusals: dict[int, Refusal] = {}
        self.delayed = 0        # requests answered `latency` late
        self.delaying = 0       # ...waiting it out now, and the most that ever did at once
        self.most_delayed_at_once = 0
        self.paced_writes = 0   # writes (and their bytes) sent at the bandwidth cap's pace
        self.paced_bytes = 0
        self.dropped = 0        # connections closed by drop_connections()

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
        for rule in self.flood_rules:
            if rule.method != method or not _concerns(rule.account_id, account):
                continue
            if rule.remaining is not None:
                if rule.remaining <= 0:
                    continue
                rule.remaining -= 1
            rule.hits += 1
            self._server.world.notify()
            raise flood_wait(rule.seconds)

    async def before_answer(self, account: Account | None, method: str, query: Any, dc_id: int) -> None:
        """Run by the server before a method's handler: holds, then flood rules."""
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

    async def pace(self, connection: Connection, size: int) -> None:
        """Waits until the bandwidth cap lets `size` more bytes out on `connection`."""
        bandwidth = self.bandwidth
        if not bandwidth:
            return
        loop_time = asyncio.get_running_loop().time()
        start = max(loop_time, connection.next_free)
        connection.next_free = start + size / bandwidth
        self.paced_writes += 1
        self.paced_bytes += size
        await asyncio.sleep(connection.next_free - loop_time)

    def clear(self) -> None:
        self.flood_rules.clear()
        for hold in self.holds:
            hold.release()
        self.holds.clear()
        for dc_id in list(self.refusals):
            self.refuse_dc(dc_id, False)
        self.latency = 0.0
        self.bandwidth = None

    def stop(self) -> None:
        """At server stop (held requests are cancelled with the server's tasks): no refusal
        listens to the client library any more."""
        for refusal in self.refusals.values():
            refusal._end()

    def drop_connections(self, account: Account | None = None, dc_id: int | None = None) -> int:
        """Close the sockets of `account` (all accounts if None), on one DC or all; returns how many."""
        dropped = self._server.drop_connections(account, dc_id)
        self.dropped += dropped
        if dropped:
            self._server.world.notify()
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
