"""/broadcast: the owner sends one message to everyone, watches it go, may cancel; it survives restarts."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

from pyrogram import raw
from pyrogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from FileStream.bot.context import BotContext
from FileStream.bot.owner.guard import argument, on_owner_button, on_owner_command
from FileStream.bot.replies import CHATTER, answer, edit_now
from FileStream.core.formatting import escape_html
from FileStream.services.broadcast import Broadcast, BroadcastEngine, Progress, progress_text

log = logging.getLogger(__name__)

CANCEL = "owner:broadcast_cancel"
PROGRESS_EVERY = 3.0        # seconds between two edits of the progress message, at most
DRAIN_TIMEOUT = 5.0         # on shutdown, how long copies already sent may take to be confirmed
RESTART_FIRST = 1.0         # after a run failed, seconds before it is resumed (doubling...)
RESTART_MAX = 60.0          # ...up to this
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
        # A PacedClient tells which FLOOD_WAITs hold every chat (short ones) and which one chat.
        pacer = getattr(client, "pacer", None)
        self.engine = BroadcastEngine(
            ctx.db, self._copier.copy_to, clock=steady_utc_clock(), rate_per_second=ctx.settings.broadcast_rate,
            progress=self._show, progress_interval=PROGRESS_EVERY,
            pause_all_max_seconds=pacer.limits.overall_verdict_max_seconds if pacer is not None else None)
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
        try:
            broadcast = await self.engine.start(source.chat.id, source.id, owner_chat_id=message.chat.id)
        except Exception:
            # The broadcast may exist although the answer was lost (a database timeout):
            # it must not stay "running" without anyone sending it.
            self._keep_running()
            raise
        if broadcast is None:
            self._keep_running()  # one left running without a worker here (a failed start) gets one
            await answer(client, message, ALREADY_RUNNING)
            return
        try:
            # Queued, not waited for here; when it cannot go (a long FLOOD_WAIT on the owner's
            # chat) it is given up, and the broadcast's first report comes as a new message.
            shown = await answer(client, message, "Broadcast starting…", markup=cancel_keyboard(), kind=CHATTER)
        except BaseException:
            self._keep_running(self.engine.run(broadcast))
            raise

        async def start_once_shown() -> None:
            # The run reports into the progress message, so it starts once that is recorded
            # (or known not to exist): apart from the update worker, which is free at once.
            try:
                status = await shown.message()
                if status is not None:
                    await ctx.db.settings.set(_PROGRESS_KEY + broadcast.id,
                                              {"chat_id": status.chat.id, "message_id": status.id})
            finally:
                # Whatever became of the reply, the broadcast runs.
                self._keep_running(self.engine.run(broadcast))
        ctx.spawn(start_once_shown(), f"broadcast {broadcast.id}")

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
        self._keep_running()

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

    def _keep_running(self, run=None) -> None:
        """Make sure a task here sends the running broadcast to its end: `run` (a run of the
        engine), else whatever broadcast the database says is running, if any."""
        if self._stopping or (self._task is not None and not self._task.done()):
            # Shutting down (the next start resumes it), or a task here already sends it.
            if run is not None:
                run.close()
            return
        self._task = asyncio.get_running_loop().create_task(self._supervise(run), name="broadcast")

    async def _supervise(self, run) -> None:
        """Runs the broadcast; if the run fails (the database stayed away through a step that
        does not wait for it, a bug), resumes it from what the database kept, with backoff."""
        delay = RESTART_FIRST
        while True:
            try:
                await (run if run is not None else self.engine.resume_running())  # None: nothing was running
                return
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - said to the log; the broadcast goes on after a pause
                log.exception("The broadcast stopped with an error; resuming it in %.0f s", delay)
            run = None
            await asyncio.sleep(delay)
            delay = min(delay * 2, RESTART_MAX)

    async def _show(self, progress: Progress) -> None:
        """Edit the progress message; the final report reaches the owner even when that
        message or its record is gone (then as a new message)."""
        text = escape_html(progress_text(progress))
        markup = None if progress.finished else cancel_keyboard()
        key = _PROGRESS_KEY + progress.broadcast_id
        try:
            where = await self._ctx.db.settings.get(key)
        except Exception as error:  # noqa: BLE001
            if not progress.finished:
                raise
            log.warning("Broadcast %s: where its progress message is is unknown (%r); reporting anew",
                        progress.broadcast_id, error)
            where = None
        if where is not None:
            try:
                await edit_now(self._client, where["chat_id"], where["message_id"], text, markup=markup)
                return  # an edit that changes nothing is fine too (edit_now() returns None)
            except Exception as error:  # noqa: BLE001 - deleted by the owner, say
                if not progress.finished:
                    raise
                log.warning("Broadcast %s: could not edit its progress message (%r); reporting anew",
                            progress.broadcast_id, error)
        if progress.owner_chat_id is None:
            return
        sent = await self._client.send_message(progress.owner_chat_id, text, reply_markup=markup)
        if where is None and not progress.finished:
            await self._ctx.db.settings.set(key, {"chat_id": sent.chat.id, "message_id": sent.id})


def register(client, ctx: BotContext) -> None:
    desk = BroadcastDesk(client, ctx)
    ctx.broadcasts = desk.engine
    ctx.on_started.append(desk.resume)
    ctx.on_stopping.append(desk.stop)
    on_owner_command(client, ctx, "broadcast", desk.on_broadcast)
    on_owner_button(client, ctx, CANCEL, desk.on_cancel_button)
