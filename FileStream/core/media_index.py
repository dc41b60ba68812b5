"""Keyframe times from a container's own index (Matroska Cues, MP4 moov's stss), so a seek knows
where it starts without reading the film: pure parsing of bytes read by Range requests."""

from __future__ import annotations

import bisect
import struct
from collections.abc import Sequence
from dataclasses import dataclass

# More keyframes than this (a 2-hour film with one every 0.15 s) and the index is not kept:
# seeks then ask FFmpeg (services.remux.keyframe_at).
MAX_KEYFRAMES = 50_000
# The most bytes of an index read from Telegram (a long film's Cues are ~100 KB, its moov a few MB).
MAX_INDEX_BYTES = 32 << 20

_EBML_HEADER, _SEGMENT = 0x1A45DFA3, 0x18538067
_SEEK_HEAD, _SEEK, _SEEK_ID, _SEEK_POSITION = 0x114D9B74, 0x4DBB, 0x53AB, 0x53AC
_INFO, _TIMESTAMP_SCALE = 0x1549A966, 0x2AD7B1
_TRACKS, _TRACK_ENTRY, _TRACK_NUMBER, _TRACK_TYPE = 0x1654AE6B, 0xAE, 0xD7, 0x83
_CUES, _CUE_POINT, _CUE_TIME, _CUE_TRACK_POSITIONS, _CUE_TRACK = 0x1C53BB6B, 0xBB, 0xB3, 0xB7, 0xF7
_CLUSTER = 0x1F43B675


class BrokenIndex(ValueError):
    """The bytes are not what their header said (a damaged or hostile file)."""


def _vint(data: bytes, pos: int, *, keep_marker: bool) -> tuple[int, int, bool]:
    """An EBML variable-size integer at `pos`: (value, next position, all ones = unknown size)."""
    if pos >= len(data):
        raise BrokenIndex("the index ends early")
    first = data[pos]
    length = 1
    while length <= 8 and not first & (0x80 >> (length - 1)):
        length += 1
    if length > 8 or pos + length > len(data):
        raise BrokenIndex("a malformed EBML number")
    value = first if keep_marker else first & (0xFF >> length)
    for byte in data[pos + 1:pos + length]:
        value = (value << 8) | byte
    unknown = not keep_marker and value == (1 << (7 * length)) - 1
    return value, pos + length, unknown


def _element(data: bytes, pos: int) -> tuple[int, int, int | None]:
    """(id, data start, data size or None when unknown) of the element at `pos`."""
    element_id, pos, _ = _vint(data, pos, keep_marker=True)
    size, pos, unknown = _vint(data, pos, keep_marker=False)
    return element_id, pos, None if unknown else size


def element_header(data: bytes) -> tuple[int, int, int | None]:
    """(id, where its body starts, body size or None when unknown) of the element `data` starts with."""
    return _element(data, 0)


def _children(data: bytes, start: int, end: int):
    pos = start
    while pos < end:
        element_id, body, size = _element(data, pos)
        if size is None:
            return
        yield element_id, body, min(body + size, end)
        pos = body + size


def _uint(data: bytes, start: int, end: int) -> int:
    return int.from_bytes(data[start:end], "big") if end - start <= 8 else 0


@dataclass(frozen=True, slots=True)
class MatroskaLayout:
    """What the first bytes of a Matroska file say: where its Cues are and how to read their times."""

    segment_start: int            # file offset of the Segment's data (positions count from here)
    cues_at: int | None           # file offset of the Cues element, when named or present
    timestamp_scale: int          # nanoseconds per tick
    video_track: int | None
    cues_in_head: bytes | None = None   # the Cues element's body when it lies in the head itself


def matroska_layout(head: bytes) -> MatroskaLayout | None:
    """Read the Segment's first children in `head` (the file's first bytes); None if not Matroska."""
    try:
        element_id, body, size = _element(head, 0)
        if element_id != _EBML_HEADER or size is None:
            return None
        element_id, segment_start, _size = _element(head, body + size)
        if element_id != _SEGMENT:
            return None
        cues_at, scale, video, cues_body = None, 1_000_000, None, None
        pos = segment_start
        while pos < len(head):
            element_id, body, size = _element(head, pos)
            if element_id == _CLUSTER or size is None:
                break
            end = body + size
            if element_id == _SEEK_HEAD and end <= len(head):
                for seek_id, seek_body, seek_end in _children(head, body, end):
                    if seek_id != _SEEK:
                        continue
                    fields = {i: (b, e) for i, b, e in _children(head, seek_body, seek_end)}
                    if _SEEK_ID in fields and _SEEK_POSITION in fields and \
                            head[slice(*fields[_SEEK_ID])] == _CUES.to_bytes(4, "big"):
                        cues_at = segment_start + _uint(head, *fields[_SEEK_POSITION])
            elif element_id == _INFO and end <= len(head):
                for child, child_body, child_end in _children(head, body, end):
                    if child == _TIMESTAMP_SCALE:
                        scale = _uint(head, child_body, child_end) or scale
            elif element_id == _TRACKS and end <= len(head):
                for entry, entry_body, entry_end in _children(head, body, end):
                    if entry != _TRACK_ENTRY:
                        continue
                    fields = {i: _uint(head, b, e) for i, b, e in _children(head, entry_body, entry_end)}
                    if fields.get(_TRACK_TYPE) == 1 and video is None:
                        video = fields.get(_TRACK_NUMBER)
            elif element_id == _CUES:
                cues_at = pos
                if end <= len(head):
                    cues_body = head[body:end]
            pos = end
    except BrokenIndex:
        return None
    return MatroskaLayout(segment_start, cues_at, scale, video, cues_body)


def matroska_cue_times(cues: bytes, layout: MatroskaLayout) -> list[float]:
    """Seconds of every cue point of the video track (ffmpeg and mkvmerge put one at keyframes).

    `cues` is the whole Cues element (its header included) or its body."""
    try:
        element_id, body, size = _element(cues, 0)
        if element_id == _CUES and size is not None:
            cues = cues[body:body + size]
    except BrokenIndex:
        pass
    times = []
    try:
        for point, point_body, point_end in _children(cues, 0, len(cues)):
            if point != _CUE_POINT:
                continue
            time, tracks = None, set()
            for child, child_body, child_end in _children(cues, point_body, point_end):
                if child == _CUE_TIME:
                    time = _uint(cues, child_body, child_end)
                elif child == _CUE_TRACK_POSITIONS:
                    tracks |= {_uint(cues, b, e) for i, b, e in _children(cues, child_body, child_end)
                               if i == _CUE_TRACK}
            if time is not None and (layout.video_track is None or layout.video_track in tracks):
                times.append(time * layout.timestamp_scale / 1e9)
    except BrokenIndex:
        pass   # a cut index: the cue points read so far are right
    return sorted(set(times))


# ------------------------------------------------------------------------------------ MP4
def mp4_box(header: bytes, offset: int, file_size: int) -> tuple[bytes, int, int] | None:
    """(type, offset of the body, offset after the box) of the top-level box whose first 16
    bytes are `header`, found at `offset`; None when the header is not a box."""
    if len(header) < 8:
        return None
    size, kind = struct.unpack(">I4s", header[:8])
    body = offset + 8
    if size == 1:
        if len(header) < 16:
            return None
        size = struct.unpack(">Q", header[8:16])[0]
        body = offset + 16
    elif size == 0:
        size = file_size - offset
    if size < body - offset or offset + size > file_size:
        return None
    return kind, body, offset + size


def _boxes(data: bytes, start: int, end: int):
    pos = start
    while pos + 8 <= end:
        size, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = pos + 8
        if size == 1 and pos + 16 <= end:
            size = struct.unpack(">Q", data[pos + 8:pos + 16])[0]
            body = pos + 16
        elif size == 0:
            size = end - pos
        if size < body - pos or pos + size > end:
            return
        yield kind, body, pos + size
        pos += size


def _find(data: bytes, start: int, end: int, path: Sequence[bytes]) -> tuple[int, int] | None:
    for kind, body, box_end in _boxes(data, start, end):
        if kind == path[0]:
            return (body, box_end) if len(path) == 1 else _find(data, body, box_end, path[1:])
    return None


def mp4_keyframe_times(moov: bytes) -> list[float] | None:
    """Seconds (presentation time) of the video track's sync samples, from a moov box's body.

    None when the track has no sync sample table: every frame is a keyframe, or the film is
    fragmented (its samples are in the fragments), and FFmpeg's own seek is asked instead."""
    try:
        for kind, body, end in _boxes(moov, 0, len(moov)):
            if kind != b"trak":
                continue
            handler = _find(moov, body, end, [b"mdia", b"hdlr"])
            if handler is None or moov[handler[0] + 8:handler[0] + 12] != b"vide":
                continue
            return _track_keyframes(moov, body, end)
    except (struct.error, IndexError, ZeroDivisionError):
        return None
    return None


def _track_keyframes(moov: bytes, body: int, end: int) -> list[float] | None:
    mdhd = _find(moov, body, end, [b"mdia", b"mdhd"])
    stbl = _find(moov, body, end, [b"mdia", b"minf", b"stbl"])
    if mdhd is None or stbl is None:
        return None
    version = moov[mdhd[0]]
    timescale = struct.unpack(">I", moov[mdhd[0] + (20 if version == 1 else 12):][:4])[0]
    tables = {kind: (b, e) for kind, b, e in _boxes(moov, *stbl)}
    if b"stss" not in tables or b"stts" not in tables or not timescale:
        return None
    start = tables[b"stss"][0]
    count = struct.unpack(">I", moov[start + 4:start + 8])[0]
    if count > MAX_KEYFRAMES:
        return None
    sync = struct.unpack(f">{count}I", moov[start + 8:start + 8 + 4 * count])
    decode = _sample_times(moov, tables[b"stts"][0], set(sync))
    offsets = _composition_offsets(moov, tables[b"ctts"][0], set(sync)) if b"ctts" in tables else {}
    shift = _edit_start(moov, body, end)
    times = [(decode[n] + offsets.get(n, 0) - shift) / timescale for n in sync if n in decode]
    return sorted({round(max(t, 0.0), 6) for t in times})


def _in_run(wanted: list[int], first: int, count: int) -> list[int]:
    """The wanted sample numbers (sorted) within first..first+count-1."""
    return wanted[bisect.bisect_left(wanted, first):bisect.bisect_left(wanted, first + count)]


def _sample_times(moov: bytes, start: int, wanted: set[int]) -> dict[int, int]:
    """Decode time of each wanted sample (numbered from 1), from stts runs."""
    entries = struct.unpack(">I", moov[start + 4:start + 8])[0]
    found, sample, time = {}, 1, 0
    ordered = sorted(wanted)
    for run_count, delta in struct.iter_unpack(">II", moov[start + 8:start + 8 + 8 * entries]):
        for n in _in_run(ordered, sample, run_count):
            found[n] = time + (n - sample) * delta
        sample += run_count
        time += run_count * delta
        if ordered and sample > ordered[-1]:
            break
    return found


def _composition_offsets(moov: bytes, start: int, wanted: set[int]) -> dict[int, int]:
    version = moov[start]
    entries = struct.unpack(">I", moov[start + 4:start + 8])[0]
    found, sample = {}, 1
    ordered = sorted(wanted)
    layout = ">Ii" if version == 1 else ">II"
    for run_count, offset in struct.iter_unpack(layout, moov[start + 8:start + 8 + 8 * entries]):
        for n in _in_run(ordered, sample, run_count):
            found[n] = offset
        sample += run_count
    return found


def _edit_start(moov: bytes, body: int, end: int) -> int:
    """The media time the edit list starts the track at (B-frame delay), in media time units."""
    elst = _find(moov, body, end, [b"edts", b"elst"])
    if elst is None:
        return 0
    start = elst[0]
    version, entries = moov[start], struct.unpack(">I", moov[start + 4:start + 8])[0]
    pos = start + 8
    for _ in range(entries):
        if version == 1:
            _duration, media_time = struct.unpack(">Qq", moov[pos:pos + 16])
            pos += 20
        else:
            _duration, media_time = struct.unpack(">Ii", moov[pos:pos + 8])
            pos += 12
        if media_time >= 0:
            return media_time
    return 0


def keyframe_at(keyframes: Sequence[float], seconds: float) -> float:
    """The keyframe time at or before `seconds` (the first one when it is earlier than all)."""
    if not keyframes:
        return 0.0
    at = bisect.bisect_right(keyframes, seconds + 1e-6)
    return keyframes[max(at - 1, 0)]
