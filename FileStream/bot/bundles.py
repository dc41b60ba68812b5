"""Bundles in the conversation: an album becomes one bundle, /bundle … /done collects the files sent
in between, and one status message counts them ("n of N stored") until it hands out the links.

In the auth channel an album's posts get a button to the whole album beside their own buttons.
"""

from __future__ import annotations

import logging

from pyrogram import filters

from FileStream.bot import keyboards, texts
from FileStream.bot.context import BotContext
from FileStream.bot.replies import CHATTER, answer, edit, send
from FileStream.bot.routing import on_message
from FileStream.core.playlist import is_playable
from FileStream.core.requests import RequestState
from FileStream.core.tokens import log_ref
from FileStream.i18n import _
from FileStream.services.bundles import Finished, Progress, bundle_title
from FileStream.services.intake import IntakeError
from FileStream.store.bundles import CLOSING, OPEN
from FileStream.store.database import is_unavailable
from FileStream.telegram.media import media_of

log = logging.getLogger(__name__)


# -- the status message ----------------------------------------------------------------------

def _status(ctx: BotContext, client, progress: Progress):
    chat_id, message_id = progress.status_message
    return ctx.statuses.get(progress.bundle_id, lambda text: edit(client, chat_id, message_id, text))


def _progress_text(ctx: BotContext, progress: Progress) -> str:
    return texts.bundle_progress(progress.title, progress.stored, progress.received, progress.failed,
                                 collecting=progress.state == OPEN, limit=ctx.bundles.max_files)


async def _refresh(ctx: BotContext, client, bundle_id: str) -> None:
    """Show the bundle's newest count on its status message (paced)."""
    progress = await ctx.bundles.progress(bundle_id)
    if progress is not None and progress.status_message is not None:
        await _status(ctx, client, progress).show(_progress_text(ctx, progress), progress.version)


async def _final(ctx: BotContext, client, progress: Progress, text: str, markup=None) -> None:
    if progress.status_message is None:
        return
    chat_id, message_id = progress.status_message
    status = ctx.statuses.get(progress.bundle_id, lambda _text: edit(client, chat_id, message_id, _text))
    try:
        await status.final(text, lambda final: edit(client, chat_id, message_id, final, markup=markup))
    finally:
        ctx.statuses.forget(progress.bundle_id)


async def _status_message(client, message, text: str):
    """Send a bundle's status message and wait for it (the message); raises when it did not go out.

    Waits for the chat's turn: only ever called from a task of the bot context, never from an
    update handler.
    """
    sent = await (await answer(client, message, text, quote=True)).message()
    if sent is None:
        raise RuntimeError("the status message could not be sent")
    return sent


# -- finishing ------------------------------------------------------------------------------

async def finish_if_settled(ctx: BotContext, client, bundle_id: str, reply_to=None) -> bool:
    """Close the bundle when every file it received is stored or failed, and hand out its links.

    Whoever calls this last (the handler of the last file, /done, the album's worker) finishes:
    the database lets exactly one caller win.
    """
    if ctx.statuses.is_coming(bundle_id):
        return False   # whoever learns the status message's id finishes it then
    finished = await ctx.bundles.finish(bundle_id, ctx.settings.file_ttl)
    if finished is None:
        return False
    # The status message's last edit waits for its pace: apart from the caller, which may
    # be an update worker (/done). The links are queued after it, so they still come last.
    ctx.spawn(_announce(ctx, client, finished, reply_to), f"bundle {log_ref(bundle_id)} links")
    return True


async def bundle_links_message(ctx: BotContext, bundle, *, failed: int = 0):
    """The text and buttons of a finished bundle's links."""
    files = list((await ctx.db.files.get_many(list(bundle.file_ids))).values())
    links = ctx.links.bundle_links(bundle)
    playable = any(is_playable(f.mime_type, f.file_name) for f in files)
    text = texts.bundle_ready(bundle, links, files, ctx.clock(), failed=failed, playable=playable)
    return text, keyboards.bundle_links_keyboard(links, playable=playable)


async def _announce(ctx: BotContext, client, finished: Finished, reply_to) -> None:
    progress = finished.progress
    if finished.bundle is None:
        await _final(ctx, client, progress, texts.request_ended(progress.title, RequestState.FAILED,
                                                                texts.NOTHING_STORED))
        return
    bundle = finished.bundle
    text, markup = await bundle_links_message(ctx, bundle, failed=progress.failed)
    if progress.origin == "album" and progress.status_message is not None:
        # As with one file: the status message becomes the links.
        await _final(ctx, client, progress, text, markup)
        chat_id, message_id = progress.status_message
    else:
        # /done is answered with the links; the status message keeps the final count.
        await _final(ctx, client, progress, texts.bundle_closed(progress.title, progress.stored, progress.received,
                                                                progress.failed))
        chat_id = bundle.owner_id   # a private chat's id is the person's

        async def remember(sent) -> None:
            await ctx.db.bundles.set_link_message(bundle.id, sent.chat.id, sent.id)
        await send(client, chat_id, text, markup=markup, reply_to=reply_to.id if reply_to else None,
                   on_sent=remember)
        log.info("Bundle %s of %s: links queued", bundle.ref, bundle.owner_id)
        return
    await ctx.db.bundles.set_link_message(bundle.id, chat_id, message_id)
    log.info("Bundle %s of %s: links sent", bundle.ref, bundle.owner_id)


async def end_unfinished(ctx: BotContext, client, bundle_id: str, state: str) -> None:
    """The bundle's request ended without links (revoked, timed out): nothing of it is kept, and
    its status message says how it ended."""
    progress = await ctx.bundles.cancel(bundle_id)
    if progress is not None:
        ctx.spawn(_final(ctx, client, progress, texts.request_ended(progress.title, state)),
                  f"bundle {log_ref(bundle_id)} ended")


# -- /bundle and the files sent after it --------------------------------------------------------

async def on_bundle(ctx: BotContext, client, message) -> None:
    person = message.from_user
    over = await ctx.rate_limit.check(person.id)
    if over is not None:
        await answer(client, message, over.text(), quote=True, kind=CHATTER)
        return
    over = await ctx.bundle_limit.check(person.id) if ctx.bundle_limit is not None else None
    if over is not None:
        await answer(client, message, over.text(), quote=True)
        return
    parts = (message.text or "").split(maxsplit=1)
    title = bundle_title(parts[1] if len(parts) > 1 else "", _("Bundle"))
    started = await ctx.bundles.start_command(person.id, title)
    if started is None:
        current = await ctx.requests.status(person.id)
        await answer(client, message, texts.busy(current.file_name if current else title,
                                                 current.state if current else RequestState.PROCESSING), quote=True,
                     kind=CHATTER)
        return
    bundle_id, request = started
    # The status message waits for this person's turn in their chat: its id is learned when
    # it is out, by a task of its own, so this update worker is free at once.
    ctx.statuses.coming(bundle_id)
    delivery = await answer(client, message, texts.bundle_progress(title, 0, 0, 0, collecting=True,
                                                                   limit=ctx.bundles.max_files), quote=True)
    ctx.spawn(_learn_status_message(ctx, client, bundle_id, request, title, delivery),
              f"bundle {log_ref(bundle_id)} status")
    log.info("Bundle %s started by %s", log_ref(bundle_id), person.id)


async def _learn_status_message(ctx: BotContext, client, bundle_id: str, request, title: str, delivery) -> None:
    """Record the /bundle status message once it is out, then show what happened meanwhile:
    files that came (the count), /done (the links), or the request's end (how it ended)."""
    try:
        sent = await delivery.message()
        if sent is None:
            await ctx.requests.advance(request.id, RequestState.FAILED, error="could not send the status message")
            await ctx.bundles.cancel(bundle_id)
            return
        await ctx.bundles.set_status_message(bundle_id, sent.chat.id, sent.id)
    finally:
        ctx.statuses.arrived(bundle_id)
    progress = await ctx.bundles.progress(bundle_id)
    if progress is None or progress.state not in (OPEN, CLOSING):
        # Revoked or timed out before the message was out: it says so.
        ended = await ctx.requests.get(request.id)
        text = texts.request_ended(title, ended.state if ended is not None else RequestState.REVOKED)
        await edit(client, sent.chat.id, sent.id, text)
        return
    await _refresh(ctx, client, bundle_id)
    await finish_if_settled(ctx, client, bundle_id)


async def take_into_open_bundle(ctx: BotContext, client, message) -> bool:
    """A file sent while the person's bundle is open joins it; False when no bundle takes it."""
    if ctx.bundles is None:
        return False
    person = message.from_user
    request = await ctx.requests.status(person.id)
    if request is None or not request.is_bundle:
        return False
    room = await ctx.bundle_limit.room(person.id, request.bundle_id) if ctx.bundle_limit is not None else None
    if await ctx.bundles.join(request, room) is None:
        progress = await ctx.bundles.progress(request.bundle_id)
        if (room is not None and room < ctx.bundles.max_files and progress is not None
                and progress.state == OPEN and progress.received >= room):
            # Said once per bundle: a person sending fast must not get a refusal per file.
            over = await ctx.bundle_limit.check(person.id)
            if over is not None and await ctx.db.bundles.mark_notice(request.bundle_id, "rate_limit"):
                await answer(client, message, over.text(), quote=True)
            return True
        if await ctx.bundles.is_full(request.bundle_id):
            await answer(client, message, texts.bundle_full(ctx.bundles.max_files), quote=True, kind=CHATTER)
            return True
        return False   # an album being stored, or a bundle closing: the person is busy
    await _refresh(ctx, client, request.bundle_id)
    # Storing waits for the person's turn in the storage channel: in a task of its own, so
    # the update worker is free at once (60 files of one person hold none of them), and
    # cancelled with the request (/revoke, timeout).
    task = ctx.spawn(_store_then_finish(ctx, client, request, message), f"bundle {log_ref(request.bundle_id)} file")
    ctx.requests.track(request.id, task)
    return True


async def _store_then_finish(ctx: BotContext, client, request, message) -> None:
    await _store_one(ctx, client, request.bundle_id, message, request_id=request.id, owner_id=message.from_user.id)
    await finish_if_settled(ctx, client, request.bundle_id)


async def _store_one(ctx: BotContext, client, bundle_id: str, message, *, request_id: str | None,
                     owner_id: int | None, source: str = "private"):
    try:
        record = await ctx.bundles.store(bundle_id, message, message.id, owner_id=owner_id, source=source,
                                         request_id=request_id)
    except IntakeError as error:
        log.warning("A file of bundle %s was not stored: %s", log_ref(bundle_id), error.reason)
        record = None
    except Exception as error:  # noqa: BLE001 - counted as failed; the bundle goes on with the others
        if is_unavailable(error):   # an outage, not a bug: said in a line
            log.warning("A file of bundle %s was not stored, the database did not answer: %r", log_ref(bundle_id), error)
        else:
            log.exception("A file of bundle %s was not stored", log_ref(bundle_id))
        record = None
    if source == "private":
        await _refresh(ctx, client, bundle_id)
    return record


async def on_done(ctx: BotContext, client, message) -> None:
    request = await ctx.requests.status(message.from_user.id)
    if request is None or not request.is_bundle:
        await answer(client, message, texts.NO_OPEN_BUNDLE, kind=CHATTER)
        return
    progress = await ctx.bundles.progress(request.bundle_id)
    if progress is not None and progress.state == OPEN and progress.received == 0:
        await answer(client, message, texts.BUNDLE_EMPTY, kind=CHATTER)
        return
    if progress is None or progress.origin != "command" or await ctx.bundles.start_closing(request.bundle_id) is None:
        await answer(client, message, texts.BUNDLE_STILL_STORING, kind=CHATTER)
        return
    if not await finish_if_settled(ctx, client, request.bundle_id, reply_to=message):
        await answer(client, message, texts.BUNDLE_STILL_STORING, kind=CHATTER)


# -- albums --------------------------------------------------------------------------------

async def _album_members(ctx: BotContext, client, message) -> list:
    members = await client.get_media_group(message.chat.id, message.id)
    files = sorted((m for m in members if media_of(m)[0] is not None), key=lambda m: m.id)
    return files[:ctx.bundles.max_files]


def _album_title(members, fallback: str) -> str:
    caption = next((m.caption for m in members if getattr(m, "caption", None)), None)
    return bundle_title(caption, fallback)


async def on_private_album(ctx: BotContext, client, message) -> None:
    """The first message of an album to arrive takes the whole album; the others say nothing."""
    person = message.from_user
    bundle_id = await ctx.bundles.claim_album(message.chat.id, message.media_group_id, owner_id=person.id,
                                              source="private", message_id=message.id)
    if bundle_id is None:
        return
    over = await ctx.rate_limit.check(person.id)
    if over is not None:
        await ctx.bundles.refuse(bundle_id)
        await answer(client, message, over.text(), quote=True, kind=CHATTER)
        return
    members = await _album_members(ctx, client, message)
    over = await ctx.bundle_limit.check(person.id, len(members)) if ctx.bundle_limit is not None else None
    if over is not None:
        await ctx.bundles.refuse(bundle_id)
        await answer(client, message, over.text(), quote=True)
        return
    title = _album_title(members, texts.album_title(len(members)))
    request = await ctx.bundles.begin_album(bundle_id, title, len(members), person.id, message_id=message.id)
    if request is None:
        current = await ctx.requests.status(person.id)
        await answer(client, message, texts.busy(current.file_name if current else title,
                                                 current.state if current else RequestState.PROCESSING), quote=True,
                     kind=CHATTER)
        return
    async def store_all() -> bool:
        for member in members:
            await _store_one(ctx, client, bundle_id, member, request_id=request.id, owner_id=person.id)
        return await finish_if_settled(ctx, client, bundle_id)

    async def work() -> None:
        # The status message's id is known before the first file is stored (its count is
        # edited into it); waiting for it is this task's, never the update worker's.
        try:
            status = await _status_message(client, message, texts.bundle_progress(
                title, 0, len(members), 0, collecting=False, limit=ctx.bundles.max_files))
            await ctx.bundles.set_status_message(bundle_id, status.chat.id, status.id)
        except BaseException:
            await ctx.requests.advance(request.id, RequestState.FAILED, error="could not send the status message")
            await ctx.bundles.cancel(bundle_id)
            raise
        try:
            await ctx.requests.run_guarded(request.id, store_all())
        except Exception:  # noqa: BLE001 - the request is failed already; nothing of it is kept
            log.exception("Storing album bundle %s failed", log_ref(bundle_id))
            await end_unfinished(ctx, client, bundle_id, RequestState.FAILED)

    # Apart from the update worker: the status message waits for the person's chat, the
    # album's copies for the person's turns.
    ctx.spawn(work(), f"album {log_ref(bundle_id)}")


async def on_channel_album(ctx: BotContext, client, post, add_buttons) -> None:
    """An album posted in AUTH_CHANNEL: every file stored into one bundle, then each post gets
    its own buttons plus one to the whole album (`add_buttons(post, record, bundle_links)`)."""
    bundle_id = await ctx.bundles.claim_album(post.chat.id, post.media_group_id, owner_id=None, source="channel",
                                              message_id=post.id)
    if bundle_id is None:
        return
    members = await _album_members(ctx, client, post)
    title = _album_title(members, f"{getattr(post.chat, 'title', None) or 'Channel'} album")
    await ctx.bundles.begin_channel_album(bundle_id, title, len(members))
    stored = []
    for member in members:
        record = await _store_one(ctx, client, bundle_id, member, request_id=None, owner_id=None, source="channel")
        if record is not None:
            stored.append((member, record.id))
    # Closed with a note that its posts are getting buttons: a stop before the last one has
    # them leaves the note, and the next start gives the rest theirs (bot/missed_links.py).
    finished = await ctx.bundles.finish(bundle_id, ctx.settings.channel_file_ttl, buttons_by=ctx.instance)
    bundle_links = ctx.links.bundle_links(finished.bundle) if finished and finished.bundle else None
    records = await ctx.db.files.get_many([file_id for _m, file_id in stored])   # with the bundle's expiry
    for member, file_id in stored:
        if file_id in records:
            await add_buttons(member, records[file_id], bundle_links)
    if finished is not None and finished.bundle is not None:
        await ctx.db.bundles.buttons_given(bundle_id)
    log.info("Album of %d posts in %s stored as bundle %s", len(members), post.chat.id, log_ref(bundle_id))


def register(client, ctx: BotContext) -> None:
    on_message(client, ctx, on_bundle, filters.private & filters.command("bundle"))
    on_message(client, ctx, on_done, filters.private & filters.command("done"))
