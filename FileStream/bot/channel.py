"""A file posted in AUTH_CHANNEL is stored and its post gets link buttons; every other post is ignored."""

from __future__ import annotations

import logging

from pyrogram import filters
from pyrogram.errors import ChatAdminRequired, ChatWriteForbidden, MessageAuthorRequired

from FileStream.bot import bundles, keyboards
from FileStream.bot.context import BotContext
from FileStream.bot.routing import on_message
from FileStream.core.deep_links import SEND_FILE, SEND_LINKS, make_payload
from FileStream.services.intake import IntakeError

log = logging.getLogger(__name__)

FILE_POSTS = filters.channel & (
    filters.document | filters.video | filters.audio | filters.voice | filters.animation | filters.photo
    | filters.video_note | filters.sticker
)

# What Telegram answers a bot that may not edit others' posts there.
_NO_EDIT_RIGHT = (MessageAuthorRequired, ChatAdminRequired, ChatWriteForbidden)
try:  # kurigram also has a 403 form of CHAT_ADMIN_REQUIRED; pyrogram 2.0 does not
    from pyrogram.errors import ChatAdminRequired403

    _NO_EDIT_RIGHT += (ChatAdminRequired403,)
except ImportError:  # pragma: no cover - depends on the client library
    pass


class ChannelPosts:
    """Stores AUTH_CHANNEL's file posts and puts link buttons on them.

    Without the right to edit others' posts the files are still stored (reachable by the
    deep link a person gets from /start) and the posts stay as they are; that is said once,
    not for every post, and said again only after the right came back and went again.
    """

    def __init__(self, ctx: BotContext) -> None:
        self.ctx = ctx
        self.edit_refused = False

    async def on_file(self, ctx: BotContext, client, post) -> None:
        album = post.media_group_id is not None and ctx.bundles is not None
        if not album:
            # Noted before any work: a stop from here on leaves the note, and the next start
            # handles the post again (an album's bundle is its own note: bot/bundles.py).
            try:
                await ctx.db.posts_in_hand.take(post.chat.id, post.id, instance=ctx.instance, now=ctx.clock())
            except Exception as error:  # noqa: BLE001 - handled all the same, only not again after a crash
                log.warning("Could not note post %s in AUTH_CHANNEL as in hand (a crash now would lose it): %r",
                            post.id, error)
        # Storing waits for the channel's turn in the storage channel, and the post's edit for
        # the channel's pace (20 a minute): in a task of the bot context, so this update
        # worker is free at once for everyone else.
        ctx.spawn(self._handle(ctx, client, post, album), f"AUTH_CHANNEL post {post.id}")

    async def _handle(self, ctx: BotContext, client, post, album: bool) -> None:
        if album:
            await bundles.on_channel_album(
                ctx, client, post, lambda member, record, links: self.add_buttons(client, member, record, links))
            return
        # Done with the post however it ended (buttons, or words in the log); a shutdown that
        # cancels this leaves the note for the next start.
        await self._store_and_mark(ctx, client, post)
        try:
            await ctx.db.posts_in_hand.done(post.chat.id, post.id)
        except Exception as error:  # noqa: BLE001 - the note expires by itself; a restart would look again
            log.warning("Could not note post %s in AUTH_CHANNEL as handled: %r", post.id, error)

    async def _store_and_mark(self, ctx: BotContext, client, post) -> None:
        where = f"post {post.id} in AUTH_CHANNEL {post.chat.id}"
        try:
            record = await ctx.intake.take(post, owner_id=None, source="channel",
                                           ttl_seconds=ctx.settings.channel_file_ttl, shareable=True)
        except IntakeError as error:
            log.warning("Could not store the file of %s: %s", where, error.reason)
            return
        except Exception:  # noqa: BLE001 - never answered in the channel itself
            log.exception("Could not store the file of %s", where)
            return
        await self.add_buttons(client, post, record)

    async def add_buttons(self, client, post, record, bundle_links=None) -> None:
        """The post's link buttons (and, for a post of an album, one to the whole album)."""
        ctx = self.ctx
        where = f"post {post.id} in AUTH_CHANNEL {post.chat.id}"
        show_links = ctx.settings.generate_download_links and ctx.link_buttons
        markup = keyboards.channel_post_keyboard(
            ctx.links.links(record) if show_links else None,
            bot_link=ctx.deep_link(make_payload(SEND_LINKS, record.deep_link_key)),
            file_link=ctx.deep_link(make_payload(SEND_FILE, record.deep_link_key)),
            bundle=bundle_links if ctx.link_buttons else None)
        try:
            await client.edit_message_reply_markup(post.chat.id, post.id, reply_markup=markup)
        except _NO_EDIT_RIGHT as error:
            self._refused(record.ref, where, error)
            return
        except Exception as error:  # noqa: BLE001 - said in words; the file stays reachable by id
            log.warning("Stored file %s from %s but could not add its link buttons (%s). Make the bot an admin "
                        "of the channel with the right to edit messages of others.", record.ref, where, error)
            return
        if self.edit_refused:
            self.edit_refused = False
            log.info("The bot may edit posts in AUTH_CHANNEL %s again; new posts get link buttons", post.chat.id)
        log.info("File %s from %s stored; link buttons added", record.ref, where)

    def _refused(self, file_ref: str, where: str, error: Exception) -> None:
        if self.edit_refused:
            log.info("Stored file %s from %s; its post stays without link buttons (no edit right)", file_ref, where)
            return
        self.edit_refused = True
        log.warning("The bot may not edit posts in AUTH_CHANNEL (%s): files posted there are stored, but their "
                    "posts stay without link buttons. Give the bot the right to edit messages of others there. "
                    "(First seen on %s, stored as file %s.)", getattr(error, "ID", None) or error, where, file_ref)


def register(client, ctx: BotContext) -> None:
    if ctx.settings.auth_channel is None:
        return
    posts = ctx.channel_posts = ChannelPosts(ctx)
    on_message(client, ctx, posts.on_file, FILE_POSTS & filters.chat(ctx.settings.auth_channel))
