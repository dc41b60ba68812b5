"""TL helpers around `pyrogram.raw`: wrapper peeling, the empty-vector quirk, read-back checks."""

from __future__ import annotations

import functools
import inspect
from io import BytesIO
from typing import Any

from pyrogram import raw
from pyrogram.raw.core import TLObject

# Requests wrapped in these carry the real query in `.query`; they are peeled off before
# dispatch. InvokeWithoutUpdates is remembered: such a request never subscribes to updates.
WRAPPERS: tuple[type, ...] = tuple(
    cls
    for cls in (
        getattr(raw.functions, name, None)
        for name in (
            "InvokeWithLayer",
            "InitConnection",
            "InvokeWithoutUpdates",
            "InvokeAfterMsg",
            "InvokeAfterMsgs",
            "InvokeWithTakeout",
            "InvokeWithMessagesRange",
            "InvokeWithBusinessConnection",
            "InvokeWithGooglePlayIntegrity",
            "InvokeWithApnsSecret",
            "InvokeWithReCaptcha",
        )
    )
    if cls is not None
)


def method_name(query: TLObject) -> str:
    """'upload.GetFile' for raw.functions.upload.GetFile: the name rpc logs and faults use."""
    return query.QUALNAME.split(".", 1)[1] if "." in query.QUALNAME else query.QUALNAME


def peel(query: TLObject) -> tuple[TLObject, bool]:
    """The innermost query and whether any wrapper asked for no updates."""
    without_updates = False
    while isinstance(query, WRAPPERS):
        if isinstance(query, raw.functions.InvokeWithoutUpdates):
            without_updates = True
        query = query.query
    return query, without_updates


def message_refs(items: Any) -> list[tuple[int, bool]]:
    """(id, is_reply_to) from a Vector<InputMessage> as pyrogram.raw reads it on the server side:
    InputMessageID names a message, InputMessageReplyTo the message that one replies to.

    A short vector of InputMessageID at the end of a request is read by `Vector.read_bare`
    as 8-byte longs (constructor id in the low half, the message id in the high half)."""
    refs = []
    for item in items or ():
        if isinstance(item, raw.types.InputMessageID):
            refs.append((item.id, False))
        elif isinstance(item, raw.types.InputMessageReplyTo):
            refs.append((item.id, True))
        elif isinstance(item, int):
            constructor = item & 0xFFFFFFFF
            if constructor == raw.types.InputMessageID.ID:
                refs.append((item >> 32, False))
            elif constructor == raw.types.InputMessageReplyTo.ID:
                refs.append((item >> 32, True))
            else:
                refs.append((item, False))
        else:
            raise ValueError(f"unsupported InputMessage {item!r}")
    return refs


def message_ids(items: Any) -> list[int]:
    """Plain ids from a Vector<InputMessage> of InputMessageID (see message_refs)."""
    return [message_id for message_id, _ in message_refs(items)]


@functools.cache
def _optional_vector_fields(cls: type) -> tuple[str, ...]:
    fields = []
    for param in inspect.signature(cls.__init__).parameters.values():
        annotation = str(param.annotation)
        if param.default is None and annotation.startswith("list["):
            fields.append(param.name)
    return tuple(fields)


def normalize(obj: Any) -> Any:
    """Empty optional vectors become None, in place and recursively.

    `write()` writes an optional vector whenever it is not None but sets its flag bit only
    when it is non-empty, so an empty list would corrupt the stream."""
    if isinstance(obj, list):
        for item in obj:
            normalize(item)
    elif isinstance(obj, TLObject) and hasattr(obj, "__slots__") and not isinstance(obj, (bytes, int)):
        for name in _optional_vector_fields(type(obj)):
            if getattr(obj, name, None) == []:
                setattr(obj, name, None)
        for name in obj.__slots__:
            value = getattr(obj, name, None)
            if isinstance(value, (list, TLObject)) and not isinstance(value, (bytes, str)):
                normalize(value)
    return obj


class SerializationBug(Exception):
    """The server built an object the client could not read back."""


def check_roundtrip(data: bytes, what: str) -> None:
    """Read `data` back as the client would; a flag mistake shows up as a misread stream."""
    try:
        again = TLObject.read(BytesIO(data)).write()
    except Exception as e:  # noqa: BLE001 - any failure here is the bug we look for
        raise SerializationBug(f"{what}: cannot read back ({type(e).__name__}: {e})") from e
    if again != data:
        raise SerializationBug(f"{what}: read back differs from what was written")
