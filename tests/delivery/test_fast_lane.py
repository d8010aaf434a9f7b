"""The fast lane through the real app, a real broker and a real receiver (issue 17).

Risk alerts (urgent) overtake a flood of declarations (bulk): the receiver holds every declaration it is sent
until the test lets go, so the flood's backlog cannot drain, and every alert must still arrive meanwhile. Without
the fast lane the alerts queue behind the declarations and never arrive while they are held. No timing: the
waits are bounded, the order is what is checked.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from gateway.app import build_app
from gateway.runtime import RUNTIME
from tests.conftest import remove_topology
from tests.helpers import Deployment, PartnerSpec, envelope, make_deployment, signed, wait_until

FLOOD, TRICKLE, RECEIVER = "cn-nsw", "de-customs", "nl-customs"
CONCURRENCY = 4  # deliveries in hand per queue


@dataclass
class HoldingInbox:
    """Takes risk alerts at once; holds every declaration until ``release`` is set."""

    release: asyncio.Event = field(default_factory=asyncio.Event)
    arrived: list[tuple[str, str]] = field(default_factory=list)  # (type, gateway id), in order of completion
    held: int = 0
    url: str = ""

    async def handle(self, request: web.Request) -> web.Response:
        await request.read()
        kind = request.headers["X-Message-Type"]
        if kind == "declaration":
            self.held += 1
            await self.release.wait()
            self.held -= 1
        self.arrived.append((kind, request.headers["X-Gateway-Message-Id"]))
        return web.Response(text="ok")

    def count(self, kind: str) -> int:
        return sum(1 for k, _ in self.arrived if k == kind)


@pytest.fixture
async def inbox() -> AsyncIterator[HoldingInbox]:
    inbox = HoldingInbox()
    app = web.Application()
    app.router.add_post("/inbox", inbox.handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    inbox.url = str(server.make_url("/inbox"))
    yield inbox
    inbox.release.set()
    await server.close()


@pytest.fixture
def deployment(tmp_path, inbox: HoldingInbox) -> Deployment:
    return make_deployment(
        tmp_path,
        [
            PartnerSpec(FLOOD, role="single-window", country="CN", sends=["declaration"], receives=[]),
            PartnerSpec(TRICKLE, country="DE", sends=["risk-alert"], receives=[]),
            PartnerSpec(RECEIVER, url=inbox.url),
        ],
    )


def settings(deployment: Deployment, **overrides: object):
    # Held deliveries must neither time out nor run out of attempts while the test holds them.
    delivery = {"retry_delays": [0.2], "max_attempts": 1000, "timeout": 120.0, "concurrency": CONCURRENCY}
    return deployment.settings(delivery=delivery, **overrides)


def declaration(deployment: Deployment) -> bytes:
    return signed(
        deployment.partners[FLOOD], envelope(FLOOD, RECEIVER, message_type="declaration", example="declaration.xml")
    )


def alert(deployment: Deployment) -> bytes:
    return signed(deployment.partners[TRICKLE], envelope(TRICKLE, RECEIVER))


async def accepted(client, sender: str, body: bytes) -> str:
    response = await client.post(f"/v1/partners/{sender}/messages", data=body)
    assert (response.status, response.headers["X-Gateway-Outcome"]) == (202, "accepted"), await response.text()
    return response.headers["X-Gateway-Message-Id"]


async def test_every_trickle_alert_is_delivered_before_the_flood_backlog_drains(
    deployment, inbox, aiohttp_client, amqp
):
    client = await aiohttp_client(build_app(settings(deployment)))
    try:
        flood_bodies = [declaration(deployment) for _ in range(24)]
        flood = [await accepted(client, FLOOD, body) for body in flood_bodies]

        async def saturated() -> bool:
            return inbox.held == CONCURRENCY  # every bulk delivery slot is taken by a held declaration

        await wait_until(saturated, f"{CONCURRENCY} declarations held by the receiver")
        trickle = [await accepted(client, TRICKLE, alert(deployment)) for _ in range(5)]

        async def alerts_in() -> bool:
            return inbox.count("risk-alert") == len(trickle)

        await wait_until(alerts_in, "every risk alert delivered while the declarations are held")
        assert inbox.count("declaration") == 0  # the flood's backlog has not drained, not even begun to
        assert [gateway_id for _, gateway_id in inbox.arrived] == trickle  # in the order they were sent

        inbox.release.set()

        async def flood_in() -> bool:
            return inbox.count("declaration") == len(flood)

        await wait_until(flood_in, "the whole flood delivered once let go", tries=1200)
        last_alert = max(i for i, (kind, _) in enumerate(inbox.arrived) if kind == "risk-alert")
        first_declaration = min(i for i, (kind, _) in enumerate(inbox.arrived) if kind == "declaration")
        assert last_alert < first_declaration
        assert sorted(g for k, g in inbox.arrived if k == "declaration") == sorted(flood)
    finally:
        inbox.release.set()  # deliveries in hand finish before the gateway stops
        await client.close()
        await remove_topology(amqp, deployment, [RECEIVER])


async def test_an_upgrade_in_place_delivers_what_the_old_queues_hold(deployment, inbox, aiohttp_client, amqp):
    """A gateway without the fast lane (every type in <prefix>.deliver.<id>, v1's routing keys) accepts alerts
    and stops before delivering them; the upgraded gateway on the same broker and store delivers them all, and
    the new alerts through the fast lane."""
    inbox.release.set()
    old = await aiohttp_client(build_app(settings(deployment, fairness={"urgent_types": []}), deliver=False))
    try:
        before = [await accepted(old, TRICKLE, alert(deployment)) for _ in range(3)]
    finally:
        await old.close()
    channel = await amqp.channel()
    queue = await channel.declare_queue(f"{deployment.prefix}.deliver.{RECEIVER}", passive=True)
    assert queue.declaration_result.message_count == 3  # the old lane holds them
    await channel.close()

    client = await aiohttp_client(build_app(settings(deployment)))
    try:
        after = [await accepted(client, TRICKLE, alert(deployment)) for _ in range(2)]

        async def all_in() -> bool:
            return inbox.count("risk-alert") == 5

        await wait_until(all_in, "the 3 queued before the upgrade and the 2 after it delivered")
        assert sorted(g for _, g in inbox.arrived) == sorted(before + after)
        topology = client.app[RUNTIME].topology
        assert topology.routing_key(RECEIVER, "risk-alert") == f"_urgent.{RECEIVER}.risk-alert"
        assert topology.routing_key(RECEIVER, "declaration") == f"{RECEIVER}.declaration"  # v1's key
    finally:
        await client.close()
        await remove_topology(amqp, deployment, [RECEIVER])


async def test_an_urgent_message_refused_by_its_receiver_is_dead_lettered_in_its_queue(
    deployment, inbox, aiohttp_client, amqp
):
    """The dead-letter queue of a receiver also takes its urgent messages (routing key _urgent.<id>.<type>)."""

    async def refuse(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(status=400, text="refused")

    refusing = web.Application()
    refusing.router.add_post("/inbox", refuse)
    server = TestServer(refusing, host="127.0.0.1")
    await server.start_server()
    partner_file = deployment.folder / "partners" / f"{RECEIVER}.toml"
    partner_file.write_text(partner_file.read_text().replace(inbox.url, str(server.make_url("/inbox"))))
    client = await aiohttp_client(build_app(settings(deployment)))
    try:
        gateway_id = await accepted(client, TRICKLE, alert(deployment))
        runtime = client.app[RUNTIME]

        async def failed() -> bool:
            record = await runtime.store.get(gateway_id)
            return record is not None and record.status.value == "failed"

        await wait_until(failed, "the refused alert recorded failed")

        async def dead_lettered() -> bool:
            channel = await amqp.channel()
            queue = await channel.declare_queue(runtime.topology.dead_queue(RECEIVER), passive=True)
            await channel.close()
            return queue.declaration_result.message_count == 1

        await wait_until(dead_lettered, "the alert in the receiver's dead-letter queue")
    finally:
        await client.close()
        await server.close()
        await remove_topology(amqp, deployment, [RECEIVER])
