"""The storage channel from the bots' side: re-sending a file by its id (Telegram's answers sorted), and what the copy lane reads, waits for and deletes there."""

from __future__ import annotations

import asyncio

from pyrogram import utils
from pyrogram.errors import FloodWait, RPCError

from FileStream.core.storage_copy import REFUSALS
from FileStream.telegram.media import facts_of


class FileIdRefused(Exception):
    """Telegram (or the client library, for an id it cannot read) will never accept this id
    from this bot; `error_id` is Telegram's name for why."""

    def __init__(self, error_id: str) -> None:
        super().__init__(error_id)
        self.error_id = error_id


class SendLater(Exception):
    """Telegram asked this bot to wait `retry_after` seconds before sending again."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"FLOOD_WAIT {retry_after} s")
        self.retry_after = retry_after


async def send_by_file_id(client, chat_id: int, file_id: str) -> tuple[int, int]:
    """Send the file `file_id` names into `chat_id` (a cached-media send: no bytes uploaded).

    Returns (new message id, DC of the file). Raises FileIdRefused or SendLater as above;
    other errors (network, rights in the channel) pass through.
    """
    try:
        message = await client.send_cached_media(chat_id, file_id)
    except ValueError as error:  # the library could not decode the id: no send was made
        raise FileIdRefused("FILE_ID_UNREADABLE") from error
    except FloodWait as error:
        raise SendLater(max(1, int(error.value or 1))) from error
    except RPCError as error:
        if getattr(error, "ID", None) in REFUSALS:
            raise FileIdRefused(str(error.ID)) from error
        raise
    facts = facts_of(message)
    return message.id, facts.dc_id if facts is not None else 0



class ChannelReader:
    """A storage channel as the copy lane sees it (services.channel_copies.ChannelTools)."""

    def __init__(self, client, channel: int) -> None:
        self.client = client
        self.channel = channel

    async def delete(self, message_ids: list[int]) -> None:
        await self.client.delete_messages(self.channel, message_ids)

    async def newest_id(self) -> int:
        # A bot may not read a channel's history, so it posts a one-character probe, whose
        # id is the newest, and deletes it at once.
        probe = await self.client.send_message(self.channel, ".", disable_notification=True)
        try:
            await self.client.delete_messages(self.channel, probe.id)
        except RPCError:
            pass   # a stray dot harms nobody
        return probe.id

    async def media_of(self, message_ids: list[int]) -> dict[int, tuple[str, int]]:
        messages = await self.client.get_messages(self.channel, message_ids)
        if not isinstance(messages, list):
            messages = [messages]
        found = {}
        for message in messages:
            facts = facts_of(message) if message is not None and not getattr(message, "empty", False) else None
            if facts is not None and facts.file_unique_id:
                found[message.id] = (facts.file_unique_id, facts.dc_id)
        return found

    def never_sent(self, error: BaseException) -> bool:
        return isinstance(error, (RPCError, FileIdRefused, SendLater, ValueError))

    async def ready(self) -> None:
        # The client paces every send (telegram/pacing.py); this only waits until the next
        # copy would go at once, so the lane picks whose copy it is only then.
        pacer = getattr(self.client, "pacer", None)
        if pacer is None:
            return
        chat = ("group", utils.get_raw_peer_id(self.channel))
        while (wait := pacer.ready_in(chat)) > 0:
            if wait > self.client.sleep_threshold:
                return   # a long FLOOD_WAIT: the send itself answers at once that it must wait
            await asyncio.sleep(wait)
