"""Mutual TLS on ingress: the real server (gateway.server.serve) with [http] tls_*; clients with certificates.

- chain-nl's client certificate is issued by CA A, which chain-nl's partner file names in ca_certificates;
- pinned-nl's client certificate is issued by CA B and pinned in pinned-nl's partner file (no CA there);
- the server's tls_client_ca bundle holds A and B, so both pass the handshake; the inbox then checks the owner.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import warnings
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

from gateway.config import load_settings
from gateway.errors import ConfigError
from gateway.security.tls import server_ssl_context
from gateway.security.xml import to_bytes
from gateway.server import serve
from tests import helpers
from tests.conftest import remove_topology
from tests.helpers import PartnerSpec, envelope, make_deployment
from tests.security.conftest import NOWHERE, cached_identity
from tests.security.pki import Issued, issue, make_ca, pem

RECEIVER = "de-customs"


@dataclass
class Tls:
    url: str
    folder: Path
    server_ca: Path
    clients: dict[str, tuple[Path, Path]]  # partner -> (cert, key)
    signers: dict[str, Issued]

    def client_context(self, partner: str | None, *, maximum: ssl.TLSVersion | None = None) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.server_ca))
        if partner is not None:
            cert, key = self.clients[partner]
            context.load_cert_chain(cert, key)
        if maximum is not None:
            context.maximum_version = maximum
        return context

    async def post(self, partner: str, client: str | None, **kwargs: object) -> tuple[int, str, bytes]:
        body = to_bytes(self.signers[partner].signer.sign(envelope(partner, RECEIVER)))
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20)) as session,
            session.post(
                f"{self.url}/v1/partners/{partner}/messages",
                data=body,
                headers={"Content-Type": "application/xml"},
                ssl=self.client_context(client, **kwargs),  # type: ignore[arg-type]
            ) as response,
        ):
            return response.status, response.headers.get("X-Gateway-Outcome", ""), await response.read()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
async def tls(tmp_path: Path, amqp, monkeypatch) -> AsyncIterator[Tls]:
    monkeypatch.setattr(helpers, "make_identity", cached_identity)
    pki = tmp_path / "pki"
    server_ca, ca_a, ca_b = make_ca("Server CA"), make_ca("Partner CA A"), make_ca("Partner CA B")
    server_cert, server_key = issue(server_ca, "gateway", server=True).write(pki, "server")
    (pki / "server-ca.pem").write_bytes(pem(server_ca))
    (pki / "clients.pem").write_bytes(pem(ca_a) + pem(ca_b))
    (pki / "ca-a.pem").write_bytes(pem(ca_a))
    chain_client, pinned_client = issue(ca_a, "chain-nl client"), issue(ca_b, "pinned-nl client")
    specs = [
        PartnerSpec("chain-nl", receives=[], extra=f'ca_certificates = ["{pki / "ca-a.pem"}"]'),
        PartnerSpec("pinned-nl", receives=[]),
        PartnerSpec(RECEIVER, url=NOWHERE),
    ]
    deployment = make_deployment(tmp_path / "gw", specs)
    pinned_path, _ = pinned_client.write(pki, "pinned-nl")
    # pinned-nl pins its TLS client certificate (which also signs its messages here).
    (tmp_path / "gw" / "partners" / "certs" / "pinned-nl.crt").write_bytes(pinned_path.read_bytes())
    port = _free_port()
    settings = deployment.settings(
        http={
            "host": "127.0.0.1",
            "port": port,
            "body_timeout": 2.0,
            "tls_cert": str(server_cert),
            "tls_key": str(server_key),
            "tls_client_ca": str(pki / "clients.pem"),
        }
    )
    ready, stop = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(serve(settings, ready=ready, stop=stop))
    async with asyncio.timeout(30):
        await asyncio.wait({task, asyncio.create_task(ready.wait())}, return_when=asyncio.FIRST_COMPLETED)
    if task.done():
        task.result()  # the server failed to start: show why
    clients = {
        "chain-nl": chain_client.write(pki, "chain-nl-client"),
        "pinned-nl": pinned_client.write(pki, "pinned-nl-client"),
    }
    signers = {"chain-nl": chain_client, "pinned-nl": pinned_client}
    yield Tls(f"https://127.0.0.1:{port}", pki, pki / "server-ca.pem", clients, signers)
    stop.set()
    async with asyncio.timeout(30):
        await task
    await remove_topology(amqp, deployment, [RECEIVER])


async def test_the_partners_own_client_certificate_is_accepted(tls: Tls) -> None:
    status, code, body = await tls.post("chain-nl", "chain-nl", maximum=ssl.TLSVersion.TLSv1_2)  # via its CA
    assert (status, code) == (202, "accepted"), body[:600]
    status, code, body = await tls.post("pinned-nl", "pinned-nl")  # pinned fingerprint, TLS 1.3
    assert (status, code) == (202, "accepted"), body[:600]


async def test_another_partners_client_certificate_is_not_permitted(tls: Tls) -> None:
    status, code, body = await tls.post("chain-nl", "pinned-nl")
    assert (status, code) == (403, "not-permitted"), body[:600]
    assert b"TLS client certificate CN=pinned-nl client is not partner chain-nl&apos;s" in body or (
        b"TLS client certificate CN=pinned-nl client is not partner chain-nl's" in body
    ), body[:800]
    status, code, body = await tls.post("pinned-nl", "chain-nl")
    assert (status, code) == (403, "not-permitted"), body[:600]


async def test_no_client_certificate_is_refused_at_the_handshake(tls: Tls) -> None:
    with pytest.raises((aiohttp.ClientError, ssl.SSLError, ConnectionError)):
        await tls.post("chain-nl", None)
    assert (await tls.post("chain-nl", "chain-nl"))[:2] == (
        202,
        "accepted",
    )  # the server is fine: only that was refused


async def test_tls_1_1_is_refused(tls: Tls) -> None:
    """A client offering at most TLS 1.1 (its security level lowered so that it really offers it) is refused at
    the handshake; the same client allowed TLS 1.2 connects (so the version is what was refused)."""
    host, port = "127.0.0.1", int(tls.url.rsplit(":", 1)[1])

    async def handshake(maximum: ssl.TLSVersion) -> str:
        context = tls.client_context("chain-nl")
        context.set_ciphers("DEFAULT:@SECLEVEL=0")
        with warnings.catch_warnings():  # TLS 1.0/1.1 are deprecated: that is the point
            warnings.simplefilter("ignore", DeprecationWarning)
            context.minimum_version = ssl.TLSVersion.TLSv1
            context.maximum_version = maximum
        async with asyncio.timeout(10):
            _, writer = await asyncio.open_connection(host, port, ssl=context, server_hostname=host)
            version = writer.get_extra_info("ssl_object").version()
            writer.close()
            return str(version)

    with pytest.raises((ssl.SSLError, ConnectionResetError)):
        await handshake(ssl.TLSVersion.TLSv1_1)
    assert await handshake(ssl.TLSVersion.TLSv1_2) == "TLSv1.2"


def test_tls_configuration_problems_name_the_key(tmp_path: Path) -> None:
    deployment = make_deployment(tmp_path, [PartnerSpec("nl-customs", receives=[])])
    key = issue(make_ca("Server CA"), "gateway", server=True).write(tmp_path / "pki", "server")
    cert_path, key_path = key
    key_path.chmod(0o644)
    settings = deployment.settings(http={"port": 0, "tls_cert": str(cert_path), "tls_key": str(key_path)})
    with pytest.raises(ConfigError, match=r"http\.tls_key: .*accessible to group or others"):
        server_ssl_context(settings)
    with pytest.raises(ConfigError, match="tls_cert and tls_key go together"):
        load_settings(deployment.config_path, http={"tls_cert": str(cert_path)})
    key_path.chmod(0o600)
    settings = deployment.settings(
        http={"tls_cert": str(cert_path), "tls_key": str(key_path), "tls_client_ca": str(tmp_path / "none.pem")}
    )
    with pytest.raises(ConfigError, match=r"http\.tls_client_ca: .*none\.pem"):
        server_ssl_context(settings)
