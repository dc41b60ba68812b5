"""See FileStream work in a minute, without Telegram credentials: `make demo`.

Starts the local Telegram server the tests use, the service (with its embedded database
when DATABASE_URL is not set), and a scripted person who sends a video and a document
to the bot, then an album (which becomes one bundle); an admin posts a file in the auth
channel and the bot gives the post its buttons. Prints what the bot answered and every
link, then keeps serving so the links open in a browser until Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import random
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from FileStream.config import Settings  # noqa: E402
from FileStream.logging_setup import configure_logging  # noqa: E402
from FileStream.service import Service  # noqa: E402
from tgserver import SeededSpec, TelegramServer, patched_for  # noqa: E402


async def _next_with_links(person, bot, timeout: float = 30, button: str | None = None):
    """The bot may first show a status message and edit it: wait until links appear
    (the button named `button`, when given)."""
    while True:
        event = await person.next_event(bot, timeout=timeout)
        message = getattr(event, "message", event)
        urls = [b.text for row in (message.buttons or []) for b in row if b.url]
        if (button in urls) if button else urls:
            return message


def _button(message, text: str) -> str:
    return next((b.url for row in message.buttons or [] for b in row if b.text == text and b.url), "")


def _playable_video(seconds: int = 12) -> bytes | None:
    """A real H.264 video (a test pattern with a tone), so the watch page plays something; None
    when no ffmpeg is at hand (imageio-ffmpeg ships one with the test dependencies)."""
    try:
        import imageio_ffmpeg
    except ImportError:
        return None
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "demo.mp4"
        command = [imageio_ffmpeg.get_ffmpeg_exe(), "-loglevel", "error", "-f", "lavfi", "-i",
                   f"testsrc2=size=640x360:rate=25:duration={seconds}", "-f", "lavfi", "-i",
                   f"sine=frequency=440:duration={seconds}", "-c:v", "libx264", "-preset", "veryfast",
                   "-pix_fmt", "yuv420p", "-c:a", "aac", "-movflags", "+faststart", str(out)]
        if subprocess.run(command, capture_output=True).returncode != 0:
            return None
        return out.read_bytes()


def _describe(message) -> str:
    lines = [message.text or ""]
    for row in message.buttons or []:
        for button in row:
            lines.append(f"  [{button.text}] {button.url or button.callback_data!r}")
    return "\n".join(lines)


async def run_demo(port: int, data_dir: Path, hold: bool) -> None:
    async with TelegramServer(dc_count=5) as telegram:
        world = telegram.world
        bot = world.add_bot(username="filestream_demo_bot", home_dc=2)
        worker = world.add_bot(username="filestream_worker_bot", home_dc=2)
        storage = world.add_channel(title="FileStream storage", admins=[bot, worker])
        alice = world.add_user(first_name="Alice", username="alice", home_dc=1)
        news = world.add_channel(title="Alice's channel", admins=[bot])
        news.add_admin(alice)
        env = {
            "API_ID": "12345", "API_HASH": "0123456789abcdef0123456789abcdef", "BOT_TOKEN": bot.token,
            "OWNER_ID": str(alice.id), "BIN_CHANNEL": str(storage.id), "AUTH_CHANNEL": str(news.id),
            "MULTI_BOT_MODE": "true", "MULTI_TOKENS": worker.token,
            "BIND_ADDRESS": "127.0.0.1", "PORT": str(port), "PUBLIC_URL": f"http://127.0.0.1:{port}",
            "SESSION_DIR": str(data_dir / "sessions"), "DATA_DIR": str(data_dir),
        }
        if os.environ.get("DATABASE_URL"):
            env["DATABASE_URL"] = os.environ["DATABASE_URL"]
        with patched_for(telegram):
            service = Service(Settings.from_env(env))
            await service.start()
            try:
                person = telegram.person(alice)
                print(f"\nFileStream demo at {service.public_url}\n")
                video = _playable_video()
                await person.send_file(bot, data=video if video else SeededSpec(24 * 1024 * 1024 + 321, 1),
                                       file_name="big buck demo.mp4", mime_type="video/mp4", kind="video",
                                       duration=12 if video else 0)
                answer = await _next_with_links(person, bot)
                print("Alice sends a video. The bot answers:\n" + _describe(answer))
                await person.send_file(bot, data=random.Random(2).randbytes(200_000), file_name="notes.pdf",
                                       mime_type="application/pdf")
                print("\nAlice sends a document. The bot answers:\n" + _describe(await _next_with_links(person, bot)))
                rng = random.Random(4)
                album = [dict(data=video or rng.randbytes(300_000), file_name="clip.mp4", kind="video",
                              mime_type="video/mp4", caption="Holiday", duration=12),
                         dict(data=rng.randbytes(200_000), file_name="song.mp3", kind="audio", mime_type="audio/mpeg"),
                         dict(data=rng.randbytes(150_000), file_name="plan.pdf", kind="document",
                              mime_type="application/pdf")]
                # Telegram keeps albums to one kind of media; the demo shows a mixed one on purpose.
                await person.send_album(bot, album, allow_mixed=True)
                bundle = await _next_with_links(person, bot, button="Download all (ZIP)")
                print("\nAlice sends an album of three files: it becomes one bundle. The bot answers:\n"
                      + _describe(bundle))
                post = await person.post_file(news, data=random.Random(3).randbytes(50_000), file_name="poster.jpg",
                                              mime_type="image/jpeg")
                buttons = await telegram.wait_for_buttons(news, post.id, timeout=30)
                print(f"\nAlice posts a file in her channel (message {post.id}); the bot gives the post its buttons:")
                for row in buttons:
                    for button in row:
                        print(f"  [{button.text}] {button.url or button.callback_data!r}")
                watch = next((b.url for b in answer.flat_buttons if b.url and "/watch/" in b.url), None)
                print(f"\nOpen first: {watch or 'the first Stream link above'} (the video's player page), "
                      f"then the bundle's page ({_button(bundle, 'Open the bundle')}).")
                if hold:
                    print("\nOpen the links above in a browser. Ctrl-C stops the demo.")
                    await asyncio.Event().wait()
            finally:
                await service.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--no-hold", action="store_true", help="exit after printing the links")
    args = parser.parse_args()
    configure_logging("WARNING")
    logging.getLogger("FileStream").setLevel(logging.INFO)
    with tempfile.TemporaryDirectory(prefix="filestream-demo-") as data_dir:
        try:
            asyncio.run(run_demo(args.port, Path(data_dir), hold=not args.no_hold))
        except KeyboardInterrupt:
            print("\nDemo stopped.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
