"""Delivery retries, dead-lettering and the operator's retry, with a real broker, store and receiver inbox.

Retry delays are tiny (0.2 s, 0.4 s) and every wait is bounded by a count of polls, never asserted on time.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import aio_pika
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from signxml import XMLVerifier

from gateway.app import build_app
from gateway.runtime import RUNTIME
from gateway.store.base import Status
from gateway.store.sqlite import SqliteStore
from tests.conftest import remove_topology
from tests.helpers import ENV, Deployment, PartnerSpec, envelope, make_deployment, signed, wait_until

E = f"{{{ENV}}}"
SENDER, RECEIVER = "nl-customs", "de-customs"
MAX_ATTEMPTS = 3


@dataclass
class ScriptedInbox:
    """A receiver's endpoint answering ``script`` to its first requests and ``then`` afterwards.

    A status of 0 means: do not answer (hang until the test ends)."""

    script: list[int] = field(default_factory=list)
    then: int = 200
    answered: list[int] = field(default_factory=list)  # the status given to each request, in order
    delivered: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    url: str = ""
    released: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        status = self.script[len(self.answered)] if len(self.answered) < len(self.script) else self.then
        self.answered.append(status)
        if status == 0:
            await self.released.wait()
            return web.Response(status=503, text="too late")
        if status >= 300:
            return web.Response(status=status, text=f"simulated failure {status}")
        self.delivered.append((dict(request.headers), body))
        return web.Response(status=status, text="ok")


def closed_port() -> int:
    """A local port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Flow:
    deployment: Deployment
    client: TestClient
    inbox: ScriptedInbox
    amqp: aio_pika.abc.AbstractConnection
    token: str

    async def send(self) -> str:
        body = signed(self.deployment.partners[SENDER], envelope(SENDER, RECEIVER))
        response = await self.client.post(f"/v1/partners/{SENDER}/messages", data=body)
        assert response.status == 202, await response.text()
        return response.headers["X-Gateway-Message-Id"]

    async def admin(self, method: str, path: str) -> tuple[int, dict]:
        response = await self.client.request(
            method, f"/v1/admin/{path}", headers={"Authorization": f"Bearer {self.token}"}
        )
        return response.status, await response.json()

    async def record(self, gateway_id: str) -> dict:
        status, record = await self.admin("GET", f"messages/{gateway_id}")
        assert status == 200, record
        return record

    async def settled(self, gateway_id: str, final: str, tries: int = 600) -> dict:
        """Poll the status history until the message is ``final`` (bounded by count, not by time)."""
        for _ in range(tries):
            record = await self.record(gateway_id)
            if record["status"] == final:
                return record
            await asyncio.sleep(0.05)
        raise AssertionError(f"message {gateway_id} never became {final}: {record}")

    async def dead_letters(self, tries: int = 600, expected: int = 1) -> int:
        """Messages in ``<prefix>.dead.<receiver>``, polled until ``expected`` shows (dead-lettering follows
        the recorded outcome)."""
        channel = await self.amqp.channel()
        try:
            for _ in range(tries):
                queue = await channel.declare_queue(f"{self.deployment.prefix}.dead.{RECEIVER}", passive=True)
                count = queue.declaration_result.message_count or 0
                if count >= expected:
                    return count
                await asyncio.sleep(0.05)
            return count
        finally:
            await channel.close()


FlowFactory = Callable[..., Awaitable[Flow]]


@pytest.fixture
async def flows(tmp_path, amqp, aiohttp_client) -> AsyncIterator[FlowFactory]:
    servers: list[TestServer] = []
    made: list[tuple[Flow, TestClient]] = []

    async def make(
        script: list[int] | None = None,
        then: int = 200,
        url: str | None = None,
        amqp_url: str | None = None,
        delivery_timeout: float | None = None,
    ) -> Flow:
        inbox = ScriptedInbox(list(script or []), then)
        app = web.Application()
        app.router.add_post("/inbox", inbox.handle)
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        servers.append(server)
        inbox.url = url or str(server.make_url("/inbox"))
        receiver = PartnerSpec(RECEIVER, url=inbox.url)
        if delivery_timeout is not None:  # the partner file's own [delivery] timeout
            receiver = PartnerSpec(RECEIVER, extra=f'[delivery]\nurl = "{inbox.url}"\ntimeout = {delivery_timeout}')
        deployment = make_deployment(
            tmp_path,
            [PartnerSpec(SENDER, url="http://127.0.0.1:9/never"), receiver],
            retry_delays="[0.2, 0.4]",
            max_attempts=MAX_ATTEMPTS,
        )
        overrides = {"amqp": {"url": amqp_url, "prefix": deployment.prefix}} if amqp_url else {}
        settings = deployment.settings(**overrides)
        client = await aiohttp_client(build_app(settings))
        token = settings.resolve(settings.admin.token_file).read_text().strip()
        flow = Flow(deployment, client, inbox, amqp, token)
        made.append((flow, client))
        return flow

    yield make
    for flow, _ in made:
        flow.inbox.released.set()
    for flow, client in made:
        await client.close()
        await remove_topology(amqp, flow.deployment, [SENDER, RECEIVER])
    for server in servers:
        await server.close()


def statuses(record: dict) -> list[str]:
    """The history in order, with ingress' "accepted" first: the worker can consume a message as soon as the
    broker confirms it, so its first "delivering" may be written before ingress records "accepted"."""
    events = [event["status"] for event in record["history"]]
    if "accepted" in events and "delivering" in events and events.index("delivering") < events.index("accepted"):
        events.remove("accepted")
        events.insert(events.index("delivering"), "accepted")
    return events


async def test_receiver_down_for_a_while_gets_the_message_when_it_is_back(flows) -> None:
    flow = await flows(script=[500, 429])
    gateway_id = await flow.send()

    record = await flow.settled(gateway_id, "delivered")
    assert flow.inbox.answered == [500, 429, 200]
    assert statuses(record) == [
        "received",
        "accepted",
        "delivering",
        "retrying",
        "delivering",
        "retrying",
        "delivering",
        "delivered",
    ]
    retries = [e for e in record["history"] if e["status"] == "retrying"]
    assert all(e["receiver"] == RECEIVER for e in retries)
    for retry, attempt, answer in zip(retries, (1, 2), (500, 429), strict=True):
        assert f"attempt {attempt}: " in retry["reason"]
        assert f"answered HTTP {answer}" in retry["reason"]
    assert all("next attempt at" in e["reason"] for e in retries)
    assert record["deliveries"] == [
        {**record["deliveries"][0], "receiver": RECEIVER, "status": "delivered", "attempts": 3}
    ]
    # What finally arrived is the gateway-signed message, once.
    [(headers, body)] = flow.inbox.delivered
    assert headers["X-Gateway-Message-Id"] == gateway_id
    verified = XMLVerifier().verify(body, x509_cert=flow.deployment.gateway.cert).signed_xml
    assert verified.findtext(f"{E}Header/{E}GatewayMessageID") == gateway_id
    assert await flow.dead_letters(tries=1) == 0


@pytest.mark.parametrize("down", ["answers-500", "unreachable", "never-answers"])
async def test_receiver_down_for_good_ends_failed_in_the_dead_queue(flows, down: str) -> None:
    if down == "answers-500":
        flow = await flows(then=500)
        cause = "answered HTTP 500: simulated failure 500"
    elif down == "unreachable":
        flow = await flows(url=f"http://127.0.0.1:{closed_port()}/inbox")
        cause = "unreachable"
    else:
        flow = await flows(then=0, delivery_timeout=0.3)
        cause = "did not answer within 0.3 s"
    gateway_id = await flow.send()

    record = await flow.settled(gateway_id, "failed")
    assert statuses(record) == [
        "received",
        "accepted",
        "delivering",
        "retrying",
        "delivering",
        "retrying",
        "delivering",
        "failed",
    ]
    assert cause in record["reason"]
    assert f"after {MAX_ATTEMPTS} attempts" in record["reason"]
    [delivery] = record["deliveries"]
    assert (delivery["status"], delivery["attempts"]) == ("failed", MAX_ATTEMPTS)
    assert cause in delivery["reason"]
    assert (
        flow.inbox.answered
        == {"answers-500": [500] * MAX_ATTEMPTS, "unreachable": [], "never-answers": [0] * MAX_ATTEMPTS}[down]
    )
    assert await flow.dead_letters() == 1
    _, failed = await flow.admin("GET", "messages?status=failed")
    assert [m["id"] for m in failed["messages"]] == [gateway_id]


@pytest.mark.parametrize("refusal", [400, 302])
async def test_receiver_refusing_is_dead_lettered_at_once_and_an_operator_retry_delivers(flows, refusal) -> None:
    """4xx (and a redirect: allow_redirects is off, the configured URL is wrong) cannot be retried away."""
    flow = await flows(script=[refusal])
    gateway_id = await flow.send()

    record = await flow.settled(gateway_id, "failed")
    assert statuses(record) == ["received", "accepted", "delivering", "failed"]  # no retry: 4xx is permanent
    assert f"answered HTTP {refusal}: simulated failure {refusal}" in record["reason"]
    assert record["deliveries"][0]["attempts"] == 1
    assert flow.inbox.answered == [refusal]
    assert await flow.dead_letters() == 1

    # The receiver fixed its side (the script is used up: it now answers 200); the operator retries.
    reason = "receiver fixed its schema, ticket OPS-1234"
    status, answer = await flow.admin("POST", f"messages/{gateway_id}/retry?reason={reason.replace(' ', '%20')}")
    assert status == 202, answer
    assert answer["retried"] == [RECEIVER]

    record = await flow.settled(gateway_id, "delivered")
    assert flow.inbox.answered == [refusal, 200]
    assert statuses(record) == [
        "received",
        "accepted",
        "delivering",
        "failed",
        "accepted",
        "delivering",
        "delivered",
    ]
    [operator] = [e for e in record["history"] if e["actor"] == "admin-api"]
    assert (operator["status"], operator["receiver"]) == ("accepted", RECEIVER)
    assert reason in operator["reason"]
    [failure] = [e for e in record["history"] if e["status"] == "failed"]
    assert f"HTTP {refusal}" in failure["reason"]  # the history keeps why it failed before the retry
    assert len(flow.inbox.delivered) == 1

    # A delivered message is not retried again.
    status, answer = await flow.admin("POST", f"messages/{gateway_id}/retry")
    assert (status, answer["code"]) == (409, "not-failed")


async def test_operator_retry_of_an_unknown_message_or_without_token(flows) -> None:
    flow = await flows()
    status, answer = await flow.admin("POST", "messages/no-such-id/retry")
    assert (status, answer["code"]) == (404, "unknown-message")
    response = await flow.client.post("/v1/admin/messages/no-such-id/retry")
    assert response.status == 401
    response = await flow.client.post(
        "/v1/admin/messages/no-such-id/retry", headers={"Authorization": "Bearer not-the-token"}
    )
    assert response.status == 401


async def test_redelivery_of_a_delivered_message_is_not_sent_twice(flows) -> None:
    """At-least-once from the broker, once to the receiver: a copy of a delivered message (e.g. redelivered
    after a crash between recording and ack) is settled without a second POST."""
    flow = await flows()
    gateway_id = await flow.send()
    await flow.settled(gateway_id, "delivered")
    runtime = flow.client.app[RUNTIME]
    canonical = await runtime.store.canonical(gateway_id)
    await runtime.publisher.publish(
        runtime.topology.routing_key(RECEIVER, "risk-alert"),
        canonical,
        message_id=gateway_id,
        headers={
            "gw-message-id": gateway_id,
            "gw-sender": SENDER,
            "gw-message-type": "risk-alert",
            "gw-attempt": 1,
        },
    )
    for _ in range(100):  # bounded: the duplicate is settled as soon as it is consumed
        history = (await flow.record(gateway_id))["history"]
        if len(history) > 4:
            break
        await asyncio.sleep(0.05)
    assert "already delivered" in history[-1]["reason"]
    assert len(flow.inbox.delivered) == 1


async def test_operator_retry_while_the_broker_is_down_can_be_repeated_later(proxy, flows) -> None:
    """A retry that cannot be queued answers 503 and leaves the delivery failed (so it can be retried again),
    with the attempt in the history; once the broker is back the retry delivers."""
    flow = await flows(script=[400], amqp_url=f"amqp://guest:guest@127.0.0.1:{proxy.port}/?reconnect_interval=0.1")
    gateway_id = await flow.send()
    await flow.settled(gateway_id, "failed")

    async def broker(state: str) -> bool:
        ready = await (await flow.client.get("/ready")).json()
        return (ready["checks"]["broker"] == "ok") == (state == "up")

    proxy.cut()
    await wait_until(lambda: broker("down"), "/ready to report the broker down")
    status, answer = await flow.admin("POST", f"messages/{gateway_id}/retry")
    assert (status, answer["code"], answer["retried"]) == (503, "unavailable", []), answer
    record = await flow.record(gateway_id)
    assert record["status"] == "failed"
    assert record["deliveries"][0]["status"] == "failed"
    assert record["history"][-1]["status"] == "failed"
    assert "not queued" in record["history"][-1]["reason"]

    proxy.restore()
    await wait_until(lambda: broker("up"), "/ready to report the broker back")
    status, answer = await flow.admin("POST", f"messages/{gateway_id}/retry")
    if status == 409:
        # The first retry's publish reached the broker before the cut showed (answered 503 "unconfirmed", the
        # delivery marked failed again): it was delivered once the broker was back. Still delivered once.
        assert answer["code"] == "not-failed", answer
        assert "delivered" in answer["message"], answer
    else:
        assert status == 202, answer
    await flow.settled(gateway_id, "delivered")
    assert flow.inbox.answered == [400, 200]


async def test_a_late_acceptance_record_does_not_set_a_delivered_message_back(tmp_path) -> None:
    """Ingress records "accepted" after the broker confirms; a fast worker may have delivered by then."""
    store = SqliteStore(tmp_path / "race.db")
    await store.open()
    try:
        await store.claim("gw-1", SENDER, "MSG-1", "risk-alert", "digest")
        await store.record_delivery("gw-1", RECEIVER, Status.DELIVERING, attempt=1)
        await store.record_delivery("gw-1", RECEIVER, Status.DELIVERED, attempt=1, reason="HTTP 200")
        await store.accept("gw-1", (RECEIVER,), b"<receipt/>", b"<canonical/>")
        record = await store.get("gw-1")
        assert record is not None
        assert record.status == Status.DELIVERED
        assert (record.receipt, record.receivers) == (b"<receipt/>", (RECEIVER,))
        assert [d.status for d in await store.deliveries("gw-1")] == [Status.DELIVERED]
    finally:
        await store.close()


async def test_dead_queue_page_and_metric_agree_after_operator_retries(flows) -> None:
    """What the dead-letter queue holds is what awaits a decision: a retry takes its message out (and a new
    failure puts it back, once), so the queue, the Dead-lettered list and the metric show the same count."""
    flow = await flows(script=[400, 400])
    first, second = await flow.send(), await flow.send()
    await flow.settled(first, "failed")
    await flow.settled(second, "failed")
    assert await flow.dead_letters(expected=2) == 2

    async def shown() -> tuple[int, list[str], int, str]:
        dead = await flow.dead_letters(tries=1, expected=0)
        _, failed = await flow.admin("GET", "messages?status=failed")
        _, traffic = await flow.admin("GET", "traffic")
        [depth] = [q["depth"] for q in traffic["queues"] if (q["receiver"], q["queue"]) == (RECEIVER, "dead")]
        metrics = await (await flow.client.get("/metrics")).text()
        [line] = [
            m
            for m in metrics.splitlines()
            if m.startswith("gateway_queue_depth{") and 'queue="dead"' in m and f'receiver="{RECEIVER}"' in m
        ]
        return dead, sorted(m["id"] for m in failed["messages"]), int(depth), line.split()[-1]

    assert await shown() == (2, sorted([first, second]), 2, "2.0")

    status, answer = await flow.admin("POST", f"messages/{first}/retry")  # the inbox now answers 200
    assert status == 202, answer
    await flow.settled(first, "delivered")
    assert await shown() == (1, [second], 1, "1.0")

    flow.inbox.then = 400  # the retry of the second fails again: back in the dead queue, once
    status, answer = await flow.admin("POST", f"messages/{second}/retry")
    assert status == 202, answer
    await flow.settled(second, "failed")
    assert await flow.dead_letters(expected=1) == 1
    assert await shown() == (1, [second], 1, "1.0")

    flow.inbox.then = 200
    status, answer = await flow.admin("POST", f"messages/{second}/retry")
    assert status == 202, answer
    await flow.settled(second, "delivered")
    assert await shown() == (0, [], 0, "0.0")
    assert sorted(h["X-Gateway-Message-Id"] for h, _ in flow.inbox.delivered) == sorted([first, second])
