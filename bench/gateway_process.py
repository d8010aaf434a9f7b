"""The real gateway in a subprocess (``python -m gateway run``): started, watched, always stopped."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, Any

import aiohttp

_PR_SET_PDEATHSIG = 1
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
_prctl: Any = None
with contextlib.suppress(OSError, AttributeError):  # not Linux/glibc: the finally blocks are the only guard
    _prctl = ctypes.CDLL(None, use_errno=True).prctl  # resolved here, so the child only makes the call


def _die_with_parent() -> None:
    """In the child, before exec: get SIGTERM if the bench process dies, so no gateway is left behind."""
    if _prctl is not None:
        _prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def proc_status(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak RSS) of a process, in kB."""
    found = {}
    with contextlib.suppress(OSError), open(f"/proc/{pid}/status") as status:
        for line in status:
            name, _, value = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                found[name] = int(value.split()[0])
    return found


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads), from /proc/<pid>/stat."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS


def _parent(pid: str) -> int:
    with open(f"/proc/{pid}/stat") as stat:
        return int(stat.read().rsplit(")", 1)[1].split()[1])


def process_tree(root: int) -> list[int]:
    """``root`` and all its descendants (``gateway run --workers N`` runs a supervisor and N workers)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError, ValueError, IndexError):
                children.setdefault(_parent(entry), []).append(int(entry))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(children.get(pid, []))
    return tree


def broker_pids() -> list[int]:
    """RabbitMQ's Erlang VM processes (read only: to report the broker's CPU share)."""
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError), open(f"/proc/{entry}/comm") as comm:
                if comm.read().strip() == "beam.smp":
                    pids.append(int(entry))
    return pids


class GatewayFailed(Exception):
    """The gateway did not start or did not become ready; the message ends with its log."""


class GatewayProcess:
    """The gateway (or, given ``command``, another server of the bench's: the stack floor) in a subprocess."""

    def __init__(
        self,
        config: Path,
        log_path: Path,
        *,
        workers: int | None = None,
        stop_timeout: float = 15.0,
        command: list[str] | None = None,
    ) -> None:
        self.config = config
        self.command = command
        self.workers = workers
        self.log_path = log_path
        self.stop_timeout = stop_timeout
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self) -> None:
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            self.command
            or [sys.executable, "-m", "gateway", "run", "--config", str(self.config)]
            + ([] if self.workers is None else ["--workers", str(self.workers)]),
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=Path(__file__).resolve().parents[1],
            preexec_fn=_die_with_parent,  # only a prctl() call between fork and exec
        )

    async def wait_ready(self, base_url: str, patience: float = 60.0) -> None:
        deadline = time.monotonic() + patience
        async with aiohttp.ClientSession() as session:
            while time.monotonic() < deadline:
                if self.process is not None and self.process.poll() is not None:
                    raise GatewayFailed(f"the gateway exited with {self.process.returncode}:\n{self.log_tail()}")
                with contextlib.suppress(aiohttp.ClientError, OSError):
                    async with session.get(f"{base_url}/ready", timeout=aiohttp.ClientTimeout(total=2)) as r:
                        if r.status == 200:
                            return
                await asyncio.sleep(0.1)
        raise GatewayFailed(f"the gateway was not ready within {patience:g} s:\n{self.log_tail()}")

    async def wait_workers(self, patience: float = 30.0) -> int:
        """/ready answers once the first of ``--workers N`` listens: wait for all N (counted in the log)."""
        wanted = self.workers or 1
        listening = 0
        for _ in range(int(patience * 10)):
            listening = self.log_text().count(" listening on http")
            if listening >= wanted:
                break
            await asyncio.sleep(0.1)  # polling a file: there is no event to wait for
        return listening

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def log_problems(self) -> dict[str, Any]:
        """Errors, tracebacks and worker restarts the gateway logged during the run."""
        lines = self.log_text().splitlines()
        bad = [line for line in lines if " ERROR " in line or line.startswith("Traceback")]
        return {
            "errors": len(bad),
            "first_errors": [line[:300] for line in bad[:5]],
            "worker_restarts": sum("restarting it" in line for line in lines),
        }

    def memory(self) -> dict[str, Any]:
        """RSS of every gateway process (kB), and their sum: the supervisor's workers count too."""
        if self.process is None:
            return {}
        per_process = {pid: proc_status(pid) for pid in process_tree(self.pid)}
        return {
            "VmRSS": sum(p.get("VmRSS", 0) for p in per_process.values()),
            "VmHWM": sum(p.get("VmHWM", 0) for p in per_process.values()),
            "processes": {str(pid): p.get("VmRSS") for pid, p in per_process.items()},
        }

    def cpu_seconds(self) -> float:
        return sum(cpu_seconds(pid) for pid in process_tree(self.pid)) if self.process is not None else 0.0

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:]) or "(no gateway log)"

    def stop(self) -> int | None:
        """SIGTERM, then SIGKILL after ``stop_timeout``; returns the exit code. Safe to call twice."""
        process = self.process
        if process is None:
            return None
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(self.stop_timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
        if self._log is not None:
            self._log.close()
            self._log = None
        return process.returncode
