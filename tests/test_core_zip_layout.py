"""The ZIP layout: offsets from names and sizes alone, headers Python's zipfile and unzip accept,
any byte window assembled from pieces equal to the same window of the whole archive, and ZIP64
exactly where 32 bits do not reach."""

from __future__ import annotations

import struct
import zipfile
import zlib
from datetime import datetime, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from FileStream.core.zip_layout import ZIP64_LIMIT, ZipEntry, ZipLayout, dos_date_time, zip_names
from zip_helpers import VirtualZip, crcs_of, render_whole, unzip_test, zeros

WHEN = datetime(2026, 3, 4, 5, 6, 8, tzinfo=timezone.utc)
GIB = 1 << 30


def layout_of(names, sizes, when=WHEN) -> ZipLayout:
    return ZipLayout([ZipEntry(name, size, when) for name, size in zip(names, sizes)])


def test_an_archive_of_stored_files_with_utf8_names_reads_back_in_zipfile_and_unzip(tmp_path):
    names = ["film.mp4", "Песня — 1.mp3", "notes.txt", "empty.bin", "写真.jpg"]
    datas = [b"v" * 5000, "ля".encode() * 700, b"hello\n", b"", bytes(range(256)) * 40]
    layout = layout_of(names, [len(d) for d in datas])
    whole = render_whole(layout, datas)

    with zipfile.ZipFile(__import__("io").BytesIO(whole)) as archive:
        assert archive.testzip() is None
        infos = archive.infolist()
        assert [i.filename for i in infos] == names
        for info, data in zip(infos, datas):
            assert info.compress_type == zipfile.ZIP_STORED
            assert info.flag_bits & 0x0808 == 0x0808          # data descriptor, UTF-8 name
            assert info.file_size == info.compress_size == len(data)
            assert info.CRC == zlib.crc32(data)
            assert info.date_time == (2026, 3, 4, 5, 6, 8)
            assert archive.read(info) == data

    path = tmp_path / "bundle.zip"
    path.write_bytes(whole)
    report = unzip_test(path)
    assert "testing: film.mp4" in report and "OK" in report


def test_every_header_and_descriptor_sits_where_the_layout_says():
    datas = [b"a" * 10, b"", b"bc"]
    layout = layout_of(["a", "b", "c"], [10, 0, 2])
    whole = render_whole(layout, datas)
    kinds = [(s.kind, s.entry) for s in layout.segments]
    assert kinds == [("local", 0), ("data", 0), ("descriptor", 0), ("local", 1), ("descriptor", 1),
                     ("local", 2), ("data", 2), ("descriptor", 2), ("central", -1), ("end", -1)]
    for segment in layout.segments:
        chunk = whole[segment.offset:segment.end]
        if segment.kind == "local":
            assert chunk[:4] == b"PK\x03\x04"
            crc, csize, usize = struct.unpack("<III", chunk[14:26])
            assert (crc, csize, usize) == (0, 0, 0), "bit 3: the local header waits for nothing"
        elif segment.kind == "descriptor":
            assert chunk == struct.pack("<IIII", 0x08074B50, zlib.crc32(datas[segment.entry]),
                                        len(datas[segment.entry]), len(datas[segment.entry]))
        elif segment.kind == "central":
            assert chunk[:4] == b"PK\x01\x02" and chunk.count(b"PK\x01\x02") == 3
        elif segment.kind == "end":
            assert chunk[:4] == b"PK\x05\x06" and len(chunk) == 22 and segment.needs == ()
    assert layout.size == len(whole) and not layout.zip64_end


def test_headers_without_crcs_render_and_crc_bearing_ones_say_which_crc_they_need():
    layout = layout_of(["a", "b"], [3, 4])
    local, data, descriptor = layout.segments[:3]
    assert local.needs == () and descriptor.needs == (0,) and layout.segments[-2].needs == (0, 1)
    assert layout.segments[-1].kind == "end" and layout.segments[-1].needs == ()
    assert layout.render(layout.segments[-1], {}).startswith(b"PK\x05\x06"), "the end records need no CRC-32"
    assert layout.render(local, {}).startswith(b"PK\x03\x04")
    with pytest.raises(KeyError, match="entry 0"):
        layout.render(descriptor, {})
    with pytest.raises(ValueError):
        layout.render(data, {0: 1})


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    sizes=st.lists(st.integers(min_value=0, max_value=3000), min_size=0, max_size=6),
    windows=st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.floats(0, 1)), min_size=1, max_size=8),
)
def test_any_window_assembled_from_pieces_equals_that_window_of_the_whole_archive(sizes, windows):
    datas = [bytes((index * 7 + i) % 251 for i in range(size)) for index, size in enumerate(sizes)]
    layout = layout_of([f"f{i}.bin" for i in range(len(sizes))], sizes)
    whole = render_whole(layout, datas)
    crcs = crcs_of(datas)
    assert [s.offset for s in layout.segments] == [0] + [s.end for s in layout.segments[:-1]]
    assert layout.segments[-1].end == layout.size == len(whole)
    for start_at, length_at in windows:
        first = int(start_at * layout.size)
        last = min(layout.size - 1, first + int(length_at * 4000))
        out = bytearray()
        for piece in layout.pieces(first, last):
            seg = piece.segment
            source = datas[seg.entry] if seg.kind == "data" else layout.render(seg, crcs)
            out += source[piece.first:piece.last + 1]
        assert bytes(out) == whole[first:last + 1]


@settings(max_examples=60, deadline=None)
@given(sizes=st.lists(st.sampled_from([0, 1, 4096, ZIP64_LIMIT - 1, ZIP64_LIMIT, ZIP64_LIMIT + 1, 3 * GIB, 5 * GIB]),
                      min_size=1, max_size=5))
def test_zip64_fields_appear_exactly_where_32_bits_do_not_reach_and_zipfile_agrees(sizes):
    layout = layout_of([f"part{i}.bin" for i in range(len(sizes))], sizes)
    crcs = {i: (0x1234567 * (i + 1)) & 0xFFFFFFFF if size else 0 for i, size in enumerate(sizes)}
    virtual = VirtualZip(layout, crcs, zeros)
    with zipfile.ZipFile(virtual) as archive:
        infos = archive.infolist()
    locals_ = [s for s in layout.segments if s.kind == "local"]
    descriptors = [s for s in layout.segments if s.kind == "descriptor"]
    for index, (info, size) in enumerate(zip(infos, sizes)):
        assert info.file_size == info.compress_size == size
        assert info.header_offset == locals_[index].offset
        assert info.CRC == crcs[index]
        large = size >= ZIP64_LIMIT
        far = locals_[index].offset >= ZIP64_LIMIT
        assert info.extract_version == (45 if large or far else 20)
        assert descriptors[index].length == (24 if large else 16)
        assert (b"\x01\x00" in info.extra[:2]) == (large or far)
    assert layout.zip64_end == (layout.central_offset + layout.central_size >= ZIP64_LIMIT)


def test_a_member_of_a_zip64_archive_past_4_gib_reads_back_byte_exact():
    sizes = [ZIP64_LIMIT + 5, 3000]
    layout = layout_of(["big.bin", "after.txt"], sizes)
    tail = bytes(range(200)) * 15
    crcs = {0: 0x0BADC0DE, 1: zlib.crc32(tail)}   # the big one is never read here
    virtual = VirtualZip(layout, crcs, lambda entry, offset, length: tail[offset:offset + length] if entry else bytes(length))
    with zipfile.ZipFile(virtual) as archive:
        assert archive.read("after.txt") == tail
        assert archive.getinfo("after.txt").header_offset > ZIP64_LIMIT
    assert layout.zip64_end


def test_names_are_cleaned_shortened_and_made_unique_case_insensitively():
    names = zip_names(["a.mp4", "A.MP4", "a.mp4", "dir/x\\y.txt", "\u202egnp.exe", "", "..", "x" * 400 + ".mkv"])
    assert names[:3] == ["a.mp4", "A (2).MP4", "a (3).mp4"]
    assert names[3] == "dir_x_y.txt" and names[4] == "gnp.exe"
    assert names[5] == "file" and names[6] == "file (2)"
    assert names[7].endswith(".mkv") and len(names[7].encode()) <= 240


def test_dos_dates_clamp_to_the_years_the_format_holds():
    assert dos_date_time(datetime(1970, 1, 1, tzinfo=timezone.utc)) == (0, 33)
    assert dos_date_time(datetime(2200, 1, 1, tzinfo=timezone.utc))[1] >> 9 == 127
    time_, date = dos_date_time(datetime(2026, 12, 31, 23, 59, 59, tzinfo=timezone.utc))
    assert (time_ >> 11, (time_ >> 5) & 63, (time_ & 31) * 2) == (23, 59, 58)
    assert (1980 + (date >> 9), (date >> 5) & 15, date & 31) == (2026, 12, 31)


def test_windows_outside_the_archive_and_bad_entries_are_refused():
    layout = layout_of(["a"], [3])
    with pytest.raises(ValueError):
        list(layout.pieces(0, layout.size))
    with pytest.raises(ValueError):
        layout_of([""], [1])
    with pytest.raises(ValueError):
        layout_of(["a"], [-1])


def test_an_empty_bundle_is_an_empty_archive():
    layout = ZipLayout([])
    whole = render_whole(layout, [])
    assert len(whole) == 22
    with zipfile.ZipFile(__import__("io").BytesIO(whole)) as archive:
        assert archive.infolist() == []


def test_the_fingerprint_changes_with_names_sizes_and_dates():
    base = layout_of(["a", "b"], [1, 2]).fingerprint()
    assert base == layout_of(["a", "b"], [1, 2]).fingerprint()
    assert base != layout_of(["a", "c"], [1, 2]).fingerprint()
    assert base != layout_of(["a", "b"], [1, 3]).fingerprint()
    assert base != layout_of(["a", "b"], [1, 2], datetime(2027, 1, 1, tzinfo=timezone.utc)).fingerprint()


def test_the_crc_of_zeros_helper_agrees_with_zlib():
    from zip_helpers import crc32_of_zeros

    for length in (0, 1, 7, 4096, (1 << 20) + 3):
        assert crc32_of_zeros(length) == zlib.crc32(bytes(length))
