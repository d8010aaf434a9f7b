"""Health, readiness, metrics and the OpenAPI description: for load balancers, Prometheus and API clients (no
token; outside /v1/admin)."""

from __future__ import annotations

import datetime as dt

from aiohttp import web

from gateway import openapi
from gateway.runtime import RUNTIME


async def health(request: web.Request) -> web.Response:
    return web.json_response({"status": "up", "time": dt.datetime.now(dt.UTC).isoformat()})


async def ready(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    checks = await runtime.readiness()
    ok = all(v == "ok" for v in checks.values())
    return web.json_response({"ready": ok, "checks": checks}, status=200 if ok else 503)


async def metrics(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    runtime.refresh_gauges()
    await runtime.refresh_queue_depths()
    return web.Response(
        body=runtime.metrics.render(),
        content_type="text/plain",
        charset="utf-8",
        headers={"X-Content-Type-Options": "nosniff"},
    )


async def openapi_document(request: web.Request) -> web.Response:
    """The API's OpenAPI description (gateway.openapi); public, it holds no data."""
    return web.Response(text=openapi.render(), content_type="application/json", headers={"Cache-Control": "no-cache"})


def add_routes(app: web.Application) -> None:
    app.router.add_get("/v1/openapi.json", openapi_document)
    app.router.add_get("/health", health)
    app.router.add_get("/ready", ready)
    app.router.add_get("/metrics", metrics)
