"""Fault controls for tests: flood waits, RPC errors, latency, bandwidth, dropped sockets, refusing DCs.

Bandwidth has two modes, so nobody mistakes one for the other:
- per connection (`bandwidth_per = "connection"`, the default): each TCP connection gets
  `bandwidth` bytes/s of answers, however many a client opens;
- per account (`bandwidth_per = "account"`): all connections of one account (every DC,
  every session) share `bandwidth` bytes/s; a client gains only by using more accounts.
Answers are paced whole: a write waits until the link (or the account's share) is free,
then goes out at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

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


class Faults:
    def __init__(self, server: TelegramServer):
        self._server = server
        self.latency: float = 0.0
        # bytes per second of answers (outgoing), or None for unlimited; see bandwidth_per
        self.bandwidth: float | None = None
        self._bandwidth_per = "connection"
        self._account_free: dict[int, float] = {}  # per-account mode: when each account's share is free
        self.flood_rules: list[FloodRule] = []
        self.error_rules: list[ErrorRule] = []

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

    def check(self, account: Account | None, method: str) -> None:
        for rule in [*self.flood_rules, *self.error_rules]:
            if rule.method != method or (rule.account_id is not None and (account is None or account.id != rule.account_id)):
                continue
            if rule.remaining is not None:
                if rule.remaining <= 0:
                    continue
                rule.remaining -= 1
            rule.hits += 1
            if isinstance(rule, FloodRule):
                raise flood_wait(rule.seconds)
            raise RpcFail(rule.code, rule.message)

    def clear(self) -> None:
        self.flood_rules.clear()
        self.error_rules.clear()
        self.latency = 0.0
        self.bandwidth = None
        self.bandwidth_per = "connection"

    def drop_connections(self, account: Account | None = None, dc_id: int | None = None,
                         limit: int | None = None) -> int:
        """Close the sockets of `account` (all accounts if None), on one DC or all, at most `limit`
        of them (None: all); returns how many."""
        if limit is None:
            return self._server.drop_connections(account, dc_id)
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

    def refuse_dc(self, dc_id: int, refuse: bool = True) -> None:
        """Stop (or resume) accepting connections on a DC: its port refuses, its open sockets close."""
        self._server.dcs[dc_id].set_refusing(refuse)
