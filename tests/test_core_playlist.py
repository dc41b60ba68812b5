"""M3U playlists: the extended header, one #EXTINF per item, titles that cannot break lines."""

import pytest

from FileStream.core.playlist import PlaylistItem, is_playable, m3u_playlist


def test_an_extended_m3u_lists_each_item_with_its_duration_and_title():
    text = m3u_playlist([
        PlaylistItem("Intro.mp4", "https://f.example/stream/t1/Intro.mp4", 62.2),
        PlaylistItem("Песня, часть 2.mp3", "https://f.example/stream/t2/x.mp3", None),
    ])
    assert text.splitlines() == [
        "#EXTM3U",
        "#EXTINF:63,Intro.mp4",
        "https://f.example/stream/t1/Intro.mp4",
        "#EXTINF:-1,Песня, часть 2.mp3",
        "https://f.example/stream/t2/x.mp3",
    ]
    assert text.endswith("\n")


def test_a_title_with_line_breaks_stays_on_its_line_and_urls_with_them_are_refused():
    text = m3u_playlist([PlaylistItem("evil\nhttp://attacker/\r\n#EXTM3U", "https://f.example/a", 5)])
    assert text.splitlines()[1] == "#EXTINF:5,evil http://attacker/ #EXTM3U"
    assert len(text.splitlines()) == 3
    with pytest.raises(ValueError):
        m3u_playlist([PlaylistItem("a", "https://f.example/a\nb")])


def test_only_audio_and_video_are_playable():
    assert is_playable("video/mp4", "a.mp4") and is_playable("audio/mpeg", "a.mp3")
    assert is_playable(None, "clip.mkv") and is_playable("application/octet-stream", "song.ogg")
    assert not is_playable("image/jpeg", "a.jpg") and not is_playable("application/pdf", "a.pdf")
    assert not is_playable(None, "notes.txt")
