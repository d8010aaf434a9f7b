"""The ``as4`` delivery transport against the independent peer (PyPI as4 in its own process) as the receiver."""

from __future__ import annotations

import pytest
from lxml import etree

from gateway.app import build_app
from gateway.runtime import RUNTIME
from gateway.store.base import Status
from tests.as4 import support
from tests.conftest import remove_topology
from tests.helpers import ENV, envelope, signed, wait_until

E = f"{{{ENV}}}"


@pytest.fixture
async def peer(tmp_path, inbox_factory, amqp):
    inbox = await inbox_factory()
    deployment = support.as4_deployment(tmp_path, receiver_url=inbox.url)
    server = support.PeerServer(tmp_path, support.peer_config(deployment))
    await server.start()
    yield deployment, server
    await server.stop()
    await remove_topology(amqp, deployment, ["peer-ap", "de-customs"])


async def send_alert(deployment, client) -> str:
    body = signed(deployment.partners["de-customs"], envelope("de-customs", "peer-ap"))
    response = await client.post(
        "/v1/partners/de-customs/messages", data=body, headers={"Content-Type": "application/xml"}
    )
    assert response.status == 202, await response.text()
    return response.headers["X-Gateway-Message-Id"]


async def test_delivered_to_the_peer_over_as4_with_its_receipt_verified(peer, aiohttp_client):
    deployment, server = peer
    support.add_as4_delivery(deployment, server.url)
    client = await aiohttp_client(build_app(deployment.settings()))
    store = client.app[RUNTIME].store
    message_id = await send_alert(deployment, client)

    received = await server.next_message()
    # The peer's library decrypted the payload, checked the gateway's signature over eb:Messaging, the Body and
    # the payload, and answered with its signed non-repudiation receipt.
    assert received["state"] == "received", received
    assert received["error"] is None
    assert received["from"] == "GW-AP"
    assert received["action"] == support.ACTION
    document = etree.fromstring(received["payloads"][0].encode())
    assert document.findtext(f"{E}Header/{E}Sender") == "de-customs"
    assert document.findtext(f"{E}Header/{E}GatewayMessageID") == message_id

    async def delivered() -> bool:
        record = await store.get(message_id)
        return record is not None and record.status == Status.DELIVERED

    await wait_until(delivered, "delivery over AS4")
    kept = await store.evidence(message_id)
    assert [e.kind for e in kept] == ["as4-message-sent", "as4-receipt-received"]
    assert kept[0].reference == received["message_id"]
    receipt = etree.fromstring(kept[1].document)
    assert receipt.find(".//{*}Receipt/{*}NonRepudiationInformation") is not None
    await client.close()


async def test_an_ebms_error_from_the_peer_is_a_failed_delivery(peer, aiohttp_client):
    """Encrypted for the wrong certificate: the peer cannot decrypt and answers with an ebMS error."""
    deployment, server = peer
    support.add_as4_delivery(deployment, server.url, encryption_certificate="certs/de-customs.crt")
    client = await aiohttp_client(build_app(deployment.settings()))
    store = client.app[RUNTIME].store
    message_id = await send_alert(deployment, client)

    received = await server.next_message()
    assert received["state"] == "rejected", received

    async def failed() -> bool:
        record = await store.get(message_id)
        return record is not None and record.status == Status.FAILED

    await wait_until(failed, "the dead-lettered AS4 delivery")
    (delivery,) = await store.deliveries(message_id)
    assert "EBMS:" in (delivery.reason or "")
    assert await store.evidence(message_id) == []  # no receipt: nothing is evidence of delivery
    await client.close()


async def test_a_receipt_not_signed_by_the_partner_is_not_a_delivery(tmp_path, inbox_factory, amqp, aiohttp_client):
    """A receiver answering with a well-formed receipt signed by another key: retried, then dead-lettered."""
    from aiohttp import web
    from aiohttp.test_utils import TestServer

    from gateway.as4 import signals
    from gateway.as4.message import Expectation, parse
    from tests.as4.keys import identity

    inbox = await inbox_factory()
    deployment = support.as4_deployment(tmp_path, receiver_url=inbox.url)
    peer = support.credentials(deployment, "peer-ap")
    answered: list[str] = []

    async def forger(request: web.Request) -> web.Response:
        got = parse(
            request.headers["Content-Type"],
            await request.read(),
            agreements=lambda um: Expectation("gw", "risk-alert", (deployment.gateway.cert,), True),
            credentials=peer,
        )
        answered.append(got.user_message.message_id)
        # the right digests, the right RefToMessageId, but not the partner's signature
        body = signals.receipt(got.user_message.message_id, got.references, identity("forger"))
        return web.Response(body=body, content_type="application/soap+xml")

    app = web.Application()
    app.router.add_post("/as4", forger)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        support.add_as4_delivery(deployment, str(server.make_url("/as4")))
        client = await aiohttp_client(build_app(deployment.settings()))
        store = client.app[RUNTIME].store
        message_id = await send_alert(deployment, client)

        async def failed() -> bool:
            record = await store.get(message_id)
            return record is not None and record.status == Status.FAILED

        await wait_until(failed, "the dead-lettered delivery")
        (delivery,) = await store.deliveries(message_id)
        assert "EBMS:0302" in (delivery.reason or "")
        assert delivery.attempts == 3
        assert len(set(answered)) == 1  # every retry was the same AS4 message
        assert await store.evidence(message_id) == []
        await client.close()
    finally:
        await server.close()
        await remove_topology(amqp, deployment, ["peer-ap", "de-customs"])
