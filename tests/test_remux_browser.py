"""Videos the browser cannot play as stored, in the real browser (headless Chromium): a Matroska
film with AC-3 sound and SubRip subtitles plays with sound through /play, its subtitles load,
a jump to 60% plays on; two audio languages can each be chosen; an album's movie.srt is offered
with movie.mp4; HEVC and damaged files are said to be unplayable; with REMUX_MAX=1 a second
viewer is told and gets the original file.

The media are made at run time with the system ffmpeg, the tool the service runs.
"""

from __future__ import annotations


import pytest

from media_files import (FFMPEG, FIRST_CUE, SECOND_CUE, SRT, hevc_mp4, matroska_with_absurd_sizes, mkv_h264_ac3_subrip,
                         mkv_noisy, mkv_two_languages, mp4_h264_aac)
from browser import CHROMIUM, DESKTOP, NO_CHROMIUM, SCREENSHOT_DIR
from service_harness import http_client, make_world, running_service, send_and_get_links, settings_for


pytestmark = [
    pytest.mark.skipif(CHROMIUM is None, reason=NO_CHROMIUM),
    pytest.mark.skipif(FFMPEG is None, reason="ffmpeg is not installed (Debian package 'ffmpeg'; .ci/run installs it)"),
]



async def screenshot(page, name: str) -> None:
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SCREENSHOT_DIR / f"{name}.png"), full_page=True)


async def open_page(browser, url: str):
    context = await browser.new_context(**DESKTOP)
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    await page.goto(url)
    return context, page, errors


# Plays until the sound decoded has grown and the position passed `until` seconds of the film.
PLAYS_WITH_SOUND = """async (until) => {
  const video = document.querySelector('video');
  const once = (name) => new Promise(resolve => video.addEventListener(name, resolve, {once: true}));
  const before = video.webkitAudioDecodedByteCount;
  if (video.paused) await video.play();
  while (video.filestream.position() < until || video.webkitAudioDecodedByteCount <= before) await once('timeupdate');
  return {position: video.filestream.position(), audio: video.webkitAudioDecodedByteCount - before,
          src: video.currentSrc, error: video.error && video.error.code};
}"""

CUES = """async () => {
  const video = document.querySelector('video');
  const track = video.textTracks[0];
  track.mode = 'showing';
  const element = video.querySelector('track');
  if (element.readyState !== 2) await new Promise(resolve => element.addEventListener('load', resolve, {once: true}));
  return {label: track.label, texts: Array.from(track.cues).map(cue => cue.text)};
}"""

# A person drags the jump bar to `share` of the film and lets go.
JUMP_TO = """async (share) => {
  const video = document.querySelector('video');
  const seek = document.querySelector('.seek');
  const duration = parseFloat(seek.max);
  seek.value = duration * share;
  seek.dispatchEvent(new Event('input'));
  seek.dispatchEvent(new Event('change'));
  while (!(video.filestream.state.offset > 0 && video.currentSrc.includes('t=' + video.filestream.state.offset)))
    await new Promise(resolve => setTimeout(resolve, 50));
  return {duration, offset: video.filestream.state.offset};
}"""


async def test_a_matroska_film_with_ac3_sound_and_subrip_subtitles_plays_with_sound_and_subtitles_and_seeks(
        browser, telegram, database_url, database_name, tmp_path):
    world = make_world(telegram)
    film = mkv_h264_ac3_subrip(tmp_path)
    settings = settings_for(world, database_url, database_name, tmp_path / "sessions")
    async with running_service(settings) as service:
        links = (await send_and_get_links(world, film, "Film.mkv", kind="video", mime_type="video/x-matroska",
                                          w=160, h=90)).links
        context, page, errors = await open_page(browser, links.watch)
        try:
            video = page.locator("video")
            assert await video.get_attribute("data-mode") == "remux"
            assert "/play/" in await video.get_attribute("src")
            played = await page.evaluate(PLAYS_WITH_SOUND, 1.0)
            cues = await page.evaluate(CUES)
            jump = await page.evaluate(JUMP_TO, 0.6)
            after = await page.evaluate(PLAYS_WITH_SOUND, jump["duration"] * 0.6 + 0.5)
            note = await page.locator(".remux-note").inner_text()
            await screenshot(page, "video-remuxed-desktop")
        finally:
            await context.close()
        assert errors == []
        assert played["error"] is None and played["audio"] > 0 and "/play/" in played["src"]
        assert cues["label"] == "English" and cues["texts"] == [FIRST_CUE, SECOND_CUE]
        # The jump started the conversion at the keyframe at or before 60% (one each second).
        assert jump["duration"] > 7.5 and jump["duration"] * 0.6 - 1.01 <= jump["offset"] <= jump["duration"] * 0.6
        assert after["error"] is None and after["audio"] > 0 and after["position"] > jump["duration"] * 0.6
        assert "converted for your browser" in note
        async with http_client() as http:
            async with http.get(links.download) as answer:
                assert answer.status == 200 and await answer.read() == film, "/dl is the original, byte for byte"
        record = await service.db.db["files"].find_one({})
        assert record["media"]["container"] == "matroska" and record["media"]["video"] == "h264"
        assert [t["codec"] for t in record["media"]["audio"]] == ["ac3"] and record["media"]["has_index"]
        assert record["media"]["keyframes"][:3] == [0.005, 1.005, 2.005], "the Cues, read with Range requests"
        assert service.remux.running == 0


CHOOSE_AUDIO = """async (number) => {
  const video = document.querySelector('video');
  const choice = document.querySelector('.audio-choice');
  choice.value = String(number);
  choice.dispatchEvent(new Event('change'));
  while (!video.currentSrc.includes('audio=' + number)) await new Promise(resolve => setTimeout(resolve, 50));
  return Array.from(choice.options).map(option => option.textContent.trim());
}"""


async def test_a_film_with_two_audio_languages_offers_both_and_each_plays(
        browser, telegram, database_url, database_name, tmp_path):
    world = make_world(telegram)
    film = mkv_two_languages(tmp_path)
    settings = settings_for(world, database_url, database_name, tmp_path / "sessions")
    async with running_service(settings):
        links = (await send_and_get_links(world, film, "Languages.mkv", kind="video", mime_type="video/x-matroska",
                                          w=160, h=90)).links
        context, page, errors = await open_page(browser, links.watch)
        try:
            first = await page.evaluate(PLAYS_WITH_SOUND, 0.5)
            labels = await page.evaluate(CHOOSE_AUDIO, 1)
            second = await page.evaluate(PLAYS_WITH_SOUND, first["position"] + 0.5)
            await screenshot(page, "video-two-languages-desktop")
        finally:
            await context.close()
        assert errors == []
        assert labels == ["English · Main", "French"]
        assert "audio=0" in first["src"] and first["audio"] > 0 and first["error"] is None
        assert "audio=1" in second["src"] and second["audio"] > 0 and second["error"] is None


async def test_a_subtitle_file_sent_in_one_album_with_its_video_is_offered_on_the_videos_page(
        browser, telegram, database_url, database_name, tmp_path):
    world = make_world(telegram)
    movie = mp4_h264_aac(tmp_path)
    settings = settings_for(world, database_url, database_name, tmp_path / "sessions")
    async with running_service(settings):
        # Two documents: Telegram takes them as one album.
        await world.person.send_album(world.main_bot, [
            dict(data=movie, file_name="movie.mp4", mime_type="video/mp4"),
            dict(data=SRT.encode(), file_name="movie.srt", mime_type="application/x-subrip"),
        ])
        status = await world.person.next_message(world.main_bot, timeout=20)
        while not any(b.text == "Open the bundle" for row in (status.buttons or []) for b in row):
            status = (await world.person.next_event(world.main_bot, timeout=20)).message
        bundle_url = next(b.url for row in status.buttons for b in row if b.text == "Open the bundle")
        context, page, errors = await open_page(browser, bundle_url)
        try:
            watch = await page.locator("a.button", has_text="Watch").first.get_attribute("href")
            await page.goto(watch)
            assert await page.locator("video").get_attribute("data-mode") == "original"
            cues = await page.evaluate(CUES)
        finally:
            await context.close()
        assert errors == []
        assert cues["label"] == "movie.srt" and cues["texts"] == [FIRST_CUE, SECOND_CUE]


async def test_an_hevc_video_is_said_to_be_unplayable_in_the_browser_with_the_ways_to_watch_it(
        browser, telegram, database_url, database_name, tmp_path):
    world = make_world(telegram)
    video = hevc_mp4(tmp_path)
    settings = settings_for(world, database_url, database_name, tmp_path / "sessions")
    async with running_service(settings):
        links = (await send_and_get_links(world, video, "Holiday.mp4", kind="video", mime_type="video/mp4",
                                          w=160, h=90)).links
        context, page, errors = await open_page(browser, links.watch)
        try:
            words = await page.locator(".cannot-play-words").inner_text()
            buttons = [text.strip() for text in await page.locator(".actions .button").all_inner_texts()]
            videos = await page.locator("video").count()
            await screenshot(page, "video-hevc-cannot-play")
        finally:
            await context.close()
        assert "Browsers cannot play HEVC (H.265) video" in words and "VLC" in words
        assert videos == 0, "no silent black box"
        assert {"Download", "Open in VLC", "Open in MX Player"} <= set(buttons)
        assert errors == []


METADATA = """async () => {
  const video = document.querySelector('video');
  if (video.readyState < 1) await new Promise(r => video.addEventListener('loadedmetadata', r, {once: true}));
  return {error: video.error && video.error.code, duration: video.duration, src: video.currentSrc};
}"""


FIRST_VIEWER = "198.51.100.7"


async def test_with_one_conversion_place_a_second_viewer_is_told_and_gets_the_original_file(
        browser, telegram, database_url, database_name, tmp_path):
    world = make_world(telegram)
    film = mkv_noisy(tmp_path)
    # The first viewer and the browser are two people: the first comes through a proxy we trust.
    settings = settings_for(world, database_url, database_name, tmp_path / "sessions", REMUX_MAX=1,
                            TRUSTED_PROXIES="127.0.0.1")
    async with running_service(settings) as service:
        links = (await send_and_get_links(world, film, "Film.mkv", kind="video", mime_type="video/x-matroska",
                                          w=480, h=270)).links
        play = links.watch.replace("/watch/", "/play/")
        # Someone opened the page while the place was free: it offers the conversion, which
        # starts only when they press play (an open tab holds no place).
        early, early_page, early_errors = await open_page(browser, links.watch)
        async with http_client() as http:
            # The first viewer watches in a player that reads the conversion as it plays:
            # a few bytes now, the rest later. The one place is theirs meanwhile.
            first = await http.get(play, headers={"X-Forwarded-For": FIRST_VIEWER})
            try:
                assert first.status == 200 and first.headers["Content-Type"] == "video/mp4"
                assert len(await first.content.read(4096)) > 0
                assert service.remux.running == 1
                context, page, errors = await open_page(browser, links.watch)
                try:
                    busy = await page.locator(".busy-note").inner_text()
                    src = await page.locator("video").get_attribute("src")
                    state = await page.evaluate(METADATA)
                finally:
                    await context.close()
                try:
                    assert await early_page.locator("video").get_attribute("data-mode") == "remux"
                    await early_page.evaluate("document.querySelector('video').play().catch(() => {})")
                    await early_page.locator(".fallback-note").wait_for(state="visible")
                    fallback = await early_page.locator(".fallback-note").inner_text()
                    early_state = await early_page.evaluate(METADATA)
                finally:
                    await early.close()
                async with http.get(play) as answer:
                    refused = (answer.status, answer.headers.get("Retry-After"), await answer.text())
            finally:
                first.close()
        assert "original file" in fallback and "/stream/" in early_state["src"] and early_state["error"] is None
        assert early_errors == []
        assert "The only place for converting videos is busy" in busy and "original file" in busy
        assert "/stream/" in src and state["error"] is None and state["duration"] > 9
        assert refused[0] == 503 and refused[1] == "10" and "Every place for converting videos is taken" in refused[2]
        assert errors == []


async def test_damaged_videos_are_said_to_be_unplayable_and_the_service_serves_everyone_else(
        browser, telegram, database_url, database_name, tmp_path):
    world = make_world(telegram)
    film = mkv_h264_ac3_subrip(tmp_path)
    damaged = {
        "Cut.mkv": film[:1500],                 # the header and the tracks, not one frame
        "Noise.mkv": bytes((n * 7919 + 13) % 251 for n in range(300_000)),
        "Absurd.mkv": matroska_with_absurd_sizes(),
    }
    settings = settings_for(world, database_url, database_name, tmp_path / "sessions", RATE_LIMIT_FILES=0)
    async with running_service(settings) as service:
        good = (await send_and_get_links(world, film, "Good.mkv", kind="video", mime_type="video/x-matroska")).links
        said = {}
        for name, data in damaged.items():
            links = (await send_and_get_links(world, data, name, kind="video", mime_type="video/x-matroska")).links
            context, page, errors = await open_page(browser, links.watch)
            try:
                said[name] = await page.locator(".cannot-play-words").inner_text()
            finally:
                await context.close()
            assert errors == []
            async with http_client() as http:
                async with http.get(links.watch.replace("/watch/", "/play/")) as answer:
                    assert answer.status == 415, name
        assert all("cannot be played in the browser" in words for words in said.values()), said
        assert "cut short or damaged" in said["Cut.mkv"]
        records = {doc["file_name"]: doc["media"] async for doc in service.db.db["files"].find({"media": {"$exists": True}})}
        assert all(not records[name]["ok"] for name in damaged)
        assert service.remux.running == 0
        # Everyone else is served as before: the good film still converts and downloads whole.
        context, page, errors = await open_page(browser, good.watch)
        try:
            played = await page.evaluate(PLAYS_WITH_SOUND, 0.5)
        finally:
            await context.close()
        assert played["audio"] > 0 and errors == []
        async with http_client() as http:
            async with http.get(good.download) as answer:
                assert await answer.read() == film
