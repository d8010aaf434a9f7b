"""``gateway run --workers N``: N processes share the HTTP port (SO_REUSEPORT) and the delivery queues.

Each worker is a whole gateway (ingress + delivery) with its own broker connection; the store and the broker
are shared, so the work of verifying, mapping and signing spreads over the machine's cores. The supervisor
forwards SIGTERM/SIGINT/SIGHUP and restarts a worker that dies unexpectedly. A worker never outlives its
supervisor: the kernel sends it SIGTERM when the supervisor dies, even by kill -9 (``PR_SET_PDEATHSIG``), and a
worker whose supervisor is already gone when it starts stops at once.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import logging
import multiprocessing
import os
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Coroutine
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

from prometheus_client import multiprocess

from gateway import logs
from gateway.admin.token import admin_token
from gateway.config import Settings, load_settings
from gateway.metrics import MULTIPROCESS_DIR

log = logging.getLogger(__name__)

RESTART_PAUSE = 1.0
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def die_with_parent(parent: int, signum: int = signal.SIGTERM) -> bool:
    """Ask the kernel to send ``signum`` to this process when its parent dies; False where it cannot (not Linux).

    Then check the parent is still ``parent``: it may have died before the request (the process was then
    re-parented and no signal will come), in which case this process exits now.
    """
    armed = False
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        armed = bool(libc.prctl(PR_SET_PDEATHSIG, signum, 0, 0, 0) == 0)
        if not armed:
            log.warning("prctl(PR_SET_PDEATHSIG) failed: errno %d", ctypes.get_errno())
    if os.getppid() != parent:
        log.error("the supervisor (pid %d) is gone; worker exiting", parent)
        raise SystemExit(1)
    return armed


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


def _worker(config_path: str, number: int, parent: int) -> None:
    from gateway.server import serve

    die_with_parent(parent)  # SIGTERM: the worker stops as on any SIGTERM, finishing what is in flight
    settings = load_settings(Path(config_path))
    logs.configure(settings.log.format, worker=number)
    run_loop(serve(settings))


def run(settings: Settings, workers: int) -> int:
    if workers <= 1:
        from gateway.server import serve

        run_loop(serve(settings))
        return 0
    return _supervise(settings, workers)


_OWN_METRICS_DIR = "gateway-metrics-"


def _metrics_dir() -> Path:
    """The workers' shared metrics folder (prometheus_client multiprocess mode), emptied: values of an earlier run
    must not add to this one. ``PROMETHEUS_MULTIPROC_DIR`` if set, else a new temporary folder (removed at exit)."""
    given = os.environ.get(MULTIPROCESS_DIR)
    if given:
        folder = Path(given)
        folder.mkdir(parents=True, exist_ok=True)
        for stale in folder.glob("*.db"):
            stale.unlink()
    else:
        folder = Path(tempfile.mkdtemp(prefix=_OWN_METRICS_DIR))
        os.environ[MULTIPROCESS_DIR] = str(folder)  # inherited by the workers, read when they import the library
    return folder


def _supervise(settings: Settings, workers: int) -> int:
    """Start ``workers`` worker processes, forward signals to them and restart any that dies unexpectedly."""
    assert settings.config_path is not None
    admin_token(settings.resolve(settings.admin.token_file))  # created once, before the workers race for it
    context = multiprocessing.get_context("spawn")
    processes: dict[int, BaseProcess] = {}
    metrics_dir = _metrics_dir()
    stopping = False

    def start(number: int) -> None:
        process = context.Process(
            target=_worker, args=(str(settings.config_path), number, os.getpid()), name=f"gateway-w{number}"
        )
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
    try:
        while not (stopping and not processes):
            for number, process in list(processes.items()):
                if process.is_alive():
                    continue
                _reap(process, metrics_dir)
                if stopping:
                    del processes[number]
                else:
                    log.error("worker %d exited with %s; restarting it", number, process.exitcode)
                    time.sleep(RESTART_PAUSE)
                    start(number)
            time.sleep(0.2)
    finally:
        if metrics_dir.name.startswith(_OWN_METRICS_DIR):
            shutil.rmtree(metrics_dir, ignore_errors=True)
    return 0


def _reap(process: BaseProcess, metrics_dir: Path) -> None:
    process.join()
    if process.pid is not None:
        # Its counters stay in the sum (they must never go backwards); its "live" gauges go.
        multiprocess.mark_process_dead(process.pid, str(metrics_dir))  # type: ignore[no-untyped-call]
