"""Who gets through to the handlers: a person sending faster than INCOMING_BURST / INCOMING_PER_MINUTE
is ignored (told once) until they slow down; with ALLOWED_USERS only the people on the list
(owners always; strangers get one answer and nothing of theirs is kept); everyone is recorded,
banned people are told once and then ignored, and with FORCE_SUB_CHANNEL only members of that
channel (owners always) get through.
When the database cannot say whether someone is banned, nobody gets through (fail closed).

The gate runs in its own group before every handler and stops the update only when it
refuses it, so it is written once here instead of in every handler.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from pyrogram import StopPropagation, filters
from pyrogram.enums import ChatMemberStatus
from pyrogram.errors import UserNotParticipant
from pyrogram.handlers import CallbackQueryHandler, MessageHandler

from FileStream.bot import keyboards, texts
from FileStream.bot.context import BotContext
from FileStream.bot.replies import CHATTER, answer, edit, send
from FileStream.bot.routing import tell
from FileStream.core.incoming import IncomingLimiter, Verdict
from FileStream.core.throttle import MICROSECONDS

log = logging.getLogger(__name__)

GATE_GROUP = -10
# A member who leaves keeps access this long at most; a refusal is re-asked on "I joined".
MEMBERSHIP_TTL = timedelta(seconds=60)
MEMBERSHIP_CACHE_MAX = 10_000
BAN_NOTICE_KEPT = timedelta(days=30)
_OUTSIDE = (ChatMemberStatus.LEFT, ChatMemberStatus.BANNED)
# What the files bucket counts (the rest are messages); the file handlers take the same kinds.
_FILE_KINDS = ("document", "video", "audio", "voice", "animation", "photo", "video_note", "sticker")


class Membership:
    """Asks Telegram whether someone is in the channel, and remembers answers briefly."""

    def __init__(self, client, channel: int | str, clock, ttl: timedelta = MEMBERSHIP_TTL) -> None:
        self._client = client
        self.channel = channel
        self._clock = clock
        self._ttl = ttl
        self._answers: dict[int, tuple[bool, datetime]] = {}
        self._join_url: str | None = None

    async def is_member(self, user_id: int, *, fresh: bool = False) -> bool:
        now = self._clock()
        known = self._answers.get(user_id)
        if known is not None and not fresh and now - known[1] < self._ttl:
            return known[0]
        try:
            member = await self._client.get_chat_member(self.channel, user_id)
            inside = member.status not in _OUTSIDE
        except UserNotParticipant:
            inside = False
        except Exception as error:  # noqa: BLE001 - a setup problem must not lock everyone out
            log.warning("Cannot check membership of %s in FORCE_SUB_CHANNEL %s (%s); letting them through. "
                        "Is the bot an admin there?", user_id, self.channel, error)
            return True
        self._remember(user_id, inside, now)
        return inside

    def _remember(self, user_id: int, inside: bool, now: datetime) -> None:
        if len(self._answers) >= MEMBERSHIP_CACHE_MAX:
            self._answers = {k: v for k, v in self._answers.items() if now - v[1] < self._ttl}
            if len(self._answers) >= MEMBERSHIP_CACHE_MAX:
                self._answers.clear()
        self._answers[user_id] = (inside, now)

    async def join_url(self) -> str | None:
        if self._join_url is None:
            self._join_url = await self._find_join_url()
        return self._join_url

    async def _find_join_url(self) -> str | None:
        if isinstance(self.channel, str):
            return f"https://t.me/{self.channel.lstrip('@')}"
        try:
            chat = await self._client.get_chat(self.channel)
            if chat.username:
                return f"https://t.me/{chat.username}"
            if chat.invite_link:
                return chat.invite_link
            return await self._client.export_chat_invite_link(self.channel)
        except Exception as error:  # noqa: BLE001 - the retry button still works without it
            log.warning("No join link for FORCE_SUB_CHANNEL %s (%s); people get only the retry button",
                        self.channel, error)
            return None


class BanUnknown(Exception):
    """The database could not say whether the person is banned (the cause is attached)."""


class Gate:
    def __init__(self, ctx: BotContext, membership: Membership | None, limiter: IncomingLimiter | None = None,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.ctx = ctx
        self.membership = membership
        self.limiter = limiter
        self._monotonic = monotonic

    async def on_message(self, client, message) -> None:
        person = message.from_user
        if person is None:
            return
        # First, before any database work: an ignored update costs next to nothing.
        is_file = any(getattr(message, kind, None) is not None for kind in _FILE_KINDS)
        verdict = self._judge(person.id, is_file)
        if verdict is not Verdict.PASS:
            if verdict is Verdict.IGNORE_AND_TELL:
                client.outbox.notice(message.chat.id)
            raise StopPropagation
        if not await self._on_the_list(person):
            await answer(client, message, texts.PRIVATE_BOT, kind=CHATTER)
            raise StopPropagation
        await self._record(person)
        if await self._banned(client, person.id, message.chat.id):
            raise StopPropagation
        if not await self._may_pass(person.id):
            await answer(client, message, texts.JOIN_FIRST, kind=CHATTER,
                         markup=keyboards.join_keyboard(await self.membership.join_url()))
            raise StopPropagation

    async def on_callback(self, client, query) -> None:
        person = query.from_user
        verdict = self._judge(person.id, False)
        if verdict is not Verdict.PASS:
            if verdict is Verdict.IGNORE_AND_TELL:
                await query.answer(texts.SENDING_TOO_FAST, show_alert=True)
            raise StopPropagation
        if not await self._on_the_list(person):
            await query.answer(texts.PRIVATE_BOT, show_alert=True)
            raise StopPropagation
        await self._record(person)
        if await self._banned(client, person.id, person.id):
            await query.answer(texts.BANNED, show_alert=True)
            raise StopPropagation
        if query.data == keyboards.JOIN_RETRY and self.membership is not None:
            await self._retry(client, query)
            raise StopPropagation
        if not await self._may_pass(person.id):
            await query.answer(texts.JOIN_STILL_MISSING, show_alert=True)
            raise StopPropagation

    def _judge(self, user_id: int, is_file: bool) -> Verdict:
        if self.limiter is None or self.ctx.is_owner(user_id):
            return Verdict.PASS
        verdict = self.limiter.judge(user_id, int(self._monotonic() * MICROSECONDS), is_file=is_file)
        if verdict is Verdict.IGNORE_AND_TELL:
            log.info("%s sends faster than INCOMING_BURST / INCOMING_PER_MINUTE allow; ignoring them until they "
                     "slow down", user_id)
        return verdict

    async def _retry(self, client, query) -> None:
        if not await self.membership.is_member(query.from_user.id, fresh=True):
            await query.answer(texts.JOIN_STILL_MISSING, show_alert=True)
            return
        await query.answer()
        await edit(client, query.message.chat.id, query.message.id, texts.JOINED)

    async def _may_pass(self, user_id: int) -> bool:
        if self.membership is None or self.ctx.is_owner(user_id):
            return True
        return await self.membership.is_member(user_id)

    async def _on_the_list(self, person) -> bool:
        """A private bot (ALLOWED_USERS set) lets through owners and the people on its list.

        Asked of the database on every update, so /allow and /disallow hold at once on every
        instance; a database that does not answer refuses (the caller says so in words).
        """
        if not self.ctx.settings.allowed_users or self.ctx.is_owner(person.id):
            return True
        try:
            return await self.ctx.db.allowed.is_allowed(person.id, person.username)
        except Exception as error:  # noqa: BLE001 - as for bans: nobody passes unchecked, told in words
            raise BanUnknown() from error

    async def _record(self, person) -> None:
        try:
            await self.ctx.db.users.touch(person.id, person.first_name, person.username, self.ctx.clock(),
                                          language_code=person.language_code)
        except Exception as error:  # noqa: BLE001 - recording must not stop the conversation
            log.warning("Could not record user %s: %s", person.id, error)

    async def _banned(self, client, user_id: int, chat_id: int) -> bool:
        """True for a banned person; the first time after their ban they are told so.

        Raises BanUnknown when the database does not answer: nobody gets through unchecked.
        """
        users = self.ctx.db.users
        try:
            user = await users.get(user_id) if await users.is_banned(user_id) else None
        except Exception as error:  # noqa: BLE001 - said by the caller, in words
            raise BanUnknown() from error
        if user is None or not user.banned:
            return False
        # A once-only mark in the database: holds across restarts and instances, and a
        # new ban (after an unban) gets its own notice.
        mark = f"ban_notice:{user_id}:{int(user.banned_at.timestamp() * 1000)}"
        now = self.ctx.clock()
        try:
            # One mark per ban grows with every person ever banned: it goes after BAN_NOTICE_KEPT
            # (someone still writing to the bot then is told once more).
            if await self.ctx.db.settings.add(mark, now, expires_at=now + BAN_NOTICE_KEPT):
                await send(client, chat_id, texts.BANNED)
        except Exception as error:  # noqa: BLE001 - they may have blocked the bot; still banned
            log.info("Could not tell banned user %s: %s", user_id, error)
        return True


def _fail_closed(check):
    """Nothing gets past a gate that could not decide: a database that does not answer (or any
    other failure of the check) stops the update, and the person is asked to try again shortly."""
    async def run(client, update) -> None:
        try:
            await check(client, update)
        except StopPropagation:
            raise
        except BanUnknown as error:
            log.warning("Cannot tell whether %s is banned (%r); they were asked to try again",
                        update.from_user.id, error.__cause__)
            await tell(client, update, texts.TRY_AGAIN_SHORTLY)
            raise StopPropagation from None
        except Exception:  # noqa: BLE001 - a bug in the gate: the log gets the traceback
            log.exception("The access check failed; the update was not processed")
            await tell(client, update, texts.TRY_AGAIN_SHORTLY)
            raise StopPropagation from None
    run.__name__ = check.__name__
    return run


def register(client, ctx: BotContext) -> None:
    channel = ctx.settings.force_sub_channel
    settings = ctx.settings
    # Files may come a whole bundle at once (a forward of its files); then at the same pace.
    limiter = IncomingLimiter(settings.incoming_per_minute, settings.incoming_burst,
                              files_burst=max(settings.incoming_burst, settings.bundle_max_files))
    gate = Gate(ctx, Membership(client, channel, ctx.clock) if channel else None, limiter)
    client.add_handler(MessageHandler(_fail_closed(gate.on_message), filters.private), GATE_GROUP)
    client.add_handler(CallbackQueryHandler(_fail_closed(gate.on_callback)), GATE_GROUP)
