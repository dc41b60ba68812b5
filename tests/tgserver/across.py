"""A server object seen from another thread: its methods run in the server's thread, as if called there.

A test holds `Across` handles to the server, its world, faults, limits, holds and people. A
method called on one runs in the server's thread (a coroutine method on the server's loop,
awaited from the test's loop); what it returns comes back as a handle again when it is one of
those live objects, and as itself when it is data (bots, users, channels, messages, answers),
which the test reads and passes back. Reading an attribute reads it where it is; setting one
sets it in the server's thread. Handles passed as arguments are unwrapped.

The test code reads exactly as it did with the server on the test's own loop.
"""

from __future__ import annotations

import inspect
from typing import Any

from .home import Home


class Across:
    __slots__ = ("_home", "_target")

    def __init__(self, target: Any, home: Home):
        object.__setattr__(self, "_target", target)
        object.__setattr__(self, "_home", home)

    def __getattr__(self, name: str) -> Any:
        target, home = self._target, self._home
        value = getattr(target, name)
        if home.is_here():
            return value
        if callable(value) and not isinstance(value, type):
            return _run_at_home(value, home)
        return wrap(value, home)

    def __setattr__(self, name: str, value: Any) -> None:
        self._home.call(setattr, self._target, name, unwrap(value))

    def __repr__(self) -> str:
        return f"Across({self._target!r})"

    def __eq__(self, other: object) -> bool:
        return self._target == unwrap(other)

    def __hash__(self) -> int:
        return hash(self._target)


def _run_at_home(fn: Any, home: Home) -> Any:
    if inspect.iscoroutinefunction(fn):
        async def at_home(*args: Any, **kwargs: Any) -> Any:
            result = await home.submit(fn(*unwrap_all(args), **unwrap_kwargs(kwargs)))
            return wrap(result, home)
    else:
        def at_home(*args: Any, **kwargs: Any) -> Any:
            return wrap(home.call(fn, *unwrap_all(args), **unwrap_kwargs(kwargs)), home)
    at_home.__name__ = getattr(fn, "__name__", "at_home")
    at_home.__doc__ = getattr(fn, "__doc__", None)
    return at_home


def _live_types() -> tuple[type, ...]:
    """The objects that live on the server's loop (they hold its events, queues and futures)."""
    from .actors import Person
    from .faults import Faults, Hold, Refusal
    from .limits import Limits
    from .server import TelegramServer
    from .world import World

    return (TelegramServer, World, Faults, Hold, Refusal, Limits, Person)


def wrap(value: Any, home: Home) -> Any:
    if isinstance(value, _live_types()):
        return Across(value, home)
    return value


def unwrap(value: Any) -> Any:
    if isinstance(value, Across):
        return object.__getattribute__(value, "_target")
    if isinstance(value, (list, tuple)) and any(isinstance(v, Across) for v in value):
        return type(value)(unwrap(v) for v in value)
    return value


def unwrap_all(args: tuple) -> tuple:
    return tuple(unwrap(a) for a in args)


def unwrap_kwargs(kwargs: dict) -> dict:
    return {k: unwrap(v) for k, v in kwargs.items()}


def target_of(handle: Any) -> Any:
    """The object behind a handle (itself if it is not one)."""
    return unwrap(handle)
