"""A signed risk alert from partner A reaches partner B through a real gateway, broker and store."""

from __future__ import annotations

import pytest
from lxml import etree
from signxml import XMLVerifier

from gateway.app import build_app
from tests.conftest import remove_topology
from tests.helpers import ENV, PartnerSpec, envelope, make_deployment, signed

W = "{urn:customs-gateway:wco:1}"
E = f"{{{ENV}}}"


@pytest.fixture
async def flow(tmp_path, inbox_factory, amqp, aiohttp_client):
    inbox_b = await inbox_factory()
    deployment = make_deployment(
        tmp_path,
        [PartnerSpec("nl-customs", url="http://127.0.0.1:9/never"), PartnerSpec("de-customs", url=inbox_b.url)],
    )
    client = await aiohttp_client(build_app(deployment.settings()))
    yield deployment, client, inbox_b
    await client.close()
    await remove_topology(amqp, deployment, ["nl-customs", "de-customs"])


async def test_signed_alert_is_delivered_signed_by_the_gateway(flow):
    deployment, client, inbox = flow
    sender = deployment.partners["nl-customs"]
    original = envelope("nl-customs", "de-customs")
    body = signed(sender, original)

    response = await client.post(
        "/v1/partners/nl-customs/messages", data=body, headers={"Content-Type": "application/xml"}
    )
    receipt_bytes = await response.read()
    assert response.status == 202, receipt_bytes

    # The receipt is signed by the gateway and carries the gateway message id.
    receipt = XMLVerifier().verify(receipt_bytes, x509_cert=deployment.gateway.cert).signed_xml
    gateway_id = receipt.findtext(f"{E}Body/{W}Receipt/{W}GatewayMessageID")
    assert receipt.findtext(f"{E}Body/{W}Receipt/{W}FunctionCode") == "accepted"
    assert receipt.findtext(f"{E}Header/{E}CorrelationID") == original.findtext(f"{E}Header/{E}MessageID")
    assert gateway_id
    assert response.headers["X-Gateway-Message-Id"] == gateway_id

    await inbox.wait_for(1)
    headers, delivered = inbox.received[0]
    assert headers["X-Gateway-Message-Id"] == gateway_id
    assert headers["X-Sender"] == "nl-customs"
    assert headers["X-Sender-Message-Id"] == original.findtext(f"{E}Header/{E}MessageID")
    verified = XMLVerifier().verify(delivered, x509_cert=deployment.gateway.cert).signed_xml
    assert verified.findtext(f"{E}Header/{E}GatewayMessageID") == gateway_id
    assert verified.findtext(f"{E}Header/{E}Sender") == "nl-customs"
    assert etree.tostring(verified.find(f"{E}Body/{W}RiskAlert"), method="c14n") == etree.tostring(
        original.find(f"{E}Body/{W}RiskAlert"), method="c14n"
    )

    # The status history tells the whole story.
    token = deployment.settings().resolve(deployment.settings().admin.token_file).read_text().strip()
    for _ in range(50):
        status = await client.get(f"/v1/admin/messages/{gateway_id}", headers={"Authorization": f"Bearer {token}"})
        record = await status.json()
        if record["status"] == "delivered":
            break
        await __import__("asyncio").sleep(0.05)
    assert record["status"] == "delivered"
    history = [e["status"] for e in record["history"]]
    # The worker may start delivering before ingress has recorded "accepted" (both follow the broker's confirm).
    assert sorted(history) == sorted(["received", "accepted", "delivering", "delivered"])
    assert history[0] == "received"
    assert history[-1] == "delivered"


async def test_same_message_twice_returns_the_original_receipt(flow):
    deployment, client, inbox = flow
    body = signed(deployment.partners["nl-customs"], envelope("nl-customs", "de-customs"))
    first = await client.post("/v1/partners/nl-customs/messages", data=body)
    first_body = await first.read()
    second = await client.post("/v1/partners/nl-customs/messages", data=body)
    assert (first.status, second.status) == (202, 200)
    assert await second.read() == first_body
    await inbox.wait_for(1)


async def test_same_id_other_content_is_replayed(flow):
    deployment, client, _inbox = flow
    sender = deployment.partners["nl-customs"]
    first = envelope("nl-customs", "de-customs", message_id="SAME-ID-1")
    second = envelope("nl-customs", "de-customs", message_id="SAME-ID-1")
    second.find(f"{E}Body/{W}RiskAlert/{W}RiskArea").text = "drugs"
    assert (await client.post("/v1/partners/nl-customs/messages", data=signed(sender, first))).status == 202
    response = await client.post("/v1/partners/nl-customs/messages", data=signed(sender, second))
    assert response.status == 409
    text = await response.text()
    assert "replayed" in text
    assert "SAME-ID-1" in text
