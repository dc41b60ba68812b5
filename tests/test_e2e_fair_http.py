"""End to end: stalled readers cannot take the HTTP server from everyone, and a request costs
Telegram only what its client takes.

The real service against the local Telegram; the clients are raw sockets that read exactly
as much as the story says (a client library would read the body for them).
"""

from __future__ import annotations

import asyncio
import random
import re
import socket
from urllib.parse import urlsplit

import aiohttp

from notified import until
from service_harness import http_client, make_world, running_service, send_and_get_links

MIB = 1 << 20
FILE_DC = 4
STALLED = 150


def pattern(size: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(size)


def rss_bytes() -> int:
    with open("/proc/self/status") as status:
        kib = next(line for line in status if line.startswith("VmRSS:")).split()[1]
    return int(kib) * 1024


async def request_on_raw_socket(url: str, *, source: str = "127.0.0.1", receive_buffer: int | None = None,
                                headers: dict[str, str] | None = None) -> socket.socket:
    """A GET sent from `source` on a plain socket (with a small receive buffer if given), nothing read."""
    parts = urlsplit(url)
    sock = socket.socket()
    if receive_buffer is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
    sock.bind((source, 0))
    sock.setblocking(False)
    loop = asyncio.get_running_loop()
    await loop.sock_connect(sock, (parts.hostname, parts.port))
    lines = [f"GET {parts.path} HTTP/1.1", f"Host: {parts.netloc}",
             *(f"{name}: {value}" for name, value in (headers or {}).items())]
    await loop.sock_sendall(sock, ("\r\n".join(lines) + "\r\n\r\n").encode())
    return sock


async def read_headers(sock: socket.socket) -> tuple[bytes, bytes]:
    """The response's status line and headers, and the body bytes that came with them."""
    loop = asyncio.get_running_loop()
    received = b""
    while b"\r\n\r\n" not in received:
        chunk = await loop.sock_recv(sock, 4096)
        assert chunk, received
        received += chunk
    head, body = received.split(b"\r\n\r\n", 1)
    return head, body


async def test_stalled_readers_leave_room_for_another_address_get_429_beyond_their_limit_and_are_cut(
        telegram, stack_settings):
    world = make_world(telegram)
    clip = pattern(300_000, seed=30)        # what the stalled readers ask for: more than the kernel takes
    film = pattern(4 * MIB + 3, seed=31)
    settings = stack_settings(world, STREAMS_PER_IP=STALLED, STALL_TIMEOUT=10, STREAM_MEMORY_MB=192)
    async with running_service(settings) as service:
        clip_link = (await send_and_get_links(world, clip, "clip.mp4", dc_id=FILE_DC)).links.download
        film_link = (await send_and_get_links(world, film, "film.mkv", dc_id=FILE_DC)).links.download
        budget, fairness = service.streamer.budget, service.fairness
        rss_before = rss_bytes()
        # 150 clients from one address ask for the clip and never read (TCP zero window); they
        # come ten at a time, so the test database is not what they wait for.
        stalled: list[socket.socket] = []
        try:
            while len(stalled) < STALLED:
                stalled += [await request_on_raw_socket(clip_link, receive_buffer=4096) for _ in range(10)]
                await until(lambda: fairness.streams.open("127.0.0.1") == len(stalled), fairness.streams.on_change)
            async with http_client() as http:
                async with http.get(clip_link) as refused:        # the 151st from that address
                    assert refused.status == 429
                    assert int(refused.headers["Retry-After"]) > 0
                    assert "too many downloads" in (await refused.text()).lower()
            assert fairness.streams.refused == 1

            # Each one's write waits on its client (or was cut already on a very slow machine).
            # (A cut one is counted in `stalled` before its stream ends and its slot is given back.)
            await until(lambda: service.streamer.blocked() + fairness.stalled == STALLED,
                        service.streamer.on_change, fairness.streams.on_change)
            assert budget.used <= STALLED and budget.peak <= budget.limit
            assert rss_bytes() - rss_before <= (192 + 40) * MIB

            # Someone else, from another address, starts at once and gets every byte.
            other = aiohttp.TCPConnector(local_addr=("127.0.0.2", 0))
            async with aiohttp.ClientSession(connector=other, auto_decompress=False) as http:
                async with asyncio.timeout(2):
                    response = await http.get(film_link)
                    first = await response.content.readexactly(1)
                async with response:
                    assert response.status == 200
                    assert first + await response.read() == film

            # STALL_TIMEOUT after their last progress every stalled response is cut, its memory given back.
            assert await service.streams.wait_idle(60), "the stalled responses were not cut"
            assert fairness.stalled == STALLED
            assert budget.used == 0 and fairness.streams.open("127.0.0.1") == 0
            async with http_client() as http:
                async with http.get(f"{service.public_url}/metrics") as response:
                    metrics = await response.text()
            assert re.search(r"^filestream_streams_stalled_cut 150\.0$", metrics, re.M)
            assert re.search(r"^filestream_streams_refused_per_client 1\.0$", metrics, re.M)
        finally:
            for sock in stalled:
                sock.close()


async def test_a_stream_blocked_in_a_write_keeps_only_the_block_it_writes_and_starts_small_again(
        telegram, stack_settings):
    world = make_world(telegram)
    data = pattern(24 * MIB + 1, seed=33)
    async with running_service(stack_settings(world)) as service:
        link = (await send_and_get_links(world, data, "long.mkv", dc_id=FILE_DC)).links.download
        reader = await request_on_raw_socket(link, receive_buffer=64 * 1024)
        loop = asyncio.get_running_loop()
        try:
            _head, body = await read_headers(reader)
            # It reads 8 MiB at full speed: its window grows...
            while len(body) < 8 * MIB:
                body += await loop.sock_recv(reader, 1 << 20)
            (stream,) = service.streamer.active
            assert stream.window.peak > 2
            # ...then stops reading: its write waits, and it gives back every block but that one.
            await until(lambda: stream.blocked, service.streamer.on_change)
            assert stream.memory.held == 1 and not stream.slots and stream.window.limit == 2
            assert service.streamer.budget.used == 1
            while len(body) < len(data):   # it reads on, and the stream goes on from where it was
                chunk = await loop.sock_recv(reader, 1 << 20)
                assert chunk
                body += chunk
        finally:
            reader.close()
        assert body == data and not stream.blocked


async def test_a_client_that_reads_the_headers_and_leaves_costs_at_most_two_getfile_calls(telegram, stack_settings):
    world = make_world(telegram)
    data = pattern(40 * MIB, seed=32)
    async with running_service(stack_settings(world)) as service:
        links = (await send_and_get_links(world, data, "long.mkv", dc_id=FILE_DC)).links

        def getfile_calls() -> int:
            return len(telegram.rpc_log(method="upload.GetFile"))

        # A download, a player's first request, and a seek: each read up to its headers, then dropped.
        for headers in ({}, {"Range": "bytes=0-"}, {"Range": f"bytes={20 * MIB + 5}-"}):
            before = getfile_calls()
            sock = await request_on_raw_socket(links.download, headers=headers)
            head, _body = await read_headers(sock)
            assert head.startswith((b"HTTP/1.1 200", b"HTTP/1.1 206")), head
            sock.close()
            assert await service.streams.wait_idle(60), "the abandoned response did not end"
            assert getfile_calls() - before <= 2, headers
