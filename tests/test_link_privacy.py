"""Holding a link gives the link, nothing more: deep links have their own keys, a private file's
message goes only to its owner, and no log line carries anything that opens a file."""

from __future__ import annotations

import dataclasses
import logging
from urllib.parse import parse_qs, urlsplit

from aiohttp.test_utils import TestClient, TestServer

from FileStream.bot import texts
from FileStream.core.tokens import make_link_token, new_deep_link_key, new_file_id
from FileStream.logging_setup import mask_secrets
from FileStream.web.app import build_app
from clocks import Clock, real_now
from database_fixture import add_as_migrated
from service_harness import http_client, links_in, make_world, running_service, send_and_get_links


def token_of(url: str) -> str:
    """The link token in a /dl/<token>/<name>, /stream/… or /watch/<token> URL."""
    return urlsplit(url).path.split("/")[2]


def start_payload(url: str) -> str:
    return parse_qs(urlsplit(url).query)["start"][0]


def logged_text(caplog) -> list[str]:
    """Every line our code and its libraries logged (the local Telegram's own log aside)."""
    lines = []
    for record in caplog.records:
        if record.name.startswith("tgserver"):
            continue
        text = record.getMessage()
        if record.exc_info:
            text += logging.Formatter().formatException(record.exc_info)
        lines.append(text)
    return lines


async def test_holding_a_link_gives_the_link_and_nothing_more(telegram, stack_settings, caplog):
    caplog.set_level(logging.DEBUG, logger="FileStream")
    caplog.set_level(logging.DEBUG, logger="aiohttp")
    world = make_world(telegram)
    alice, bot = world.person, world.main_bot
    editor_user = telegram.world.add_user(first_name="Eddie", username="eddie")
    movies = telegram.world.add_channel(title="Movies", admins=[bot, editor_user])
    mallory = telegram.person(telegram.world.add_user(first_name="Mallory", username="mallory"))
    clock = Clock()

    async def start(person, payload: str):
        await person.send_command(bot, "start", payload)
        return await person.next_message(bot)

    async with running_service(stack_settings(world, AUTH_CHANNEL=movies.id), clock) as service:
        # Alice sends a file in private and shares its stream link with Mallory.
        sent = await send_and_get_links(world, b"alice's diary", "diary.txt", mime_type="text/plain")
        token = token_of(sent.links.download)
        [diary], _ = await service.db.files.list_by_owner(alice.id, clock(), 0)
        assert diary.id == token[:16] and diary.deep_link_key is None, "a private file has no deep link"
        async with http_client() as http:
            async with http.get(sent.links.download) as response:
                assert response.status == 200 and await response.read() == b"alice's diary"

        # Whatever Mallory makes of the link, the bot gives nothing more than the link gave.
        for payload in (f"file_{diary.id}", f"stream_{diary.id}", f"file_{token}", f"stream_{token[:22]}"):
            reply = await start(mallory, payload)
            assert reply.text == texts.FILE_NOT_FOUND and reply.media is None, payload
        # Alice has no deep link to her private file either; her links are in her chat and /files.
        assert (await start(alice, f"file_{diary.id}")).text == texts.FILE_NOT_FOUND

        # A private file with a deep-link key (as files moved over from older bots have) opens
        # for its owner only; anyone else gets the same words as for a file that does not exist.
        keyed = dataclasses.replace(diary, id=new_file_id(), deep_link_key=new_deep_link_key())
        await add_as_migrated(service.db, keyed)
        for payload in (f"file_{keyed.deep_link_key}", f"stream_{keyed.deep_link_key}"):
            reply = await start(mallory, payload)
            assert reply.text == texts.FILE_NOT_FOUND and reply.media is None
        copy = await start(alice, f"file_{keyed.deep_link_key}")
        assert copy.media is not None and copy.media.read() == b"alice's diary"
        assert links_in(await start(alice, f"stream_{keyed.deep_link_key}")) is not None

        # A channel post is meant to be shared: its deep links work for anyone, by a key of their own.
        editor = telegram.person(editor_user)
        post = await editor.post_file(movies, b"the whole film", file_name="film.mkv", mime_type="video/x-matroska")
        rows = await telegram.world.wait_until(lambda: post.buttons)
        urls = {b.text: b.url for row in rows for b in row}
        film_token = token_of(urls["Download"])
        film = await service.db.files.get(film_token[:16])
        assert film.deep_link_key and film.deep_link_key not in urls["Download"] + urls["Stream"]
        assert start_payload(urls["File"]) == f"file_{film.deep_link_key}"
        copy = await start(mallory, start_payload(urls["File"]))
        assert copy.media is not None and copy.media.read() == b"the whole film"
        fresh = links_in(await start(mallory, start_payload(urls["Bot link"])))
        assert fresh is not None and token_of(fresh.download) == film_token
        assert (await start(mallory, f"file_{film.id}")).text == texts.FILE_NOT_FOUND

        # Something to log on the web side too: an unknown file and a forged token.
        async with http_client() as http:
            gone = make_link_token(b"x" * 32, new_file_id(), None)
            async with http.get(sent.links.download.replace(token, gone)) as response:
                assert response.status == 404

    # The log names files by a reference that opens nothing, never by id, token or key.
    lines = logged_text(caplog)
    assert any(diary.ref in line for line in lines) and any(film.ref in line for line in lines)
    opening = {token, film_token, diary.id, keyed.id, keyed.deep_link_key, film.id, film.deep_link_key,
               token_of(fresh.download)}
    leaks = [line for line in lines for value in opening if value in line]
    assert not leaks


async def test_an_unexpected_web_error_is_logged_without_the_link(caplog):
    caplog.set_level(logging.DEBUG, logger="FileStream")

    class BrokenLookup:
        async def get_file(self, file_id):
            return object()  # not a file record: the handler trips over it

    class NoBytes:
        def stream(self, file, start, end, whole=False):
            raise AssertionError("never reached")

    token = make_link_token(b"k" * 32, new_file_id(), None)
    app = build_app(files=BrokenLookup(), source=NoBytes(), link_secret=b"k" * 32,
                    public_url="http://127.0.0.1", clock=real_now)
    async with TestClient(TestServer(app)) as client:
        response = await client.get(f"/dl/{token}/secret-name.bin")
        assert response.status == 500 and "Something went wrong" in await response.text()
    [failure] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert "GET /dl/{token}" in failure.getMessage()
    assert not [line for line in logged_text(caplog) if token in line or token[:16] in line]


def test_link_urls_and_deep_links_quoted_in_a_log_message_are_masked():
    token = make_link_token(b"k" * 32, new_file_id(), None)
    key = new_deep_link_key()
    text = (f"GET http://files.example.com/stream/{token}/a.mkv failed; "
            f"see https://t.me/filestream_bot?start=file_{key}")
    masked = mask_secrets(text)
    assert token not in masked and key not in masked
    assert "/stream/***/a.mkv" in masked and "?start=***" in masked
