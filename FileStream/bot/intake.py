"""A person sends a file in private chat: one request at a time, and one message about it: the links
themselves when storing is quick, or a status message that moves from "storing" to the links
(or says how it ended) when it takes a while."""

from __future__ import annotations

import asyncio
import logging

from pyrogram import filters

from FileStream.bot import bundles, texts
from FileStream.bot.context import BotContext
from FileStream.bot.replies import CHATTER, answer, edit_now, file_links, post, send_act
from FileStream.bot.routing import on_message
from FileStream.core.requests import RequestState
from FileStream.i18n import _
from FileStream.services.intake import IntakeError
from FileStream.store.database import is_unavailable
from FileStream.telegram.media import facts_of
from FileStream.telegram.outbox import Delivery, OnSent

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
    """The one message of a request: queued late (only if storing takes a while), edited after.

    Nothing here waits for the chat's turn: the status and the end result are queued under
    one key, so an end result that comes while the status still waits takes its place, and
    one that comes later edits the status message (or is sent anew if it never went out).
    """

    def __init__(self, client, message, on_shown: OnSent | None = None) -> None:
        self._client = client
        self._message = message
        self._on_shown = on_shown   # told the status message once it is out
        self._key = ("request status", message.id)
        self.shown: Delivery | None = None    # the status message, once queued
        self._timer: asyncio.TimerHandle | None = None

    def show_after(self, seconds: float, text: str) -> None:
        self._timer = asyncio.get_running_loop().call_later(seconds, self._show, text)

    def _show(self, text: str) -> None:
        self._timer = None
        chat_id = self._message.chat.id
        self.shown = post(self._client, chat_id, send_act(self._client, chat_id, text, reply_to=self._message.id),
                          kind=CHATTER, key=self._key, on_sent=self._on_shown)

    def abandon(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def say(self, text: str, *, markup=None, on_sent=None) -> Delivery:
        """Show `text` in the status message (a new message if it never went out)."""
        self.abandon()
        client, chat_id, shown = self._client, self._message.chat.id, self.shown
        send_new = send_act(client, chat_id, text, markup=markup, reply_to=self._message.id)

        async def act():
            status = shown.sent if shown is not None else None
            if status is None:
                return await send_new()
            return await edit_now(client, chat_id, status.id, text, markup=markup) or status
        return post(client, chat_id, act, key=self._key, on_sent=on_sent)


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
        await answer(client, message, over.text(), quote=True, kind=CHATTER)
        return
    file_name = _file_name(message)
    request = await ctx.requests.begin(person.id, file_name, message_id=message.id)
    if request is None:
        current = await ctx.requests.status(person.id)  # None if it ended just now
        await answer(client, message, texts.busy(current.file_name if current else file_name,
                                                 current.state if current else RequestState.PROCESSING), quote=True,
                     kind=CHATTER)
        return
    # The rest waits for the person's turn in the storage channel: in a task of its own, so
    # this update worker is free for everyone else's messages at once.
    ctx.spawn(_serve_request(ctx, client, message, request, file_name), f"request {request.id}")


async def _serve_request(ctx: BotContext, client, message, request, file_name: str) -> None:
    person = message.from_user

    async def remember_status(shown) -> None:
        # A stop before the links leaves it saying "storing": the file handled again replaces it.
        await ctx.requests.store.note(request.id, status_message_id=shown.id)
        log.info("Request %s of %s takes a while: its status message is out", request.id, person.id)
    status = StatusMessage(client, message, on_shown=remember_status)
    status.show_after(STATUS_AFTER_SECONDS, texts.request_progress(file_name, RequestState.PROCESSING))
    try:
        record = await ctx.requests.run_guarded(request.id, _store(ctx, client, message, request.id))
    except IntakeError as error:
        status.say(texts.request_ended(file_name, RequestState.FAILED, error.reason))
        return
    except Exception as error:  # noqa: BLE001 - the person gets words, the log gets the traceback
        if is_unavailable(error):   # an outage, not a bug: said in a line
            log.warning("Storing a file from %s failed, the database did not answer: %r", person.id, error)
        else:
            log.exception("Storing a file from %s failed", person.id)
        status.say(texts.request_ended(file_name, RequestState.FAILED, texts.INTAKE_FAILED))
        return
    except BaseException:
        status.abandon()
        raise
    await _hand_out(ctx, client, request, status, file_name, record)


async def _hand_out(ctx: BotContext, client, request, status: StatusMessage, file_name: str, record) -> None:
    status.abandon()
    if record is None:
        # Revoked by the person or timed out: whoever ended it told them; a status message
        # they already have says it too.
        if status.shown is not None:
            ended = await ctx.requests.get(request.id)
            status.say(texts.request_ended(file_name, ended.state if ended else RequestState.REVOKED))
        return
    text, markup = file_links(ctx, record)

    async def remember(shown) -> None:
        # The expiry job edits this message; the request record already says the links are due.
        await ctx.db.files.set_link_message(record.id, shown.chat.id, shown.id)
    status.say(text, markup=markup, on_sent=remember)
    log.info("File %s (%s bytes) stored for %s", record.ref, record.file_size, record.owner_id)


async def _store(ctx: BotContext, client, message, request_id: str):
    """The request's work: store the file and complete the request; the record, or None when
    the request ended elsewhere meanwhile (nothing of the file is kept then)."""
    record = await ctx.intake.take(message, owner_id=message.from_user.id, source="private",
                                   ttl_seconds=ctx.settings.file_ttl, request_id=request_id)
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
    return facts.file_name if facts is not None else _("your file")


def register(client, ctx: BotContext) -> None:
    on_message(client, ctx, on_private_file, FILE_MESSAGES)
