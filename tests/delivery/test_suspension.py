"""Suspension with a real broker, store and receiver: what is routed to a suspended receiver is accepted and
held in its queue (messages queued before the suspension included), nothing is delivered to it while it is
suspended, and everything held is delivered once, after it is resumed. A suspended sender is told to come back
later (503 partner-suspended with Retry-After), never that its message has no route."""

from __future__ import annotations

import pytest

from gateway.app import build_app
from tests.admin.support import Gateway
from tests.conftest import remove_topology
from tests.helpers import PartnerSpec, envelope, make_deployment, signed, wait_until

SENDER, RECEIVER = "nl-customs", "de-customs"


@pytest.fixture
async def gateway(tmp_path, inbox_factory, amqp, aiohttp_client):
    inbox = await inbox_factory()
    deployment = make_deployment(
        tmp_path,
        [PartnerSpec(SENDER, url="http://127.0.0.1:9/never"), PartnerSpec(RECEIVER, url=inbox.url)],
        retry_delays="[0.2]",
        max_attempts=1000,  # the receiver is down for a while: its messages keep retrying, none fails for good
    )
    client = await aiohttp_client(build_app(deployment.settings()))
    gw = Gateway(deployment, client, {RECEIVER: inbox})
    yield gw
    await client.close()
    await remove_topology(amqp, deployment, [SENDER, RECEIVER])


async def queue(amqp, gateway: Gateway) -> tuple[int, int]:
    """(messages ready, consumers) of the receiver's delivery queues (bulk and urgent: risk alerts travel in the
    fast lane, issue 17), as the broker counts them."""
    channel = await amqp.channel()
    messages = consumers = 0
    try:
        for lane in ("deliver", "urgent"):
            declared = await channel.declare_queue(f"{gateway.deployment.prefix}.{lane}.{RECEIVER}", passive=True)
            messages += declared.declaration_result.message_count or 0
            consumers += declared.declaration_result.consumer_count or 0
        return messages, consumers
    finally:
        await channel.close()


async def send(gateway: Gateway) -> str:
    body = signed(gateway.deployment.partners[SENDER], envelope(SENDER, RECEIVER))
    response = await gateway.client.post(f"/v1/partners/{SENDER}/messages", data=body)
    assert (response.status, response.headers["X-Gateway-Outcome"]) == (202, "accepted"), await response.text()
    return response.headers["X-Gateway-Message-Id"]


async def test_suspended_receiver_holds_its_messages_until_resumed(gateway: Gateway, amqp):
    inbox = gateway.inboxes[RECEIVER]
    inbox.status = 503  # the receiver is down: its messages go round the retry queue
    before = [await send(gateway) for _ in range(3)]

    async def retrying() -> bool:
        records = [(await gateway.admin("GET", f"/messages/{m}"))[1] for m in before]
        return all(r["deliveries"] and r["deliveries"][0]["attempts"] >= 1 for r in records)

    await wait_until(retrying, "every message to have been tried once")

    status, answer = await gateway.admin("POST", "/partners/de-customs/suspend")
    assert status == 200, answer
    inbox.status = 200  # the receiver is back, but suspended: nothing may reach it
    during = [await send(gateway) for _ in range(2)]  # accepted, not "422 no-route"

    # Everything, including what was in the retry queue, comes back to the delivery queue and stays there.
    async def held() -> bool:
        return await queue(amqp, gateway) == (5, 0)

    await wait_until(held, "the 5 messages to be held in the queue with no consumer", tries=600)
    assert inbox.received == []
    for message_id in before + during:
        record = (await gateway.admin("GET", f"/messages/{message_id}"))[1]
        assert record["status"] != "delivered", record

    status, answer = await gateway.admin("POST", "/partners/de-customs/resume")
    assert status == 200, answer
    await inbox.wait_for(5)

    async def all_delivered() -> bool:
        records = [(await gateway.admin("GET", f"/messages/{m}"))[1] for m in before + during]
        return all(r["status"] == "delivered" for r in records)

    await wait_until(all_delivered, "the held messages to be delivered")
    delivered = [headers["X-Gateway-Message-Id"] for headers, _ in inbox.received]
    assert sorted(delivered) == sorted(before + during)  # 5 in, 5 out, none twice
    assert (await queue(amqp, gateway))[0] == 0


async def test_suspended_sender_is_told_to_come_back_later(gateway: Gateway):
    status, _ = await gateway.admin("POST", "/partners/nl-customs/suspend")
    assert status == 200
    body = signed(gateway.deployment.partners[SENDER], envelope(SENDER, RECEIVER))
    response = await gateway.client.post(f"/v1/partners/{SENDER}/messages", data=body)
    assert (response.status, response.headers["X-Gateway-Outcome"]) == (503, "partner-suspended")
    assert int(response.headers["Retry-After"]) > 0
    text = await response.text()
    assert "partner-suspended" in text
    assert "suspended" in text
    assert (await gateway.admin("GET", "/messages?status=delivered"))[1]["messages"] == []

    assert (await gateway.admin("POST", "/partners/nl-customs/resume"))[0] == 200
    await send(gateway)
