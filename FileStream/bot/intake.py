"""A person sends a file in private chat: one request at a time, and one message about it: the links
themselves when storing is quick, or a status message that moves from "storing" to the links
(or says how it ended) when it takes a while."""

from __future__ import annotations

import asyncio
import logging

from pyrogram import filters

from FileStream.bot import bundles, texts
from FileStream.bot.context import BotContext
from FileStream.bot.replies import answer, edit, file_links
from FileStream.bot.routing import on_message
from FileStream.core.requests import RequestState
from FileStream.services.intake import IntakeError
from FileStream.telegram.media import facts_of

log = logging.getLogger(__name__)

FILE_MESSAGES = filters.private & (
    filters.document | filters.video | filters.audio | filters.voice | filters.animation | filters.photo
    | filters.video_note | filters.sticker
)

# Most files are stored well within this; their links then come as the first and only
# message. Only slower ones get a status message first. One message a file instead of
# two or three keeps a person who sends a batch of files within Telegram's per-chat limit.
STATUS_AFTER_SECONDS = 1.0


class StatusMessage:
    """The one message of a request: sent late (only if storing takes a while), edited after."""

    def __init__(self, client, message) -> None:
        self._client = client
        self._message = message
        self.sent = None            # the bot's message, once there is one
        self._showing: asyncio.Task | None = None
        self._sending = False

    def show_after(self, seconds: float, text: str) -> None:
        self._showing = asyncio.get_running_loop().create_task(self._show_later(seconds, text))

    async def _show_later(self, seconds: float, text: str) -> None:
        await asyncio.sleep(seconds)
        self._sending = True
        self.sent = await answer(self._client, self._message, text, quote=True)

    async def settle(self) -> None:
        """The status is either shown or never will be: a send under way is let finish."""
        showing, self._showing = self._showing, None
        if showing is None:
            return
        if not self._sending:
            showing.cancel()
        try:
            await showing
        except asyncio.CancelledError:
            if not showing.cancelled():  # our own caller is being cancelled
                raise
        except Exception as error:  # noqa: BLE001 - the end result is sent as a new message then
            log.warning("Could not send the status message of a file request: %s", error)

    def abandon(self) -> None:
        if self._showing is not None:
            self._showing.cancel()

    async def say(self, text: str, *, markup=None):
        """Show `text` in the status message (sending it now if it was not yet); the message."""
        await self.settle()
        if self.sent is None:
            self.sent = await answer(self._client, self._message, text, markup=markup, quote=True)
        else:
            await edit(self._client, self.sent.chat.id, self.sent.id, text, markup=markup)
        return self.sent


async def on_private_file(ctx: BotContext, client, message) -> None:
    # A bundle is one request: files sent while one is open join it instead of opening their own.
    if await bundles.take_into_open_bundle(ctx, client, message):
        return
    if message.media_group_id is not None and ctx.bundles is not None:
        await bundles.on_private_album(ctx, client, message)
        return
    person = message.from_user
    over = await ctx.rate_limit.check(person.id)
    if over is not None:
        await answer(client, message, over.text(), quote=True)
        return
    file_name = _file_name(message)
    request = await ctx.requests.begin(person.id, file_name)
    if request is None:
        current = await ctx.requests.status(person.id)  # None if it ended just now
        await answer(client, message, texts.busy(current.file_name if current else file_name,
                                                 current.state if current else RequestState.PROCESSING), quote=True)
        return
    # The rest waits for the person's turn in the storage channel: in a task of its own, so
    # this update worker is free for everyone else's messages at once.
    ctx.spawn(_serve_request(ctx, client, message, request, file_name), f"request {request.id}")


async def _serve_request(ctx: BotContext, client, message, request, file_name: str) -> None:
    person = message.from_user
    status = StatusMessage(client, message)
    status.show_after(STATUS_AFTER_SECONDS, texts.request_progress(file_name, RequestState.PROCESSING))
    try:
        record = await ctx.requests.run_guarded(request.id, _store(ctx, client, message, request.id))
    except IntakeError as error:
        await status.say(texts.request_ended(file_name, RequestState.FAILED, error.reason))
        return
    except Exception:  # noqa: BLE001 - the person gets words, the log gets the traceback
        log.exception("Storing a file from %s failed", person.id)
        await status.say(texts.request_ended(file_name, RequestState.FAILED, texts.INTAKE_FAILED))
        return
    except BaseException:
        status.abandon()
        raise
    await _hand_out(ctx, client, request, status, file_name, record)


async def _hand_out(ctx: BotContext, client, request, status: StatusMessage, file_name: str, record) -> None:
    await status.settle()
    if record is None:
        # Revoked by the person or timed out: whoever ended it told them; a status message
        # they already have says it too.
        if status.sent is not None:
            ended = await ctx.requests.get(request.id)
            await status.say(texts.request_ended(file_name, ended.state if ended else RequestState.REVOKED))
        return
    text, markup = file_links(ctx, record)
    shown = await status.say(text, markup=markup)
    await ctx.db.files.set_link_message(record.id, shown.chat.id, shown.id)
    log.info("File %s (%s bytes) stored for %s", record.ref, record.file_size, record.owner_id)


async def _store(ctx: BotContext, client, message, request_id: str):
    """The request's work: store the file and complete the request; the record, or None when
    the request ended elsewhere meanwhile (nothing of the file is kept then)."""
    record = await ctx.intake.take(message, owner_id=message.from_user.id, source="private",
                                   ttl_seconds=ctx.settings.file_ttl)
    try:
        if (not await ctx.requests.advance(request_id, RequestState.GENERATING_LINK, file_id=record.id)
                or not await ctx.requests.advance(request_id, RequestState.COMPLETED)):
            await _forget(ctx, client, record)
            return None
    except BaseException:
        await _forget(ctx, client, record)
        raise
    return record


async def _forget(ctx: BotContext, client, record) -> None:
    """Undo a stored file whose request ended before it completed: no stored copy, no record."""
    await ctx.intake.discard(record)


def _file_name(message) -> str:
    facts = facts_of(message)
    return facts.file_name if facts is not None else "your file"


def register(client, ctx: BotContext) -> None:
    on_message(client, ctx, on_private_file, FILE_MESSAGES)
