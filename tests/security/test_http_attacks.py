"""The HTTP door: oversized and slow bodies, connection floods, the admin token. Raw sockets where aiohttp's
client would be too polite (it always sends the whole body it announced)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import stat

import pytest

from gateway.app import build_app
from gateway.errors import ConfigError
from gateway.runtime import RUNTIME
from tests.security.conftest import MAX_BODY, RECEIVER, SENDER, Gate, GateFactory, Reply, bounded_memory

INBOX = f"/v1/partners/{SENDER}/messages"


async def _open(gate: Gate) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    host, port = gate.address
    return await asyncio.open_connection(host, port)


def _head(gate: Gate, extra: dict[str, str], path: str = INBOX) -> bytes:
    host, port = gate.address
    lines = [
        f"POST {path} HTTP/1.1",
        f"Host: {host}:{port}",
        "Content-Type: application/xml",
        *(f"{k}: {v}" for k, v in extra.items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def _answer(gate: Gate, reader: asyncio.StreamReader) -> tuple[Reply, bool]:
    """Read one response; also say whether the server announced it closes the connection."""
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
    lines = head.decode().split("\r\n")
    status = int(lines[0].split()[1])
    fields = {k.lower(): v for k, v in (line.split(": ", 1) for line in lines[1:] if ": " in line)}
    body = await asyncio.wait_for(reader.readexactly(int(fields["content-length"])), 30)
    closing = fields.get("connection", "").lower() == "close"
    return gate.reply(status, fields.get("x-gateway-outcome", ""), body), closing


async def test_announced_huge_body_is_refused_before_it_is_sent(gate: Gate) -> None:
    """100 MB announced, 10 bytes sent: the 413 comes at once (were the server waiting for the body, the
    answer
    would be the body timeout's 400), and the connection is closed."""
    reader, writer = await _open(gate)
    writer.write(_head(gate, {"Content-Length": str(100 * 2**20)}) + b"<Envelope>")
    await writer.drain()
    reply, closed = await _answer(gate, reader)
    writer.close()
    await gate.assert_refused(reply, 413, "too-large", f"{100 * 2**20} bytes", str(MAX_BODY))
    assert closed
    await gate.assert_unharmed()


async def test_expect_continue_is_not_granted_to_a_huge_body(gate: Gate) -> None:
    reader, writer = await _open(gate)
    writer.write(_head(gate, {"Content-Length": str(100 * 2**20), "Expect": "100-continue"}))
    await writer.drain()
    reply, closed = await _answer(gate, reader)  # the first status line is the 413, not "100 Continue"
    writer.close()
    await gate.assert_refused(reply, 413, "too-large")
    assert closed


async def test_expect_continue_still_works_for_a_normal_body(gate: Gate) -> None:
    body = gate.valid()
    reader, writer = await _open(gate)
    writer.write(_head(gate, {"Content-Length": str(len(body)), "Expect": "100-continue", "Connection": "close"}))
    await writer.drain()
    assert await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10) == b"HTTP/1.1 100 Continue\r\n\r\n"
    writer.write(body)
    await writer.drain()
    reply, _ = await _answer(gate, reader)
    writer.close()
    assert (reply.status, reply.code) == (202, "accepted")


async def test_chunked_body_beyond_the_limit_is_cut_off(gate: Gate) -> None:
    """No Content-Length to check up front: the reader stops at max_body_bytes and answers 413."""
    reader, writer = await _open(gate)
    writer.write(_head(gate, {"Transfer-Encoding": "chunked"}))
    chunk = b"<a>" + b" " * (2**16 - 7) + b"</a>"

    async def flood() -> None:
        with contextlib.suppress(ConnectionError):
            for _ in range(10 * MAX_BODY // len(chunk)):
                writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                await writer.drain()

    with bounded_memory(python_bytes=8 * MAX_BODY):
        sender = asyncio.create_task(flood())
        reply, closed = await _answer(gate, reader)
        await sender
    writer.close()
    await gate.assert_refused(reply, 413, "too-large", f"limit of {MAX_BODY} bytes")
    assert closed
    await gate.assert_unharmed()


async def test_trickled_body_is_cut_off_while_others_are_served(make_gate: GateFactory) -> None:
    """A byte every 0.2 s never trips a per-read timeout; the whole-body timeout ([http] body_timeout) does,
    and a normal request sent meanwhile is answered first."""
    gate = await make_gate(body_timeout=3.0)
    reader, writer = await _open(gate)
    writer.write(_head(gate, {"Content-Length": "100000"}))
    await writer.drain()
    finished: list[str] = []

    async def trickle() -> None:
        with contextlib.suppress(ConnectionError):
            for _ in range(100):
                writer.write(b" ")
                await writer.drain()
                await asyncio.sleep(0.2)

    async def slow_answer() -> tuple[Reply, bool]:
        answer = await _answer(gate, reader)
        finished.append("trickle")
        return answer

    dripping = asyncio.create_task(trickle())
    pending = asyncio.create_task(slow_answer())
    await asyncio.sleep(0.3)  # the trickle has started: its handler is waiting for the body
    valid = await gate.post(gate.valid())
    finished.append("valid")
    assert (valid.status, valid.code) == (202, "accepted")
    reply, closed = await pending
    dripping.cancel()
    writer.close()
    assert finished == ["valid", "trickle"]
    assert (reply.status, reply.code) == (400, "malformed-xml")
    assert "not received within 3 s" in reply.description
    assert closed
    assert await gate.depth(RECEIVER) == 1  # the valid message only


async def test_many_idle_and_half_open_connections_do_not_block_a_valid_request(gate: Gate) -> None:
    connections = []
    for index in range(200):
        _, writer = await _open(gate)
        if index % 2:  # half of them start a request and stop in the middle of the headers
            writer.write(f"POST {INBOX} HTTP/1.1\r\nHost: x\r\nContent-Le".encode())
            await writer.drain()
        connections.append(writer)
    try:
        for _ in range(3):
            reply = await gate.post(gate.valid())
            assert (reply.status, reply.code) == (202, "accepted")
    finally:
        for writer in connections:
            writer.close()
    assert await gate.depth(RECEIVER) == 3


# Routes anyone may call. Everything else must be under /v1/admin/ (bearer token): a new route outside both
# fails test_every_route_is_public_by_name_or_behind_the_token, so it cannot be exposed by accident.
PUBLIC_ROUTES = {
    "/v1/partners/{partner_id}/messages",  # signed messages: the signature is the authentication
    "/v1/as4",  # AS4 UserMessages: the WS-Security signature is the authentication (docs/AS4.md)
    "/health",
    "/ready",
    "/metrics",
    "/v1/keys",  # the gateway's certificates
    "/v1/openapi.json",  # the API's description: no data in it
    "/console",  # static page; its data comes from /v1/admin/* with the token the operator types
    "/console/",
    "/console/{name}",
}


def _routes(gate: Gate) -> list[tuple[str, str]]:
    routes = []
    for route in gate.client.app.router.routes():
        path = route.resource.canonical if route.resource is not None else ""
        if route.method != "HEAD":
            routes.append((route.method, path))
    return routes


def test_every_route_is_public_by_name_or_behind_the_token(gate: Gate) -> None:
    exposed = [(m, p) for m, p in _routes(gate) if p not in PUBLIC_ROUTES and not p.startswith("/v1/admin/")]
    assert exposed == [], "routes outside /v1/admin/ that are not listed as public"


async def test_admin_api_without_the_right_token_is_401(gate: Gate, subtests: pytest.Subtests) -> None:
    for authorization in [
        None,
        "",
        "Bearer",
        "Bearer ",
        "Bearer wrong-token-0123456789",
        "Basic YWRtaW46YWRtaW4=",
        "Token {token}",
        "Bearer {token}x",
        "Bearer {token_prefix}",
        "{token}",
        "Bearer\t{token}",
    ]:
        with subtests.test(str(authorization)):
            token = gate.client.app[RUNTIME].token
            headers = {}
            if authorization is not None:
                headers["Authorization"] = authorization.format(token=token, token_prefix=token[:-1])
            admin = [(m, p) for m, p in _routes(gate) if p.startswith("/v1/admin/")]
            assert len(admin) >= 10
            for method, template in admin:
                path = template.replace("{partner_id}", SENDER).replace("{message_id}", "x")
                path = re.sub(r"\{[^}]+\}", "x", path)
                response = await gate.client.request(method, path, headers=headers)
                assert response.status == 401, (method, path, authorization)
                assert response.headers["WWW-Authenticate"].startswith("Bearer")
                assert token not in await response.text()
            # Nothing was changed: the partner is still there.
            ok = await gate.client.get(f"/v1/admin/partners/{SENDER}", headers={"Authorization": f"Bearer {token}"})
            assert ok.status == 200


async def test_admin_token_with_non_ascii_bytes_is_401_not_500(gate: Gate) -> None:
    host, port = gate.address
    for raw in (b"Bearer \xff\xfe\xfd", b"Bearer \xc3\xa9t\xc3\xa9", b"Bearer \x80" * 3):
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(
            b"GET /v1/admin/partners HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: " + raw + b"\r\n\r\n"
        )
        await writer.drain()
        status_line = await asyncio.wait_for(reader.readline(), 10)
        writer.close()
        assert status_line.split()[1] == b"401", (raw, status_line)


async def test_admin_path_variants_never_bypass_the_token(gate: Gate, subtests: pytest.Subtests) -> None:
    for path in [
        "/v1/admin/../admin/partners",
        "/v1/%61dmin/partners",
        "/v1/admin/partners/",
        "/v1//admin/partners",
        "/V1/ADMIN/partners",
        "/v1/admin/partners?x=/health",
        "/v1/admin%2Fpartners",
    ]:
        with subtests.test(str(path)):
            host, port = gate.address
            reader, writer = await asyncio.open_connection(host, port)
            writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
            await writer.drain()
            status_line = await asyncio.wait_for(reader.readline(), 10)
            writer.close()
            assert status_line.split()[1] in (b"401", b"404"), (path, status_line)


async def test_admin_token_and_private_keys_never_reach_the_logs(make_gate: GateFactory, caplog) -> None:
    """A whole session at DEBUG level: start, admin calls (right and wrong token), an accepted message, a
    rejection, a delivery. No log line carries the token or any private key material."""
    caplog.set_level(logging.DEBUG)
    gate = await make_gate(deliver=True)
    token = gate.client.app[RUNTIME].token
    good = {"Authorization": f"Bearer {token}"}
    assert (await gate.client.get("/v1/admin/partners", headers=good)).status == 200
    assert (
        await gate.client.get("/v1/admin/messages", headers={"Authorization": f"Bearer {token[:-2]}"})
    ).status == 401
    reply = await gate.post(gate.valid())
    assert reply.status == 202
    await gate.inbox.wait_for(1)
    await gate.post(b"<not-xml")
    assert (await gate.client.get("/v1/admin/messages", headers=good)).status == 200
    secrets = {"admin token": token, "admin token prefix": token[:12]}
    for name, identity in [("gateway key", gate.deployment.gateway), *gate.deployment.partners.items()]:
        pem = identity.key_path.read_text().splitlines()
        secrets[f"{name} private key"] = pem[1]  # the first line of base64 key material
    text = caplog.text + "".join(repr(r.args) + str(r.exc_text) for r in caplog.records)
    assert len(caplog.records) > 10  # the session did log (at DEBUG): the check below means something
    leaked = [name for name, secret in secrets.items() if secret in text]
    assert leaked == []


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660])
def test_private_key_readable_by_others_is_refused(make_gate_config, mode: int) -> None:
    deployment, settings = make_gate_config
    key = deployment.gateway.key_path
    key.chmod(mode)
    with pytest.raises(ConfigError, match=rf"{key.name}.*accessible to group or others.*chmod 600"):
        build_app(settings)


@pytest.mark.parametrize("mode", [0o644, 0o640])
def test_admin_token_file_readable_by_others_is_refused(make_gate_config, mode: int) -> None:
    _, settings = make_gate_config
    path = settings.resolve(settings.admin.token_file)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("a-perfectly-long-admin-token-value\n")
    path.chmod(mode)
    with pytest.raises(ConfigError, match=rf"{path.name}.*accessible to group or others.*chmod 600"):
        build_app(settings)
    path.chmod(stat.S_IRUSR | stat.S_IWUSR)
    build_app(settings)  # the same file, private, is taken


@pytest.fixture
def make_gate_config(tmp_path, monkeypatch):
    from tests import helpers
    from tests.helpers import PartnerSpec, make_deployment
    from tests.security.conftest import NOWHERE, cached_identity

    monkeypatch.setattr(helpers, "make_identity", cached_identity)
    deployment = make_deployment(tmp_path, [PartnerSpec(SENDER, url=NOWHERE)])
    return deployment, deployment.settings()


async def test_truncated_or_broken_framing_is_dropped(gate: Gate, subtests: pytest.Subtests) -> None:
    """A body cut short or with broken chunking, then end of stream: aiohttp drops the connection (it cancels
    the handler when the client goes away, and answers a framing error itself) - never a 500, nothing kept."""
    for framing, tail in [
        ({"Content-Length": "5000"}, b"<Envelope>"),  # fewer bytes than announced, then end of stream
        ({"Transfer-Encoding": "chunked"}, b"a\r\n<Envelope>\r\nzz\r\n"),  # a broken chunk header
        ({"Transfer-Encoding": "chunked"}, b"a\r\n<Envelope>\r\n"),  # no last chunk before end of stream
    ]:
        with subtests.test(str(framing)):
            reader, writer = await _open(gate)
            writer.write(_head(gate, framing) + tail)
            await writer.drain()
            writer.write_eof()
            raw = await asyncio.wait_for(reader.read(), 30)
            writer.close()
            assert raw == b"" or int(raw.split(b" ", 2)[1]) == 400, raw[:300]
            await gate.assert_nothing_published()
    await gate.assert_unharmed()


async def test_oversized_headers_are_refused_by_aiohttp(gate: Gate, subtests: pytest.Subtests) -> None:
    """aiohttp's own limits (8190-byte lines, 32 KiB of fields, 128 headers by default) answer 400 or 431
    before any handler runs."""
    for headers in [
        "X-Big: " + "a" * 100_000 + "\r\n",  # one huge header line
        "".join(f"X-H{i}: v\r\n" for i in range(1000)),  # a thousand headers
        "Authorization: Bearer " + "t" * 100_000 + "\r\n",
    ]:
        with subtests.test(str(headers)):
            reader, writer = await _open(gate)
            writer.write(f"POST {INBOX} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n{headers}\r\n".encode())
            with contextlib.suppress(ConnectionError):
                await writer.drain()
            status_line = await asyncio.wait_for(reader.readline(), 30)
            writer.close()
            assert status_line.split()[1] in (b"400", b"431"), status_line
            await gate.assert_nothing_published()
    await gate.assert_unharmed()
