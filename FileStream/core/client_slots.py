"""How many responses each client may stream at once: a count per client, refused over the limit."""

from __future__ import annotations

from collections.abc import Callable, Hashable


class StreamsPerClient:
    """Concurrent streams per client key (core.client_address.client_key); `limit` 0: no limit.

    Every `acquire` that returned True is matched by one `release` of the same key; keys
    whose count falls to zero are forgotten, so a crowd of passing addresses costs nothing.
    `on_change`: called (no arguments) after every stream counted in or out, so an
    observer learns of it without polling.
    """

    def __init__(self, limit: int) -> None:
        if limit < 0:
            raise ValueError(f"the limit is a count of streams, 0 for none, got {limit}")
        self.limit = limit
        self.refused = 0                      # acquisitions refused since start (for metrics)
        self._open: dict[Hashable, int] = {}
        self.on_change: list[Callable[[], object]] = []

    def acquire(self, client: Hashable) -> bool:
        """One more stream for `client`, unless it already has `limit` open."""
        count = self._open.get(client, 0)
        if self.limit and count >= self.limit:
            self.refused += 1
            return False
        self._open[client] = count + 1
        self._changed()
        return True

    def release(self, client: Hashable) -> None:
        count = self._open.get(client, 0)
        if count <= 1:
            self._open.pop(client, None)
        else:
            self._open[client] = count - 1
        self._changed()

    def _changed(self) -> None:
        for call in self.on_change:
            call()

    def open(self, client: Hashable) -> int:
        """Streams `client` has open now."""
        return self._open.get(client, 0)

    @property
    def clients(self) -> int:
        """Clients with at least one stream open."""
        return len(self._open)
