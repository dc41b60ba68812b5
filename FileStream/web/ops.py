"""Routes for the people who run the service: /health and /metrics, and a response counter."""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable

from aiohttp import web

Health = Callable[[], Awaitable[tuple[bool, dict]]]
Exposition = Callable[[], Awaitable[tuple[bytes, str]]]


def add_ops_routes(app: web.Application, *, health: Health, metrics: Exposition,
                   count_status: Callable[[int], None] | None = None, metrics_token: str | None = None) -> None:
    """Adds GET /health (200 ready, 503 not) and GET /metrics (Prometheus text).

    With `metrics_token`, /metrics answers only `Authorization: Bearer <metrics_token>`
    and 401 otherwise; /health stays open for load balancers.
    """

    async def health_route(request: web.Request) -> web.Response:
        ready, report = await health()
        return web.json_response({"ready": ready, **report}, status=200 if ready else 503,
                                 headers={"Cache-Control": "no-store"})

    async def metrics_route(request: web.Request) -> web.Response:
        if metrics_token is not None and not _bearer_is(request, metrics_token):
            return web.Response(status=401, text="401: /metrics needs Authorization: Bearer <METRICS_TOKEN>\n",
                                headers={"WWW-Authenticate": 'Bearer realm="metrics"', "Cache-Control": "no-store"})
        body, content_type = await metrics()
        response = web.Response(body=body, headers={"Cache-Control": "no-store"})
        response.headers["Content-Type"] = content_type
        return response

    app.router.add_get("/health", health_route)
    app.router.add_get("/metrics", metrics_route)
    if count_status is not None:
        app.middlewares.append(_status_counter(count_status))


def _bearer_is(request: web.Request, token: str) -> bool:
    scheme, _, given = request.headers.get("Authorization", "").strip().partition(" ")
    # Compared in constant time, as bytes: a header may hold anything, a str compare wants ASCII.
    return scheme.lower() == "bearer" and hmac.compare_digest(
        given.strip().encode("utf-8", "replace"), token.encode("utf-8"))


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
