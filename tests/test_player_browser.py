"""The player page in a real browser: a person opens the watch link in headless Chromium,
the video loads, seeks to 70% (a Range request the server answers with 206) and plays."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from service_harness import make_world, running_service, send_and_get_links, settings_for

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# The flags a browser needs on a machine with no network but loopback and no display.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--autoplay-policy=no-user-gesture-required"]
SCREENSHOT_DIR = Path(os.environ.get("FILESTREAM_SCREENSHOTS", Path(__file__).parent / "screenshots"))

pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="Chromium is not installed (Debian package 'chromium'; .ci/run installs it)")


def make_video(path: Path, seconds: int = 20) -> bytes:
    """A noisy (so: large, ~20 MB) WebM, so the browser cannot have it all before seeking."""
    import imageio_ffmpeg

    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-loglevel", "error", "-y", "-f", "lavfi",
                    "-i", "testsrc2=size=640x360:rate=25,noise=alls=40:allf=t", "-t", str(seconds),
                    "-c:v", "libvpx", "-deadline", "realtime", "-cpu-used", "8", "-b:v", "8M", "-g", "25",
                    str(path)], check=True, timeout=120)
    return path.read_bytes()


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


async def test_the_watch_page_plays_and_seeks_in_a_real_browser(telegram, database_url, database_name, tmp_path):
    from playwright.async_api import async_playwright

    world = make_world(telegram)
    video = make_video(tmp_path / "clip.webm")
    settings = settings_for(world, database_url, database_name, tmp_path / "sessions")
    async with running_service(settings):
        links = (await send_and_get_links(world, video, "Test clip.webm", kind="video", mime_type="video/webm")).links
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                page = await browser.new_page(viewport={"width": 900, "height": 700})
                answers = []
                page.on("response", lambda r: answers.append((r.status, r.request.headers.get("range"), r.url)))
                await page.goto(links.watch)
                assert "Test clip.webm" in await page.title()
                result = await page.evaluate(PLAY_AND_SEEK)
                SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
                await page.screenshot(path=str(SCREENSHOT_DIR / "player.png"))
            finally:
                await browser.close()
    assert result["error"] is None
    assert result["duration"] > 19 and result["position"] >= result["duration"] * 0.7
    seek_requests = [(status, header) for status, header, url in answers
                     if "/stream/" in url and header and not header.startswith("bytes=0-")]
    assert seek_requests, f"the seek made no Range request past the start: {answers}"
    assert all(status == 206 for status, _ in seek_requests), seek_requests
