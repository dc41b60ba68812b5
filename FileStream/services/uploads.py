"""Uploading a file from the server's UPLOAD_DIR into BIN_CHANNEL: opened once and safely, progress, a record."""

from __future__ import annotations

import errno
import logging
import os
import posixpath
import stat
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

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


# Paths are echoed back in answers; Telegram takes messages up to 4096 characters.
SHOWN_PATH_MAX = 200
# Directories on the way are opened, never followed if they are links; the file too, and
# without blocking on a FIFO that nobody writes to (fstat then says it is no regular file).
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_OUTSIDE = ("That path leads outside the upload folder, so I will not upload it. "
            "Only files inside UPLOAD_DIR can be uploaded.")


@dataclass
class UploadFile:
    """A file of the upload folder, opened once: what is uploaded is what was checked.

    Nothing is looked up by name again, so a name swapped for a link (or another file)
    after the check changes nothing; a file removed meanwhile is still read to the end.
    """

    file: BinaryIO
    name: str    # the file's own name, as Telegram gets it
    size: int

    def close(self) -> None:
        self.file.close()

    def __enter__(self) -> UploadFile:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def shown(path: str) -> str:
    """A path as the owner's answers show it: one line, at most SHOWN_PATH_MAX characters."""
    text = " ".join(path.split())
    return text if len(text) <= SHOWN_PATH_MAX else text[: SHOWN_PATH_MAX - 1] + "…"


def open_upload(upload_dir: Path, requested: str) -> UploadFile:
    """Open the regular file `requested` names inside `upload_dir`, or raise UploadRefused.

    The path is walked one name at a time from the folder (openat), refusing `..` above
    the folder and every symbolic link on the way, so nothing outside can be reached.
    `upload_dir` itself may be a link: that is the operator's choice, not the owner's.
    """
    parts = _inside_parts(upload_dir, requested.strip())
    if not parts:
        raise UploadRefused("Say which file: /upload <path inside the upload folder>.")
    name = parts[-1]
    what = shown("/".join(parts))
    try:
        folder = os.open(upload_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except FileNotFoundError:
        raise UploadRefused(f"The upload folder {shown(str(upload_dir))} does not exist on the server.") from None
    except OSError as error:  # not a folder, no permission: the operator's to fix (UPLOAD_DIR)
        raise UploadRefused(f"The upload folder {shown(str(upload_dir))} cannot be opened on the server "
                            f"({error.strerror}); check UPLOAD_DIR.") from None
    fd = -1
    try:
        for index, part in enumerate(parts):
            last = index == len(parts) - 1
            try:
                opened = os.open(part, _FILE_FLAGS if last else _DIR_FLAGS, dir_fd=folder)
            except (OSError, ValueError) as error:
                raise _refusal(error, folder, part, what) from None
            if last:
                fd = opened
            else:
                os.close(folder)
                folder = opened
        facts = os.fstat(fd)
        _check_opened(fd, facts, upload_dir, what)
        file = os.fdopen(fd, "rb")
    except BaseException:
        if fd >= 0:
            os.close(fd)
        raise
    finally:
        os.close(folder)
    file.raw.name = name  # the client library names the upload after it
    return UploadFile(file=file, name=name, size=facts.st_size)


def _inside_parts(upload_dir: Path, requested: str) -> list[str]:
    """The names from the folder down to the file; UploadRefused for paths that leave it."""
    if "\x00" in requested:
        raise UploadRefused("That path is not valid.")
    if posixpath.isabs(requested):
        # An absolute path is fine when it names something inside the folder.
        for root in (str(upload_dir), os.path.realpath(upload_dir)):
            relative = posixpath.relpath(posixpath.normpath(requested), posixpath.normpath(root))
            if relative != ".." and not relative.startswith("../"):
                requested = relative
                break
        else:
            raise UploadRefused(_OUTSIDE)
    normal = posixpath.normpath(requested) if requested else ""
    if normal == ".." or normal.startswith("../"):
        raise UploadRefused(_OUTSIDE)
    return [part for part in normal.split("/") if part not in ("", ".")]


def _refusal(error: Exception, folder: int, part: str, what: str) -> UploadRefused:
    if isinstance(error, ValueError):  # a NUL byte, or a name the file system cannot encode
        return UploadRefused("That path is not valid.")
    code = error.errno
    if code == errno.ENAMETOOLONG:
        return UploadRefused("That name is too long for the server's file system.")
    if code in (errno.ELOOP, errno.ENOTDIR, errno.EMLINK) and _is_link(folder, part):
        return UploadRefused(f"{shown(part)} is a link; I only upload files that are really inside the "
                             "upload folder, never through links.")
    if code in (errno.ENOENT, errno.ENOTDIR):
        return UploadRefused(f"There is no file called {what} in the upload folder.")
    if code in (errno.EACCES, errno.EPERM):
        return UploadRefused(f"The server may not read {what} (permission denied).")
    return UploadRefused(f"{what} cannot be opened: {error.strerror or type(error).__name__}.")


def _is_link(folder: int, part: str) -> bool:
    try:
        return stat.S_ISLNK(os.stat(part, dir_fd=folder, follow_symlinks=False).st_mode)
    except (OSError, ValueError):
        return False


def _check_opened(fd: int, facts: os.stat_result, upload_dir: Path, what: str) -> None:
    """The file opened is a regular file, inside the folder, that Telegram will take."""
    if stat.S_ISDIR(facts.st_mode):
        raise UploadRefused(f"{what} is a folder, not a file.")
    if not stat.S_ISREG(facts.st_mode):
        raise UploadRefused(f"{what} is not a regular file.")
    # The walk already kept inside; where the kernel says the open file is confirms it.
    where = _path_of(fd)
    if where is not None and not where.is_relative_to(upload_dir.resolve()):
        raise UploadRefused(_OUTSIDE)
    if facts.st_size == 0:
        raise UploadRefused(f"{what} is empty; Telegram does not take empty files.")
    if facts.st_size > MAX_UPLOAD_BYTES:
        raise UploadRefused(f"{what} is {human_size(facts.st_size)}; Telegram takes files up to 2000 MiB.")


def _path_of(fd: int) -> Path | None:
    """The path the kernel has for an open file (Linux /proc); None where there is no /proc."""
    try:
        return Path(os.readlink(f"/proc/self/fd/{fd}"))
    except OSError:
        return None


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

    async def upload(self, upload: UploadFile, *, owner_id: int,
                     progress: Callable[[int, int], Awaitable[None]] | None = None) -> StoredFile:
        """Raises IntakeError (with words) when the record could not be made; other errors as they come."""
        sent = await self._client.send_document(self._bin_channel, upload.file, file_name=upload.name,
                                                force_document=True, progress=progress)
        try:
            return await self._intake.take(sent, owner_id=owner_id, source="upload", ttl_seconds=self._ttl_seconds)
        finally:
            try:
                await self._client.delete_messages(self._bin_channel, sent.id)
            except Exception as error:  # noqa: BLE001 - a leftover message in the channel is harmless
                log.warning("Could not remove the uploaded message %s from BIN_CHANNEL: %s", sent.id, error)
