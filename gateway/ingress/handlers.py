"""aiohttp routes: the partner inbox, health, readiness and metrics."""

from __future__ import annotations

import asyncio
import datetime as dt
import time

from aiohttp import web

from gateway.errors import MalformedXml, Rejection, TooLarge, UnsupportedMessage
from gateway.ingress.pipeline import Answer
from gateway.runtime import Runtime

RUNTIME = web.AppKey("runtime", Runtime)

_REFUSED_TYPES = ("application/json", "multipart/")
_XML = "application/xml; charset=utf-8"


async def read_body(request: web.Request, max_bytes: int, timeout: float) -> bytes:
    """The whole body, or TooLarge before reading past the limit, or MalformedXml when it trickles too slowly."""
    declared = request.content_length
    if declared is not None and declared > max_bytes:
        raise TooLarge(f"the body of {declared} bytes exceeds the limit of {max_bytes} bytes")
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(timeout):
            async for chunk in request.content.iter_chunked(65536):
                size += len(chunk)
                if size > max_bytes:
                    raise TooLarge(f"the body exceeds the limit of {max_bytes} bytes")
                chunks.append(chunk)
    except TimeoutError:
        raise MalformedXml(f"the body was not received within {timeout:g} s") from None
    return b"".join(chunks)


def _check_content_type(request: web.Request) -> None:
    kind = request.headers.get("Content-Type", "").lower()
    if kind.startswith(_REFUSED_TYPES):
        raise UnsupportedMessage(f"Content-Type {kind.split(';')[0]!r} is not accepted; send application/xml")


async def receive_message(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    partner_id = request.match_info["partner_id"]
    started = time.perf_counter()
    try:
        _check_content_type(request)
        body = await read_body(request, runtime.settings.http.max_body_bytes, runtime.settings.http.body_timeout)
    except Rejection as error:
        answer = runtime.ingress.refuse_unread(partner_id, error)
        if isinstance(error, TooLarge):
            # Do not read the rest of an oversized body: answer and close the connection.
            response = _response(answer)
            response.force_close()
            return response
    else:
        answer = await runtime.ingress.receive(partner_id, body)
    runtime.metrics.ingress.labels(answer.partner or "unknown", answer.message_type or "unknown", answer.code).inc()
    runtime.metrics.ingress_seconds.labels(answer.code).observe(time.perf_counter() - started)
    return _response(answer)


def _response(answer: Answer) -> web.Response:
    headers = {"X-Gateway-Message-Id": answer.gateway_id, "X-Gateway-Outcome": answer.code}
    return web.Response(status=answer.status, body=answer.body, content_type="application/xml", charset="utf-8",
                        headers=headers)


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
    return web.Response(body=runtime.metrics.render(), content_type="text/plain", charset="utf-8",
                        headers={"X-Content-Type-Options": "nosniff"})


def add_routes(app: web.Application) -> None:
    app.router.add_post("/v1/partners/{partner_id}/messages", receive_message)
    app.router.add_get("/health", health)
    app.router.add_get("/ready", ready)
    app.router.add_get("/metrics", metrics)
