"""End to end: a person sends a file to the bot and the links it gets play and download right.

Every story runs the real service against the local Telegram server and the test
database, and fetches links over real HTTP. Nothing of FileStream is replaced.
"""

from __future__ import annotations

import asyncio
import random


from service_harness import (Clock, http_client, make_world, running_service, send_and_get_links)

MIB = 1 << 20


def pattern(size: int, seed: int = 7) -> bytes:
    return random.Random(seed).randbytes(size)



async def test_a_person_sends_a_file_and_downloads_it_exactly(telegram, stack_settings):
    world = make_world(telegram)
    data = pattern(10 * MIB + 123)
    async with running_service(stack_settings(world)):
        sent = await send_and_get_links(world, data, "holiday video.mkv", mime_type="video/x-matroska")
        reply, links = sent.reply, sent.links
        assert links is not None, reply.text
        assert "holiday video.mkv" in reply.text
        assert "10.0 MiB" in reply.text
        assert "expire" in reply.text
        async with http_client() as http:
            async with http.get(links.download) as response:
                assert response.status == 200
                assert response.headers["Content-Length"] == str(len(data))
                assert "attachment" in response.headers["Content-Disposition"]
                assert await response.read() == data
            async with http.get(links.watch) as page:
                assert page.status == 200
                assert "holiday video.mkv" in await page.text()


async def test_ranges_validators_and_edge_cases_over_the_real_path(telegram, stack_settings):
    world = make_world(telegram)
    size = 3 * MIB + 777
    data = pattern(size, seed=3)
    rng = random.Random(11)
    async with running_service(stack_settings(world)):
        links = (await send_and_get_links(world, data, "clip.mp4", mime_type="video/mp4")).links
        ranges = ["bytes=0-0", f"bytes=0-{MIB - 1}", f"bytes=0-{MIB}", f"bytes={MIB - 1}-{MIB}",
                  f"bytes={MIB}-{2 * MIB - 1}", f"bytes={MIB}-", "bytes=-1", "bytes=-100",
                  f"bytes=-{size + 50}", f"bytes={size - 1}-", f"bytes=100-{size + 5000}", f"bytes={2 * MIB - 4096}-{2 * MIB + 4095}"]
        while len(ranges) < 200:
            first = rng.randrange(size)
            last = rng.choice([first + rng.randrange(1, 9000), first + rng.randrange(MIB * 2), size + 10])
            ranges.append(f"bytes={first}-{last}")
        async with http_client() as http:
            for header in ranges:
                first, last = _expected(header, size)
                async with http.get(links.stream, headers={"Range": header}) as response:
                    body = await response.read()
                    assert response.status == 206, header
                    assert response.headers["Content-Range"] == f"bytes {first}-{last}/{size}", header
                    assert int(response.headers["Content-Length"]) == last - first + 1
                    assert body == data[first:last + 1], header
                    etag = response.headers["ETag"]

            async with http.head(links.download) as head:
                assert head.status == 200 and head.headers["Content-Length"] == str(size)
                assert await head.read() == b""
            async with http.get(links.download, headers={"Range": f"bytes={size}-"}) as response:
                assert response.status == 416
                assert response.headers["Content-Range"] == f"bytes */{size}"
            async with http.get(links.download, headers={"Range": "bytes=oops"}) as response:
                assert response.status == 200 and await response.read() == data
            async with http.get(links.download, headers={"Range": "bytes=0-9", "If-Range": '"not-the-etag"'}) as response:
                assert response.status == 200 and len(await response.read()) == size
            async with http.get(links.download, headers={"Range": "bytes=0-9", "If-Range": etag}) as response:
                assert response.status == 206 and await response.read() == data[:10]
            async with http.get(links.download, headers={"If-None-Match": etag}) as response:
                assert response.status == 304 and await response.read() == b""

        empty_links = (await send_and_get_links(world, b"", "empty.txt", mime_type="text/plain")).links
        async with http_client() as http:
            async with http.get(empty_links.download) as response:
                assert response.status == 200 and response.headers["Content-Length"] == "0"
                assert await response.read() == b""


def _expected(header: str, size: int) -> tuple[int, int]:
    spec = header.removeprefix("bytes=")
    first, _, last = spec.partition("-")
    if not first:
        return max(0, size - int(last)), size - 1
    return int(first), min(int(last), size - 1) if last else size - 1


async def test_tampered_unknown_and_expired_links_answer_in_words(telegram, stack_settings, caplog):
    world = make_world(telegram)
    clock = Clock()
    async with running_service(stack_settings(world, FILE_TTL=3600), clock):
        links = (await send_and_get_links(world, b"secret notes", "notes.txt", mime_type="text/plain")).links
        token = links.download.split("/dl/")[1].split("/")[0]
        tampered = links.download.replace(token, token[:-2] + ("AA" if token[-2:] != "AA" else "BB"))
        unknown = links.download.replace(token, "A" * len(token))
        caplog.clear()
        async with http_client() as http:
            for url in (tampered, unknown, links.download.rsplit("/", 2)[0] + "/nonsense"):
                async with http.get(url) as response:
                    assert response.status == 404
                    assert "text/html" in response.headers["Content-Type"]
            clock.advance(hours=1, seconds=1)
            for url in (links.download, links.watch):
                async with http.get(url) as response:
                    assert response.status == 410
                    assert "expired" in (await response.text()).lower()
        assert not [r for r in caplog.records if r.exc_info], "no traceback may be logged"


async def test_twelve_streams_spread_over_three_backends_and_every_counter_returns_to_zero(telegram, stack_settings):
    world = make_world(telegram, backends=3)
    # Far more than loopback socket buffers hold: a stream nobody reads stays running.
    data = pattern(32 * MIB + 5, seed=5)
    async with running_service(stack_settings(world, STREAM_PREFETCH=2, STREAM_STRIPE="false")) as service:
        links = (await send_and_get_links(world, data, "big.bin")).links
        async with http_client() as http:
            responses = [await http.get(links.download) for _ in range(12)]
            for response in responses:
                assert response.status == 200
                await response.content.readexactly(1)
            per_backend = [m.streams for m in service.pool.backends]
            assert sum(per_backend) == 12
            assert max(per_backend) - min(per_backend) <= 1, per_backend
            assert service.pool.main.streams == 0
            # Most people go away mid-stream; two finish; some only ask HEAD.
            for response in responses[2:]:
                response.close()
            for response in responses[:2]:
                assert data[0:1] + await response.read() == data
            for _ in range(3):
                async with http.head(links.download) as head:
                    assert head.status == 200
        assert await service.streams.wait_idle(10)
        assert all(m.streams == 0 and m.in_flight == 0 for m in service.pool.members), service.pool.stats()


async def test_a_download_survives_expired_reference_flood_wait_and_a_dropped_backend(telegram, stack_settings):
    world = make_world(telegram, backends=2)
    data = pattern(6 * MIB + 999, seed=9)
    get_file = "upload.GetFile"
    async with running_service(stack_settings(world, STREAM_PREFETCH=2)) as service:
        sent = await send_and_get_links(world, data, "movie.mp4", mime_type="video/mp4")
        # The server keeps the first request for the blocks at 2, 4 and 6 MiB unanswered until
        # the test lets it go: while one waits, the stream cannot have fetched the blocks after
        # it, so each fault is armed mid-download and that very request meets it.
        at_2, at_4, at_6 = (telegram.faults.hold(get_file, when=lambda q, n=n: q.offset == n * MIB) for n in (2, 4, 6))
        async with http_client() as http:
            async with http.get(sent.links.download) as response:
                received = await response.content.readexactly(MIB)  # the download is under way
                # The person reads on (the stream fetches only as far ahead as they read).
                rest = asyncio.ensure_future(response.read())

                await at_2.reached()
                telegram.world.expire_file_reference(sent.message)
                at_2.release()

                flooded = (await at_4.reached()).account
                flood = telegram.faults.flood_wait(flooded, get_file, seconds=1, times=1)
                at_4.release()

                cut = (await at_6.reached()).account
                dropped = telegram.faults.drop_connections(cut)
                # The held request is never answered while the download runs: the stream must
                # ask for that block again, which only the lost connection can make it do.
                asked_again = telegram.faults.hold(get_file, when=lambda q: q.offset == 6 * MIB)
                await asked_again.reached()
                asked_again.release()
                received += await rest
        at_6.release()
        assert received == data

        # Each fault fired, between the first MiB the person had and the last byte.
        errors = [c.error for c in telegram.rpc_log(method=get_file) if c.error]
        assert "FILE_REFERENCE_EXPIRED" in errors
        assert flood.hits == 1 and "FLOOD_WAIT_1" in [c.error for c in telegram.rpc_log(flooded, get_file)]
        assert dropped >= 1
        assert [hold.hits for hold in (at_2, at_4, at_6, asked_again)] == [1, 1, 1, 1]
        assert await service.streams.wait_idle(10)
        assert all(m.streams == 0 and m.in_flight == 0 for m in service.pool.members), service.pool.stats()


async def test_a_file_on_another_dc_costs_one_authorization_for_many_requests(telegram, stack_settings):
    world = make_world(telegram, home_dc=2)
    data = pattern(2 * MIB + 1, seed=1)
    async with running_service(stack_settings(world)):
        links = (await send_and_get_links(world, data, "far.bin", dc_id=4)).links
        async with http_client() as http:
            for n in range(20):
                async with http.get(links.download, headers={"Range": f"bytes={n * 1000}-{n * 1000 + 5000}"}) as response:
                    assert await response.read() == data[n * 1000:n * 1000 + 5001]
    calls = [c.method for c in telegram.rpc_log(world.main_bot)]
    assert calls.count("auth.ExportAuthorization") <= 1
    assert calls.count("auth.ImportAuthorization") <= 1


async def test_after_a_restart_old_links_work_and_bots_do_not_log_in_again(telegram, stack_settings):
    world = make_world(telegram, backends=1)
    data = pattern(MIB + 17, seed=4)
    settings = stack_settings(world)
    async with running_service(settings):
        links = (await send_and_get_links(world, data, "keep.bin", dc_id=4)).links
        async with http_client() as http:
            async with http.get(links.download) as response:
                assert await response.read() == data
    logins_before = _logins(telegram, world)
    async with running_service(settings) as second:
        relinked = second.links  # the same secret was kept in the database
        assert relinked.secret
        async with http_client() as http:
            async with http.get(links.download.replace(_origin(links.download), second.public_url)) as response:
                assert response.status == 200 and await response.read() == data
    assert _logins(telegram, world) == logins_before


def _origin(url: str) -> str:
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.split('/', 1)[0]}"


def _logins(telegram, world) -> dict:
    return {bot.username: [c.method for c in telegram.rpc_log(bot)].count("auth.ImportBotAuthorization")
            for bot in [world.main_bot, *world.backends]}


async def test_a_long_flood_wait_on_every_bot_answers_503_with_retry_after(telegram, stack_settings):
    world = make_world(telegram)
    data = pattern(100_000, seed=6)
    async with running_service(stack_settings(world)):
        links = (await send_and_get_links(world, data, "later.bin")).links
        flood = telegram.faults.flood_wait(world.main_bot, "upload.GetFile", seconds=120, times=None)
        async with http_client() as http:
            async with http.get(links.download) as response:
                assert response.status == 503
                assert 110 <= int(response.headers["Retry-After"]) <= 120
                assert "try again" in (await response.text()).lower()
    # The answer came from Telegram's FLOOD_WAIT, once: the bot then rested instead of asking again.
    assert flood.hits == 1
    assert [c.error for c in telegram.rpc_log(world.main_bot, "upload.GetFile")] == ["FLOOD_WAIT_120"]
