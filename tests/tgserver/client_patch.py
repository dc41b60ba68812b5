"""Point pyrogram (kurigram) at the test server: in this process, or in another one via a JSON file.

Usage in a process that runs the service against a server started elsewhere:

    from tgserver import client_patch
    client_patch.install_from_file("/tmp/tgserver.json")   # written by `python -m tgserver`

Only this module touches pyrogram; the service code itself has no test hooks.
"""

from __future__ import annotations

import contextlib
import errno
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import pyrogram.connection.connection as _connection_module
from pyrogram.crypto import rsa as _rsa
from pyrogram.errors import rpc_error as _rpc_error


@dataclass(eq=False)
class _Target:
    host: str
    ports: dict[int, int]
    fingerprint: int


_targets: list[_Target] = []
_originals: dict[str, object] = {}
# Told (host, port) of every connection attempt the operating system refused: a refusing DC
# has nothing listening, so only the client side sees them (tgserver.faults.Refusal).
_refused_listeners: list[Callable[[str, int], None]] = []


def on_refused_connect(listener: Callable[[str, int], None]) -> Callable[[], None]:
    """Call `listener(host, port)` for each refused connection attempt; returns the undo."""
    _refused_listeners.append(listener)
    return lambda: _refused_listeners.remove(listener) if listener in _refused_listeners else None


def _reporting_refusals(protocol_factory):
    """The library's transport factory, with each transport's connect reporting a refusal."""

    def make(*args, **kwargs):
        protocol = protocol_factory(*args, **kwargs)
        connect = protocol.connect

        async def reporting_connect(address):
            try:
                await connect(address)
            except OSError as e:
                if e.errno == errno.ECONNREFUSED:
                    for listener in list(_refused_listeners):
                        listener(address[0], address[1])
                raise

        protocol.connect = reporting_connect
        return protocol

    make.reports_refusals = True
    return make


def _fingerprint(n: int, e: int) -> int:
    import hashlib

    def tl_bytes(value: bytes) -> bytes:
        length = len(value)
        if length <= 253:
            return bytes([length]) + value + bytes(-(length + 1) % 4)
        return bytes([254]) + length.to_bytes(3, "little") + value + bytes(-length % 4)

    n_bytes = n.to_bytes((n.bit_length() + 7) // 8, "big")
    e_bytes = e.to_bytes((e.bit_length() + 7) // 8, "big")
    return int.from_bytes(hashlib.sha1(tl_bytes(n_bytes) + tl_bytes(e_bytes)).digest()[-8:], "little", signed=True)


def _public_numbers(pem: str) -> tuple[int, int]:
    from cryptography.hazmat.primitives import serialization

    numbers = serialization.load_pem_public_key(pem.encode()).public_numbers()
    return numbers.n, numbers.e


def _patch() -> None:
    Connection = _connection_module.Connection
    original_connect = Connection.connect
    _originals["connect"] = original_connect

    async def connect(self) -> None:
        if _targets:
            target = _targets[-1]
            port = target.ports.get(self.dc_id)
            if port is not None:
                self.server_address = target.host
                self.port = port
                self.ipv6 = False
        if not getattr(self.protocol_factory, "reports_refusals", False):
            self.protocol_factory = _reporting_refusals(self.protocol_factory)
        await original_connect(self)

    Connection.connect = connect

    # pyrogram appends every error id it does not know (our METHOD_NOT_SUPPORTED_...) to
    # ./unknown_errors.txt; in tests that file would land in the repository.
    original_init = _rpc_error.RPCError.__init__
    _originals["rpc_error_init"] = original_init

    def rpc_error_init(self, value=None, rpc_name=None, is_unknown=False, is_signed=False):
        original_init(self, value, rpc_name, False, is_signed)

    _rpc_error.RPCError.__init__ = rpc_error_init


def _unpatch() -> None:
    _connection_module.Connection.connect = _originals.pop("connect")
    _rpc_error.RPCError.__init__ = _originals.pop("rpc_error_init")


def install(ports: dict[int, int] | dict[str, int], rsa_public_key_pem: str, host: str = "127.0.0.1"):
    """Redirect every pyrogram connection to `host` and the port of its DC; trust the server's key.

    Returns a function that undoes exactly this install (installs nest; the latest wins)."""
    n, e = _public_numbers(rsa_public_key_pem)
    fingerprint = _fingerprint(n, e)
    target = _Target(host=host, ports={int(k): int(v) for k, v in ports.items()}, fingerprint=fingerprint)
    if not _targets:
        _patch()
    _targets.append(target)
    _rsa.server_public_keys[fingerprint] = _rsa.PublicKey(n, e)

    def uninstall() -> None:
        if target not in _targets:
            return
        _targets.remove(target)
        if not any(t.fingerprint == fingerprint for t in _targets):
            _rsa.server_public_keys.pop(fingerprint, None)
        if not _targets:
            _unpatch()

    return uninstall


def install_from_file(path: str | Path):
    """install() with what `TelegramServer.write_connection_file` (or `python -m tgserver`) wrote."""
    info = json.loads(Path(path).read_text())
    return install(info["ports"], info["rsa_public_key_pem"], info.get("host", "127.0.0.1"))


@contextlib.contextmanager
def patched(ports: dict[int, int], rsa_public_key_pem: str, host: str = "127.0.0.1") -> Iterator[None]:
    uninstall = install(ports, rsa_public_key_pem, host)
    try:
        yield
    finally:
        uninstall()


def patched_for(server) -> contextlib.AbstractContextManager:
    """patched() for a TelegramServer object in this process."""
    return patched(server.ports, server.rsa_public_key_pem, server.host)
