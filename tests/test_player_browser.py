"""The pages in a real browser: a person opens links in headless Chromium, on a desktop and on a
phone, in the light and the dark theme. The video shows its Telegram thumbnail as the poster,
loads, seeks to 70% (a Range request the server answers with 206) and plays; audio plays under
its cover; an image shows; the front page names the bot.

One Chromium serves every test of this module. Screenshots go to tests/screenshots/ (or
$FILESTREAM_SCREENSHOTS) for a person to look at.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from browser import CHROMIUM, DESKTOP, NO_CHROMIUM, SCREENSHOT_DIR
from service_harness import make_world, running_service, send_and_get_links, settings_for


PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2, "is_mobile": True, "has_touch": True}
# The page background of each theme (style.css --bg), as the browser computes it.
LIGHT_BG, DARK_BG = "rgb(244, 246, 249)", "rgb(14, 17, 22)"

pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason=NO_CHROMIUM)


def ffmpeg(*args: str) -> None:
    import imageio_ffmpeg

    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-loglevel", "error", "-y", *args], check=True, timeout=120)


def make_video(path: Path, seconds: int = 20) -> bytes:
    """A noisy (so: large, ~20 MB) WebM, so the browser cannot have it all before seeking."""
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=640x360:rate=25,noise=alls=40:allf=t", "-t", str(seconds),
           "-c:v", "libvpx", "-deadline", "realtime", "-cpu-used", "8", "-b:v", "8M", "-g", "25", str(path))
    return path.read_bytes()


def make_audio(path: Path) -> bytes:
    ffmpeg("-f", "lavfi", "-i", "sine=frequency=440:duration=4", "-c:a", "libopus", "-b:a", "32k", str(path))
    return path.read_bytes()


def make_image(path: Path, size: str, source: str = "testsrc2") -> bytes:
    """One frame of an ffmpeg test source ("color=c=0xff8000" takes options: the size is added to them)."""
    options = f"{source}:size={size}" if "=" in source else f"{source}=size={size}"
    ffmpeg("-f", "lavfi", "-i", options, "-frames:v", "1", str(path))
    return path.read_bytes()


# The poster is one flat colour, unlike any frame of the test video, so a screenshot tells them apart.
POSTER_RGB = (255, 128, 0)


def make_poster(path: Path) -> bytes:
    return make_image(path, "320x180", "color=c=0xff8000")


def pixel(png: bytes, x: int, y: int) -> tuple[int, int, int]:
    """The colour at (x, y) of a PNG, decoded by ffmpeg (no imaging library needed)."""
    import imageio_ffmpeg

    probe = subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-loglevel", "error", "-i", "pipe:0", "-vf",
                            f"crop=1:1:{x}:{y}", "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1"],
                           input=png, capture_output=True, check=True, timeout=30)
    return tuple(probe.stdout[:3])


def close_to(colour: tuple[int, ...], expected: tuple[int, ...], tolerance: int = 24) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(colour, expected))



async def open_page(browser, url: str, *, device: dict, scheme: str):
    context = await browser.new_context(**device, color_scheme=scheme)
    page = await context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    await page.goto(url)
    return context, page, errors


async def screenshot(page, name: str) -> None:
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SCREENSHOT_DIR / f"{name}.png"))


async def background(page) -> str:
    return await page.evaluate("getComputedStyle(document.body).backgroundColor")


async def box(page, selector: str) -> dict:
    return await page.locator(selector).first.bounding_box()


async def fits_the_width(page) -> bool:
    return await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


PLAY_AND_SEEK = """async () => {
  const video = document.querySelector('video');
  const once = (name) => new Promise(resolve => video.addEventListener(name, resolve, {once: true}));
  if (video.readyState < 1) await once('loadedmetadata');
  const duration = video.duration;
  const seeked = once('seeked');
  video.currentTime = duration * 0.7;
  await seeked;
  video.muted = true;
  await video.play();
  const target = duration * 0.7 + 0.5;
  while (video.currentTime < target) await once('timeupdate');
  video.pause();
  return {duration, position: video.currentTime, error: video.error && video.error.code};
}"""

# The poster decoded as the page has it (an image of our own origin: the CSP allows no other).
POSTER_LOADED = """async () => {
  const image = new Image();
  image.src = document.querySelector('video').poster;
  await image.decode();
  return image.naturalWidth;
}"""


async def poster_pixel(page, spot: tuple[int, int]) -> tuple[int, int, int]:
    """The colour at `spot` once the poster is painted (a bounded wait: painting signals nothing)."""
    for _attempt in range(50):
        colour = pixel(await page.screenshot(scale="css"), *spot)
        if close_to(colour, POSTER_RGB):
            break
        await page.wait_for_timeout(100)
    return colour


PLAY_AUDIO = """async () => {
  const audio = document.querySelector('audio');
  const once = (name) => new Promise(resolve => audio.addEventListener(name, resolve, {once: true}));
  if (audio.readyState < 1) await once('loadedmetadata');
  audio.muted = true;
  await audio.play();
  while (audio.currentTime < 0.3) await once('timeupdate');
  audio.pause();
  return {duration: audio.duration, position: audio.currentTime, error: audio.error && audio.error.code};
}"""


async def test_the_video_page_shows_its_poster_plays_and_seeks_on_a_desktop_and_fits_a_phone_in_the_dark(
        browser, telegram, database_url, database_name, tmp_path):
    world = make_world(telegram)
    video = make_video(tmp_path / "clip.webm")
    poster = make_poster(tmp_path / "poster.jpg")
    settings = settings_for(world, database_url, database_name, tmp_path / "sessions")
    async with running_service(settings):
        links = (await send_and_get_links(world, video, "Test clip.webm", kind="video", mime_type="video/webm",
                                          w=640, h=360, thumb=poster)).links

        context, page, errors = await open_page(browser, links.watch, device=DESKTOP, scheme="light")
        try:
            answers = []
            page.on("response", lambda r: answers.append((r.status, r.request.headers.get("range"), r.url)))
            assert "Test clip.webm" in await page.title()
            result = await page.evaluate(PLAY_AND_SEEK)
            assert await background(page) == LIGHT_BG
            player, download = await box(page, "video"), await box(page, "a.button.primary")
            await screenshot(page, "video-desktop-light")
        finally:
            await context.close()
        assert result["error"] is None and errors == []
        assert result["duration"] > 19 and result["position"] >= result["duration"] * 0.7
        seek_requests = [(status, header) for status, header, url in answers
                         if "/stream/" in url and header and not header.startswith("bytes=0-")]
        assert seek_requests, f"the seek made no Range request past the start: {answers}"
        assert all(status == 206 for status, _ in seek_requests), seek_requests
        # A wide screen: the player is large, centred, and the download button is on the first screen.
        assert player["width"] >= 900 and abs(player["x"] - (1280 - player["x"] - player["width"])) <= 2
        assert download["y"] + download["height"] <= 800

        context, page, errors = await open_page(browser, links.watch, device=PHONE, scheme="dark")
        try:
            await page.wait_for_function("document.querySelector('video').readyState >= 1")
            poster_width = await page.evaluate(POSTER_LOADED)
            assert await background(page) == DARK_BG
            assert await fits_the_width(page)
            player = await box(page, "video")
            buttons = [await b.bounding_box() for b in await page.locator(".actions .button").all()]
            # Before it plays, the video shows its poster: sample the picture away from the controls.
            spot = (int(player["x"] + player["width"] * 0.15), int(player["y"] + player["height"] * 0.2))
            shown = await poster_pixel(page, spot)
            await screenshot(page, "video-phone-dark")
        finally:
            await context.close()
        assert errors == []
        assert poster_width == 320
        assert close_to(shown, POSTER_RGB), f"the poster is not shown: {shown} at {spot}"
        # A phone: the player takes the width but for the page's margins; buttons big enough
        # to tap, Download across the card, the others two by two (the odd one out across).
        assert player["width"] >= 390 - 2 * 14 and player["height"] >= player["width"] * 9 / 16 - 1
        download, copy, vlc, mx = buttons
        assert download["width"] >= 330 and all(b["height"] >= 44 for b in buttons)
        assert copy["y"] == vlc["y"] and abs(copy["width"] - vlc["width"]) <= 1 and copy["width"] < 200
        assert mx["y"] > copy["y"] and mx["width"] == download["width"]


async def test_audio_plays_an_image_shows_and_the_front_page_names_the_bot(
        browser, telegram, database_url, database_name, tmp_path):
    world = make_world(telegram)
    audio = make_audio(tmp_path / "tone.ogg")
    image = make_image(tmp_path / "picture.png", "1600x1000")
    cover = make_image(tmp_path / "cover.jpg", "320x320", "mandelbrot")
    settings = settings_for(world, database_url, database_name, tmp_path / "sessions", RATE_LIMIT_FILES=0)
    async with running_service(settings) as service:
        song = (await send_and_get_links(world, audio, "Tone.ogg", kind="audio", mime_type="audio/ogg",
                                         w=320, h=320, thumb=cover)).links
        picture = (await send_and_get_links(world, image, "Picture.png", mime_type="image/png")).links
        home = service.public_url + "/"

        context, page, errors = await open_page(browser, song.watch, device=PHONE, scheme="dark")
        try:
            result = await page.evaluate(PLAY_AUDIO)
            # The cover replaces the placeholder once it has loaded (player.js).
            await page.wait_for_function("!document.querySelector('.cover').hidden")
            assert await page.locator(".cover-placeholder").is_hidden()
            assert await page.evaluate("document.querySelector('.cover').naturalWidth") == 320
            assert await fits_the_width(page) and await background(page) == DARK_BG
            await screenshot(page, "audio-phone-dark")
        finally:
            await context.close()
        assert result["error"] is None and result["duration"] > 3.5 and errors == []

        for device, scheme, name in [(DESKTOP, "light", "image-desktop-light"), (PHONE, "dark", "image-phone-dark")]:
            context, page, errors = await open_page(browser, picture.watch, device=device, scheme=scheme)
            try:
                await page.wait_for_function("document.querySelector('img.preview').complete")
                shown = await page.evaluate("document.querySelector('img.preview').naturalWidth")
                preview = await box(page, "img.preview")
                assert await fits_the_width(page)
                await screenshot(page, name)
            finally:
                await context.close()
            assert shown == 1600 and errors == []
            assert preview["width"] <= device["viewport"]["width"] and preview["height"] >= 100

        for device, scheme, name in [(DESKTOP, "light", "home-desktop-light"), (PHONE, "dark", "home-phone-dark")]:
            context, page, errors = await open_page(browser, home, device=device, scheme=scheme)
            try:
                bot_link = await page.locator("a.button.primary").get_attribute("href")
                text = await page.locator("main").inner_text()
                assert await fits_the_width(page)
                assert await background(page) == (DARK_BG if scheme == "dark" else LIGHT_BG)
                await screenshot(page, name)
            finally:
                await context.close()
            assert bot_link == "https://t.me/filestream_bot" and "@filestream_bot" in text and errors == []

        context, page, errors = await open_page(browser, home + "watch/" + "x" * 48, device=PHONE, scheme="dark")
        try:
            assert "Link not found" in await page.title() and await fits_the_width(page)
            await screenshot(page, "not-found-phone-dark")
        finally:
            await context.close()


async def test_the_bundle_page_wears_the_same_theme_on_a_phone_and_a_desktop(browser):
    """The bundle page (its own template and bundle.css) over in-memory stores: the shared theme,
    dark and light, and a list that fits a phone."""
    from datetime import datetime, timedelta, timezone

    from aiohttp.test_utils import TestServer

    from FileStream.core.models import Bundle, StoredFile
    from FileStream.core.tokens import make_bundle_token, new_file_id
    from FileStream.web.app import build_app
    from web_fakes import MemoryBundles, MemoryBytes, MemoryFiles

    now = datetime.now(timezone.utc)
    secret = b"s" * 32
    files, source = MemoryFiles(), MemoryBytes()
    bundles = MemoryBundles(files)
    names = [("Episode 01 - The beginning of a rather long title.mp4", "video/mp4"), ("Theme song.mp3", "audio/mpeg"),
             ("Notes.pdf", "application/pdf"), ("Cover.jpg", "image/jpeg")]
    listed = [files.add(StoredFile(id=new_file_id(), file_name=name, file_size=5_000_000 * (n + 1), mime_type=mime,
                                   file_unique_id=f"u{n}", media_type="document", dc_id=2, storage_chat_id=-1,
                                   storage_message_id=n + 1, created_at=now, expires_at=now + timedelta(hours=1)))
              for n, (name, mime) in enumerate(names)]
    bundle = bundles.add(Bundle(id=new_file_id(), title="Season one", file_ids=tuple(f.id for f in listed),
                                created_at=now, expires_at=now + timedelta(hours=1), owner_id=7))
    server = TestServer(build_app(files=files, source=source, link_secret=secret, public_url="http://127.0.0.1",
                                  clock=lambda: now, bundles=bundles))
    await server.start_server()
    try:
        url = str(server.make_url(f"/b/{make_bundle_token(secret, bundle.id, bundle.expires_at)}"))
        for device, scheme, name in [(PHONE, "dark", "bundle-phone-dark"), (DESKTOP, "light", "bundle-desktop-light")]:
            context, page, errors = await open_page(browser, url, device=device, scheme=scheme)
            try:
                assert "Season one" in await page.title()
                assert await fits_the_width(page)
                assert await background(page) == (DARK_BG if scheme == "dark" else LIGHT_BG)
                heights = [(await b.bounding_box())["height"] for b in await page.locator(".button:visible").all()]
                await screenshot(page, name)
            finally:
                await context.close()
            assert errors == [] and min(heights) >= 36
    finally:
        await server.close()
