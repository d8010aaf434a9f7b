"""Per-partner quotas and load shedding through the real app, store and broker (issue 17).

The quotas refuse exactly what exceeds them and nothing else: the token bucket runs on a clock the test holds
still and moves by hand, and requests are kept in flight by sending their headers and holding back part of
their body (the gateway counts a request in flight from before it reads the body), so no test depends on time.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aio_pika
import pytest
from aiohttp.test_utils import TestClient
from prometheus_client.parser import text_string_to_metric_families
from signxml import XMLVerifier

from gateway.app import build_app
from gateway.runtime import RUNTIME
from tests.helpers import AMQP_URL, ENV, Deployment, PartnerSpec, envelope, make_deployment, signed, wait_until

E, W = f"{{{ENV}}}", "{urn:customs-gateway:wco:1}"
XML = {"Content-Type": "application/xml"}
RECEIVER = "nl-customs"
# rate 0.5/s: the next token comes 2 s after the bucket is empty; burst 3: three at once.
LIMITED = "flood-customs"
CAPPED = "capped-customs"  # no rate limit, at most 2 requests in flight
OTHERS = ["de-customs", "fr-customs"]


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Deployment:
    folder = tmp_path_factory.mktemp("quotas")
    return make_deployment(
        folder,
        [
            PartnerSpec(RECEIVER, url="http://127.0.0.1:9/inbox"),
            PartnerSpec(LIMITED, receives=[], country="BE", extra="[quota]\nrate = 0.5\nburst = 3"),
            PartnerSpec(CAPPED, receives=[], country="LU", extra="[quota]\nrate = 0\nmax_in_flight = 2"),
            *(PartnerSpec(p, receives=[], country="DE") for p in OTHERS),
        ],
        extra_toml="[fairness]\nshed_in_flight = 4\nshed_wait = 0\n",
    )


@pytest.fixture
async def client(deployment: Deployment, aiohttp_client, amqp) -> AsyncIterator[TestClient]:
    run = deployment.prefix + "q" + str(id(object()))[-6:]
    settings = deployment.settings(
        amqp={"url": AMQP_URL, "prefix": run, "publish_timeout": 5.0},
        store={"url": f"sqlite:///state/{run}.db"},
        http={"host": "127.0.0.1", "port": 0, "body_timeout": 60.0},
    )
    client = await aiohttp_client(build_app(settings, deliver=False))
    yield client
    topology = client.app[RUNTIME].topology
    await client.close()
    channel = await amqp.channel()
    await topology.delete(channel, [RECEIVER])
    await channel.close()


def alert(deployment: Deployment, sender: str) -> bytes:
    return signed(deployment.partners[sender], envelope(sender, RECEIVER))


async def post(client: TestClient, sender: str, body: bytes):
    return await client.post(f"/v1/partners/{sender}/messages", data=body, headers=XML)


async def queued(client: TestClient, amqp: aio_pika.abc.AbstractConnection) -> int:
    topology = client.app[RUNTIME].topology
    channel = await amqp.channel()
    try:
        count = 0
        for name in (topology.deliver_queue(RECEIVER), topology.urgent_queue(RECEIVER)):
            queue = await channel.declare_queue(name, passive=True)
            count += queue.declaration_result.message_count or 0
        return count
    finally:
        await channel.close()


async def refusals(client: TestClient, partner: str, reason: str) -> float:
    """``gateway_ingress_refused_total`` of a partner and reason, read from /metrics."""
    text = await (await client.get("/metrics")).text()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = sample.labels
            if sample.name == "gateway_ingress_refused_total" and (labels["partner"], labels["reason"]) == (
                partner,
                reason,
            ):
                return sample.value
    raise AssertionError(f"no gateway_ingress_refused_total for {partner} {reason}")


async def refused(response, deployment: Deployment, status: int, code: str, *fragments: str) -> str:
    """The refusal: status, outcome, Retry-After, and a receipt signed by the gateway naming the code."""
    body = await response.read()
    assert (response.status, response.headers["X-Gateway-Outcome"]) == (status, code), body
    receipt = XMLVerifier().verify(body, x509_cert=deployment.gateway.cert).signed_xml
    error = receipt.find(f"{E}Body/{W}Receipt/{W}Error")
    assert error is not None
    assert error.findtext(f"{W}ValidationCode") == code
    description = error.findtext(f"{W}Description") or ""
    for fragment in fragments:
        assert fragment in description, (fragment, description)
    return response.headers["Retry-After"]


async def test_the_bucket_refuses_exactly_what_exceeds_rate_and_burst(client, deployment, amqp):
    now = [1_000_000.0]
    client.app[RUNTIME].admission.clock = lambda: now[0]
    answers = [(await post(client, LIMITED, alert(deployment, LIMITED))) for _ in range(5)]
    assert [a.status for a in answers] == [202, 202, 202, 429, 429]  # the burst, then nothing
    for answer in answers[3:]:
        retry_after = await refused(answer, deployment, 429, "rate-limited", LIMITED, "0.5 messages a second")
        assert retry_after == "2"  # one token at 0.5/s
    assert await queued(client, amqp) == 3  # the refused ones were not accepted, let alone published

    # Another partner has its own bucket: untouched by the first one's.
    assert (await post(client, OTHERS[0], alert(deployment, OTHERS[0]))).status == 202

    now[0] += 1.99  # not quite one token yet
    assert (await post(client, LIMITED, alert(deployment, LIMITED))).status == 429
    now[0] += 0.01  # one token: one message, not two
    assert [(await post(client, LIMITED, alert(deployment, LIMITED))).status for _ in range(2)] == [202, 429]
    now[0] += 60.0  # a long pause fills the bucket to its burst, no more
    statuses = [(await post(client, LIMITED, alert(deployment, LIMITED))).status for _ in range(4)]
    assert statuses == [202, 202, 202, 429]
    assert await queued(client, amqp) == 3 + 1 + 1 + 3

    assert await refusals(client, LIMITED, "rate") == 2 + 1 + 1 + 1
    assert await refusals(client, OTHERS[0], "rate") == 0


async def test_the_bucket_is_shared_by_every_process_using_the_store(client, deployment, aiohttp_client):
    """Two runtimes on one store and broker (as two workers, or two instances on PostgreSQL) draw from one bucket."""
    now = [2_000_000.0]
    first = client.app[RUNTIME]
    second = await aiohttp_client(build_app(first.settings, deliver=False))
    for runtime in (first, second.app[RUNTIME]):
        runtime.admission.clock = lambda: now[0]
    statuses = []
    for turn in range(5):
        target = client if turn % 2 == 0 else second
        statuses.append((await post(target, LIMITED, alert(deployment, LIMITED))).status)
    assert statuses == [202, 202, 202, 429, 429]
    now[0] += 2.0  # one token, for whichever asks first
    assert (await post(second, LIMITED, alert(deployment, LIMITED))).status == 202
    assert (await post(client, LIMITED, alert(deployment, LIMITED))).status == 429


async def hold(client: TestClient, sender: str, body: bytes) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A request whose headers and first bytes are sent, the rest held back: in flight until finished."""
    reader, writer = await asyncio.open_connection(client.server.host, client.server.port)
    head = (
        f"POST /v1/partners/{sender}/messages HTTP/1.1\r\nHost: gateway\r\nContent-Type: application/xml\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    writer.write(head + body[:100])
    await writer.drain()
    return reader, writer


async def finish(held: tuple[asyncio.StreamReader, asyncio.StreamWriter], body: bytes) -> int:
    reader, writer = held
    writer.write(body[100:])
    await writer.drain()
    status = int((await reader.readline()).split()[1])
    writer.close()
    return status


async def in_flight(client: TestClient, sender: str, count: int) -> None:
    async def there() -> bool:
        return client.app[RUNTIME].admission.in_flight.get(sender, 0) == count

    await wait_until(there, f"{count} requests of {sender} in flight")


async def test_the_in_flight_cap_refuses_exactly_the_request_beyond_it(client, deployment, amqp):
    bodies = [alert(deployment, CAPPED) for _ in range(2)]
    held = [await hold(client, CAPPED, body) for body in bodies]
    await in_flight(client, CAPPED, 2)
    retry_after = await refused(
        await post(client, CAPPED, alert(deployment, CAPPED)), deployment, 429, "rate-limited", "max_in_flight 2"
    )
    assert retry_after == "1"
    assert (await post(client, OTHERS[0], alert(deployment, OTHERS[0]))).status == 202  # others are not capped
    assert [await finish(h, b) for h, b in zip(held, bodies, strict=True)] == [202, 202]
    await in_flight(client, CAPPED, 0)
    assert (await post(client, CAPPED, alert(deployment, CAPPED))).status == 202  # room again
    assert await queued(client, amqp) == 4


async def test_when_behind_the_heaviest_sender_is_shed_and_a_light_one_served(client, deployment, amqp):
    heavy, light = OTHERS
    heavy_bodies = [alert(deployment, heavy) for _ in range(3)]
    light_body = alert(deployment, light)
    held = [await hold(client, heavy, body) for body in heavy_bodies]
    held_light = await hold(client, light, light_body)
    await in_flight(client, heavy, 3)
    await in_flight(client, light, 1)  # 4 in flight: the bound ([fairness] shed_in_flight = 4)
    retry_after = await refused(
        await post(client, heavy, alert(deployment, heavy)), deployment, 503, "unavailable", "overloaded", heavy
    )
    assert retry_after == "2"
    # The light partner (1 of 4 in flight, under its fair share of 2) is still served.
    assert (await post(client, light, alert(deployment, light))).status == 202
    assert [await finish(h, b) for h, b in zip(held, heavy_bodies, strict=True)] == [202, 202, 202]
    assert await finish(held_light, light_body) == 202
    await in_flight(client, heavy, 0)
    assert (await post(client, heavy, alert(deployment, heavy))).status == 202  # no longer behind
    assert await refusals(client, heavy, "shed") == 1
    assert await refusals(client, light, "shed") == 0


async def test_a_partner_file_quota_is_checked(tmp_path):
    from gateway.errors import ConfigError
    from gateway.partners import load_partners

    deployment = make_deployment(tmp_path, [PartnerSpec("nl-customs", extra="[quota]\nburst = 0\nspeed = 3")])
    with pytest.raises(ConfigError) as refused_file:
        load_partners(deployment.settings().partners_dir, frozenset({"canonical"}))
    assert "quota.burst" in refused_file.value.message
    assert "quota.speed" in refused_file.value.message
