"""Test building blocks: real keys, real configuration files, real signed messages."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from cryptography import x509
from lxml import etree

from gateway.config import Settings, load_settings
from gateway.security.certificates import (
    PrivateKey,
    Sm2PrivateKey,
    new_key_and_certificate,
    write_key_and_certificate,
)
from gateway.security.signatures import Signer
from gateway.security.sm2 import Sm2Signer
from gateway.security.xml import to_bytes

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
# Published partner schemas and samples, copied into the repository (sources and licences: tests/fixtures/README.md).
FIXTURES = ROOT / "tests" / "fixtures"
ENV = "urn:customs-gateway:envelope:1"
# The test broker; TEST_AMQP_URL points the suite at another one (e.g. a private node while the shared one is down).
AMQP_URL = os.environ.get("TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")


@dataclass
class Identity:
    """A party's RSA or EC key and certificate, in memory and as the files ``key_path`` and ``cert_path``."""

    id: str
    key: PrivateKey
    cert: x509.Certificate
    key_path: Path
    cert_path: Path

    @property
    def signer(self) -> Signer:
        return Signer(self.key, self.cert)


@dataclass
class Sm2Identity:
    """The same with an SM2 key (a CEB signing device's): it signs SM2-SM3."""

    id: str
    key: Sm2PrivateKey
    cert: x509.Certificate
    key_path: Path
    cert_path: Path

    @property
    def signer(self) -> Sm2Signer:
        return Sm2Signer(self.key, self.cert)


def write_key_files(
    folder: Path, name: str, key: PrivateKey | Sm2PrivateKey, cert: x509.Certificate
) -> tuple[Path, Path]:
    """``folder/name.key`` and ``folder/name.crt``, written."""
    key_path, cert_path = folder / f"{name}.key", folder / f"{name}.crt"
    write_key_and_certificate(key, cert, key_path, cert_path)
    return key_path, cert_path


def make_identity(
    folder: Path,
    name: str,
    *,
    days: int = 30,
    algorithm: Literal["rsa", "ec"] = "rsa",
    not_before: dt.datetime | None = None,
) -> Identity:
    key, cert = new_key_and_certificate(name, days=days, algorithm=algorithm, not_before=not_before)
    return Identity(name, key, cert, *write_key_files(folder, name, key, cert))


def make_sm2_identity(folder: Path, name: str, *, days: int = 30) -> Sm2Identity:
    key, cert = new_key_and_certificate(name, days=days, algorithm="sm2")
    return Sm2Identity(name, key, cert, *write_key_files(folder, name, key, cert))


@dataclass
class PartnerSpec:
    id: str
    url: str | None = None
    format: str = "canonical"
    role: str = "customs"
    country: str = "NL"
    sends: list[str] = field(default_factory=lambda: ["risk-alert", "declaration", "receipt"])
    receives: list[str] = field(default_factory=lambda: ["risk-alert", "declaration", "receipt"])
    extra: str = ""


def partner_toml(spec: PartnerSpec, cert_files: list[str]) -> str:
    lines = [
        f'id = "{spec.id}"',
        f'name = "Test partner {spec.id}"',
        f'role = "{spec.role}"',
        f'country = "{spec.country}"',
        f'format = "{spec.format}"',
        "certificates = [" + ", ".join(f'"{c}"' for c in cert_files) + "]",
        "sends = [" + ", ".join(f'"{t}"' for t in spec.sends) + "]",
        "receives = [" + ", ".join(f'"{t}"' for t in spec.receives) + "]",
        spec.extra,
    ]
    if spec.url:
        lines += ["[delivery]", 'transport = "http"', f'url = "{spec.url}"']
    return "\n".join(lines) + "\n"


@dataclass
class Deployment:
    """A gateway configuration in a temporary folder, with its own broker names."""

    folder: Path
    gateway: Identity
    partners: dict[str, Identity]
    prefix: str

    @property
    def config_path(self) -> Path:
        return self.folder / "gateway.toml"

    def settings(self, **overrides: object) -> Settings:
        return load_settings(self.config_path, **overrides)


def make_deployment(
    folder: Path,
    partners: list[PartnerSpec],
    *,
    extra_toml: str = "",
    retry_delays: str = "[0.2, 0.4, 0.8]",
    max_attempts: int = 3,
    rules: str = "",
) -> Deployment:
    prefix = f"t{uuid.uuid4().hex[:10]}"
    keys = folder / "keys"
    certs = folder / "partners" / "certs"
    certs.mkdir(parents=True, exist_ok=True)
    gateway = make_identity(keys, "gw-test")
    identities = {}
    for spec in partners:
        identity = make_identity(folder / "partner-keys", spec.id)
        (certs / f"{spec.id}.crt").write_bytes(identity.cert_path.read_bytes())
        (folder / "partners" / f"{spec.id}.toml").write_text(partner_toml(spec, [f"certs/{spec.id}.crt"]))
        identities[spec.id] = identity
    (folder / "gateway.toml").write_text(
        f"""
[gateway]
id = "gw-test"
signing_key = "keys/gw-test.key"
signing_cert = "keys/gw-test.crt"
partners_dir = "partners"

[http]
host = "127.0.0.1"
port = 0
body_timeout = 2.0

[amqp]
url = "{AMQP_URL}"
prefix = "{prefix}"
publish_timeout = 5.0

[store]
url = "sqlite:///state/gateway.db"

[admin]
token_file = "state/admin.token"

[delivery]
retry_delays = {retry_delays}
max_attempts = {max_attempts}
timeout = 2.0

{extra_toml}
{rules}
"""
    )
    return Deployment(folder, gateway, identities, prefix)


def envelope(
    sender: str,
    receiver: str | None,
    *,
    message_type: str = "risk-alert",
    message_id: str | None = None,
    created: dt.datetime | None = None,
    example: str = "risk-alert.xml",
) -> etree._Element:
    """An unsigned canonical envelope built from an example, with fresh header values."""
    root = etree.fromstring((EXAMPLES / example).read_bytes())
    header = root.find(f"{{{ENV}}}Header")
    assert header is not None

    def put(name: str, value: str | None) -> None:
        element = header.find(f"{{{ENV}}}{name}")
        if value is None:
            if element is not None:
                header.remove(element)
            return
        assert element is not None, name
        element.text = value

    put("MessageID", message_id or f"MSG-{uuid.uuid4().hex[:20]}")
    put("MessageType", message_type)
    put("Sender", sender)
    if receiver is None:
        put("Receiver", None)
    else:
        element = header.find(f"{{{ENV}}}Receiver")
        if element is None:
            element = etree.Element(f"{{{ENV}}}Receiver")
            header.find(f"{{{ENV}}}Sender").addnext(element)
        element.text = receiver
    when = created or dt.datetime.now(dt.UTC)
    put("CreationDateTime", when.strftime("%Y-%m-%dT%H:%M:%SZ"))
    return root


def signed(identity: Identity, root: etree._Element) -> bytes:
    return to_bytes(identity.signer.sign(root))


class Proxy:
    """A TCP relay to RabbitMQ that the test can stall (bytes held: a hung broker), cut (connections dropped,
    held bytes lost, new connections refused) and restore."""

    def __init__(self, target: tuple[str, int] = ("127.0.0.1", 5672)) -> None:
        self.target = target
        self.open = True
        self.port = 0  # known once started
        self.connections = 0  # relayed so far
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self.open:
            writer.close()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return
        self.connections += 1
        self._writers |= {writer, up_writer}
        for source, sink in ((reader, up_writer), (up_reader, writer)):
            task = asyncio.create_task(self._pipe(source, sink))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _pipe(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        try:
            while data := await source.read(65536):
                await self._flowing.wait()
                sink.write(data)
                await sink.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            sink.close()
            self._writers.discard(sink)

    def stall(self) -> None:
        self._flowing.clear()

    def cut(self) -> None:
        self.open = False
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()
        for task in list(self._tasks):
            task.cancel()  # what a stalled relay holds is lost, as with a broker killed while hung

    def restore(self) -> None:
        self._flowing.set()
        self.open = True

    async def close(self) -> None:
        self.cut()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


async def wait_until(check: Callable[[], Awaitable[object]], what: str, tries: int = 400) -> None:
    """Poll an async condition (bounded by count, not asserted on time)."""
    for _ in range(tries):
        if await check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"gave up waiting for {what}")
