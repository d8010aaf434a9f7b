"""Where the gateway's time goes: py-spy samples the gateway process during the closed-loop phase.

py-spy (a sampling profiler, ``pip install py-spy``) reads the process's memory from outside: the gateway runs
unchanged. Samples of idle threads (the event loop waiting in epoll) are left out, so the shares below are
shares of the time the gateway was busy. The raw file holds collapsed stacks (one ``frame;frame;... count`` a
line) for flamegraph.pl, speedscope or inferno.
"""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

_FRAME = re.compile(r"^(?P<function>.*) \((?P<file>[^():]+)(?::\d+)?\)$")


def py_spy() -> str | None:
    beside = Path(sys.executable).parent / "py-spy"
    return str(beside) if beside.exists() else shutil.which("py-spy")


class Profiler:
    def __init__(self, pid: int, output: Path, rate: int = 100) -> None:
        self.pid = pid
        self.output = output
        self.rate = rate
        self.process: subprocess.Popen[bytes] | None = None
        self.error = ""

    def start(self) -> bool:
        tool = py_spy()
        if tool is None:
            self.error = "py-spy not found: pip install py-spy"
            return False
        self.process = subprocess.Popen(
            [
                tool,
                "record",
                "--pid",
                str(self.pid),
                "--format",
                "raw",
                "--rate",
                str(self.rate),
                "--nonblocking",
                "--subprocesses",
                "-o",
                str(self.output),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        return True

    def stop(self) -> None:
        """Ctrl-C makes py-spy write what it sampled; it is killed if it does not finish in time."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        try:
            out, _ = self.process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            out, _ = self.process.communicate()
        if self.process.returncode != 0 and not self.output.exists():
            self.error = out.decode(errors="replace").strip()[-500:]


def _name(frame: str) -> str:
    """``function (path/to/file.py:123)`` -> ``function (file.py)``: one entry per function, not per line."""
    match = _FRAME.match(frame.strip())
    if not match:
        return frame.strip()
    path = match["file"]
    # Keep the package-relative part: site-packages/signxml/verifier.py -> signxml/verifier.py
    for marker in ("site-packages/", "/lib/python3."):
        if marker in path:
            path = path.split(marker, 1)[1]
            if marker.startswith("/lib"):
                path = "stdlib/" + path.split("/", 1)[1]
            break
    return f"{match['function']} ({path})"


# Frames that run someone else's work: what lies above them is the work (a task step, a thread-pool job).
# Under uvloop the loop is C code: the task step (a coroutine frame) sits right above Runner.run.
_DISPATCHERS = (
    "Handle._run (asyncio/events.py)",
    "_WorkItem.run (concurrent/futures/thread.py)",
    "Runner.run (asyncio/runners.py)",
)
_LIBRARIES = (
    "signxml",
    "lxml",
    "aiosqlite",
    "aio_pika",
    "aiormq",
    "aiohttp",
    "pamqp",
    "xmlschema",
    "cryptography",
    "yarl",
    "multidict",
    "prometheus_client",
    "pydantic",
)


def _work(frames: list[str]) -> tuple[list[str], bool]:
    """The frames above the last dispatcher (the trunk all samples share is dropped), and if there was one."""
    for index in range(len(frames) - 1, -1, -1):
        if frames[index] in _DISPATCHERS:
            return frames[index + 1 :] or frames[index:], True
    return frames, False


def _module(frame: str) -> str:
    path = frame[frame.rfind("(") + 1 : -1] if frame.endswith(")") else frame
    return path.split("/")[0] if "/" in path else path


def _owner(frames: list[str], dispatched: bool) -> str:
    """The innermost gateway function of a task step or thread job, else the module at the leaf."""
    if not dispatched:
        return f"[{_module(frames[-1])}] (event loop or thread itself, outside any task)"
    for frame in reversed(frames):
        if "(gateway/" in frame:
            return frame
    return f"[{_module(frames[-1])}] (in a task, no gateway frame: library plumbing)"


def summarize(raw: Path, top: int = 15) -> dict[str, Any]:
    """Shares of busy samples per function, three ways (see the README's profile section)."""
    own: Counter[str] = Counter()
    owner: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames, dispatched = _work([_name(f) for f in stack.split(";") if f])
        if not frames:
            continue
        total += count
        own[frames[-1]] += count
        owner[_owner(frames, dispatched)] += count
        for name in set(frames):
            inclusive[name] += count
    if not total:
        return {"samples": 0}

    def share(counter: Counter[str], keep: Any = lambda name: True) -> list[dict[str, Any]]:
        rows = [(n, c) for n, c in counter.most_common() if keep(n)][:top]
        return [{"function": n, "percent": round(100 * c / total, 1)} for n, c in rows]

    return {
        "samples": total,
        "hot_spots": share(owner),
        "self": share(own),
        "inclusive_gateway": share(inclusive, lambda n: "(gateway/" in n),
        "inclusive_libraries": share(inclusive, lambda n: any(f"({lib}/" in n for lib in _LIBRARIES)),
    }
