"""What a probe says about a video, and how the watch page plays it: as stored, remuxed, or not at all."""

from __future__ import annotations

from FileStream.core.media_probe import MediaInfo, Track, parse_probe, playback_for


def report(container: str, video: str, *audio: str, subtitles: tuple[str, ...] = (), packets: bool = True, **tags):
    streams = [{"index": 0, "codec_type": "video", "codec_name": video}]
    streams += [{"codec_type": "audio", "codec_name": codec, "tags": tags.get(f"a{n}", {}),
                 "disposition": {"default": int(n == 0)}} for n, codec in enumerate(audio)]
    streams += [{"codec_type": "subtitle", "codec_name": codec, "tags": tags.get(f"s{n}", {})}
                for n, codec in enumerate(subtitles)]
    return {"format": {"format_name": container, "duration": "61.5"}, "streams": streams,
            "packets": [{"stream_index": 0}] if packets else []}


def test_an_mp4_with_h264_and_aac_plays_as_stored():
    info = parse_probe(report("mov,mp4,m4a,3gp,3g2,mj2", "h264", "aac"), has_index=False)
    assert info.ok and info.container == "mp4" and info.has_index and info.duration == 61.5
    assert playback_for(info).mode == "original"


def test_a_matroska_film_with_ac3_sound_is_remuxed_and_its_tracks_are_named_from_their_tags():
    info = parse_probe(report("matroska,webm", "h264", "ac3", "eac3", subtitles=("subrip", "ass", "hdmv_pgs_subtitle"),
                              a0={"language": "eng", "title": "Main"}, a1={"LANGUAGE": "fre"},
                              s0={"language": "spa"}, s2={"language": "ger"}), has_index=True)
    playback = playback_for(info)
    assert playback.mode == "remux" and playback.seekable
    assert [t.label for t in playback.audio] == ["English · Main", "French"]
    assert [t.label for t in playback.subtitles] == ["Spanish", "Track 2"] and playback.styled
    assert [t.label for t in playback.pictures] == ["German"]


def test_webm_with_opus_plays_as_stored_and_h264_in_matroska_is_remuxed_even_with_aac():
    assert playback_for(parse_probe(report("matroska,webm", "vp9", "opus"), has_index=True)).mode == "original"
    assert playback_for(parse_probe(report("matroska,webm", "h264", "aac"), has_index=True)).mode == "remux"


def test_hevc_cannot_play_and_the_reason_names_the_codec():
    playback = playback_for(parse_probe(report("mov,mp4", "hevc", "aac"), has_index=True))
    assert playback.mode == "none" and "HEVC (H.265)" in playback.reason and "VLC" in playback.reason


def test_a_file_without_frames_or_without_video_cannot_play():
    cut = parse_probe(report("matroska,webm", "h264", "ac3", packets=False), has_index=True)
    assert not cut.ok and "cut short" in cut.error and playback_for(cut).mode == "none"
    sound_only = {**report("matroska,webm", "h264", "ac3"), "packets": [{"stream_index": 1}]}
    assert not parse_probe(sound_only, has_index=True).ok
    assert not parse_probe({"streams": [{"codec_type": "audio", "codec_name": "mp3"}]}, has_index=False).ok
    assert not parse_probe("garbage", has_index=False).ok
    assert "cannot be played" in playback_for(parse_probe(None, has_index=False)).reason


def test_a_matroska_file_without_cues_plays_with_seeking_limited():
    info = parse_probe(report("matroska,webm", "h264", "ac3"), has_index=False)
    assert not playback_for(info).seekable


def test_the_probe_kept_with_the_record_reads_back_the_same_and_an_old_shape_reads_as_none():
    info = parse_probe(report("matroska,webm", "h264", "ac3", subtitles=("subrip",), a0={"language": "eng"}),
                       has_index=True, keyframes=(0.0, 2.5, 5.0))
    assert MediaInfo.from_doc(info.to_doc()) == info
    assert MediaInfo.from_doc({**info.to_doc(), "version": 0}) is None
    assert MediaInfo.from_doc({"version": info.version, "ok": True}) is None
    assert MediaInfo.from_doc(None) is None


def test_unknown_languages_are_shown_as_written_and_und_as_nothing():
    assert Track(0, "ac3", language="xyz").label == "xyz"
    assert Track(1, "ac3", language="und").label == "Track 2"
    assert Track(0, "ac3", language="eng", title="English").label == "English"
