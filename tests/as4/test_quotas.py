"""Quotas over AS4 (issue 17's per-partner quotas on ``POST /v1/as4``): counted on the verified From party, and
answered ``429`` / ``503`` with Retry-After, which a sending MSH retries, not with an ebMS error, which ends the
message."""

from __future__ import annotations

import asyncio
import io

import pytest
from lxml import etree

from gateway.app import build_app
from gateway.as4 import constants as c
from gateway.runtime import RUNTIME
from tests.as4 import support
from tests.as4.test_ingress import good
from tests.conftest import remove_topology

# Two at once, then one token every 100 s: a third message in the test's lifetime is over the quota.
RATE = "rate = 0.01\nburst = 2"
CAP = "rate = 0\nmax_in_flight = 1"  # no rate limit, one request at a time


@pytest.fixture
async def gateway(request, tmp_path, inbox_factory, amqp, aiohttp_client):
    inbox = await inbox_factory()
    deployment = support.as4_deployment(tmp_path, receiver_url=inbox.url)
    peer = deployment.folder / "partners" / "peer-ap.toml"
    peer.write_text(peer.read_text() + f"\n[quota]\n{request.param}\n")
    app = build_app(deployment.settings(fairness={"refusal_delay": 0}))
    client = await aiohttp_client(app)
    yield deployment, client, inbox
    await client.close()
    await remove_topology(amqp, deployment, ["peer-ap", "de-customs"])


async def send(client, deployment):
    out = good(deployment)
    return await client.post("/v1/as4", data=io.BytesIO(out.body), headers={"Content-Type": out.content_type})


@pytest.mark.parametrize("gateway", [RATE], indirect=True)
async def test_over_its_quota_an_as4_partner_gets_429_with_retry_after_and_nothing_goes_through(gateway):
    deployment, client, inbox = gateway

    answers = [await send(client, deployment) for _ in range(3)]

    for accepted in answers[:2]:
        assert accepted.status == 200
        assert accepted.headers["X-Gateway-Outcome"] == "accepted"
        receipt = etree.fromstring(await accepted.read())
        assert receipt.find(f".//{{{c.EB}}}Receipt") is not None
    refused = answers[2]
    assert refused.status == 429
    assert refused.headers["X-Gateway-Outcome"] == "rate-limited"
    assert int(refused.headers["Retry-After"]) >= 90  # the next token is 100 s away
    assert refused.content_type == "application/soap+xml"
    fault = etree.fromstring(await refused.read())
    assert fault.findtext(f".//{{{c.S12}}}Fault/{{{c.S12}}}Code/{{{c.S12}}}Value") == "S12:Receiver"
    reason = fault.findtext(f".//{{{c.S12}}}Reason/{{{c.S12}}}Text")
    assert "peer-ap" in reason
    assert "quota of 0.01 messages a second (burst 2)" in reason
    assert fault.find(f".//{{{c.EB}}}Messaging") is None  # not an ebMS error: the MSH sends it again later

    await inbox.wait_for(2)
    await asyncio.sleep(1.0)
    assert len(inbox.received) == 2  # the refused one was neither accepted nor delivered
    metrics = client.app[RUNTIME].metrics
    refused_total = metrics.ingress_refused.labels("peer-ap", "rate")._value.get()
    assert refused_total == 1


@pytest.mark.parametrize("gateway", [CAP], indirect=True)
async def test_an_as4_partner_over_its_in_flight_cap_gets_429_and_is_served_once_a_place_is_free(gateway):
    deployment, client, inbox = gateway
    runtime = client.app[RUNTIME]
    async with runtime.admission.enter(runtime.partners()["peer-ap"]):  # as if one of its messages were in hand
        refused = await send(client, deployment)
    assert refused.status == 429
    assert refused.headers["Retry-After"] == "1"
    reason = etree.fromstring(await refused.read()).findtext(f".//{{{c.S12}}}Text")
    assert "already has 1 requests in flight" in reason
    assert "max_in_flight 1" in reason

    accepted = await send(client, deployment)
    assert accepted.status == 200
    assert accepted.headers["X-Gateway-Outcome"] == "accepted"
    await inbox.wait_for(1)
    assert len(inbox.received) == 1
