"""After a restart: what a stopped process (kill -9 included) took in hand and never finished is finished now.

Telegram's update state moves past an update as soon as it arrives, so an update whose
handling a stop cut short never comes again by itself, and a reply waits in memory
(telegram/outbox.py) until its chat's turn. What was in hand is in MongoDB, each written
with work the service does anyway (one extra write only for an AUTH_CHANNEL post):

- a person's file or album being stored: its request names the message it answers; the
  stale-request job releases it at start and the message is handed to the handlers again
  (telegram/updates.py `redeliver`), so the person gets their links instead of "send again";
- an album whose bundle was never closed: its stored files are taken away and the album is
  handled again (in the auth channel too);
- an AUTH_CHANNEL post: its note in posts_in_hand, until the post got its buttons;
- an AUTH_CHANNEL album closed while its posts were getting their buttons: its note on the
  bundle (`buttons_by`); the posts still without buttons get them;
- a request completed, or a person's bundle closed, whose links were never recorded as
  sent: the links are sent.

Each is taken by one instance only (an atomic release, delete or claim in MongoDB), at most
REPLAY_LIMIT a start, in turns per person like everything else. A file handled again whose
record was written before the stop is not stored again: the intake reuses that record
(services/intake.py), so the person gets its links and a post its buttons.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta

from FileStream.bot.bundles import bundle_links_message
from FileStream.bot.context import BotContext
from FileStream.bot.replies import file_links, send
from FileStream.core.turns import Turns

log = logging.getLogger(__name__)

# Work older than this is not looked at: its people have long moved on (or sent again).
LOOKBACK = timedelta(days=1)
# At most this many pieces of unfinished work are taken up at one start.
REPLAY_LIMIT = 1000

Step = Callable[[], Awaitable[object]]


class Unfinished:
    """What a stopped process left, gathered per person (or channel) and taken up in turns."""

    def __init__(self, ctx: BotContext, client) -> None:
        self.ctx = ctx
        self.client = client
        self.turns: Turns[tuple[str, int], tuple[str, Step]] = Turns()
        # Released requests (by id) nobody has taken up yet: told "send again" at the end.
        self.untold: dict[str, dict] = {}
        self.done: dict[str, int] = {}

    def add(self, who: tuple[str, int], what: str, step: Step) -> None:
        self.turns.push(who, (what, step))

    async def gather(self) -> None:
        ctx = self.ctx
        now = ctx.clock()
        lookback = min(LOOKBACK, timedelta(seconds=ctx.settings.file_ttl)) if ctx.settings.file_ttl else LOOKBACK
        since, before = now - lookback, ctx.started_at
        self.untold = {doc["id"]: doc for doc in ctx.left_behind}
        for doc in ctx.left_behind:
            if doc.get("bundle_id") is None and doc.get("message_id") is not None:
                self.add(("person", doc["user_id"]), "files handled again",
                         lambda doc=doc: self._file_again(doc))
        await self._gather(ctx.db.bundles.unfinished_albums(since, before, REPLAY_LIMIT), self._album)
        await self._gather(ctx.db.posts_in_hand.left_behind(ctx.instance, since, REPLAY_LIMIT), self._post)
        if ctx.channel_posts is not None:
            await self._gather(ctx.db.bundles.buttons_left_behind(ctx.instance, since, REPLAY_LIMIT),
                               self._album_buttons)
        await self._gather(ctx.requests.store.completed_files_between(since, before), self._file_links)
        await self._gather(ctx.db.bundles.closed_without_links(since, before, REPLAY_LIMIT), self._bundle_links)

    async def _gather(self, listing: Awaitable[list], add: Callable[[object], None]) -> None:
        try:
            found = await listing
        except Exception as error:  # noqa: BLE001 - the service runs on; the log says what was not checked
            log.warning("Could not look for work a stop left unfinished: %r", error)
            return
        for item in found:
            add(item)

    async def run(self) -> None:
        taken = 0
        while (turn := self.turns.pop()) is not None:
            if taken == REPLAY_LIMIT:
                log.warning("More work a stop left unfinished than is taken up at one start (%d): %d left",
                            REPLAY_LIMIT, len(self.turns) + 1)
                break
            _who, (what, step) = turn
            taken += 1
            try:
                if await step():
                    self.done[what] = self.done.get(what, 0) + 1
            except Exception as error:  # noqa: BLE001 - one piece less; the others still go
                log.warning("Could not finish %s left by a stop: %r", what, error)
        if self.untold:
            await self.ctx.tell_released(list(self.untold.values()))
        if self.done:
            log.info("Work a stop left unfinished, finished now: %s",
                     ", ".join(f"{count} {what}" for what, count in sorted(self.done.items())))

    # -- a person's file or album, an AUTH_CHANNEL post: handled again -------------------------

    async def _redeliver(self, chat_id: int, message_id: int, *, unless_marked: bool = False) -> bool:
        redeliver = getattr(self.client, "redeliver", None)   # only the client that takes updates has it
        return redeliver is not None and await redeliver(chat_id, message_id, unless_marked=unless_marked)

    async def _file_again(self, request: dict) -> bool:
        if not await self._redeliver(request["user_id"], request["message_id"]):
            return False   # deleted meanwhile: told "send again" at the end
        self.untold.pop(request["id"], None)
        if request.get("status_message_id") is not None:
            # It says "storing" since the process stopped; the file handled again answers anew.
            await self._delete(request["user_id"], request["status_message_id"])
        return True

    async def _delete(self, chat_id: int, message_id: int) -> None:
        try:
            await self.client.delete_messages(chat_id, message_id)
        except Exception as error:  # noqa: BLE001 - a stale status is untidy, not wrong
            log.info("Could not delete a status message a stop left: %r", error)

    def _album(self, doc: dict) -> None:
        chat_id = int(doc["group_key"].split(":", 1)[0])
        owner = doc.get("owner_id")
        who = ("person", owner) if owner is not None else ("chat", chat_id)
        self.add(who, "albums handled again", lambda: self._album_again(doc, chat_id))

    async def _album_again(self, doc: dict, chat_id: int) -> bool:
        request = next((r for r in self.untold.values() if r.get("bundle_id") == doc["_id"]), None)
        progress = await self.ctx.bundles.take_back_unfinished(doc)
        if progress is None:
            return False   # another instance took it
        if progress.status_message is not None:
            # Its count stopped with the process; the album's new status message replaces it.
            await self._delete(*progress.status_message)
        if not await self._redeliver(chat_id, doc["message_id"]):
            return False   # its first message is gone: the person (if any) is told at the end
        if request is not None:
            self.untold.pop(request["id"], None)
        return True

    def _post(self, note: dict) -> None:
        self.add(("chat", note["chat_id"]), "AUTH_CHANNEL posts handled again", lambda: self._post_again(note))

    async def _post_again(self, note: dict) -> bool:
        posts = self.ctx.db.posts_in_hand
        if not await posts.claim(note, self.ctx.instance):
            return False   # another instance took it
        if await self._redeliver(note["chat_id"], note["message_id"], unless_marked=True):
            return True    # its handler notes it done once the post has its buttons
        await posts.done(note["chat_id"], note["message_id"])   # deleted, or it got its buttons after all
        return False

    def _album_buttons(self, doc: dict) -> None:
        chat_id = int(doc["group_key"].split(":", 1)[0])
        self.add(("chat", chat_id), "albums' posts given buttons", lambda: self._give_album_buttons(doc, chat_id))

    async def _give_album_buttons(self, doc: dict, chat_id: int) -> bool:
        """The posts of a closed album that have no buttons yet get theirs (with the one to the
        whole album); posts that have them are left as they are, so each is edited once."""
        ctx = self.ctx
        if not await ctx.db.bundles.claim_buttons(doc, ctx.instance):
            return False   # another instance took it
        bundle = await ctx.db.bundles.get(doc["_id"])
        records = await ctx.db.files.get_many(list(bundle.file_ids)) if bundle is not None else {}
        given = 0
        if bundle is not None and not bundle.is_expired(ctx.clock()):
            bundle_links = ctx.links.bundle_links(bundle)
            by_post = {r.origin_message_id: r for r in records.values() if r.origin_message_id is not None}
            posts = await self.client.get_messages(chat_id, sorted(by_post)) if by_post else []
            for post in posts:
                if getattr(post, "empty", False) or post.reply_markup is not None or post.id not in by_post:
                    continue   # deleted, or it got its buttons before the stop
                await ctx.channel_posts.add_buttons(self.client, post, by_post[post.id], bundle_links)
                given += 1
        await ctx.db.bundles.buttons_given(doc["_id"])
        return given > 0

    # -- links that never went out -------------------------------------------------------------

    def _file_links(self, request: dict) -> None:
        self.add(("person", request["user_id"]), "files' links sent", lambda: self._send_file_links(request))

    async def _send_file_links(self, request: dict) -> bool:
        ctx, file_id = self.ctx, request["file_id"]
        record = await ctx.db.files.get_live(file_id, ctx.clock())
        if record is None or await ctx.db.files.link_message(file_id) is not None:
            return False

        async def remember(shown) -> None:
            await ctx.db.files.set_link_message(file_id, shown.chat.id, shown.id)
        text, markup = file_links(ctx, record)
        await send(self.client, request["user_id"], text, markup=markup, on_sent=remember)
        return True

    def _bundle_links(self, bundle) -> None:
        self.untold = {k: r for k, r in self.untold.items() if r.get("bundle_id") != bundle.id}
        self.add(("person", bundle.owner_id), "bundles' links sent", lambda: self._send_bundle_links(bundle))

    async def _send_bundle_links(self, bundle) -> bool:
        ctx = self.ctx
        if bundle.is_expired(ctx.clock()):
            return False

        async def remember(sent) -> None:
            await ctx.db.bundles.set_link_message(bundle.id, sent.chat.id, sent.id)
        text, markup = await bundle_links_message(ctx, bundle)
        await send(self.client, bundle.owner_id, text, markup=markup, on_sent=remember)
        return True


async def finish_what_was_in_hand(ctx: BotContext, client) -> dict[str, int]:
    """Take up everything a stopped process left unfinished; how many of each kind were finished."""
    unfinished = Unfinished(ctx, client)
    await unfinished.gather()
    await unfinished.run()
    return unfinished.done


def register(client, ctx: BotContext) -> None:
    async def on_started() -> None:
        await finish_what_was_in_hand(ctx, client)
    ctx.on_started.append(on_started)
