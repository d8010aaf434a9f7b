"""``gateway run --workers N`` as a real process tree on the shared broker: the supervisor and its workers,
each found by pid, each ended by pid."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import aiohttp

from tests.helpers import ROOT, Deployment


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie counts as gone: it runs nothing)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


class Supervised:
    """The supervisor and its ``workers`` processes, serving ``deployment`` on a port of its own."""

    def __init__(self, deployment: Deployment, workers: int = 2, **settings: object) -> None:
        self.deployment = deployment
        self.workers = workers
        self.port = free_port()
        self.settings = settings
        self.log_file = deployment.folder / f"gateway-{self.port}.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.worker_pids: list[int] = []
        self.helper_pids: list[int] = []  # multiprocessing's resource tracker

    @property
    def config(self) -> str:
        return str(self.deployment.config_path)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "GATEWAY_HTTP__PORT": str(self.port)}
        for key, value in self.settings.items():
            env[f"GATEWAY_{key.upper()}"] = str(value)
        return env

    async def start(self, seconds: float = 90.0) -> None:
        with self.log_file.open("ab") as out:
            self.process = subprocess.Popen(  # noqa: ASYNC220
                [sys.executable, "-m", "gateway", "run", "--workers", str(self.workers), "--config", self.config],
                env=self.env(),
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # the workers stay in this session after the supervisor dies
            )
        deadline = time.monotonic() + seconds
        # Every worker must be serving: each logs "listening" once its runtime started.
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"gateway exited with {self.process.returncode}:\n{self.log()}")
            found = children(self.process.pid)
            # One worker: the gateway runs in the process itself (no supervisor).
            self.worker_pids = (
                [self.process.pid] if self.workers == 1 else [p for p in found if "spawn_main" in command_line(p)]
            )
            self.helper_pids = [pid for pid in found if pid not in self.worker_pids]
            if len(self.worker_pids) == self.workers and self.log().count(" listening on ") >= self.workers:
                return
            await asyncio.sleep(0.1)
        raise AssertionError(f"{self.workers} workers not up after {seconds:g} s:\n{self.log()}")

    def log(self) -> str:
        try:
            return self.log_file.read_text(errors="replace")
        except OSError:
            return ""

    async def get(self, path: str, *, token: bool = False) -> tuple[int, bytes]:
        """One request on a new connection (SO_REUSEPORT spreads connections, not requests, over workers)."""
        headers = {"Authorization": f"Bearer {self.token()}"} if token else {}
        async with (
            aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as session,
            session.get(f"{self.url}{path}", headers=headers, timeout=aiohttp.ClientTimeout(total=10)) as response,
        ):
            return response.status, await response.read()

    async def request(
        self, method: str, path: str, *, json: object = None, data: bytes | None = None, token: bool = True
    ) -> tuple[int, bytes, dict[str, str]]:
        """One request on a new connection, as an admin (``token``) or a partner (``data``)."""
        headers = {"Authorization": f"Bearer {self.token()}"} if token else {}
        if data is not None:
            headers["Content-Type"] = "application/xml"
        async with (
            aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as session,
            session.request(
                method,
                f"{self.url}{path}",
                json=json,
                data=data,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=30),
            ) as response,
        ):
            return response.status, await response.read(), dict(response.headers)

    def token(self) -> str:
        settings = self.deployment.settings()
        return settings.resolve(settings.admin.token_file).read_text().strip()

    async def terminate(self, seconds: float = 60.0) -> int | None:
        if self.process is None or self.process.poll() is not None:
            return None if self.process is None else self.process.returncode
        self.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + seconds
        while self.process.poll() is None and time.monotonic() < deadline:  # noqa: ASYNC110 (no event for an exit)
            await asyncio.sleep(0.1)
        return self.process.poll()

    def close(self) -> None:
        """Whatever happened: end the supervisor and every worker it had, by pid."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=30)
        for pid in self.worker_pids + self.helper_pids:
            if alive(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
