"""A person sends a file in private chat: one request at a time, one status message that
moves from "storing" to "making links" to the links themselves (or says how it ended)."""

from __future__ import annotations

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
    | filters.video_note
)


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
    try:
        status = await answer(client, message, texts.request_progress(file_name, RequestState.PROCESSING), quote=True)
    except BaseException:
        await ctx.requests.advance(request.id, RequestState.FAILED, error="could not send the status message")
        raise

    async def show_end(state: str, reason: str = "") -> None:
        await edit(client, status.chat.id, status.id, texts.request_ended(file_name, state, reason))

    try:
        finished = await ctx.requests.run_guarded(request.id, _store_and_link(ctx, client, message, request.id, status))
    except IntakeError as error:
        await show_end(RequestState.FAILED, error.reason)
        return
    except Exception:  # noqa: BLE001 - the person gets words, the log gets the traceback
        log.exception("Storing a file from %s failed", person.id)
        await show_end(RequestState.FAILED, texts.INTAKE_FAILED)
        return
    if not finished:
        # Revoked by the person or timed out: whoever ended it told them; the status says it too.
        ended = await ctx.requests.get(request.id)
        await show_end(ended.state if ended else RequestState.REVOKED)


async def _store_and_link(ctx: BotContext, client, message, request_id: str, status) -> bool:
    """The request's work: store the file, then turn the status message into the links.

    False when the request ended elsewhere meanwhile; nothing of the file is kept then.
    """
    record = await ctx.intake.take(message, owner_id=message.from_user.id, source="private",
                                   ttl_seconds=ctx.settings.file_ttl)
    try:
        if not await ctx.requests.advance(request_id, RequestState.GENERATING_LINK, file_id=record.id):
            await _forget(ctx, client, record)
            return False
        await edit(client, status.chat.id, status.id, texts.request_progress(record.file_name, RequestState.GENERATING_LINK))
        await ctx.db.files.set_link_message(record.id, status.chat.id, status.id)
        if not await ctx.requests.advance(request_id, RequestState.COMPLETED):
            await _forget(ctx, client, record)
            return False
    except BaseException:
        await _forget(ctx, client, record)
        raise
    text, markup = file_links(ctx, record)
    await edit(client, status.chat.id, status.id, text, markup=markup)
    log.info("File %s (%s bytes) stored for %s", record.ref, record.file_size, record.owner_id)
    return True


async def _forget(ctx: BotContext, client, record) -> None:
    """Undo a stored file whose request ended before it completed: no record, no stored copy."""
    try:
        await ctx.db.files.delete(record.id)
        await client.delete_messages(record.storage_chat_id, record.storage_message_id)
    except Exception as error:  # noqa: BLE001 - cleanup; the request already ended
        log.warning("Could not remove file %s of an ended request: %s", record.ref, error)


def _file_name(message) -> str:
    facts = facts_of(message)
    return facts.file_name if facts is not None else "your file"


def register(client, ctx: BotContext) -> None:
    on_message(client, ctx, on_private_file, FILE_MESSAGES)
