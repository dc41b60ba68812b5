"""Builds, starts and checks the main bot and the backend bot clients."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from pathlib import Path

from pyrogram import Client

from FileStream.telegram.pacing import PacedClient
from FileStream.telegram.pool import PoolMember
from FileStream.telegram.updates import CatchingUpClient

log = logging.getLogger(__name__)


class TgCryptoMissing(RuntimeError):
    """Start-up refuses to run with pure-Python AES: it is ~400 times slower."""


def require_tgcrypto() -> None:
    try:
        import tgcrypto  # noqa: F401
    except ImportError as error:  # pragma: no cover - the requirements install it
        raise TgCryptoMissing(
            "tgcrypto is not installed: pip install tgcrypto (FileStream refuses pure-Python AES, ~400x slower)"
        ) from error


def session_name(token: str) -> str:
    """A session file per bot account, so a restart reuses its authorisation."""
    return f"bot{token.split(':', 1)[0]}"


def build_client(*, token: str, api_id: int, api_hash: str, session_dir: str, workers: int,
                 receives_updates: bool, in_memory: bool = False) -> PacedClient:
    """A bot client whose every message send and edit keeps within Telegram's limits (pacing.py).

    in_memory: keep no session file (a one-off tool beside a running service that owns it)."""
    if not in_memory:
        Path(session_dir).mkdir(parents=True, exist_ok=True)
    # The bot that takes updates keeps its update state in its session file and catches up
    # on what it missed while down or disconnected (updates.py); the others take none.
    kind = CatchingUpClient if receives_updates and not in_memory else PacedClient
    return kind(
        session_name(token),
        api_id=api_id,
        api_hash=api_hash,
        bot_token=token,
        workdir=session_dir,
        workers=workers,
        no_updates=not receives_updates,
        in_memory=in_memory,
        # Calls wait out FLOOD_WAITs up to this long (message sends: the pacer holds every
        # send to that chat meanwhile); the streamer and the broadcast ask with
        # sleep_threshold=0 and handle their own.
        sleep_threshold=30,
    )


async def start_member(member: PoolMember, bin_channel: int | Sequence[int], timeout: float = 60.0) -> bool:
    """Start one client and check it can read a storage channel; report in words if not.

    With several storage channels (BIN_CHANNEL lists them), each is read once (so the client
    knows them all); the client is ready when it can read one of them."""
    try:
        await asyncio.wait_for(member.client.start(), timeout)
        me = await member.client.get_me()
        member.username = me.username or ""
        member.bot_id = me.id
        member.home_dc = await member.client.storage.dc_id()
    except Exception as error:  # noqa: BLE001 - any failure leaves this client out, in words
        member.healthy = False
        member.last_error = f"could not start: {error}"
        log.error("Bot client %s could not start (%s); it is left out of the pool", member.name, error)
        return False
    channels = [bin_channel] if isinstance(bin_channel, int) else list(bin_channel)
    readable = 0
    for chat_id in channels:
        try:
            await member.client.get_chat(chat_id)
            readable += 1
        except Exception as error:  # noqa: BLE001
            member.last_error = f"cannot read BIN_CHANNEL {chat_id}: {error}"
            log.error("Bot client %s (@%s) cannot read BIN_CHANNEL %s (%s): make it an admin there",
                      member.name, member.username, chat_id, error)
    if not readable:
        member.healthy = False
        log.error("Bot client %s (@%s) can read no storage channel; it is left out", member.name, member.username)
        return False
    log.info("Bot client %s (@%s, DC%s) is ready", member.name, member.username, member.home_dc)
    return True


async def stop_client(client: Client) -> None:
    try:
        if client.is_connected:
            await client.stop()
    except Exception as error:  # noqa: BLE001 - shutting down: say it, go on
        log.warning("Stopping a bot client failed: %s", error)
