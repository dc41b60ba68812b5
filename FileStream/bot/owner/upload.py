"""/upload <path>: the owner puts a file from the server's UPLOAD_DIR into storage and gets its links."""

from __future__ import annotations

import logging

from FileStream.bot.context import BotContext
from FileStream.bot.owner.guard import argument, on_owner_command
from FileStream.bot.replies import answer, edit, file_links
from FileStream.core.formatting import escape_html, human_size
from FileStream.services.intake import IntakeError
from FileStream.services.uploads import ProgressMeter, UploadRefused, Uploader, progress_text, resolve_upload_path

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
        path = resolve_upload_path(upload_dir, requested)
    except UploadRefused as refusal:
        await answer(client, message, escape_html(refusal.reason))
        return

    size = path.stat().st_size
    status = await answer(client, message, f"Uploading {escape_html(path.name)} ({human_size(size)})…")
    meter = ProgressMeter()

    async def show_progress(done: int, total: int) -> None:
        report = meter.update(done, total)
        if report is None:
            return
        try:
            await edit(client, status.chat.id, status.id, escape_html(progress_text(path.name, report)))
        except Exception as error:  # noqa: BLE001 - a missed progress edit must not stop the upload
            log.warning("Upload progress edit failed: %s", error)

    uploader = Uploader(client, ctx.intake, ctx.settings.bin_channel, ttl_seconds=ctx.settings.channel_file_ttl)
    try:
        record = await uploader.upload(path, owner_id=message.from_user.id, progress=show_progress)
    except IntakeError as error:
        await edit(client, status.chat.id, status.id, f"Upload of {escape_html(path.name)} failed: "
                                                      f"{escape_html(error.reason)}")
        return
    except Exception as error:  # noqa: BLE001 - the owner gets words, the log the traceback
        log.exception("Uploading %s failed", path)
        await edit(client, status.chat.id, status.id, f"Upload of {escape_html(path.name)} failed: "
                                                      f"{escape_html(str(error) or type(error).__name__)}")
        return
    log.info("Owner %s uploaded %s as file %s", message.from_user.id, path, record.ref)
    text, markup = file_links(ctx, record)
    await edit(client, status.chat.id, status.id, text, markup=markup)


def register(client, ctx: BotContext) -> None:
    on_owner_command(client, ctx, "upload", on_upload)
