"""Where the local Telegram lives: its event loop, in a thread of its own, and calls that reach it from others.

The server, its world and its actors belong to one event loop (their asyncio events, queues
and futures are bound to it). In the end-to-end tests that loop runs in its own thread, so a
product bug that blocks the test's loop (where the service runs) does not stall "Telegram" too
and hide its own timeouts. Code on another thread reaches the server only through `Home`:
`call` runs a function there and waits for it, `submit` runs a coroutine there.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

# A call into the server's thread is a few statements; one that takes this long is stuck.
CALL_TIMEOUT = 60.0


class Home:
    """One event loop and the thread that runs it: the place a server's objects may be touched."""

    def __init__(self, loop: asyncio.AbstractEventLoop, thread_id: int):
        self.loop = loop
        self.thread_id = thread_id

    @classmethod
    def here(cls) -> Home:
        """The running loop, in this thread."""
        return cls(asyncio.get_running_loop(), threading.get_ident())

    def is_here(self) -> bool:
        return threading.get_ident() == self.thread_id

    def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """fn(*args, **kwargs) in the home thread; from another thread, waits for it there."""
        if self.is_here():
            return fn(*args, **kwargs)
        done: concurrent.futures.Future = concurrent.futures.Future()

        def run() -> None:
            try:
                done.set_result(fn(*args, **kwargs))
            except BaseException as e:  # noqa: BLE001 - carried to the caller's thread
                done.set_exception(e)

        self.loop.call_soon_threadsafe(run)
        return done.result(CALL_TIMEOUT)

    def call_soon(self, fn: Callable[..., Any], *args: Any) -> None:
        """fn(*args) in the home thread, without waiting (safe from any thread)."""
        if self.is_here():
            fn(*args)
        else:
            self.loop.call_soon_threadsafe(fn, *args)

    def submit(self, coro: Coroutine[Any, Any, T]) -> Awaitable[T]:
        """The coroutine run on the home loop, awaitable from the caller's loop (cancelling
        the caller's wait cancels it there too)."""
        if self.is_here():
            return coro
        return asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, self.loop))


class LoopThread:
    """An event loop running in a daemon thread until stop()."""

    def __init__(self, name: str = "local-telegram"):
        self.name = name
        self.home: Home | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()

    def start(self) -> Home:
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()
        self._ready.wait()
        assert self.home is not None
        return self.home

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        self.home = Home(loop, threading.get_ident())
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    def stop(self) -> None:
        """Ends the loop (after what it runs now) and joins the thread."""
        if self.home is None or self._thread is None or not self._thread.is_alive():
            return
        self.home.loop.call_soon_threadsafe(self.home.loop.stop)
        self._thread.join(CALL_TIMEOUT)
