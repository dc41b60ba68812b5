"""The remux routes over HTTP, as a player or a script would use them: a conversion's bytes count
as the file's bytes served (the converter's own reads of the file do not), bad requests get
words and a status, and without ffmpeg the service says so and serves videos as stored."""

from __future__ import annotations

import logging

import pytest

from FileStream.core.usage import FileUsage
from media_files import FFMPEG, FIRST_CUE, mkv_h264_ac3_subrip
from service_harness import http_client, make_world, running_service, send_and_get_links

pytestmark = pytest.mark.skipif(FFMPEG is None, reason="ffmpeg is not installed (Debian package 'ffmpeg')")


async def test_a_conversion_counts_its_bytes_as_the_files_and_the_converters_reads_are_not_counted_again(
        telegram, stack_settings, tmp_path):
    world = make_world(telegram)
    film = mkv_h264_ac3_subrip(tmp_path)
    async with running_service(stack_settings(world)) as service:
        sent = await send_and_get_links(world, film, "Film.mkv", kind="video", mime_type="video/x-matroska")
        play = sent.links.watch.replace("/watch/", "/play/")
        async with http_client() as http:
            async with http.get(sent.links.watch) as page:
                assert 'data-mode="remux"' in await page.text()
            async with http.get(play) as answer:
                converted = await answer.read()
                assert answer.status == 200 and answer.headers["Content-Type"] == "video/mp4"
            assert converted[4:8] == b"ftyp" and b"moof" in converted
            async with http.get(sent.links.download) as answer:
                assert await answer.read() == film
        file_id = (await service.db.db["files"].find_one({}))["_id"]
        await service.usage.wait_idle()
        await service.usage_job.next_pass()
        usage = await service.db.usage.of_file(file_id)
        # Two plays (the conversion from the start, the download); the probe's and the
        # converter's reads of /stream are not people's downloads.
        assert (usage.downloads, usage.bytes_served) == (2, len(converted) + len(film))


async def test_bad_play_and_subtitle_requests_get_words_and_a_status(telegram, stack_settings, tmp_path):
    world = make_world(telegram)
    film = mkv_h264_ac3_subrip(tmp_path)
    async with running_service(stack_settings(world, RATE_LIMIT_FILES=0)):
        video = (await send_and_get_links(world, film, "Film.mkv", kind="video", mime_type="video/x-matroska")).links
        text = (await send_and_get_links(world, b"just words", "notes.txt", mime_type="text/plain")).links
        play = video.watch.replace("/watch/", "/play/")
        sub = video.watch.replace("/watch/", "/sub/")
        async with http_client() as http:
            async def answer(url):
                async with http.get(url) as response:
                    return response.status, await response.text()
            assert (await answer(play + "?t=abc"))[0] == 400
            assert (await answer(play + "?t=inf"))[0] == 400
            status, words = await answer(play + "?audio=3")
            assert status == 404 and "1 audio track" in words
            status, words = await answer(play + "/start?t=5")
            assert status == 200 and 4 <= float(words.split(":")[1].strip(" }")) <= 5
            status, words = await answer(sub + "/0.vtt")
            assert status == 200 and words.startswith("WEBVTT") and FIRST_CUE in words
            assert (await answer(sub + "/1.vtt"))[0] == 404
            assert (await answer(sub + "/file.vtt"))[0] == 404      # a video is not a subtitle file
            status, words = await answer(text.watch.replace("/watch/", "/play/"))
            assert status == 415 and "cannot be played in the browser" in words
            assert (await answer(play[:-4] + "xxxx"))[0] == 404     # a forged token


async def test_without_ffmpeg_the_service_says_so_and_plays_videos_as_stored(
        telegram, stack_settings, tmp_path, monkeypatch, caplog):
    world = make_world(telegram)
    film = mkv_h264_ac3_subrip(tmp_path)
    empty = tmp_path / "no-tools"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    with caplog.at_level(logging.WARNING, logger="FileStream.service"):
        async with running_service(stack_settings(world)) as service:
            links = (await send_and_get_links(world, film, "Film.mkv", kind="video", mime_type="video/x-matroska")).links
            async with http_client() as http:
                async with http.get(links.watch) as page:
                    html = await page.text()
                async with http.get(links.watch.replace("/watch/", "/play/")) as answer:
                    status = answer.status
    assert service.remux is None
    assert any("ffmpeg is not installed (Debian/Ubuntu: apt-get install ffmpeg)" in r.getMessage() for r in caplog.records)
    assert 'data-mode="original"' in html and "/stream/" in html
    assert status == 404
