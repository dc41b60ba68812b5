"""The bundle page in a real browser: "Play all" plays the bundle's video and audio one after
another in headless Chromium, under the page's CSP, and skips the file it cannot play."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from service_harness import make_world, running_service, settings_for
from browser import CHROMIUM, CHROMIUM_ARGS, SCREENSHOT_DIR

pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="Chromium is not installed (Debian package 'chromium'; .ci/run installs it)")


def make_media(path: Path, lavfi: str, codec: list[str]) -> bytes:
    import imageio_ffmpeg

    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-loglevel", "error", "-y", "-f", "lavfi", "-i", lavfi,
                    "-t", "1", *codec, str(path)], check=True, timeout=120)
    return path.read_bytes()


PLAY_ALL = """async () => {
  const player = document.getElementById('bundle-player');
  const label = document.querySelector('.bundle-now-playing');
  const played = [];
  const violations = [];
  document.addEventListener('securitypolicyviolation', e => violations.push(e.violatedDirective));
  player.muted = true;
  player.addEventListener('playing', () => played.push(player.currentSrc));
  document.getElementById('play-all').click();
  const deadline = Date.now() + 30000;
  while (label.textContent !== 'Finished.' && Date.now() < deadline) {
    await new Promise(resolve => setTimeout(resolve, 100));
  }
  const marked = [...document.querySelectorAll('.bundle-file')].map(li => li.classList.contains('playing'));
  return {played, label: label.textContent, marked, violations};
}"""


async def test_play_all_plays_the_video_and_the_audio_one_after_another(telegram, database_url, database_name,
                                                                         tmp_path):
    from playwright.async_api import async_playwright

    world = make_world(telegram)
    person, bot = world.person, world.main_bot
    video = make_media(tmp_path / "v.webm", "testsrc2=size=320x180:rate=25", ["-c:v", "libvpx", "-b:v", "300k"])
    audio = make_media(tmp_path / "a.webm", "sine=frequency=440", ["-c:a", "libopus"])
    settings = settings_for(world, database_url, database_name, tmp_path / "sessions")
    async with running_service(settings):
        await person.send_command(bot, "bundle", "Evening")
        status = await person.next_message(bot)
        await person.send_file(bot, video, file_name="1 clip.webm", mime_type="video/webm", kind="video")
        await person.send_file(bot, b"not a picture", file_name="2 notes.txt", mime_type="text/plain")
        await person.send_file(bot, b"\x1aE\xdf\xa3 broken", file_name="3 broken.webm", mime_type="video/webm",
                               kind="video")
        await person.send_file(bot, audio, file_name="4 tone.webm", mime_type="audio/webm", kind="audio")
        await telegram.world.wait_until(
            lambda: "4 of 4 stored" in next(m.text for m in person.messages_from(bot) if m.message_id == status.message_id),
            timeout=30)
        await person.send_command(bot, "done")
        reply = await person.next_message(bot, timeout=20)
        page_url = reply.button("Open the bundle").url

        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                page = await browser.new_page(viewport={"width": 900, "height": 800})
                await page.goto(page_url)
                assert "Evening" in await page.title()
                result = await page.evaluate(PLAY_ALL)
                SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
                await page.screenshot(path=str(SCREENSHOT_DIR / "bundle.png"), full_page=True)
                phone = await browser.new_page(viewport={"width": 390, "height": 844}, is_mobile=True)
                await phone.goto(page_url)
                overflow = await phone.evaluate("document.documentElement.scrollWidth - window.innerWidth")
                await phone.screenshot(path=str(SCREENSHOT_DIR / "bundle-phone.png"), full_page=True)
            finally:
                await browser.close()
    assert result["label"] == "Finished." and result["violations"] == []
    assert overflow <= 0, "on a phone the page fits the screen's width"
    played = [url.rsplit("/", 1)[1] for url in result["played"]]
    assert played == ["1%20clip.webm", "4%20tone.webm"], "the video, then (the broken one skipped) the audio"
    assert result["marked"] == [False, False, False, False], "nothing marked as playing once finished"
