"""A file posted in AUTH_CHANNEL is stored and its post gets link buttons; every other post is ignored."""

from __future__ import annotations

import logging

from pyrogram import filters

from FileStream.bot import bundles, keyboards
from FileStream.bot.context import BotContext
from FileStream.bot.routing import on_message
from FileStream.core.deep_links import SEND_FILE, SEND_LINKS, make_payload
from FileStream.services.intake import IntakeError

log = logging.getLogger(__name__)

FILE_POSTS = filters.channel & (
    filters.document | filters.video | filters.audio | filters.voice | filters.animation | filters.photo
    | filters.video_note
)


async def on_channel_file(ctx: BotContext, client, post) -> None:
    if post.media_group_id is not None and ctx.bundles is not None:
        await bundles.on_channel_album(ctx, client, post, lambda p, record, links: _add_buttons(ctx, client, p, record, links))
        return
    where = f"post {post.id} in AUTH_CHANNEL {post.chat.id}"
    try:
        record = await ctx.intake.take(post, owner_id=None, source="channel", ttl_seconds=ctx.settings.channel_file_ttl,
                                       shareable=True)
    except IntakeError as error:
        log.warning("Could not store the file of %s: %s", where, error.reason)
        return
    except Exception:  # noqa: BLE001 - never answered in the channel itself
        log.exception("Could not store the file of %s", where)
        return
    await _add_buttons(ctx, client, post, record)


async def _add_buttons(ctx: BotContext, client, post, record, bundle_links=None) -> None:
    """The post's link buttons (and, for a post of an album, one to the whole album)."""
    where = f"post {post.id} in AUTH_CHANNEL {post.chat.id}"
    links = ctx.links.links(record) if ctx.settings.generate_download_links else None
    markup = keyboards.channel_post_keyboard(
        links, bot_link=ctx.deep_link(make_payload(SEND_LINKS, record.deep_link_key)),
        file_link=ctx.deep_link(make_payload(SEND_FILE, record.deep_link_key)), bundle=bundle_links)
    try:
        await client.edit_message_reply_markup(post.chat.id, post.id, reply_markup=markup)
    except Exception as error:  # noqa: BLE001 - said once, in words; the file stays reachable by id
        log.warning("Stored file %s from %s but could not add its link buttons (%s). "
                    "Make the bot an admin of the channel with the right to edit posts.", record.ref, where, error)
        return
    log.info("File %s from %s stored; link buttons added", record.ref, where)


def register(client, ctx: BotContext) -> None:
    if ctx.settings.auth_channel is None:
        return
    on_message(client, ctx, on_channel_file, FILE_POSTS & filters.chat(ctx.settings.auth_channel))
