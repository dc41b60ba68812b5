"""Plays videos the browser cannot open as stored: probes them once, remuxes them to fragmented MP4
while streaming, and turns their text subtitles into WebVTT, each job in an FFmpeg child process.

The child reads the file from our own /stream link on loopback with HTTP Range requests
(the file is never on disk; a seek costs a few blocks): those reads go through the
streamer like any other stream, so the blocks they fetch count against the stream memory
budget, and they carry a per-process key so they are not counted as downloads a second
time (the /play bytes are).
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import shutil
from collections.abc import AsyncIterator, Callable
from contextlib import aclosing
from dataclasses import dataclass

from cachetools import LRUCache

from FileStream.core import media_index
from FileStream.core.media_probe import MediaInfo, audio_is_copied, parse_probe
from FileStream.core.models import StoredFile
from FileStream.core.shared_places import Decision, decide
from FileStream.core.subtitles import MAX_SUBTITLE_FILE_BYTES
from FileStream.i18n import N_
from FileStream.services.child_process import ChildFailed, ChildLimits, Reaper, run_child, stream_child

log = logging.getLogger(__name__)

INTERNAL_HEADER = "X-FileStream-Remux"
BUSY_RETRY_AFTER_SECONDS = 10
# The start of a Matroska file that holds its SeekHead (where the Cues are named).
_HEAD_BYTES = 64 << 10
# Wall time of the short jobs: a probe, a keyframe lookup; a subtitle track reads the file through.
PROBE_SECONDS = 30.0
SUBTITLE_SECONDS = 300.0
# How long a short job waits for a turn when all are taken, before the page goes on without it.
SHORT_JOB_WAIT_SECONDS = 15.0
# A probe or a lookup is a fraction of a second of CPU; a remux gets this much per second of
# video left to play (AAC encoding is ~3% of a core, measured) and a start-up allowance.
SHORT_JOB_CPU_SECONDS = 20
REMUX_CPU_PER_SECOND = 0.5
REMUX_CPU_ALLOWANCE = 60
SUBTITLE_CACHE_BYTES = 8 << 20
AAC_BITRATE = "160k"
KEYFRAME_MARGIN = 0.05


class RemuxBusy(Exception):
    """All REMUX_MAX jobs are running; try again after `retry_after` seconds."""

    retry_after = BUSY_RETRY_AFTER_SECONDS


class MediaToolsMissing(Exception):
    """FFmpeg is not installed: the words say what to install."""


@dataclass(frozen=True, slots=True)
class MediaTools:
    """Where ffmpeg and ffprobe are (Debian package 'ffmpeg')."""

    ffmpeg: str | None
    ffprobe: str | None

    @classmethod
    def find(cls) -> MediaTools:
        return cls(shutil.which("ffmpeg"), shutil.which("ffprobe"))

    @property
    def missing(self) -> str:
        """Words for the operator when something is missing; "" when all is there."""
        if self.ffmpeg and self.ffprobe:
            return ""
        return ("ffmpeg is not installed (Debian/Ubuntu: apt-get install ffmpeg): videos the browser "
                "cannot play as stored (MKV, AC-3 audio, subtitles) are served as they are")


class RemuxService:
    """Probes, remuxes and subtitle tracks of stored videos, within REMUX_MAX jobs at once."""

    def __init__(self, *, tools: MediaTools, files, source, loopback_url: Callable[[], str],
                 max_jobs: int, memory_bytes: int, budget=None) -> None:
        """files: the files store (media info kept with each record); source: the ByteSource
        (reads a Matroska file's first bytes); loopback_url: our own web server's base URL;
        budget: the stream MemoryBudget, of which each remux holds its output buffer."""
        self.tools = tools
        self._files = files
        self._source = source
        self._loopback_url = loopback_url
        self.max_jobs = max_jobs
        self._memory_bytes = memory_bytes
        self._budget = budget
        self.internal_key = secrets.token_urlsafe(24)
        self.running = 0              # remux jobs streaming now
        self.finished = 0
        self.replaced = 0             # jobs ended for their own client's newer request
        self._held: dict[str, list[RemuxSlot]] = {}   # client key -> its places, oldest first
        self.failed = 0
        self._short_jobs = asyncio.Semaphore(max(1, max_jobs))
        self._probing: dict[str, asyncio.Future] = {}
        self._subtitles: LRUCache = LRUCache(maxsize=SUBTITLE_CACHE_BYTES, getsizeof=len)
        self._reaper = Reaper()

    async def close(self, timeout: float = 2.0) -> None:
        """At shutdown, after the web server: every child ended is reaped (each was killed as its
        response was cut)."""
        await self._reaper.wait(timeout)

    # -- state the page asks about ---------------------------------------------------------
    @property
    def available(self) -> bool:
        return not self.tools.missing and self.max_jobs > 0

    @property
    def busy_retry_after(self) -> int:
        return BUSY_RETRY_AFTER_SECONDS

    @property
    def busy(self) -> bool:
        return self.running >= self.max_jobs

    def is_internal(self, header_value: str | None) -> bool:
        return header_value is not None and secrets.compare_digest(header_value, self.internal_key)

    # -- probe -------------------------------------------------------------------------------
    async def media_info(self, file: StoredFile, token: str, *, wait: float | None = None) -> MediaInfo | None:
        """What the file holds: kept with its record after the first probe (one probe per file at
        a time); None when it cannot be known now (no FFmpeg, every job slot taken, or not
        within `wait` seconds: the probe then goes on, and the next view has it)."""
        kept = MediaInfo.from_doc(await self._files.get_media(file.id))
        if kept is not None or not self.available:
            return kept
        running = self._probing.get(file.id)
        if running is None:
            running = self._probing[file.id] = asyncio.ensure_future(self._probe_and_keep(file, token))
            running.add_done_callback(lambda _f, key=file.id: self._probing.pop(key, None))
        try:
            return await asyncio.wait_for(asyncio.shield(running), wait)
        except asyncio.TimeoutError:
            log.info("file %s: probe still under way after %.0f s; this view plays the original", file.ref, wait)
            return None

    async def _probe_and_keep(self, file: StoredFile, token: str) -> MediaInfo | None:
        try:
            info = await self._probe(file, token)
            await self._files.set_media(file.id, info.to_doc())
        except asyncio.TimeoutError:
            log.info("file %s: no probe slot free, the page plays the original", file.ref)
            return None
        except Exception as error:  # noqa: BLE001 - the database or the source failed: next view tries again
            log.warning("file %s: probe not kept: %r", file.ref, error)
            return None
        return info

    async def _probe(self, file: StoredFile, token: str) -> MediaInfo:
        argv = [self.tools.ffprobe, "-v", "error", "-hide_banner", *self._input_options(),
                # The first packets too: a file cut short after its header has tracks but no picture.
                "-read_intervals", "%+#100", "-show_packets", "-show_entries", "packet=stream_index",
                "-show_format", "-show_streams", "-of", "json", self._url(token)]
        async with self._short_turn():
            try:
                result = await run_child(argv, reaper=self._reaper, limits=self._limits(SHORT_JOB_CPU_SECONDS, wall=PROBE_SECONDS))
                report = json.loads(result.stdout or b"{}")
            except ChildFailed as failed:
                log.info("file %s: probe failed: %s %s", file.ref, failed.reason, self._words(failed, token))
                return MediaInfo(ok=False, error=N_("the file is damaged or not a video FFmpeg can read"))
            except ValueError:
                return MediaInfo(ok=False, error=N_("the file is damaged or not a video FFmpeg can read"))
        fmt = report.get("format") if isinstance(report, dict) else None
        container = str(fmt.get("format_name", "")) if isinstance(fmt, dict) else ""
        try:
            has_index, keyframes = await self._index(file, container)
        except Exception as error:  # noqa: BLE001 - a damaged index: FFmpeg's own seek still works
            log.info("file %s: index not read: %r", file.ref, error)
            has_index, keyframes = False, []
        if len(keyframes) > media_index.MAX_KEYFRAMES:
            keyframes = []
        info = parse_probe(report, has_index=has_index, keyframes=tuple(round(t, 3) for t in keyframes))
        log.info("file %s probed: %s %s, %d audio, %d subtitle tracks, index %s (%d keyframes)", file.ref,
                 info.container, info.video or "-", len(info.audio), len(info.subtitles), info.has_index,
                 len(info.keyframes))
        return info

    async def _index(self, file: StoredFile, container: str) -> tuple[bool, list[float]]:
        """Whether the file has an index, and its keyframe times, read with Range requests: a
        Matroska file's Cues (named in its first bytes), an MP4's moov (wherever it lies)."""
        if "matroska" in container:
            layout = media_index.matroska_layout(await self._read(file, 0, _HEAD_BYTES))
            if layout is None or layout.cues_at is None:
                return False, []
            cues = layout.cues_in_head
            if cues is None:
                cues = await self._element_at(file, layout.cues_at)
            return True, media_index.matroska_cue_times(cues, layout) if cues else []
        if "mp4" in container or "mov" in container:
            moov = await self._moov(file)
            return True, (media_index.mp4_keyframe_times(moov) or []) if moov else []
        return False, []

    async def _element_at(self, file: StoredFile, offset: int) -> bytes | None:
        """A Matroska element (header and body) at `offset`, when it is not too large."""
        header = await self._read(file, offset, 12)
        try:
            _kind, body, size = media_index.element_header(header)
        except media_index.BrokenIndex:
            return None
        if size is None or size > media_index.MAX_INDEX_BYTES:
            return None
        return await self._read(file, offset, body + size)

    async def _moov(self, file: StoredFile) -> bytes | None:
        """The body of an MP4's moov box, found by walking the top-level boxes (a few 16-byte reads)."""
        offset = 0
        for _box in range(64):
            if offset + 8 > file.file_size:
                return None
            found = media_index.mp4_box(await self._read(file, offset, 16), offset, file.file_size)
            if found is None:
                return None
            kind, body, end = found
            if kind == b"moov":
                return await self._read(file, body, end - body) if end - body <= media_index.MAX_INDEX_BYTES else None
            offset = end
        return None

    async def _read(self, file: StoredFile, start: int, length: int) -> bytes:
        """Bytes start..start+length-1 of the file (fewer at its end), through the ByteSource."""
        end = min(file.file_size, start + length) - 1
        if end < start:
            return b""
        parts = []
        async with aclosing(self._source.stream(file, start, end)) as chunks:
            async for chunk in chunks:
                parts.append(chunk)
        return b"".join(parts)

    # -- seeking -------------------------------------------------------------------------------
    async def keyframe_at(self, token: str, seconds: float, info: MediaInfo | None = None) -> float:
        """The time of the keyframe at or before `seconds`: from the index kept with the probe,
        else found by FFmpeg (it seeks with the container's index and reads one packet);
        `seconds` itself when it cannot be found."""
        if seconds <= 0 or not self.available:
            return 0.0
        if info is not None and info.keyframes:
            return media_index.keyframe_at(info.keyframes, seconds)
        argv = [self.tools.ffprobe, "-v", "error", "-hide_banner", *self._input_options(),
                "-read_intervals", f"{seconds:.3f}%+#1", "-select_streams", "v:0",
                "-show_entries", "packet=pts_time,dts_time", "-of", "json", self._url(token)]
        try:
            async with self._short_turn():
                result = await run_child(argv, reaper=self._reaper, limits=self._limits(SHORT_JOB_CPU_SECONDS, wall=PROBE_SECONDS))
            packets = json.loads(result.stdout or b"{}").get("packets") or []
            found = float(packets[0].get("pts_time") or packets[0]["dts_time"])
        except (ChildFailed, asyncio.TimeoutError, ValueError, KeyError, IndexError, TypeError, AttributeError):
            return seconds
        return found if 0 <= found <= seconds + 0.001 else seconds

    # -- remux -----------------------------------------------------------------------------------
    def reserve(self, client: str) -> RemuxSlot:
        """One of the REMUX_MAX job places for `client` (its key, as STREAMS_PER_IP counts them),
        held by the task asking; RemuxBusy at once when none is free. A client holds at most half
        of the places (core.shared_places): asking for more ends its own oldest job (its task is
        cancelled, so its response is cut) and gives that place to this request. The caller
        releases the slot when its response ends (RemuxSlot.release may be called more than once)."""
        if not self.available:
            raise RemuxBusy()
        held = self._held.setdefault(client, [])
        decision = decide(self.max_jobs, self.running, len(held))
        if decision is Decision.BUSY:
            if not held:
                del self._held[client]
            raise RemuxBusy()
        if decision is Decision.REPLACE_OLDEST:
            oldest = held[0]
            log.info("remux: a newer request of the same client ends its oldest conversion")
            self.replaced += 1
            oldest.end()
        self.running += 1
        slot = RemuxSlot(self, client, asyncio.current_task())
        self._held.setdefault(client, []).append(slot)
        return slot

    def _released(self, slot: RemuxSlot) -> None:
        self.running -= 1
        self.finished += 1
        held = self._held.get(slot.client)
        if held is not None and slot in held:
            held.remove(slot)
            if not held:
                del self._held[slot.client]

    def remux(self, slot: RemuxSlot, file: StoredFile, token: str, info: MediaInfo, *, start: float,
              audio: int) -> AsyncIterator[bytes]:
        """Fragmented MP4 of the file from the keyframe at `start` with audio track `audio`: video
        copied, audio copied when browsers play it, else AAC. Ends the slot's job when it ends."""
        return self._remux(slot, file, token, info, start, audio)

    async def _remux(self, slot: RemuxSlot, file: StoredFile, token: str, info: MediaInfo, start: float, audio: int) -> AsyncIterator[bytes]:
        lease = self._budget.lease() if self._budget is not None else None
        sent = 0
        try:
            if lease is not None:
                # The output chunk this process holds between the child and the client.
                await lease.admit(1, timeout=SHORT_JOB_WAIT_SECONDS)
            argv = self._remux_argv(token, info, start, audio)
            left = max(0.0, (info.duration or 3600.0) - start)
            limits = self._limits(int(REMUX_CPU_ALLOWANCE + left * REMUX_CPU_PER_SECOND))
            async with aclosing(stream_child(argv, limits, self._reaper)) as chunks:
                async for chunk in chunks:
                    sent += len(chunk)
                    yield chunk
        except ChildFailed as failed:
            self.failed += 1
            log.info("file %s: remux ended: %s %s", file.ref, failed.reason, self._words(failed, token))
            raise
        finally:
            slot.release()
            if lease is not None:
                lease.close()

    def _remux_argv(self, token: str, info: MediaInfo, start: float, audio: int) -> list[str]:
        argv = [self.tools.ffmpeg, "-hide_banner", "-loglevel", "error", "-nostdin", "-threads", "1",
                *self._input_options()]
        if start > 0:
            # A hair past the keyframe the index named: FFmpeg's clock may put it a few
            # milliseconds later (an edit list, a stream's start time), and -ss takes the
            # keyframe at or before it.
            argv += ["-ss", f"{start + KEYFRAME_MARGIN:.3f}"]
        argv += ["-i", self._url(token), "-map", "0:v:0"]
        if info.audio:
            track = info.audio[audio] if 0 <= audio < len(info.audio) else info.audio[0]
            argv += ["-map", f"0:a:{track.number}"]
            argv += ["-c:a", "copy"] if audio_is_copied(track.codec) else ["-c:a", "aac", "-b:a", AAC_BITRATE, "-ac", "2"]
        argv += ["-c:v", "copy", "-sn", "-dn", "-map_metadata", "-1", "-map_chapters", "-1",
                 "-f", "mp4", "-movflags", "frag_keyframe+empty_moov+default_base_moof",
                 # A fragment at least every half second: the first frame does not wait for a
                 # whole group of pictures (some films have a keyframe every 10 s).
                 "-frag_duration", "500000", "pipe:1"]
        return argv

    # -- subtitles --------------------------------------------------------------------------------
    async def subtitle_track(self, file: StoredFile, token: str, number: int) -> str:
        """Text subtitle track `number` of the file as WebVTT (ASS styling dropped). Reads the
        file through once (a Matroska file interleaves its subtitles with the picture); kept
        in a small memory cache. Raises ChildFailed or asyncio.TimeoutError (no slot)."""
        key = (file.id, number)
        if key in self._subtitles:
            return self._subtitles[key]
        argv = [self.tools.ffmpeg, "-hide_banner", "-loglevel", "error", "-nostdin", *self._input_options(),
                "-i", self._url(token), "-map", f"0:s:{number}", "-vn", "-an", "-c:s", "webvtt", "-f", "webvtt", "pipe:1"]
        return await self._subtitle(key, argv, SUBTITLE_SECONDS)

    async def subtitle_file(self, file: StoredFile, token: str) -> str:
        """A subtitle file (SubRip, ASS, WebVTT) as WebVTT."""
        if file.file_size > MAX_SUBTITLE_FILE_BYTES:
            raise ChildFailed(f"a subtitle file of {file.file_size} bytes is too large")
        argv = [self.tools.ffmpeg, "-hide_banner", "-loglevel", "error", "-nostdin", *self._input_options(),
                "-i", self._url(token), "-map", "0:s:0", "-c:s", "webvtt", "-f", "webvtt", "pipe:1"]
        return await self._subtitle((file.id, -1), argv, PROBE_SECONDS)

    async def _subtitle(self, key: tuple[str, int], argv: list[str], wall: float) -> str:
        if not self.available:
            raise ChildFailed(self.tools.missing or "remuxing is off (REMUX_MAX=0)")
        async with self._short_turn():
            result = await run_child(argv, reaper=self._reaper, limits=self._limits(int(wall), wall=wall))
        text = result.stdout.decode("utf-8", "replace")
        self._subtitles[key] = text
        return text

    # -- the parts every job shares -----------------------------------------------------------
    def _words(self, failed: ChildFailed, token: str) -> str:
        """The end of what the child said, for the log, without our link to the file (FFmpeg names its input)."""
        return failed.stderr.replace(self._url(token), "<file>").replace(token, "<token>")[-300:]

    def _url(self, token: str) -> str:
        return f"{self._loopback_url()}/stream/{token}"

    def _input_options(self) -> list[str]:
        # The header keeps the child's reads out of the download counts; the I/O timeout (µs)
        # ends a child whose reads stopped answering.
        return ["-headers", f"{INTERNAL_HEADER}: {self.internal_key}\r\n", "-rw_timeout", "30000000",
                "-user_agent", "FileStream-remux"]

    def _limits(self, cpu_seconds: int, *, wall: float | None = None) -> ChildLimits:
        return ChildLimits(memory_bytes=self._memory_bytes, cpu_seconds=max(1, cpu_seconds), wall_seconds=wall)

    def _short_turn(self):
        return _Turn(self._short_jobs, SHORT_JOB_WAIT_SECONDS)


class RemuxSlot:
    """A running remux job's place among REMUX_MAX, held by one client's request task."""

    def __init__(self, service: RemuxService, client: str, task: asyncio.Task | None) -> None:
        self._service = service
        self.client = client
        self._task = task
        self._held = True

    def release(self) -> None:
        if self._held:
            self._held = False
            self._service._released(self)

    def end(self) -> None:
        """Give the place up now and cut the request holding it (its child is killed as its
        response unwinds)."""
        self.release()
        if self._task is not None and not self._task.done():
            self._task.cancel()


class _Turn:
    """One of the short-job places, waited for at most `timeout` seconds (asyncio.TimeoutError)."""

    def __init__(self, semaphore: asyncio.Semaphore, timeout: float) -> None:
        self._semaphore = semaphore
        self._timeout = timeout

    async def __aenter__(self) -> None:
        await asyncio.wait_for(self._semaphore.acquire(), self._timeout)

    async def __aexit__(self, *exc) -> None:
        self._semaphore.release()
