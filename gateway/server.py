"""``gateway run``: serve until SIGINT/SIGTERM, then stop taking requests and close cleanly."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal

from aiohttp import web

from gateway.app import build_app
from gateway.config import Settings
from gateway.errors import GatewayError
from gateway.runtime import RUNTIME
from gateway.security.tls import server_ssl_context

log = logging.getLogger(__name__)


async def serve(settings: Settings, *, ready: asyncio.Event | None = None, stop: asyncio.Event | None = None) -> None:
    ssl_context = server_ssl_context(settings)  # [http] tls_*: a bad certificate or key stops here
    app = build_app(settings)
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=10)
    await runner.setup()
    site = web.TCPSite(runner, settings.http.host, settings.http.port, reuse_port=True, ssl_context=ssl_context)
    await site.start()
    scheme = "https" if ssl_context else "http"
    log.info("gateway %s listening on %s://%s:%d", settings.gateway.id, scheme, settings.http.host, settings.http.port)
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    reloads: set[asyncio.Task[object]] = set()  # kept referenced until done
    loop.add_signal_handler(signal.SIGHUP, reload_on_signal, app, reloads)
    if ready is not None:
        ready.set()
    try:
        await stop.wait()
    finally:
        log.info("stopping: no new requests, finishing what is in flight")
        await runner.cleanup()
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            loop.remove_signal_handler(sig)


def reload_on_signal(app: web.Application, tasks: set[asyncio.Task[object]]) -> None:
    """SIGHUP: reload the partner files (refused changes are logged and audited; the running set stays)."""

    async def run() -> None:
        with contextlib.suppress(GatewayError):
            await app[RUNTIME].reload(actor="signal")

    task: asyncio.Task[object] = asyncio.get_running_loop().create_task(run())
    tasks.add(task)
    task.add_done_callback(tasks.discard)
