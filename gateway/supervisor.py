"""``gateway run --workers N``: N processes share the HTTP port (SO_REUSEPORT) and the delivery queues.

Each worker is a whole gateway (ingress + delivery) with its own broker connection; the store and the broker
are shared, so the work of verifying, mapping and signing spreads over the machine's cores. The supervisor
forwards SIGTERM/SIGINT/SIGHUP and restarts a worker that dies unexpectedly.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import signal
import time
from collections.abc import Coroutine
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

from gateway.config import Settings, load_settings
from gateway.runtime import admin_token

log = logging.getLogger(__name__)

RESTART_PAUSE = 1.0


def run_loop(main: Coroutine[Any, Any, None]) -> None:
    """Run the gateway on uvloop (libuv: about a third less event-loop overhead per request than asyncio's
    default loop in the bench), falling back to asyncio's own loop where uvloop is not installed."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux
        asyncio.run(main)
        return
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(main)


def _worker(config_path: str, number: int) -> None:
    from gateway.server import serve

    logging.basicConfig(level=logging.INFO, format=f"%(asctime)s %(levelname)-7s [w{number}] %(name)s: %(message)s")
    for name in ("aio_pika", "aiormq"):
        logging.getLogger(name).setLevel(logging.WARNING)
    logging.getLogger("signxml").setLevel(logging.INFO)
    run_loop(serve(load_settings(Path(config_path))))


def run(settings: Settings, workers: int) -> int:
    if workers <= 1:
        from gateway.server import serve

        run_loop(serve(settings))
        return 0
    return _supervise(settings, workers)


def _supervise(settings: Settings, workers: int) -> int:
    """Start ``workers`` worker processes, forward signals to them and restart any that dies unexpectedly."""
    assert settings.config_path is not None
    admin_token(settings.resolve(settings.admin.token_file))  # created once, before the workers race for it
    context = multiprocessing.get_context("spawn")
    processes: dict[int, BaseProcess] = {}
    stopping = False

    def start(number: int) -> None:
        process = context.Process(target=_worker, args=(str(settings.config_path), number), name=f"gateway-w{number}")
        process.start()
        processes[number] = process
        log.info("worker %d started (pid %s)", number, process.pid)

    def forward(signum: int, _frame: object) -> None:
        nonlocal stopping
        if signum in (signal.SIGTERM, signal.SIGINT):
            stopping = True
        for process in processes.values():
            if process.pid and process.is_alive():
                os.kill(process.pid, signum)

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, forward)
    for number in range(workers):
        start(number)
    while True:
        for number, process in list(processes.items()):
            if process.is_alive():
                continue
            process.join()
            if stopping:
                del processes[number]
            else:
                log.error("worker %d exited with %s; restarting it", number, process.exitcode)
                time.sleep(RESTART_PAUSE)
                start(number)
        if stopping and not processes:
            return 0
        time.sleep(0.2)
