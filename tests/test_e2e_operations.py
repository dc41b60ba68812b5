"""The people who run FileStream see what it does: /health and /metrics on the running service."""

from __future__ import annotations

import asyncio
import random
import secrets
from datetime import timedelta

from FileStream.core.models import StoredFile
from service_harness import Clock, http_client, make_world, running_service, send_and_get_links, settings_for


async def test_health_says_ready_and_metrics_count_what_was_streamed(telegram, database_url, database_name, tmp_path):
    world = make_world(telegram, backends=1)
    data = random.Random(2).randbytes(300_000)
    settings = settings_for(world, database_url, database_name, tmp_path / "sessions")
    async with running_service(settings) as service:
        links = (await send_and_get_links(world, data, "report.pdf", mime_type="application/pdf")).links
        async with http_client() as http:
            async with http.get(links.download) as response:
                assert await response.read() == data
            async with http.get(f"{service.public_url}/health") as response:
                assert response.status == 200
                health = await response.json()
                assert health["ready"] and health["database"]
                assert health["clients"] == {"backend1": True, "main": True}
                assert "version" in health and "uptime_seconds" in health
            async with http.get(f"{service.public_url}/metrics") as response:
                assert response.status == 200
                text = await response.text()
    assert f"filestream_bytes_streamed_total {float(len(data))}" in text
    assert 'filestream_http_responses_total{status="200"}' in text
    assert "filestream_getfile_seconds_bucket" in text
    assert "filestream_files_live 1.0" in text
    assert 'filestream_pool_in_flight{client="main"} 0.0' in text


async def test_health_answers_503_when_the_database_is_gone_and_200_once_it_is_back(
        telegram, database_process, database_name, tmp_path):
    world = make_world(telegram)
    settings = settings_for(world, database_process.url, database_name, tmp_path / "sessions")
    async with running_service(settings) as service, http_client() as http:
        await database_process.stop()  # the database process is gone: connections are refused
        try:
            async with http.get(f"{service.public_url}/health") as response:
                assert response.status == 503
                assert (await response.json())["database"] is False
        finally:
            await database_process.start()
        ready = False
        for _ in range(30):   # each failed ask takes its deadline (1 s): no spinning
            async with http.get(f"{service.public_url}/health") as response:
                if response.status == 200:
                    ready = True
                    break
        assert ready, "/health did not say ready again after the database came back"


def a_live_file(now, n: int) -> StoredFile:
    return StoredFile(id=secrets.token_urlsafe(12), file_name=f"f{n}.bin", file_size=10, mime_type="text/plain",
                      file_unique_id=f"u{n}", media_type="document", dc_id=2, storage_chat_id=-100,
                      storage_message_id=n, created_at=now, expires_at=now + timedelta(hours=1), owner_id=7)


async def test_metrics_ask_for_the_bearer_token_and_count_the_database_at_most_every_refresh(
        telegram, stack_settings):
    world = make_world(telegram)
    token = "scrape-me-" + secrets.token_urlsafe(16)
    clock = Clock()
    settings = stack_settings(world, METRICS_TOKEN=token, METRICS_REFRESH=30)
    async with running_service(settings, clock) as service, http_client() as http:
        url = f"{service.public_url}/metrics"

        async def scrape(authorization: str | None = f"Bearer {token}") -> tuple[int, str]:
            headers = {"Authorization": authorization} if authorization is not None else {}
            async with http.get(url, headers=headers) as response:
                return response.status, await response.text()

        for refused in (None, "Bearer", f"Bearer {token}x", f"Basic {token}", token, f"Bearer {token[:-1]}",
                        "Bearer " + "ü" * 20):
            status, _ = await scrape(refused)
            assert status == 401, refused
        async with http.get(url) as response:
            assert response.headers["WWW-Authenticate"] == 'Bearer realm="metrics"'
        async with http.get(f"{service.public_url}/health") as response:
            assert response.status == 200  # load balancers need no token

        await service.db.files.insert_confirmed(a_live_file(clock(), 1))
        status, text = await scrape(f"bearer   {token}  ")
        assert status == 200 and "filestream_files_live 1.0" in text

        # However often it is scraped, the database is counted again only after 30 s.
        await service.db.files.insert_confirmed(a_live_file(clock(), 2))
        for _ in range(10):
            texts = await asyncio.gather(*(scrape() for _ in range(10)))
            assert all("filestream_files_live 1.0" in text for _, text in texts)
            clock.advance(seconds=2.9)
        clock.advance(seconds=1)
        status, text = await scrape()
        assert "filestream_files_live 2.0" in text
    assert 'filestream_http_responses_total{status="401"} 8.0' in text
