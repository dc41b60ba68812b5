"""Posters and covers end to end: the watch page of a video names its Telegram thumbnail as the
poster; the image comes from our own origin, fetched from Telegram once however often it is shown."""

from __future__ import annotations

import asyncio
from html.parser import HTMLParser

from FileStream.telegram.thumbnails import Thumbnails
from service_harness import http_client, make_world, running_service, send_and_get_links

POSTER = b"\xff\xd8\xff\xe0" + b"a frame of the film " * 400
COVER = b"\xff\xd8\xff\xe0" + b"album cover " * 300
# The "films" here are words, not video: with conversion on, their page would say they cannot
# play (tests/test_remux_browser.py). These stories are about posters, so conversion is off.
NO_REMUX = {"REMUX_MAX": 0}


class Attributes(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


async def page_tags(http, url: str) -> list[tuple[str, dict]]:
    async with http.get(url) as response:
        assert response.status == 200
        parser = Attributes()
        parser.feed(await response.text())
    return parser.tags


async def film_with_poster(world, service, http) -> str:
    """A person sends a video with a thumbnail; the poster URL its watch page names."""
    links = (await send_and_get_links(world, b"film" * 5000, "Film.mp4", kind="video", mime_type="video/mp4",
                                      thumb=POSTER)).links
    [video] = [attrs for tag, attrs in await page_tags(http, links.watch) if tag == "video"]
    assert video["poster"].startswith("/thumb/"), "the poster comes from our own origin"
    return service.public_url + video["poster"]


async def test_a_video_page_shows_the_telegram_thumbnail_as_poster_fetched_once(telegram, stack_settings):
    world = make_world(telegram, backends=1)
    async with running_service(stack_settings(world, **NO_REMUX)) as service:
        async with http_client() as http:
            poster = await film_with_poster(world, service, http)
            reads_before = len(telegram.rpc_log(method="upload.GetFile"))

            async def fetch() -> tuple[int, str, bytes]:
                async with http.get(poster) as response:
                    return response.status, response.content_type, await response.read()

            # Five people open the page at once, then one more comes back later.
            answers = await asyncio.gather(*(fetch() for _ in range(5)))
            answers.append(await fetch())
            async with http.head(poster) as response:
                assert response.status == 200 and response.headers["Content-Type"] == "image/jpeg"
        assert answers == [(200, "image/jpeg", POSTER)] * 6
        reads = telegram.rpc_log(method="upload.GetFile")[reads_before:]
        assert len(reads) == 1 and reads[0].error is None, reads


async def test_an_audio_cover_is_served_and_a_video_without_a_thumbnail_says_so(telegram, stack_settings):
    world = make_world(telegram)
    async with running_service(stack_settings(world, RATE_LIMIT_FILES=0, **NO_REMUX)) as service:
        song = (await send_and_get_links(world, b"song" * 3000, "Song.mp3", kind="audio", mime_type="audio/mpeg",
                                         thumb=COVER)).links
        bare = (await send_and_get_links(world, b"bare" * 3000, "Bare.mp4", kind="video", mime_type="video/mp4")).links
        async with http_client() as http:
            [cover] = [a for tag, a in await page_tags(http, song.watch) if tag == "img" and a.get("class") == "cover"]
            async with http.get(service.public_url + cover["src"]) as response:
                assert response.status == 200 and await response.read() == COVER
            [video] = [a for tag, a in await page_tags(http, bare.watch) if tag == "video"]
            reads = len(telegram.rpc_log(method="channels.GetMessages"))
            for _ in range(2):
                async with http.get(service.public_url + video["poster"]) as response:
                    assert response.status == 404 and "no preview" in await response.text()
        # Looked up once: that the file has no thumbnail is remembered too.
        assert len(telegram.rpc_log(method="channels.GetMessages")) == reads + 1


async def test_a_thumbnail_telegram_refused_is_not_remembered_and_the_next_view_gets_it(telegram, stack_settings):
    world = make_world(telegram)
    async with running_service(stack_settings(world, **NO_REMUX)) as service:
        async with http_client() as http:
            poster = await film_with_poster(world, service, http)
            refusal = telegram.faults.flood_wait(None, "upload.GetFile", seconds=30, times=1)
            async with http.get(poster) as response:
                assert response.status == 502 and "could not be fetched" in await response.text()
            assert refusal.hits == 1
            async with http.get(poster) as response:
                assert response.status == 200 and await response.read() == POSTER


async def test_the_poster_cache_keeps_what_fits_its_bound_and_fetches_an_evicted_one_again(telegram, stack_settings):
    """The cache is bounded by bytes, least recently shown out first: with room for two posters,
    a third pushes out the one not shown for longest, which is fetched again when next shown."""
    world = make_world(telegram)
    posters = [b"\xff\xd8\xff\xe0" + f"poster {n} ".encode() * 700 for n in range(3)]
    async with running_service(stack_settings(world, RATE_LIMIT_FILES=0, **NO_REMUX)) as service:
        for n, poster in enumerate(posters):
            await send_and_get_links(world, b"film" * 1000 + bytes([n]), f"Film {n}.mp4", kind="video",
                                     mime_type="video/mp4", thumb=poster)
        films, _total = await service.db.files.list_by_owner(world.person.id, service.clock(), 0)
        first, second, third = sorted(films, key=lambda f: f.file_name)
        # The service's own pool and media connections, with a cache two posters large.
        thumbnails = Thumbnails(service.pool, service.sessions, cache_bytes=2 * len(posters[0]) + 100)
        reads = len(telegram.rpc_log(method="upload.GetFile"))

        shown = [await thumbnails.thumbnail(film) for film in (first, second, first, third)]
        assert shown == [posters[0], posters[1], posters[0], posters[2]]
        assert thumbnails.fetched == 3, "the first film's poster came from the cache the second time"
        assert await thumbnails.thumbnail(first) == posters[0] and thumbnails.fetched == 3
        assert await thumbnails.thumbnail(second) == posters[1] and thumbnails.fetched == 4, "pushed out, fetched again"
        assert len(telegram.rpc_log(method="upload.GetFile")) == reads + 4
