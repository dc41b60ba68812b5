"""Routes for the people who run the service: /health and /metrics, and a response counter."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

Health = Callable[[], Awaitable[tuple[bool, dict]]]
Exposition = Callable[[], Awaitable[tuple[bytes, str]]]


def add_ops_routes(app: web.Application, *, health: Health, metrics: Exposition,
                   count_status: Callable[[int], None] | None = None) -> None:
    """Adds GET /health (200 ready, 503 not) and GET /metrics (Prometheus text)."""

    async def health_route(request: web.Request) -> web.Response:
        ready, report = await health()
        return web.json_response({"ready": ready, **report}, status=200 if ready else 503,
                                 headers={"Cache-Control": "no-store"})

    async def metrics_route(request: web.Request) -> web.Response:
        body, content_type = await metrics()
        response = web.Response(body=body, headers={"Cache-Control": "no-store"})
        response.headers["Content-Type"] = content_type
        return response

    app.router.add_get("/health", health_route)
    app.router.add_get("/metrics", metrics_route)
    if count_status is not None:
        app.middlewares.append(_status_counter(count_status))


def _status_counter(count_status: Callable[[int], None]):
    @web.middleware
    async def middleware(request: web.Request, handler):
        try:
            response = await handler(request)
        except web.HTTPException as error:
            count_status(error.status)
            raise
        count_status(response.status)
        return response
    return middleware
