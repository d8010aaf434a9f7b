"""The Transport seam: the worker's choice by ``[delivery] transport``, and the HTTP transport against a real
HTTP server (headers from the routed message, 5xx retryable, 4xx final, no answer retryable)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from gateway.broker.routed import RoutedMessage
from gateway.delivery.http import HttpTransport
from gateway.delivery.transport import Outbound, Transports
from gateway.errors import PermanentDeliveryError, TransientDeliveryError
from gateway.partners import load_partners
from gateway.partners.model import Partner
from tests.helpers import PartnerSpec, make_deployment

MESSAGE = RoutedMessage(
    message_id=str(uuid.uuid4()),
    sender="cn-nsw",
    sender_message_id="MSG-7",
    message_type="declaration",
    body=b"<Envelope/>",
)


class Receiver:
    def __init__(self) -> None:
        self.status = 200
        self.seen: list[tuple[dict[str, str], bytes]] = []

    async def handle(self, request: web.Request) -> web.Response:
        self.seen.append((dict(request.headers), await request.read()))
        return web.Response(status=self.status, text="  busy \n  now  ")


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[Receiver, str]]:
    target = Receiver()
    app = web.Application()
    app.router.add_post("/inbox", target.handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield target, str(server.make_url("/inbox"))
    await server.close()


def _partner(tmp_path: Path, url: str | None) -> Partner:
    spec = PartnerSpec("nl-customs", url=url) if url else PartnerSpec("nl-customs", receives=[])
    deployment = make_deployment(tmp_path, [spec])
    return load_partners(deployment.folder / "partners", frozenset({"canonical"}))["nl-customs"]


async def test_http_transport_posts_the_document_with_the_routed_ids(receiver, tmp_path) -> None:
    target, url = receiver
    partner = _partner(tmp_path, url)
    transport = HttpTransport.open(2.0)
    try:
        note = (
            await Transports({"http": transport})
            .for_partner(partner)
            .send(Outbound(partner=partner, body=b"<signed/>", message=MESSAGE))
        )
    finally:
        await transport.close()
    assert note == f"HTTP 200 from {url}"
    ((headers, body),) = target.seen
    assert body == b"<signed/>"
    assert headers["X-Gateway-Message-Id"] == MESSAGE.message_id
    assert (headers["X-Sender"], headers["X-Sender-Message-Id"], headers["X-Message-Type"]) == (
        "cn-nsw",
        "MSG-7",
        "declaration",
    )


@pytest.mark.parametrize(("status", "error"), [(503, TransientDeliveryError), (429, TransientDeliveryError),
                                               (400, PermanentDeliveryError)])  # fmt: skip
async def test_http_answers_decide_retry_or_dead_letter(receiver, tmp_path, status, error) -> None:
    target, url = receiver
    target.status = status
    partner = _partner(tmp_path, url)
    transport = HttpTransport.open(2.0)
    try:
        with pytest.raises(error, match=f"answered HTTP {status}: busy now"):
            await transport.send(Outbound(partner=partner, body=b"<signed/>", message=MESSAGE))
    finally:
        await transport.close()


async def test_an_unreachable_receiver_is_retried(tmp_path) -> None:
    partner = _partner(tmp_path, "http://127.0.0.1:9/inbox")  # discard port: nothing listens
    transport = HttpTransport.open(2.0)
    try:
        with pytest.raises(TransientDeliveryError, match="unreachable"):
            await transport.send(Outbound(partner=partner, body=b"<signed/>", message=MESSAGE))
    finally:
        await transport.close()


async def test_a_transport_the_gateway_lacks_or_no_delivery_is_final(tmp_path) -> None:
    with_url = _partner(tmp_path / "a", "http://127.0.0.1:9/inbox")
    without = _partner(tmp_path / "b", None)
    other = Transports({"as4": HttpTransport.open(1.0)})  # registered under another name
    try:
        with pytest.raises(PermanentDeliveryError, match=r"transport 'http' is not available .*; available: as4"):
            other.for_partner(with_url)
        with pytest.raises(PermanentDeliveryError, match="no longer configured for delivery"):
            other.for_partner(without)
    finally:
        await other.close()
