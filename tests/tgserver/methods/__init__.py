"""RPC method handlers, registered by raw function class. Unlisted methods get METHOD_NOT_SUPPORTED_<name>."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Awaitable, Callable


@dataclass(frozen=True)
class Handler:
    fn: Callable[[Any, Any], Awaitable[Any]]
    needs_auth: bool


HANDLERS: dict[type, Handler] = {}


def rpc(*functions: type, auth: bool = True):
    """Registers `async def handler(ctx, query)` for raw function classes."""

    def register(fn):
        for function in functions:
            HANDLERS[function] = Handler(fn, auth)
        return fn

    return register


from . import auth, bots, channels, help, messages, updates, upload, users  # noqa: E402,F401
from . import cached_media  # noqa: E402,F401  (wraps messages.sendMedia: after messages)
from . import albums  # noqa: E402,F401  (messages.sendMultiMedia; uses messages' input_media)
