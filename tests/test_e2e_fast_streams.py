"""End to end: downloads use several connections per bot, fetch ahead adaptively, share one memory budget,
and clean up after themselves; a failed connection or a bad answer costs little.

Every story runs the real service against the local Telegram server; faults are Telegram's
(dropped sockets, FLOOD_WAIT, RPC errors, latency), injected while the download runs.
"""

from __future__ import annotations

import asyncio
import random
import socket
from urllib.parse import urlsplit

from notified import until
from service_harness import http_client, make_world, running_service, send_and_get_links

MIB = 1 << 20
FILE_DC = 4  # bots live on DC2: files here go through media connections with exported authorisation


def pattern(size: int, seed: int = 7) -> bytes:
    return random.Random(seed).randbytes(size)


def connections_to(service, name: str, dc_id: int = FILE_DC):
    return service.sessions._sets[(name, dc_id)]


def server_sessions(telegram, bot, dc_id: int = FILE_DC) -> set[bytes]:
    """The MTProto session ids the server has seen from this bot's keys on one DC."""
    return {sid for (_key_id, sid), s in list(telegram.sessions.items())
            if s.auth_key.account is bot and s.auth_key.dc_id == dc_id}


async def test_one_bot_downloads_over_several_connections_made_once_and_reused(telegram, stack_settings):
    world = make_world(telegram)
    data = pattern(12 * MIB + 321, seed=1)
    telegram.faults.latency = 0.02
    async with running_service(stack_settings(world, MEDIA_CONNECTIONS=3)) as service:
        links = (await send_and_get_links(world, data, "film.mkv", dc_id=FILE_DC)).links
        async with http_client() as http:
            async with http.get(links.download) as response:
                assert await response.read() == data
            connections = connections_to(service, "main")
            await connections.settle()
            sessions_after_first = server_sessions(telegram, world.main_bot)
            for n in range(10):
                first = n * 997_000
                async with http.get(links.download, headers={"Range": f"bytes={first}-{first + 70_000}"}) as r:
                    assert await r.read() == data[first:first + 70_001]
            async with http.get(links.download) as response:
                assert await response.read() == data
        assert len(connections.ready) == 3
        assert all(count > 0 for count in connections.stats()["requests"]), connections.stats()
        assert connections_to(service, "main") is connections
    calls = [c.method for c in telegram.rpc_log(world.main_bot)]
    assert calls.count("auth.ExportAuthorization") == 1
    assert calls.count("auth.ImportAuthorization") == 1
    assert len(sessions_after_first) == 3          # three MTProto sessions over one key...
    assert server_sessions(telegram, world.main_bot) == sessions_after_first  # ...made once


async def test_one_stream_stripes_over_every_connection_of_every_backend(telegram, stack_settings):
    world = make_world(telegram, backends=2)
    data = pattern(16 * MIB + 5, seed=2)
    telegram.faults.latency = 0.03
    async with running_service(stack_settings(world, MEDIA_CONNECTIONS=2)) as service:
        links = (await send_and_get_links(world, data, "show.mp4", dc_id=FILE_DC)).links
        async with http_client() as http:
            async with http.get(links.download, headers={"Range": "bytes=0-3000000"}) as response:
                assert await response.read() == data[:3000001]
            for name in ("backend1", "backend2"):  # made on first use; the second ones open meanwhile
                await connections_to(service, name).settle()
            before = {name: connections_to(service, name).stats()["requests"] for name in ("backend1", "backend2")}
            async with http.get(links.download) as response:
                assert await response.read() == data
        for name in ("backend1", "backend2"):
            after = connections_to(service, name).stats()["requests"]
            assert all(a > b for a, b in zip(after, before[name])), (name, before[name], after)
        assert ("main", FILE_DC) not in service.sessions._sets  # the main bot talks to people
        assert all(m.streams == 0 and m.in_flight == 0 for m in service.pool.members)


async def test_a_dropped_connection_is_replaced_and_its_blocks_move_to_the_others(telegram, stack_settings):
    world = make_world(telegram)
    data = pattern(24 * MIB + 77, seed=3)
    telegram.faults.latency = 0.1
    async with running_service(stack_settings(world, MEDIA_CONNECTIONS=3)) as service:
        links = (await send_and_get_links(world, data, "long.mkv", dc_id=FILE_DC)).links
        async with http_client() as http:
            # A player's request: its window starts small, so the download is still under way below.
            async with http.get(links.download, headers={"Range": "bytes=0-"}) as response:
                head = await response.content.readexactly(2 * MIB)
                connections = connections_to(service, "main")
                # Under way: every connection carries blocks of this stream right now.
                await until(lambda: all(c.in_flight > 0 for c in connections.connections), connections.on_change)
                assert telegram.faults.drop_connections(world.main_bot, dc_id=FILE_DC, limit=1) == 1
                rest = await response.read()
        assert head + rest == data
        assert service.streamer.blocks_moved >= 1
        stats = connections.stats()
        assert stats["failures"] == 1
        await connections.settle()
        assert connections.stats()["replacements"] == 1 and len(connections.ready) == 3
        broken = next(c for c in connections.connections if c.opened == 2)
        assert broken.retry_at > 0  # it waited out a backoff before it was opened again
        assert service.pool.main.healthy and service.pool.main.errors == 0  # only the connection was at fault


async def test_a_fast_reader_grows_the_window_past_8_and_a_stalled_reader_shrinks_it(telegram, stack_settings):
    world = make_world(telegram)
    data = pattern(64 * MIB, seed=4)
    telegram.faults.latency = 0.3  # Telegram, not this machine's CPU, is clearly the slower side
    async with running_service(stack_settings(world, MEDIA_CONNECTIONS=4)) as service:
        links = (await send_and_get_links(world, data, "big.mkv", dc_id=FILE_DC)).links
        # A player that reads what it needs and then stops reading (a socket, not a client
        # library that would buffer the whole body for it).
        body, connection = await open_body(links.download)
        async with asyncio.timeout(120):
            got = await body.readexactly(24 * MIB)
            (stream,) = service.streamer.active
            assert stream.window.peak > 8, stream.window
            # The reader pauses: once socket buffers are full the service waits to send the
            # current block, and whatever was in flight arrives and waits too.
            await until(lambda: stream.sending and stream.slots and all(s.task.done() for s in stream.slots),
                        service.streamer.on_change)
            before, shrunk = stream.window.limit, stream.window.shrunk
            # It reads on (the first megabytes come from socket buffers filled before the pause).
            while stream.window.shrunk == shrunk and len(got) < 48 * MIB:
                got += await body.readexactly(MIB // 4)
            assert stream.window.limit <= before // 2, (before, stream.window)
            got += await body.readexactly(len(data) - len(got))
        connection.close()
        assert got == data


async def test_every_request_starts_with_two_blocks_and_a_download_grows_faster_once_its_client_reads(
        telegram, stack_settings):
    world = make_world(telegram)
    data = pattern(24 * MIB + 9, seed=6)   # many more blocks than a request starts with
    async with running_service(stack_settings(world)) as service:
        links = (await send_and_get_links(world, data, "film.mkv", dc_id=FILE_DC)).links
        tuning = service.streamer.tuning
        async with http_client() as http:
            for headers, grows_by in (({}, tuning.download_step), ({"Range": "bytes=0-"}, 1)):
                async def download(headers=headers) -> bytes:
                    async with http.get(links.download, headers=headers) as response:
                        return await response.read()

                hold = telegram.faults.hold("upload.GetFile", world.main_bot, times=None)
                body = asyncio.ensure_future(download())
                # Nothing has come back yet: every block in flight is what the stream asked for at its start.
                await telegram.wait_until(lambda: len(hold.held) == 2)
                (stream,) = service.streamer.active
                assert len(stream.slots) == 2 == stream.window.limit
                hold.release()
                # The client takes the first block while it had to wait for it: the window grows.
                await until(lambda: stream.window.grown >= 1, service.streamer.on_change)
                assert stream.window.limit == 2 + grows_by
                assert await body == data
        assert (tuning.initial_window, tuning.download_step) == (2, 3)


async def open_body(url: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """GET `url` on a plain socket with a small receive buffer; the reader is at the body's first byte."""
    parts = urlsplit(url)
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 128 * 1024)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, (parts.hostname, parts.port))
    reader, writer = await asyncio.open_connection(sock=sock)
    writer.write(f"GET {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\nConnection: close\r\n\r\n".encode())
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), head
    return reader, writer


async def test_many_streams_share_the_memory_budget_and_never_exceed_it(telegram, stack_settings):
    world = make_world(telegram)
    data = pattern(5 * MIB + 3, seed=5)
    telegram.faults.latency = 0.02
    async with running_service(stack_settings(world, STREAM_MEMORY_MB=6)) as service:
        links = (await send_and_get_links(world, data, "clip.mp4", dc_id=FILE_DC)).links
        budget = service.streamer.budget
        async with http_client() as http:
            async def download() -> bytes:
                async with http.get(links.download) as response:
                    assert response.status == 200
                    return await response.read()

            bodies = await asyncio.gather(*(download() for _ in range(10)))
            async with http.get(f"{service.public_url}/metrics") as response:
                metrics = await response.text()
        assert all(body == data for body in bodies)
        assert budget.waited >= 1          # the budget was full: streams waited their turn...
        assert budget.peak <= budget.limit == 6   # ...and it was never exceeded
        assert budget.used == 0
        assert "filestream_stream_memory_budget_bytes 6.291456e+06" in metrics
        assert "filestream_stream_memory_used_bytes 0.0" in metrics


# ------------------------------------------------------------------ issue 10: streams clean up and answer in words

class FinishWatcher:
    """The service's stream observer, noting what was still running when a stream was reported finished."""

    def __init__(self, service) -> None:
        self.service = service
        self.inner = None
        self.seen: list[dict] = []
        self.finished = asyncio.Event()

    def stream_started(self, file, start, end):
        self.inner.stream_started(file, start, end)

    def stream_finished(self, file, sent, result):
        streamer, pool = self.service.streamer, self.service.pool
        sessions = [c.session for found in self.service.sessions._sets.values() for c in found.connections
                    if c.session is not None]
        self.seen.append({"result": result, "active": len(streamer.active), "memory": streamer.budget.used,
                          "in_flight": sum(m.in_flight for m in pool.members),
                          "streams": sum(m.streams for m in pool.members),
                          # requests the client library still waits for on someone's behalf
                          "awaited": sum(len(session.results) - session.orphans for session in sessions)})
        self.sessions = sessions
        self.inner.stream_finished(file, sent, result)
        self.finished.set()


async def test_an_abandoned_stream_is_closed_and_its_leases_released_before_it_is_reported_finished(
        telegram, stack_settings, monkeypatch):
    world = make_world(telegram)
    data = pattern(40 * MIB, seed=6)
    telegram.faults.latency = 0.05
    from FileStream import service as service_module
    watchers: list[FinishWatcher] = []
    original = service_module.StreamMetrics

    def watched(metrics):
        watcher = watchers[-1]
        watcher.inner = original(metrics)
        return watcher

    monkeypatch.setattr(service_module, "StreamMetrics", watched)
    settings = stack_settings(world)
    from FileStream.service import Service
    from clocks import Clock
    service = Service(settings, clock=Clock())
    watchers.append(FinishWatcher(service))
    try:
        await service.start()
        links = (await send_and_get_links(world, data, "movie.mkv", dc_id=FILE_DC)).links
        body, connection = await open_body(links.download)
        await body.readexactly(3 * MIB)
        (stream,) = service.streamer.active
        # The player stops reading; the service waits to send a block, blocks fetched ahead wait too.
        await until(lambda: stream.sending and stream.slots, service.streamer.on_change)
        assert service.streamer.blocks_ahead() > 0 and service.streamer.budget.used > 0
        connection.close()                                # the person closed the tab
        await asyncio.wait_for(watchers[0].finished.wait(), 20)
        # Answers Telegram still sends for the dropped blocks are thrown away as they come.
        sessions = watchers[0].sessions
        await until(lambda: not any(session.results for session in sessions),
                    *(session.results.on_change for session in sessions))
    finally:
        await service.stop()
    assert watchers[0].seen == [{"result": "client_gone", "active": 0, "memory": 0, "in_flight": 0, "streams": 0,
                                 "awaited": 0}]


async def test_a_new_stream_while_every_bot_rests_after_flood_wait_gets_503_with_retry_after(telegram, stack_settings):
    world = make_world(telegram, backends=1)
    data = pattern(3 * MIB, seed=8)
    async with running_service(stack_settings(world)) as service:
        links = (await send_and_get_links(world, data, "later.bin", dc_id=FILE_DC)).links
        for bot in (world.main_bot, *world.backends):
            telegram.faults.flood_wait(bot, "upload.GetFile", seconds=30, times=1)
        async with http_client() as http:
            # The first download meets FLOOD_WAIT on both bots and waits for one to be free again.
            first = asyncio.ensure_future(http.get(links.download, headers={"Range": "bytes=0-0"}))
            await until(lambda: all(not m.available(service.pool.clock()) for m in service.pool.members),
                        service.pool.on_change)
            async with http.get(links.download) as response:
                assert response.status == 503
                assert 25 <= int(response.headers["Retry-After"]) <= 30
                assert "try again" in (await response.text()).lower()
            first.cancel()
            await asyncio.gather(first, return_exceptions=True)
        assert sum(rule.hits for rule in telegram.faults.flood_rules) == 2


async def test_a_bad_location_answer_fails_that_file_only_and_the_bot_stays_healthy(telegram, stack_settings):
    world = make_world(telegram)
    data = pattern(2 * MIB + 9, seed=9)
    async with running_service(stack_settings(world)) as service:
        links = (await send_and_get_links(world, data, "odd.bin", dc_id=FILE_DC)).links
        rule = telegram.faults.rpc_error(world.main_bot, "upload.GetFile", 400, "LOCATION_INVALID", times=None)
        async with http_client() as http:
            async with http.get(links.download) as response:
                assert response.status == 502
            assert rule.hits >= 1
            main = service.pool.main
            assert main.healthy and main.errors == 0 and main.retry_at == 0
            telegram.faults.error_rules.remove(rule)
            async with http.get(links.download) as response:
                assert response.status == 200 and await response.read() == data


async def test_under_a_per_account_download_rate_a_stream_over_two_backends_is_exact_and_waits_out_each_flood_wait(
        telegram, stack_settings):
    world = make_world(telegram, backends=2)
    data = pattern(10 * MIB + 3, seed=11)
    async with running_service(stack_settings(world, MEDIA_CONNECTIONS=2)) as service:
        links = (await send_and_get_links(world, data, "rated.mp4", dc_id=FILE_DC)).links
        # Telegram limits what one account downloads: each bot gets 2 MiB at once, then 2 MiB/s.
        telegram.limits.download_rate(bytes_per_second=2 * MIB, burst_bytes=2 * MIB)
        async with http_client() as http, http.get(links.download) as response:
            assert response.status == 200
            assert await response.read() == data
        verdicts = telegram.limits.download_verdicts
        assert verdicts, "the rate was met while the stream ran"
        fetched_by = {c.account_id for c in telegram.rpc_log(method="upload.GetFile", dc_id=FILE_DC) if c.error is None}
        assert {bot.id for bot in world.backends} <= fetched_by, "both backends carried the stream"
        assert all(m.streams == 0 and m.in_flight == 0 for m in service.pool.members)
