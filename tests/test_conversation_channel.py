"""Files posted in AUTH_CHANNEL get link buttons on their post; other posts are left alone."""

from __future__ import annotations

import asyncio
import logging
from contextlib import contextmanager
from urllib.parse import parse_qs, urlsplit


from service_harness import http_client, make_world, running_service



def channel_world(telegram):
    world = make_world(telegram)
    editor = telegram.world.add_user(first_name="Eddie", username="eddie")
    movies = telegram.world.add_channel(title="Movies", admins=[world.main_bot, editor])
    elsewhere = telegram.world.add_channel(title="Elsewhere", admins=[world.main_bot, editor])
    return world, telegram.person(editor), movies, elsewhere


def start_payload(url: str) -> str:
    return parse_qs(urlsplit(url).query)["start"][0]


async def buttons_of(telegram, post):
    return await telegram.world.wait_until(lambda: post.buttons)


async def test_a_file_posted_in_the_auth_channel_gets_stream_download_and_deep_link_buttons(telegram, stack_settings):
    world, editor, movies, elsewhere = channel_world(telegram)
    async with running_service(stack_settings(world, AUTH_CHANNEL=movies.id)) as service:
        ignored_text = await editor.post_text(movies, "Tonight: a film")
        ignored_file = await editor.post_file(elsewhere, b"not here", file_name="other.bin")
        post = await editor.post_file(movies, b"the whole film", file_name="film.mkv", mime_type="video/x-matroska")

        rows = await buttons_of(telegram, post)
        assert [[b.text for b in row] for row in rows] == [["Stream", "Download"], ["Bot link", "File"]]
        urls = {b.text: b.url for row in rows for b in row}
        [record] = [f async for f in _channel_files(service)]
        assert record.source == "channel" and record.expires_at is None and record.owner_id is None
        assert urls["Bot link"].startswith("https://t.me/filestream_bot?")
        # The deep links name the file by its own random key, not by anything in its link tokens.
        assert record.deep_link_key and record.deep_link_key != record.id
        assert start_payload(urls["Bot link"]) == f"stream_{record.deep_link_key}"
        assert start_payload(urls["File"]) == f"file_{record.deep_link_key}"
        async with http_client() as http:
            async with http.get(urls["Download"]) as response:
                assert response.status == 200 and await response.read() == b"the whole film"

        # The deep link opens the bot and it sends the file.
        await world.person.send_command(world.main_bot, "start", start_payload(urls["File"]))
        copy = await world.person.next_message(world.main_bot)
        assert copy.media is not None and copy.media.read() == b"the whole film"

        assert ignored_text.buttons == [] and ignored_file.buttons == []
        assert len([f async for f in _channel_files(service)]) == 1


async def test_without_download_links_the_post_gets_only_the_deep_links(telegram, stack_settings):
    world, editor, movies, _ = channel_world(telegram)
    async with running_service(stack_settings(world, AUTH_CHANNEL=movies.id, GENERATE_DOWNLOAD_LINKS="false",
                                              CHANNEL_FILE_TTL=86400)) as service:
        post = await editor.post_file(movies, b"short", file_name="short.mp4", mime_type="video/mp4", kind="video")
        rows = await buttons_of(telegram, post)
        assert [[b.text for b in row] for row in rows] == [["Bot link", "File"]]
        [record] = [f async for f in _channel_files(service)]
        assert (record.expires_at - record.created_at).total_seconds() == 86400


async def test_a_post_the_bot_cannot_edit_is_logged_once_in_words(telegram, stack_settings, caplog):
    world, editor, movies, _ = channel_world(telegram)
    caplog.set_level(logging.INFO, logger="FileStream")
    with logged("could not add its link buttons") as said_once:
        async with running_service(stack_settings(world, AUTH_CHANNEL=movies.id)) as service:
            post = await editor.post_file(movies, b"oops", file_name="oops.bin")
            telegram.world.delete([post], None)  # gone before the bot could add its buttons
            await asyncio.wait_for(said_once.wait(), 10)
            said = [r for r in caplog.records if "could not add its link buttons" in r.getMessage()]
            assert len(said) == 1 and said[0].exc_info is None
            assert "admin of the channel" in said[0].getMessage()
            assert len([f async for f in _channel_files(service)]) == 1
    # Telegram refused the edit because the post was gone.
    edits = telegram.rpc_log(world.main_bot, "messages.EditMessage")
    assert [c.error for c in edits] == ["MESSAGE_ID_INVALID"]


@contextmanager
def logged(words: str, times: int = 1):
    """An event set once FileStream has logged `times` lines containing `words` (log lines are
    no change of the Telegram world, so its wait_until would not wake for them)."""
    seen = asyncio.Event()
    count = 0

    class Watch(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            nonlocal count
            if words in record.getMessage():
                count += 1
                if count >= times:
                    seen.set()

    watch = Watch()
    logger = logging.getLogger("FileStream")
    logger.addHandler(watch)
    try:
        yield seen
    finally:
        logger.removeHandler(watch)


async def _channel_files(service):
    async for doc in service.db.db["files"].find({"source": "channel"}):
        yield await service.db.files.get(doc["_id"])


async def test_without_the_right_to_edit_posts_the_posts_stay_and_it_is_said_once(telegram, stack_settings, caplog):
    world, editor, movies, _ = channel_world(telegram)
    movies.set_rights(world.main_bot, edit_messages=False)
    caplog.set_level(logging.INFO, logger="FileStream")
    with logged("without link buttons", times=3) as all_said:
        async with running_service(stack_settings(world, AUTH_CHANNEL=movies.id)) as service:
            posts = [await editor.post_file(movies, f"film {n}".encode(), file_name=f"film{n}.mkv") for n in range(3)]
            refused = await telegram.wait_until(
                lambda: len(edits := telegram.rpc_log(world.main_bot, "messages.EditMessage")) == 3 and edits)
            assert [c.error for c in refused] == ["MESSAGE_AUTHOR_REQUIRED"] * 3
            await asyncio.wait_for(all_said.wait(), 10)

            warned = [r for r in caplog.records if r.levelno >= logging.WARNING and r.name.startswith("FileStream")]
            assert len(warned) == 1, [r.getMessage() for r in warned]
            assert "right to edit messages of others" in warned[0].getMessage() and warned[0].exc_info is None
            for n, post in enumerate(posts):
                assert not post.deleted and post.buttons == [] and post.media.read() == f"film {n}".encode()
            assert len([f async for f in _channel_files(service)]) == 3, "every file is stored all the same"
