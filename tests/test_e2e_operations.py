"""The people who run FileStream see what it does: /health and /metrics on the running service."""

from __future__ import annotations

import random

from service_harness import http_client, make_world, running_service, send_and_get_links, settings_for


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


async def test_health_answers_503_when_the_database_is_gone(telegram, database_url, database_name, tmp_path):
    world = make_world(telegram)
    settings = settings_for(world, database_url, database_name, tmp_path / "sessions")
    async with running_service(settings) as service:
        await service.db.client.close()  # the database connection is lost
        async with http_client() as http:
            async with http.get(f"{service.public_url}/health") as response:
                assert response.status == 503
                assert (await response.json())["database"] is False
