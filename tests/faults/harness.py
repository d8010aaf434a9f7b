"""Fault-test machinery: a private RabbitMQ node, the gateway as a real subprocess, a TCP proxy that can cut
the line, a receiver that counts what arrives and a sender that resends what was not accepted.

Loopback only. Every process started here is ended here, by its own pid; the shared broker on 5672 is never
touched.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import aio_pika
import aiohttp
from aiohttp import web

from tests.helpers import ROOT, Deployment, envelope, signed

RABBITMQ_SERVER = Path("/usr/lib/rabbitmq/bin/rabbitmq-server")
RABBITMQCTL = Path("/usr/lib/rabbitmq/bin/rabbitmqctl")
_AMQP_HEADER = b"AMQP\x00\x00\x09\x01"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return f"({path} unreadable)"


def trouble(path: Path, lines: int = 40) -> str:
    """The gateway log's warnings and errors (what a failing fault test needs to show)."""
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return f"({path} unreadable)"
    found = [s for s in text if (" WARNING " in s or " ERROR " in s) and "certificate" not in s]
    return "\n".join(found[-lines:]) or "(no warnings)"


class BrokerError(RuntimeError):
    pass


class PrivateBroker:
    """A RabbitMQ node of our own (DESIGN.md 7): own cookie, name, ports and data, so it can be killed."""

    def __init__(self, folder: Path, *, cookie: str | None = None) -> None:
        self.folder = folder
        self.name = f"gwfault-{uuid.uuid4().hex[:8]}@localhost"
        self.port = free_port()
        self.dist_port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.paused = False
        self.starts = 0
        (folder / "home").mkdir(parents=True, exist_ok=True)
        if cookie is not None:  # the nodes of one cluster share the Erlang cookie
            cookie_file = folder / "home" / ".erlang.cookie"
            cookie_file.write_text(cookie)
            cookie_file.chmod(0o400)
        (folder / "enabled_plugins").write_text("")
        (folder / "rabbitmq.conf").write_text(f"listeners.tcp.local = 127.0.0.1:{self.port}\nloopback_users = none\n")
        # Our own env file, so the machine's /etc/rabbitmq/rabbitmq-env.conf (NODENAME=...) is not read.
        (folder / "rabbitmq-env.conf").write_text(
            'ERL_EPMD_ADDRESS=127.0.0.1\nexport ERL_FLAGS="-kernel inet_dist_use_interface {127,0,0,1}"\n'
        )

    @staticmethod
    def available() -> str | None:
        """Why a private node cannot run here, or None."""
        if not RABBITMQ_SERVER.exists():
            return f"{RABBITMQ_SERVER} not found (Debian package rabbitmq-server)"
        return None

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}/"

    @property
    def log_file(self) -> Path:
        return self.folder / "server.out"

    def env(self) -> dict[str, str]:
        f = self.folder
        return {
            **os.environ,
            "HOME": str(f / "home"),
            "RABBITMQ_CONF_ENV_FILE": str(f / "rabbitmq-env.conf"),
            "RABBITMQ_NODENAME": self.name,
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_MNESIA_BASE": str(f / "mnesia"),
            "RABBITMQ_LOG_BASE": str(f / "log"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(f / "enabled_plugins"),
            "RABBITMQ_CONFIG_FILE": str(f / "rabbitmq.conf"),
            "RABBITMQ_PID_FILE": str(f / "rabbitmq.pid"),
        }

    def start(self, timeout: float = 90.0) -> None:
        self.launch()
        self.wait_ready(timeout)

    def launch(self) -> None:
        """Start the node's process without waiting for it (the nodes of a cluster start together)."""
        (self.folder / "rabbitmq.pid").unlink(missing_ok=True)
        with self.log_file.open("ab") as out:
            self.process = subprocess.Popen(
                [str(RABBITMQ_SERVER)],
                env=self.env(),
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self.starts += 1

    def wait_ready(self, timeout: float = 90.0) -> None:
        """Until the node answers the AMQP protocol header with connection.start."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise BrokerError(f"rabbitmq-server exited with {self.process.returncode}:\n{tail(self.log_file)}")
            if self._answers():
                return
            time.sleep(0.2)
        raise BrokerError(f"private RabbitMQ {self.name} not ready after {timeout:g} s:\n{tail(self.log_file)}")

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                sock.settimeout(2)
                sock.sendall(_AMQP_HEADER)
                return sock.recv(1) == b"\x01"  # a METHOD frame: connection.start
        except OSError:
            return False

    @property
    def beam_pid(self) -> int:
        pid_file = self.folder / "rabbitmq.pid"
        with contextlib.suppress(OSError, ValueError):
            return int(pid_file.read_text().strip())
        assert self.process is not None
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children").read_text().split()
        return int(children[0])

    def kill9(self) -> None:
        """kill -9 of the broker's beam process (the node dies without any shutdown)."""
        assert self.process is not None
        os.kill(self.beam_pid, signal.SIGKILL)
        self.process.wait(timeout=30)
        self.paused = False

    def pause(self) -> None:
        """SIGSTOP: the node hangs, its sockets stay open (what heartbeats are for)."""
        os.kill(self.beam_pid, signal.SIGSTOP)
        self.paused = True

    def resume(self) -> None:
        os.kill(self.beam_pid, signal.SIGCONT)
        self.paused = False

    def ctl(self, *args: str, timeout: float = 90.0) -> str:
        result = subprocess.run(
            [str(RABBITMQCTL), "-n", self.name, *args],
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if result.returncode != 0:
            raise BrokerError(f"rabbitmqctl {' '.join(args)}: exit {result.returncode}: {result.stderr.strip()}")
        return result.stdout

    def queue_arguments(self) -> dict[str, str]:
        out = self.ctl("list_queues", "-q", "--no-table-headers", "name", "arguments")
        return dict(line.split("\t", 1) for line in out.splitlines() if "\t" in line)

    def ensure_running(self) -> None:
        """After a test: whatever it did, leave a running node for the next one."""
        if self.paused:
            self.resume()
        if self.process is None or self.process.poll() is not None:
            self.start()
            return
        if not self._answers():
            with contextlib.suppress(BrokerError, subprocess.TimeoutExpired):
                self.ctl("start_app")
            self.wait_ready()

    def close(self) -> None:
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(OSError, ValueError, IndexError):
                pid = self.beam_pid
                os.kill(pid, signal.SIGCONT)
                os.kill(pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=30)
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait(timeout=10)
        shutil.rmtree(self.folder, ignore_errors=True)


class PrivateCluster:
    """Three private nodes (DESIGN.md 7) joined into one cluster with ``rabbitmqctl join_cluster``."""

    def __init__(self, folder: Path, size: int = 3) -> None:
        cookie = uuid.uuid4().hex.upper()
        self.nodes = [PrivateBroker(folder / f"node{n}", cookie=cookie) for n in range(size)]

    @staticmethod
    def available() -> str | None:
        return PrivateBroker.available()

    @property
    def urls(self) -> list[str]:
        return [node.url for node in self.nodes]

    @property
    def url(self) -> str:
        """A node that is up (for the checks after a test)."""
        return next((n.url for n in self.nodes if n._answers()), self.nodes[0].url)

    def start(self, timeout: float = 120.0) -> None:
        for node in self.nodes:
            node.launch()
        for node in self.nodes:
            node.wait_ready(timeout)
        first = self.nodes[0]
        for node in self.nodes[1:]:
            node.ctl("stop_app")
            node.ctl("join_cluster", first.name)
            node.ctl("start_app")
            node.wait_ready(timeout)
        running = first.ctl("cluster_status", "--formatter", "json")
        for node in self.nodes:
            if node.name not in running:
                raise BrokerError(f"{node.name} did not join the cluster: {running}")

    def node_named(self, name: str) -> PrivateBroker:
        return next(n for n in self.nodes if n.name == name)

    def ctl(self, *args: str) -> str:
        """rabbitmqctl on a node that answers."""
        errors = []
        for node in self.nodes:
            if node.process is not None and node.process.poll() is None and not node.paused:
                try:
                    return node.ctl(*args, timeout=30)
                except (BrokerError, subprocess.TimeoutExpired) as exc:
                    errors.append(str(exc))
        raise BrokerError(f"no node answered rabbitmqctl {' '.join(args)}: {errors}")

    def queue_members(self, queue: str) -> tuple[str, list[str]]:
        """The leader of a quorum queue and its members (node names)."""
        out = self.ctl("list_queues", "-q", "--formatter", "json", "name", "leader", "members")
        import json

        for row in json.loads(out):
            if row["name"] == queue:
                return str(row["leader"]), [str(m) for m in row["members"]]
        raise BrokerError(f"no queue {queue}: {out}")

    def stop_all(self) -> None:
        """Every node stopped cleanly (``rabbitmqctl stop``), one after the other."""
        for node in self.nodes:
            if node.process is not None and node.process.poll() is None:
                node.ctl("stop", timeout=60)
                node.process.wait(timeout=60)

    def start_all(self, timeout: float = 120.0) -> None:
        """Start every stopped node together (a restarted cluster waits for its peers)."""
        stopped = [n for n in self.nodes if n.process is None or n.process.poll() is not None]
        for node in stopped:
            node.launch()
        for node in stopped:
            node.wait_ready(timeout)

    def ensure_running(self) -> None:
        for node in self.nodes:
            if node.paused:
                node.resume()
        self.start_all()

    def close(self) -> None:
        for node in self.nodes:
            node.close()


class GatewayProcess:
    """``python -m gateway run`` as a real process, so it can be kill -9'd and started again."""

    def __init__(self, deployment: Deployment, amqp_url: str, **settings: object) -> None:
        self.deployment = deployment
        self.amqp_url = amqp_url
        self.port = free_port()
        self.settings = settings
        self.log_file = deployment.folder / "gateway.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        env = {
            **os.environ,
            "PYTHONUNBUFFERED": "1",
            "GATEWAY_AMQP__URL": self.amqp_url,
            "GATEWAY_HTTP__PORT": str(self.port),
        }
        for key, value in self.settings.items():
            env[f"GATEWAY_{key.upper()}"] = str(value)
        return env

    async def start(self, seconds: float = 60.0) -> None:
        with self.log_file.open("ab") as out:
            out.write(f"\n===== start at {time.strftime('%H:%M:%S')} =====\n".encode())
            out.flush()
            self.process = subprocess.Popen(  # noqa: ASYNC220
                [sys.executable, "-m", "gateway", "run", "--config", str(self.deployment.config_path)],
                env=self.env(),
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        deadline = time.monotonic() + seconds
        async with aiohttp.ClientSession() as session:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise AssertionError(f"gateway exited with {self.process.returncode}:\n{tail(self.log_file)}")
                with contextlib.suppress(aiohttp.ClientError, OSError, TimeoutError):
                    async with session.get(f"{self.url}/health", timeout=aiohttp.ClientTimeout(total=2)) as r:
                        if r.status == 200:
                            return
                await asyncio.sleep(0.1)
        raise AssertionError(f"gateway not up after {seconds:g} s:\n{tail(self.log_file)}")

    def kill9(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait(timeout=30)

    async def terminate(self, seconds: float = 60.0) -> int:
        """SIGTERM and wait for the exit code."""
        process = self.process
        assert process is not None
        process.send_signal(signal.SIGTERM)
        try:
            await wait_until(lambda: process.poll() is not None, time.monotonic() + seconds, "exit after SIGTERM")
        except AssertionError:
            process.kill()
            process.wait(timeout=10)
            raise AssertionError(f"gateway ignored SIGTERM for {seconds:g} s:\n{tail(self.log_file)}") from None
        return process.returncode

    def close(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=30)

    async def ready(self) -> dict[str, object]:
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"{self.url}/ready", timeout=aiohttp.ClientTimeout(total=5)) as response,
        ):
            return dict(await response.json())

    async def admin(self, path: str) -> dict[str, object]:
        settings = self.deployment.settings()
        token = settings.resolve(settings.admin.token_file).read_text().strip()
        async with (
            aiohttp.ClientSession() as session,
            session.get(
                f"{self.url}/v1/admin/{path}",
                headers={"Authorization": f"Bearer {token}"},
                timeout=aiohttp.ClientTimeout(total=10),
            ) as response,
        ):
            assert response.status == 200, await response.text()
            return dict(await response.json())


def _gone(request: web.Request) -> bool:
    return request.transport is None or request.transport.is_closing()


@dataclass
class Receiver:
    """The receiving partner's inbox. Counts successful arrivals by X-Gateway-Message-Id; can fail on purpose:
    ``poison`` maps a sender message id to the status always answered for it; ``mode`` is ``ok``, ``error``
    (500 for all), or ``hang`` (answers nothing until the mode changes, then 503)."""

    port: int = field(default_factory=free_port)
    arrivals: Counter[str] = field(default_factory=Counter)
    sender_ids: defaultdict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    refused: Counter[str] = field(default_factory=Counter)  # by sender message id, answers >= 300
    poison: dict[str, int] = field(default_factory=dict)
    mode: str = "ok"
    delay: float = 0.0  # seconds before each successful answer (keeps deliveries in hand)
    hanging: int = 0  # deliveries that entered "hang"
    timed_out: int = 0  # hanging deliveries the gateway gave up on (it closed the connection)
    _runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/inbox"

    def set_mode(self, mode: str) -> None:
        self.mode = mode

    async def handle(self, request: web.Request) -> web.Response:
        await request.read()
        gateway_id = request.headers.get("X-Gateway-Message-Id", "")
        sender_id = request.headers.get("X-Sender-Message-Id", "")
        if sender_id in self.poison:
            self.refused[sender_id] += 1
            return web.Response(status=self.poison[sender_id], text="simulated refusal of this message")
        if self.mode == "hang":
            self.hanging += 1
            while self.mode == "hang" and not _gone(request):  # noqa: ASYNC110 (a disconnect has no event)
                await asyncio.sleep(0.05)
            self.timed_out += _gone(request)
            self.refused[sender_id] += 1
            return web.Response(status=503, text="was hanging")
        if self.mode == "error":
            self.refused[sender_id] += 1
            return web.Response(status=500, text="simulated failure")
        if self.delay:
            await asyncio.sleep(self.delay)
        self.arrivals[gateway_id] += 1
        self.sender_ids[gateway_id].add(sender_id)
        return web.Response(status=200, text="ok")

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/inbox", self.handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port, reuse_address=True).start()

    async def stop(self) -> None:
        """Down: the port refuses connections until ``start`` again."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def wait_for(self, gateway_ids: Iterable[str], deadline: float) -> set[str]:
        """Wait until every id arrived; return those still missing at the deadline."""
        wanted = set(gateway_ids)
        with contextlib.suppress(AssertionError):
            await wait_until(lambda: not wanted - set(self.arrivals), deadline, "deliveries")
        return wanted - set(self.arrivals)


@dataclass
class Message:
    sender_id: str
    body: bytes
    gateway_id: str | None = None
    status: int | None = None
    attempts: int = 0


@dataclass
class Sender:
    """Partner that POSTs signed messages concurrently and resends on 503 or when the gateway is unreachable
    (what DESIGN.md 3.4 tells a partner to do), until each one got 202 (accepted) or 200 (duplicate)."""

    url: Callable[[], str]
    partner: str
    messages: list[Message]
    concurrency: int = 16
    request_timeout: float = 30.0
    unavailable: int = 0  # 503 answers
    rate_limited: int = 0  # 429 answers (the partner's quota, issue 17): resent like 503s
    unreachable: int = 0  # connection errors and timeouts
    accepted_at: list[float] = field(default_factory=list)  # when each acceptance came (monotonic)
    other: Counter[int] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)  # why the gateway was unreachable
    answered: int = 0
    stop_sending: bool = False

    @classmethod
    def signed(cls, deployment: Deployment, sender: str, receiver: str, count: int, **kwargs: object) -> Sender:
        identity = deployment.partners[sender]
        messages = []
        for n in range(count):
            sender_id = f"F-{uuid.uuid4().hex[:12]}-{n}"
            messages.append(Message(sender_id, signed(identity, envelope(sender, receiver, message_id=sender_id))))
        return cls(partner=sender, messages=messages, **kwargs)  # type: ignore[arg-type]

    @property
    def accepted(self) -> dict[str, str]:
        """gateway id -> sender message id, for every message the gateway accepted (202, or 200 duplicate)."""
        return {m.gateway_id: m.sender_id for m in self.messages if m.status in (200, 202) and m.gateway_id}

    async def run(self, deadline: float) -> None:
        queue: asyncio.Queue[Message] = asyncio.Queue()
        for message in self.messages:
            queue.put_nowait(message)
        connector = aiohttp.TCPConnector(limit=self.concurrency)
        async with aiohttp.ClientSession(connector=connector) as session:
            await asyncio.gather(*(self._worker(session, queue, deadline) for _ in range(self.concurrency)))

    async def _worker(self, session: aiohttp.ClientSession, queue: asyncio.Queue[Message], deadline: float) -> None:
        while not queue.empty():
            message = queue.get_nowait()
            while message.status is None and time.monotonic() < deadline and not self.stop_sending:
                await self._send(session, message)

    async def _send(self, session: aiohttp.ClientSession, message: Message) -> None:
        message.attempts += 1
        try:
            async with session.post(
                f"{self.url()}/v1/partners/{self.partner}/messages",
                data=message.body,
                headers={"Content-Type": "application/xml"},
                timeout=aiohttp.ClientTimeout(total=self.request_timeout),
            ) as response:
                await response.read()
                if response.status == 429:  # over its quota (issue 17): nothing accepted, send again later
                    self.rate_limited += 1
                    await asyncio.sleep(0.1)
                    return
                if response.status == 503:
                    assert response.headers.get("X-Gateway-Outcome") == "unavailable", response.headers
                    self.unavailable += 1
                    await asyncio.sleep(0.1)
                    return
                message.status = response.status
                message.gateway_id = response.headers.get("X-Gateway-Message-Id")
                self.answered += 1
                if response.status in (200, 202):
                    self.accepted_at.append(time.monotonic())
                if response.status not in (200, 202):
                    self.other[response.status] += 1
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            self.unreachable += 1
            self.errors[type(exc).__name__] += 1
            await asyncio.sleep(0.2)

    def longest_gap(self, since: float) -> float:
        """The longest time without any acceptance after ``since`` (a fault's start), while sending."""
        times = [since, *sorted(t for t in self.accepted_at if t >= since)]
        return max((b - a for a, b in itertools.pairwise(times)), default=0.0)

    async def reached(self, count: int, deadline: float) -> None:
        """Until ``count`` messages were answered (the point to inject a fault mid-flow)."""
        await wait_until(lambda: self.answered >= count, deadline, f"{count} of {len(self.messages)} answered")


@dataclass
class Tally:
    """Sent against accepted against delivered: the numbers each fault test reports."""

    name: str
    sent: int
    accepted: int
    delivered: int
    duplicates: int
    lost: int
    unexpected: int
    unavailable: int
    unreachable: int
    seconds: float
    notes: str = ""
    errors: str = ""

    def line(self) -> str:
        return (
            f"{self.name}: sent={self.sent} accepted={self.accepted} delivered={self.delivered} "
            f"duplicates={self.duplicates} lost={self.lost} unexpected={self.unexpected} "
            f"503s={self.unavailable} unreachable={self.unreachable}{self.errors} time={self.seconds:.1f}s"
            + (f" ({self.notes})" if self.notes else "")
        )


def tally(
    name: str,
    sender: Sender,
    receiver: Receiver,
    started: float,
    *,
    expected_missing: Iterable[str] = (),
    notes: str = "",
) -> Tally:
    accepted = sender.accepted
    expected = set(accepted) - set(expected_missing)
    delivered = set(receiver.arrivals)
    return Tally(
        name=name,
        sent=len(sender.messages),
        accepted=len(accepted),
        delivered=len(delivered),
        duplicates=sum(n - 1 for n in receiver.arrivals.values()),
        lost=len(expected - delivered),
        unexpected=len(delivered - set(accepted)),
        unavailable=sender.unavailable,
        unreachable=sender.unreachable,
        seconds=time.monotonic() - started,
        notes=notes,
        errors=f" {dict(sender.errors)}" if sender.errors else "",
    )


def check(result: Tally, sender: Sender, receiver: Receiver, log_file: Path) -> None:
    """The pass rule: every message answered and accepted, lost 0, unexpected 0, duplicates de-duplicable."""
    context = f"{result.line()}\n--- gateway warnings ---\n{trouble(log_file)}"
    unanswered = [m.sender_id for m in sender.messages if m.status is None]
    assert not unanswered, f"{len(unanswered)} messages never answered, e.g. {unanswered[:3]}\n{context}"
    assert not sender.other, f"unexpected answers {dict(sender.other)}\n{context}"
    assert result.accepted == result.sent, context
    assert result.lost == 0, context
    assert result.unexpected == 0, f"{set(receiver.arrivals) - set(sender.accepted)}\n{context}"
    accepted = sender.accepted
    for gateway_id, sender_ids in receiver.sender_ids.items():
        assert sender_ids == {accepted[gateway_id]}, (gateway_id, sender_ids, context)
    # One gateway id per sender message id: resends never got a second identity.
    assert len(set(accepted.values())) == len(accepted), context


async def queue_depths(amqp_url: str, names: Iterable[str]) -> dict[str, int]:
    """Ready messages per queue (passive declare). With no consumer attached, that is all of them."""
    connection = await aio_pika.connect(amqp_url)
    try:
        channel = await connection.channel()
        depths = {}
        for name in names:
            queue = await channel.declare_queue(name, passive=True)
            depths[name] = queue.declaration_result.message_count or 0
        return depths
    finally:
        await connection.close()


async def wait_until(condition: Callable[[], bool], deadline: float, what: str) -> None:
    """Poll ``condition`` until it holds; fail naming ``what`` at the test's deadline (not a timing assertion:
    the deadline only bounds a test that would otherwise hang)."""
    while not condition():
        if time.monotonic() >= deadline:
            raise AssertionError(f"gave up waiting: {what}")
        await asyncio.sleep(0.05)


async def left_behind(amqp_url: str, queue_name: str, limit: int = 50) -> list[str]:
    """The gateway message ids still in a queue (read without settling; closing the channel returns them)."""
    connection = await aio_pika.connect(amqp_url)
    try:
        channel = await connection.channel()
        queue = await channel.declare_queue(queue_name, passive=True)
        ids = []
        for _ in range(limit):
            message = await queue.get(no_ack=False, fail=False)
            if message is None:
                break
            ids.append(str((message.headers or {}).get("gw-message-id") or message.message_id))
        return ids
    finally:
        await connection.close()
