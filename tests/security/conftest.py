"""A gateway under attack: real keys, real HTTP, real RabbitMQ and SQLite, one deployment per test.

Most attacks run against an ingress-only gateway (``deliver=False``): nothing consumes the receivers' queues,
so a passive declare that finds zero messages proves nothing was published. The tests that must prove *what*
was delivered (signature wrapping, comment injection, XInclude) run with the delivery workers and an inbox.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import resource
import tracemalloc
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import aio_pika
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from cryptography import x509
from lxml import etree
from signxml import XMLVerifier

from gateway.app import build_app
from gateway.broker.topology import Topology
from gateway.runtime import RUNTIME
from gateway.security.certificates import PrivateKey, new_key_and_certificate
from tests import helpers
from tests.conftest import Inbox
from tests.helpers import (
    ENV,
    Deployment,
    Identity,
    PartnerSpec,
    envelope,
    make_deployment,
    signed,
    write_key_files,
)

E = f"{{{ENV}}}"
W = "{urn:customs-gateway:wco:1}"
NOWHERE = "http://127.0.0.1:9/never"
MAX_BODY = 2 * 1024 * 1024  # the security deployment's [http] max_body_bytes: small, so attacks stay cheap
SENDER, RECEIVER = "nl-customs", "de-customs"
RECEIVERS = (RECEIVER, "picky-it")  # the partners that receive: their queues are declared

_SESSION_START = dt.datetime.now(dt.UTC).replace(microsecond=0)
EXPIRED_FROM = _SESSION_START - dt.timedelta(days=40)  # 30 days valid: expired ten days ago
FUTURE_FROM = _SESSION_START + dt.timedelta(days=10)  # not valid for another ten days

SPECS = [
    PartnerSpec(SENDER, receives=[]),
    PartnerSpec(RECEIVER, url="(inbox)"),
    PartnerSpec("legacy-cn", sends=["risk-alert"], receives=[], extra='legacy_algorithms = ["rsa-sha1"]'),
    PartnerSpec("expired-fr", receives=[]),
    PartnerSpec("future-be", receives=[]),
    PartnerSpec("narrow-pl", sends=["receipt"], receives=[]),
    PartnerSpec("picky-it", url=NOWHERE, receives=["declaration"]),
]

_KEYS: dict[tuple[Any, ...], tuple[PrivateKey, x509.Certificate]] = {}


def cached_identity(
    folder: Path,
    name: str,
    *,
    days: int = 30,
    algorithm: Literal["rsa", "ec"] = "rsa",
    not_before: dt.datetime | None = None,
) -> Identity:
    """``helpers.make_identity`` with the RSA key generation done once per session (it dominates set-up)."""
    cache_key = (name, days, algorithm, not_before)
    if cache_key not in _KEYS:
        _KEYS[cache_key] = new_key_and_certificate(name, days=days, algorithm=algorithm, not_before=not_before)
    key, cert = _KEYS[cache_key]
    return Identity(name, key, cert, *write_key_files(folder, name, key, cert))


@dataclass
class Reply:
    status: int
    code: str
    body: bytes
    receipt: etree._Element | None = None

    @property
    def description(self) -> str:
        """The human message of the (first) error in the signed receipt."""
        assert self.receipt is not None
        return self.receipt.findtext(f"{E}Body/{W}Receipt/{W}Error/{W}Description") or ""


@dataclass
class Gate:
    deployment: Deployment
    client: TestClient[web.Request, web.Application]
    amqp: aio_pika.abc.AbstractRobustConnection
    topology: Topology
    inbox: Inbox | None

    @property
    def url(self) -> str:
        return f"/v1/partners/{SENDER}/messages"

    @property
    def address(self) -> tuple[str, int]:
        server = self.client.server
        return str(server.host), int(server.port)  # type: ignore[arg-type]

    def identity(self, partner: str = SENDER) -> Identity:
        return self.deployment.partners[partner]

    def message(self, sender: str = SENDER, receiver: str | None = RECEIVER, **kwargs: Any) -> etree._Element:
        return envelope(sender, receiver, **kwargs)

    def valid(self, sender: str = SENDER, receiver: str | None = RECEIVER, **kwargs: Any) -> bytes:
        return signed(self.identity(sender), self.message(sender, receiver, **kwargs))

    async def post(
        self, body: bytes, *, partner: str = SENDER, headers: dict[str, str] | None = None, **kwargs: Any
    ) -> Reply:
        headers = {"Content-Type": "application/xml", **(headers or {})}
        data: bytes | io.BytesIO = io.BytesIO(body) if len(body) > 2**20 else body  # aiohttp warns on big bytes
        response = await self.client.post(f"/v1/partners/{partner}/messages", data=data, headers=headers, **kwargs)
        answer = await response.read()
        return self.reply(response.status, response.headers.get("X-Gateway-Outcome", ""), answer)

    def reply(self, status: int, code: str, data: bytes) -> Reply:
        receipt = None
        if data.startswith(b"<?xml"):
            # Every answer of the inbox is a receipt signed by the gateway.
            receipt = XMLVerifier().verify(data, x509_cert=self.deployment.gateway.cert).signed_xml
        return Reply(status, code, data, receipt)

    async def depth(self, receiver: str) -> int:
        """Messages queued for ``receiver``, in its bulk and its urgent queue (the fast lane, issue 17)."""
        channel = await self.amqp.channel()
        try:
            count = 0
            for name in (self.topology.deliver_queue(receiver), self.topology.urgent_queue(receiver)):
                queue = await channel.declare_queue(name, passive=True)
                count += int(queue.declaration_result.message_count or 0)
            return count
        finally:
            await channel.close()

    async def assert_nothing_published(self) -> None:
        depths = {r: await self.depth(r) for r in RECEIVERS}
        assert depths == dict.fromkeys(RECEIVERS, 0), f"published despite the rejection: {depths}"
        runtime = self.client.app[RUNTIME]
        accepted = await runtime.store.find(status="accepted")
        assert accepted == [], accepted
        if self.inbox is not None:
            assert self.inbox.received == []

    async def assert_unharmed(self) -> None:
        """The process still works: a valid message right after the attack is accepted and published once."""
        before = await self.depth(RECEIVER)
        reply = await self.post(self.valid())
        assert (reply.status, reply.code) == (202, "accepted"), reply.body[:500]
        if self.inbox is None:
            assert await self.depth(RECEIVER) == before + 1

    async def assert_refused(self, reply: Reply, status: int, code: str, *words: str) -> None:
        """Exact status and code, a signed receipt whose message names the problem, nothing published."""
        assert (reply.status, reply.code) == (status, code), (reply.status, reply.code, reply.body[:800])
        assert reply.receipt is not None, reply.body[:300]
        assert reply.receipt.findtext(f"{E}Body/{W}Receipt/{W}Error/{W}ValidationCode") == code
        description = reply.description
        assert description
        assert "Traceback" not in description
        for word in words:
            assert word.lower() in description.lower(), f"{word!r} not in {description!r}"
        await self.assert_nothing_published()


GateFactory = Callable[..., Awaitable[Gate]]


@pytest.fixture
async def make_gate(tmp_path, aiohttp_client, amqp, inbox_factory, monkeypatch) -> AsyncIterator[GateFactory]:
    """``await make_gate(deliver=False, **http)``: a fresh deployment and a running gateway."""
    monkeypatch.setattr(helpers, "make_identity", cached_identity)
    made: list[Gate] = []

    async def make(*, deliver: bool = False, specs: list[PartnerSpec] | None = None, **http: Any) -> Gate:
        inbox = await inbox_factory() if deliver else None
        specs = [
            PartnerSpec(**{**s.__dict__, "url": inbox.url if inbox else NOWHERE}) if s.url == "(inbox)" else s
            for s in (specs or SPECS)
        ]
        folder = tmp_path / f"gw{len(made)}"
        deployment = make_deployment(folder, specs, retry_delays="[0.5]")  # one retry queue: fast set-up
        for name, start in (("expired-fr", EXPIRED_FROM), ("future-be", FUTURE_FROM)):
            if name in deployment.partners:
                identity = cached_identity(folder / "partner-keys", name, not_before=start)
                (folder / "partners" / "certs" / f"{name}.crt").write_bytes(identity.cert_path.read_bytes())
                deployment.partners[name] = identity
        settings = deployment.settings(
            http={"host": "127.0.0.1", "port": 0, "body_timeout": 2.0, "max_body_bytes": MAX_BODY, **http}
        )
        client = await aiohttp_client(build_app(settings, deliver=deliver))
        topology = Topology(settings.amqp.prefix, settings.amqp.delivery_limit, tuple(settings.delivery.retry_delays))
        gate = Gate(deployment, client, amqp, topology, inbox)
        made.append(gate)
        return gate

    yield make
    for gate in made:
        await gate.client.close()
        channel = await amqp.channel()
        await gate.topology.delete(channel, list(RECEIVERS))
        await channel.close()


@pytest.fixture
async def gate(make_gate: GateFactory) -> Gate:
    return await make_gate()


@contextlib.contextmanager
def bounded_memory(python_bytes: int = 32 * 2**20, rss_bytes: int = 96 * 2**20) -> Iterator[None]:
    """Fail if the block allocates more than ``python_bytes`` at its peak (tracemalloc: Python objects) or
    raises the process's peak RSS by more than ``rss_bytes`` (getrusage: libxml2 and zlib included).

    ru_maxrss only ever grows, so an earlier, bigger peak can hide growth here: the check never fails wrongly,
    and the tracemalloc peak, which is reset for the block, is the precise one.
    """
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    tracemalloc.start()
    try:
        yield
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - rss_before
    assert peak <= python_bytes, f"peak Python allocation {peak / 2**20:.1f} MiB > {python_bytes / 2**20:.0f} MiB"
    assert grown <= rss_bytes, f"peak RSS grew by {grown / 2**20:.1f} MiB > {rss_bytes / 2**20:.0f} MiB"


def new_id(prefix: str = "ATK") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:16]}"
