"""Uploading a file from the server's UPLOAD_DIR into BIN_CHANNEL: safe paths, progress, a record."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from FileStream.core.formatting import human_duration, human_size
from FileStream.core.models import StoredFile

log = logging.getLogger(__name__)

# Telegram takes files up to 2000 MiB from bots without Premium.
MAX_UPLOAD_BYTES = 2000 * 1024 * 1024
PROGRESS_EVERY = 2.0  # seconds between two progress edits, at most one in that time


class UploadRefused(Exception):
    """The path cannot be uploaded; `reason` says why in words the owner can act on."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def resolve_upload_path(upload_dir: Path, requested: str) -> Path:
    """The real file that `requested` names inside `upload_dir`, or UploadRefused.

    Resolved first (symlinks followed, `..` folded), then checked to lie inside the
    resolved folder, so neither `../x` nor a link pointing out escapes. The resolved
    path is what gets uploaded, so a link swapped afterwards changes nothing.
    """
    requested = requested.strip()
    if not requested:
        raise UploadRefused("Say which file: /upload <path inside the upload folder>.")
    if "\x00" in requested:
        raise UploadRefused("That path is not valid.")
    root = upload_dir.resolve()
    if not root.is_dir():
        raise UploadRefused(f"The upload folder {upload_dir} does not exist on the server.")
    target = (root / requested).resolve()
    if not target.is_relative_to(root):
        raise UploadRefused(
            "That path leads outside the upload folder, so I will not upload it. "
            "Only files inside UPLOAD_DIR can be uploaded.")
    if not target.exists():
        raise UploadRefused(f"There is no file called {requested} in the upload folder.")
    if not target.is_file():
        raise UploadRefused(f"{requested} is not a file.")
    size = target.stat().st_size
    if size == 0:
        raise UploadRefused(f"{requested} is empty; Telegram does not take empty files.")
    if size > MAX_UPLOAD_BYTES:
        raise UploadRefused(f"{requested} is {human_size(size)}; Telegram takes files up to 2000 MiB.")
    return target


@dataclass(frozen=True)
class UploadStatus:
    done: int
    total: int
    elapsed: float   # seconds since the upload started

    @property
    def percent(self) -> int:
        return 100 * self.done // self.total if self.total else 100

    @property
    def speed(self) -> float:
        """Bytes per second so far (0 before any time passed)."""
        return self.done / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def eta_seconds(self) -> float | None:
        return (self.total - self.done) / self.speed if self.speed > 0 else None


def progress_text(file_name: str, status: UploadStatus) -> str:
    """Plain text: `Uploading a.bin: 45% (4.5 MiB of 10.0 MiB), 3.2 MiB/s, about 2 s left`."""
    eta = status.eta_seconds
    left = "time left unknown" if eta is None else f"about {human_duration(eta)} left"
    return (f"Uploading {file_name}: {status.percent}% ({human_size(status.done)} of {human_size(status.total)}), "
            f"{human_size(int(status.speed))}/s, {left}")


class ProgressMeter:
    """Turns the client library's (current, total) calls into at most one report per `every` seconds.

    The first call reports at once; the final one (current == total) is left to the
    caller, who replaces the progress message with the result anyway.
    """

    def __init__(self, *, every: float = PROGRESS_EVERY, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._every = every
        self._monotonic = monotonic
        self._started = monotonic()
        self._next_at = self._started

    def update(self, done: int, total: int) -> UploadStatus | None:
        now = self._monotonic()
        if now < self._next_at or done >= total:
            return None
        self._next_at = now + self._every
        return UploadStatus(done, total, now - self._started)


class Uploader:
    """Uploads into BIN_CHANNEL and records the file the same way a person's file is recorded.

    The recording is left to FileIntake (copy into BIN_CHANNEL, read back by a backend,
    insert), so uploaded files are made exactly like the others; the uploaded message
    is removed afterwards, as the intake keeps its own copy.
    """

    def __init__(self, client, intake, bin_channel: int, *, ttl_seconds: int) -> None:
        self._client = client
        self._intake = intake
        self._bin_channel = bin_channel
        self._ttl_seconds = ttl_seconds

    async def upload(self, path: Path, *, owner_id: int,
                     progress: Callable[[int, int], Awaitable[None]] | None = None) -> StoredFile:
        """Raises IntakeError (with words) when the record could not be made; other errors as they come."""
        sent = await self._client.send_document(self._bin_channel, str(path), file_name=path.name,
                                                force_document=True, progress=progress)
        try:
            return await self._intake.take(sent, owner_id=owner_id, source="upload", ttl_seconds=self._ttl_seconds)
        finally:
            try:
                await self._client.delete_messages(self._bin_channel, sent.id)
            except Exception as error:  # noqa: BLE001 - a leftover message in the channel is harmless
                log.warning("Could not remove the uploaded message %s from BIN_CHANNEL: %s", sent.id, error)
