"""``build_app(settings)``: the aiohttp application with the gateway runtime opened and closed around it."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from gateway import console
from gateway.admin import api as admin_api
from gateway.admin import controls as controls_api
from gateway.admin import probes
from gateway.config import Settings
from gateway.ingress import as4 as as4_routes
from gateway.ingress import handlers as inbox
from gateway.runtime import RUNTIME, Runtime


def build_app(settings: Settings, *, deliver: bool = True, runtime: Runtime | None = None) -> web.Application:
    """Partner files, keys and the token are read here, so a bad configuration fails before serving."""
    runtime = runtime or Runtime(settings)
    quiet_malformed_requests()
    app = web.Application(
        middlewares=[admin_api.require_token],
        # The inbox reads bodies itself (with a time limit); this is the backstop for every other route.
        client_max_size=settings.http.max_body_bytes,
        # Compressed bodies are inflated by the inbox's body reader, under the same size limit and with a signed
        # rejection for codings it does not take (aiohttp's own inflation depends on its version and extras).
        handler_args={"auto_decompress": False},
    )
    app[RUNTIME] = runtime

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        await runtime.start(deliver=deliver)
        try:
            yield
        finally:
            await runtime.close()

    app.cleanup_ctx.append(lifecycle)
    inbox.add_routes(app)  # the partner inbox
    as4_routes.add_routes(app)  # ... and its AS4 door
    probes.add_routes(app)  # health, readiness, metrics
    admin_api.add_routes(app)  # /v1/admin (bearer token) and the public /v1/keys
    controls_api.add_routes(app)
    console.add_routes(app)
    return app


class MalformedRequests(logging.Filter):
    """aiohttp logs a request it cannot parse (a NUL in a header, a bad Content-Length, an oversized line) with
    its whole traceback at ERROR, so any client could fill the log with them. The client gets its 400 from
    aiohttp all the same; here the record becomes one INFO line naming the peer and what was wrong."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, HttpProcessingError):
            peer = record.args[0] if isinstance(record.args, tuple) and record.args else "?"
            record.msg = "malformed HTTP request from %s refused with %s: %s: %s"
            record.args = (peer, error.code, type(error).__name__, " ".join(str(error.message).split())[:300])
            record.exc_info, record.exc_text = None, None
            record.levelno, record.levelname = logging.INFO, "INFO"
        return True


def quiet_malformed_requests() -> None:
    """Install :class:`MalformedRequests` on aiohttp's server logger, once per process."""
    server = logging.getLogger("aiohttp.server")
    if not any(isinstance(f, MalformedRequests) for f in server.filters):
        server.addFilter(MalformedRequests())
