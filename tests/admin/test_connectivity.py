"""Connectivity check: a signed test message to a partner's inbox, and a report of what happened."""

from __future__ import annotations

import asyncio
import socket
import ssl
import threading
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import aiohttp
import pytest
from aiohttp import web
from aiohttp.client_reqrep import ConnectionKey
from lxml import etree
from signxml import XMLVerifier

from gateway.admin.ping import PING_REFERENCE
from gateway.app import build_app
from gateway.cli import main
from gateway.delivery.probe import classify
from gateway.formats.canonical import CanonicalAdapter
from gateway.formats.ceb import CebAdapter
from gateway.runtime import RUNTIME
from gateway.security.certificates import load_certificate
from gateway.security.signatures import SignatureVerifier
from gateway.security.sm2 import CHINAPORT_SM2_SM3
from gateway.security.xml import parse_xml
from tests.conftest import remove_topology
from tests.formats import ceb_samples
from tests.helpers import ENV, PartnerSpec, make_deployment, make_identity
from tests.security.test_keyring import add_sm2_key, nsw_spec

E = f"{{{ENV}}}"
W = "{urn:customs-gateway:wco:1}"


def closed_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
async def tls_inbox(tmp_path) -> AsyncIterator[str]:
    """An HTTPS inbox with a self-signed certificate: no client trusts it."""
    identity = make_identity(tmp_path / "tls", "127.0.0.1")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(identity.cert_path, identity.key_path)

    async def handle(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/inbox", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    port = closed_port()
    site = web.TCPSite(runner, "127.0.0.1", port, ssl_context=context)
    await site.start()
    yield f"https://127.0.0.1:{port}/inbox"
    await runner.cleanup()


@pytest.fixture
async def pinged(tmp_path, inbox_factory, amqp, aiohttp_client, tls_inbox):
    live, failing, nsw = await inbox_factory(), await inbox_factory(), await inbox_factory()
    failing.status = 500
    deployment = make_deployment(
        tmp_path,
        [
            PartnerSpec("nl-customs", url=live.url),
            PartnerSpec("fr-customs", url=failing.url),
            PartnerSpec("de-customs", url=f"http://127.0.0.1:{closed_port()}/inbox"),
            PartnerSpec("be-customs", url=tls_inbox),
            PartnerSpec("it-customs", receives=[]),
            nsw_spec(nsw.url),
        ],
    )
    gateway_sm2 = add_sm2_key(deployment)
    client = await aiohttp_client(build_app(deployment.settings()))
    token = client.server.app[RUNTIME].token

    async def ping(partner: str, authorised: bool = True) -> tuple[int, dict]:
        headers = {"Authorization": f"Bearer {token}"} if authorised else {}
        response = await client.post(f"/v1/admin/partners/{partner}/ping", headers=headers)
        return response.status, await response.json()

    yield deployment, client, ping, live, failing, nsw, gateway_sm2
    await client.close()
    await remove_topology(amqp, deployment, ["nl-customs", "fr-customs", "de-customs", "be-customs", "cn-nsw"])


async def test_ping_a_live_inbox(pinged):
    deployment, _, ping, live, *_ = pinged
    status, result = await ping("nl-customs")
    assert status == 200
    assert (result["ok"], result["outcome"], result["status"], result["answer"]) == (
        True,
        "answered",
        200,
        "ok",
    )
    assert result["seconds"] >= 0
    assert result["url"] == live.url
    assert result["message"].startswith("the partner answered HTTP 200 in ")
    assert "Envelope (canonical receipt)" in result["sent"]
    assert "signed rsa-sha256 by CN=gw-test" in result["sent"]
    assert "result: ok: the partner answered HTTP 200" in result["text"]

    # What arrived: the gateway's signed canonical receipt answering CONNECTIVITY-TEST, marked as a test.
    headers, body = live.received[0]
    assert headers["X-Gateway-Test"] == "connectivity"
    assert headers["X-Message-Type"] == "receipt"
    assert headers["X-Gateway-Message-Id"] == result["test_id"]
    assert headers["X-Sender"] == "gw-test"
    document = XMLVerifier().verify(body, x509_cert=deployment.gateway.cert).signed_xml
    assert document.findtext(f"{E}Header/{E}MessageType") == "receipt"
    assert document.findtext(f"{E}Header/{E}Receiver") == "nl-customs"
    assert document.findtext(f"{E}Body/{W}Receipt/{W}ReferencedMessageID") == PING_REFERENCE
    CanonicalAdapter().validate(parse_xml(body))


async def test_ping_an_inbox_answering_500(pinged):
    ping = pinged[2]
    status, result = await ping("fr-customs")
    assert status == 200  # the check ran; its result says the partner failed
    assert (result["ok"], result["outcome"], result["status"]) == (False, "answered", 500)
    assert result["answer"] == "simulated failure"
    assert "HTTP 500" in result["message"]
    assert "retried" in result["message"]
    assert "result: FAILED" in result["text"]
    assert "answer: 'simulated failure'" in result["text"]


async def test_ping_a_closed_port(pinged):
    ping = pinged[2]
    status, result = await ping("de-customs")
    assert status == 200
    assert (result["ok"], result["outcome"], result["status"], result["answer"]) == (
        False,
        "connect",
        None,
        "",
    )
    port = result["url"].split(":")[2].split("/")[0]
    assert f"connect: no connection to 127.0.0.1:{port} (Connection refused)" in result["message"]
    assert "Traceback" not in result["text"]


async def test_ping_an_untrusted_tls_endpoint(pinged):
    _, _, ping, *_ = pinged
    status, result = await ping("be-customs")
    assert status == 200
    assert (result["ok"], result["outcome"]) == (False, "tls")
    assert "the TLS handshake with 127.0.0.1:" in result["message"]
    assert "certificate verify failed: self-signed certificate" in result["message"]


async def test_ping_an_sm2_ceb_partner_sends_an_sm2_signed_ceb_receipt(pinged):
    _, _, ping, _, _, nsw, gateway_sm2 = pinged
    status, result = await ping("cn-nsw")
    assert (status, result["ok"]) == (200, True)
    assert "CEB900Message in DxpMsg (ceb receipt)" in result["sent"]
    assert "signed sm2-sm3" in result["sent"]
    _, body = nsw.received[0]
    verified = SignatureVerifier("gw-test", [load_certificate(gateway_sm2.cert_path)]).verify(parse_xml(body))
    assert verified.algorithm == CHINAPORT_SM2_SM3
    document = ceb_samples.carried(verified.xml)  # signed in its DxpMsg (CEB spec chapter 4)
    assert etree.QName(document).localname == "CEB900Message"
    CebAdapter().validate(document)


async def test_ping_refusals(pinged):
    _, _, ping, *_ = pinged
    status, result = await ping("nl-customs", authorised=False)
    assert status == 401
    status, result = await ping("xx-customs")
    assert (status, result["error"]) == (404, "unknown-partner")
    status, result = await ping("it-customs")
    assert (status, result["error"]) == (422, "config-invalid")
    assert "it-customs.toml: delivery: partner it-customs has no [delivery] url to ping" in result["message"]


async def test_cli_ping_through_the_api(pinged):
    deployment, client, *_ = pinged
    base = str(client.make_url("/")).rstrip("/")
    argv = ["partners", "ping", "nl-customs", "--api", base, "--config", str(deployment.config_path)]
    assert await asyncio.to_thread(main, argv) == 0
    argv[2] = "fr-customs"
    assert await asyncio.to_thread(main, argv) == 1


# --- the command line without a running gateway ---------------------------------------------------------


class _Inbox(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.end_headers()
        self.wfile.write(b"received, thank you")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def threaded_inbox() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Inbox)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/inbox"
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


def test_cli_ping_reports_without_a_stack_trace(tmp_path, capsys, threaded_inbox):
    deployment = make_deployment(
        tmp_path,
        [
            PartnerSpec("nl-customs", url=threaded_inbox),
            PartnerSpec("de-customs", url=f"http://127.0.0.1:{closed_port()}/inbox"),
        ],
    )
    config = str(deployment.config_path)
    assert main(["partners", "ping", "nl-customs", "--config", config]) == 0
    out = capsys.readouterr().out
    assert f"ping nl-customs: POST {threaded_inbox}" in out
    assert "result: ok: the partner answered HTTP 200 in" in out
    assert "answer: 'received, thank you'" in out

    assert main(["partners", "ping", "de-customs", "--config", config]) == 1
    captured = capsys.readouterr()
    assert "result: FAILED: connect: no connection to 127.0.0.1:" in captured.out
    assert "Traceback" not in captured.out + captured.err

    assert main(["partners", "ping", "xx-customs", "--config", config]) == 1
    assert "no partner 'xx-customs'" in capsys.readouterr().err


def test_a_dns_failure_is_named_as_such():
    key = ConnectionKey("partner.invalid", 443, True, True, None, None, None)
    error = aiohttp.ClientConnectorDNSError(key, socket.gaierror(socket.EAI_NONAME, "Name or service not known"))
    assert classify(error, 5) == (
        "dns",
        "the host name 'partner.invalid' could not be resolved (Name or service not known)",
    )
    assert classify(TimeoutError(), 2.5) == ("timeout", "no complete answer within 2.5 s")
