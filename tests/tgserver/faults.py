"""Fault controls for tests: flood waits, latency, bandwidth, dropped sockets, refusing DCs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .errors import flood_wait

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


class Faults:
    def __init__(self, server: TelegramServer):
        self._server = server
        self.latency: float = 0.0
        # bytes per second per TCP connection (outgoing), or None for unlimited
        self.bandwidth: float | None = None
        self.flood_rules: list[FloodRule] = []

    def flood_wait(self, account: Account | None, method: Any, seconds: int = 2, times: int | None = 1) -> FloodRule:
        """Answer `method` (e.g. "upload.GetFile") of `account` (None: anyone) with FLOOD_WAIT_<seconds>."""
        rule = FloodRule(account.id if account is not None else None, _method_name(method), seconds, times)
        self.flood_rules.append(rule)
        return rule

    def check(self, account: Account | None, method: str) -> None:
        for rule in self.flood_rules:
            if rule.method != method or (rule.account_id is not None and (account is None or account.id != rule.account_id)):
                continue
            if rule.remaining is not None:
                if rule.remaining <= 0:
                    continue
                rule.remaining -= 1
            rule.hits += 1
            raise flood_wait(rule.seconds)

    def clear(self) -> None:
        self.flood_rules.clear()
        self.latency = 0.0
        self.bandwidth = None

    def drop_connections(self, account: Account | None = None, dc_id: int | None = None) -> int:
        """Close the sockets of `account` (all accounts if None), on one DC or all; returns how many."""
        return self._server.drop_connections(account, dc_id)

    def refuse_dc(self, dc_id: int, refuse: bool = True) -> None:
        """Stop (or resume) accepting connections on a DC: its port refuses, its open sockets close."""
        self._server.dcs[dc_id].set_refusing(refuse)
