"""The remux routes over HTTP, as a player or a script would use them: a conversion's bytes count
as the file's bytes served (the converter's own reads of the file do not), bad requests get
words and a status, and without ffmpeg the service says so and serves videos as stored."""

from __future__ import annotations

import asyncio
import logging

import aiohttp
import pytest

from FileStream.core.usage import FileUsage
from media_files import FFMPEG, FIRST_CUE, mkv_h264_ac3_subrip, mkv_noisy
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


async def test_conversion_places_are_shared_between_people_and_a_persons_new_request_replaces_their_own(
        telegram, stack_settings, tmp_path):
    """Two places: Ann's second conversion (a seek, another tab) ends her first instead of taking
    Bob's place; Bob gets the other place; Carol, while both are taken, is told to wait."""
    world = make_world(telegram)
    film = mkv_noisy(tmp_path)
    settings = stack_settings(world, REMUX_MAX=2, TRUSTED_PROXIES="127.0.0.1")
    ann, bob, carol = ({"X-Forwarded-For": address} for address in ("198.51.100.1", "198.51.100.2", "198.51.100.3"))
    async with running_service(settings) as service, http_client() as http:
        sent = await send_and_get_links(world, film, "Film.mkv", kind="video", mime_type="video/x-matroska")
        play = sent.links.watch.replace("/watch/", "/play/")
        # Each viewer reads a little and then stops, as a player with its buffer full does:
        # the noisy film is larger than pipes and sockets hold, so each conversion keeps its place.
        first = await http.get(play, headers=ann)
        try:
            assert first.status == 200 and len(await first.content.read(4096)) > 0
            assert service.remux.running == 1
            second = await http.get(play + "?t=4", headers=ann)
            try:
                assert second.status == 200 and len(await second.content.read(4096)) > 0
                assert service.remux.replaced == 1 and service.remux.running == 1
                # Ann's first conversion was cut: its body ends short, never with wrong bytes.
                with pytest.raises(aiohttp.ClientPayloadError):
                    await asyncio.wait_for(first.read(), 30)
                bobs = await http.get(play, headers=bob)
                try:
                    assert bobs.status == 200 and len(await bobs.content.read(4096)) > 0
                    assert service.remux.running == 2
                    async with http.get(play, headers=carol) as carols:
                        assert carols.status == 503 and carols.headers["Retry-After"] == "10"
                finally:
                    bobs.close()
            finally:
                second.close()
        finally:
            first.close()
