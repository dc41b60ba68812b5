"""/upload <path>: the owner puts a file from the server's UPLOAD_DIR into storage and gets its links."""

from __future__ import annotations

import logging

from FileStream.bot.context import BotContext
from FileStream.bot.owner.guard import argument, on_owner_command
from FileStream.bot.replies import answer, edit, file_links
from FileStream.core.formatting import escape_html, human_size
from FileStream.services.intake import IntakeError
from FileStream.services.uploads import (ProgressMeter, UploadFile, UploadRefused, Uploader, open_upload, progress_text,
                                         shown)

log = logging.getLogger(__name__)

UPLOADS_OFF = "Uploads from the server are off: set UPLOAD_DIR to the folder whose files I may upload."
USAGE = "Usage: /upload &lt;path&gt;, a file inside the upload folder (UPLOAD_DIR)."


async def on_upload(ctx: BotContext, client, message) -> None:
    upload_dir = ctx.settings.upload_dir
    if upload_dir is None:
        await answer(client, message, UPLOADS_OFF)
        return
    requested = argument(message)
    if not requested:
        await answer(client, message, USAGE)
        return
    try:
        upload = open_upload(upload_dir, requested)
    except UploadRefused as refusal:
        await answer(client, message, escape_html(refusal.reason))
        return
    with upload:
        await _send(ctx, client, message, upload)


async def _send(ctx: BotContext, client, message, upload: UploadFile) -> None:
    name = shown(upload.name)
    # The owner's own status message, edited as the upload goes: its id is needed, so wait for it.
    status = await (await answer(client, message, f"Uploading {escape_html(name)} ({human_size(upload.size)})…")).message()
    if status is None:
        raise RuntimeError("the upload's status message could not be sent")
    meter = ProgressMeter()

    async def show_progress(done: int, total: int) -> None:
        report = meter.update(done, total)
        if report is None:
            return
        try:
            await edit(client, status.chat.id, status.id, escape_html(progress_text(name, report)))
        except Exception as error:  # noqa: BLE001 - a missed progress edit must not stop the upload
            log.warning("Upload progress edit failed: %s", error)

    uploader = Uploader(client, ctx.intake, ctx.settings.bin_channel, ttl_seconds=ctx.settings.channel_file_ttl)
    try:
        record = await uploader.upload(upload, owner_id=message.from_user.id, progress=show_progress)
    except IntakeError as error:
        await edit(client, status.chat.id, status.id, f"Upload of {escape_html(name)} failed: "
                                                      f"{escape_html(error.reason)}")
        return
    except Exception as error:  # noqa: BLE001 - the owner gets words, the log the traceback
        log.exception("Uploading %s failed", upload.name)
        await edit(client, status.chat.id, status.id, f"Upload of {escape_html(name)} failed: "
                                                      f"{escape_html(str(error) or type(error).__name__)}")
        return
    log.info("Owner %s uploaded %s as file %s", message.from_user.id, upload.name, record.ref)
    text, markup = file_links(ctx, record)
    await edit(client, status.chat.id, status.id, text, markup=markup)


def register(client, ctx: BotContext) -> None:
    on_owner_command(client, ctx, "upload", on_upload)
