"""/broadcast: the owner sends one message to everyone, watches it go, may cancel; it survives restarts."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

from pyrogram import raw
from pyrogram.errors import MessageNotModified
from pyrogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from FileStream.bot.context import BotContext
from FileStream.bot.owner.guard import argument, on_owner_button, on_owner_command
from FileStream.bot.replies import answer, edit
from FileStream.core.formatting import escape_html
from FileStream.services.broadcast import Broadcast, BroadcastEngine, Progress, progress_text

log = logging.getLogger(__name__)

CANCEL = "owner:broadcast_cancel"
PROGRESS_EVERY = 3.0        # seconds between two edits of the progress message, at most
DRAIN_TIMEOUT = 5.0         # on shutdown, how long copies already sent may take to be confirmed
_PROGRESS_KEY = "broadcast_progress:"   # + broadcast id -> where its progress message is

USAGE = ("Reply to the message you want to send to everyone with /broadcast. "
         "/broadcast cancel stops a running broadcast.")
ALREADY_RUNNING = "A broadcast is already running. Wait for it to finish, or stop it with /broadcast cancel."
NOTHING_RUNNING = "No broadcast is running."


def steady_utc_clock() -> Callable[[], datetime]:
    """Real time that never jumps: the pace of sending is real, whatever clock the service uses."""
    wall, start = datetime.now(timezone.utc), time.monotonic()
    return lambda: wall + timedelta(seconds=time.monotonic() - start)


def cancel_keyboard() -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[InlineKeyboardButton("Cancel broadcast", callback_data=CANCEL)]])


class Copier:
    """Copies the broadcast message to one person, and lets shutdown wait for copies under way.

    The copy is messages.forwardMessages without the author (Telegram's own "copy": one
    request, no "forwarded from"), asked with sleep_threshold=0 so a FLOOD_WAIT reaches the
    engine, which pauses every sender, instead of the library sleeping in this one call.
    """

    def __init__(self, client) -> None:
        self._client = client
        self._open = asyncio.Event()
        self._open.set()
        self._in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()

    async def copy_to(self, user_id: int, broadcast: Broadcast) -> None:
        await self._open.wait()  # held at shutdown: nothing new starts, so nothing is half-sent
        self._in_flight += 1
        self._idle.clear()
        try:
            client = self._client
            await client.invoke(raw.functions.messages.ForwardMessages(
                from_peer=await client.resolve_peer(broadcast.source_chat_id),
                to_peer=await client.resolve_peer(user_id),
                id=[broadcast.source_message_id],
                random_id=[client.rnd_id()],
                drop_author=True,
            ), sleep_threshold=0)
        finally:
            self._in_flight -= 1
            if not self._in_flight:
                self._idle.set()

    async def hold(self, timeout: float) -> bool:
        """Start no new copies and wait for those under way; False if they did not finish in time."""
        self._open.clear()
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
            return True
        except TimeoutError:
            return False

    def release(self) -> None:
        self._open.set()


class BroadcastDesk:
    """This instance's broadcasts: start one, report progress in one message, cancel, resume, stop."""

    def __init__(self, client, ctx: BotContext) -> None:
        self._client = client
        self._ctx = ctx
        self._copier = Copier(client)
        self.engine = BroadcastEngine(
            ctx.db, self._copier.copy_to, clock=steady_utc_clock(), rate_per_second=ctx.settings.broadcast_rate,
            progress=self._show, progress_interval=PROGRESS_EVERY)
        self._task: asyncio.Task | None = None
        self._stopping = False

    # -- what the owner does ----------------------------------------------------------------

    async def on_broadcast(self, ctx: BotContext, client, message) -> None:
        if argument(message).lower() == "cancel":
            await self._cancel(lambda text: answer(client, message, text))
            return
        source = message.reply_to_message
        if source is None or argument(message):
            await answer(client, message, USAGE)
            return
        broadcast = await self.engine.start(source.chat.id, source.id, owner_chat_id=message.chat.id)
        if broadcast is None:
            await answer(client, message, ALREADY_RUNNING)
            return
        status = await answer(client, message, "Broadcast starting…", markup=cancel_keyboard())
        await ctx.db.settings.set(_PROGRESS_KEY + broadcast.id, {"chat_id": status.chat.id, "message_id": status.id})
        self._spawn(self.engine.run(broadcast))

    async def on_cancel_button(self, ctx: BotContext, client, query) -> None:
        await self._cancel(query.answer)

    async def _cancel(self, say) -> None:
        # Copies already on their way are let through first, so the counts stay exact and
        # nothing arrives after "cancelled".
        await self._copier.hold(DRAIN_TIMEOUT)
        try:
            cancelled = await self.engine.cancel()
        finally:
            self._copier.release()
        if not cancelled:
            await say(NOTHING_RUNNING)
            return
        # The run's last report turns the progress message into "Broadcast cancelled".
        await say("Broadcast cancelled.")

    # -- the service's start and stop ---------------------------------------------------------

    async def resume(self) -> None:
        """After a restart: go on with the broadcast that was running, in the background."""
        if await self._ctx.db.broadcasts.running() is not None:
            self._spawn(self.engine.resume_running())

    async def stop(self) -> None:
        """Shutdown: let copies already sent finish and be saved, then stop; the broadcast stays
        running in MongoDB, so the next start resumes it without sending anyone twice.
        """
        self._stopping = True
        task = self._task
        if task is None or task.done():
            return
        if not await self._copier.hold(DRAIN_TIMEOUT):
            log.warning("Broadcast copies still under way after %.0f s; stopping anyway", DRAIN_TIMEOUT)
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass
        self._copier.release()

    # -- progress -----------------------------------------------------------------------------

    def _spawn(self, run) -> None:
        if self._stopping:
            # Started while shutting down: it stays running in MongoDB and the next start resumes it.
            run.close()
            return
        self._task = asyncio.get_running_loop().create_task(self._run(run))

    async def _run(self, run) -> None:
        try:
            await run
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - said to the log; the owner's message shows where it stopped
            log.exception("The broadcast stopped with an error")

    async def _show(self, progress: Progress) -> None:
        where = await self._ctx.db.settings.get(_PROGRESS_KEY + progress.broadcast_id)
        text = escape_html(progress_text(progress))
        markup = None if progress.finished else cancel_keyboard()
        if where is None:
            if progress.owner_chat_id is None:
                return
            sent = await self._client.send_message(progress.owner_chat_id, text, reply_markup=markup)
            where = {"chat_id": sent.chat.id, "message_id": sent.id}
            await self._ctx.db.settings.set(_PROGRESS_KEY + progress.broadcast_id, where)
            return
        try:
            await edit(self._client, where["chat_id"], where["message_id"], text, markup=markup)
        except MessageNotModified:
            pass


def register(client, ctx: BotContext) -> None:
    desk = BroadcastDesk(client, ctx)
    ctx.broadcasts = desk.engine
    ctx.on_started.append(desk.resume)
    ctx.on_stopping.append(desk.stop)
    on_owner_command(client, ctx, "broadcast", desk.on_broadcast)
    on_owner_button(client, ctx, CANCEL, desk.on_cancel_button)
