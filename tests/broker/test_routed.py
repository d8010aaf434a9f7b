"""The routed message on a real broker: what publish_routed puts on the wire is what a consumer reads back."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import aio_pika
import pytest

from gateway.broker.publisher import Publisher
from gateway.broker.routed import RoutedMessage, publish_routed
from gateway.broker.topology import Topology
from gateway.errors import Unavailable
from tests.helpers import AMQP_URL

MESSAGE = RoutedMessage(
    message_id=str(uuid.uuid4()),
    sender="cn-nsw",
    sender_message_id="MSG-1",
    message_type="inventory",
    body=b"<Envelope/>",
)


@pytest.fixture
async def wired() -> AsyncIterator[tuple[Publisher, Topology, aio_pika.abc.AbstractChannel]]:
    topology = Topology(f"t{uuid.uuid4().hex[:10]}", 5, (0.1,))
    connection = await aio_pika.connect_robust(AMQP_URL)
    channel = await connection.channel()
    await topology.declare_exchanges(channel)
    await topology.declare_receivers(channel, ["nl-customs", "de-customs"])
    publisher = Publisher(connection, topology, 5.0)
    await publisher.start()
    yield publisher, topology, channel
    await publisher.close()
    await topology.delete(channel, ["nl-customs", "de-customs"])
    await connection.close()


async def _get(channel: aio_pika.abc.AbstractChannel, name: str) -> aio_pika.abc.AbstractIncomingMessage:
    queue = await channel.get_queue(name)
    for _ in range(100):  # bounded: a confirmed publish is in the queue already; this only waits for the get
        got = await queue.get(fail=False, no_ack=True)
        if got is not None:
            return got
        await asyncio.sleep(0.02)
    raise AssertionError(f"nothing in {name}")


async def test_each_receiver_gets_the_message_with_its_own_headers(wired) -> None:
    publisher, topology, channel = wired
    queued: list[str] = []
    await publish_routed(publisher, topology, MESSAGE, ("nl-customs", "de-customs"), queued=queued)
    assert queued == ["nl-customs", "de-customs"]
    for receiver in queued:
        incoming = await _get(channel, topology.deliver_queue(receiver))
        assert incoming.headers["gw-receiver"] == receiver
        assert incoming.routing_key == f"{receiver}.inventory"
        assert incoming.message_id == MESSAGE.message_id
        assert RoutedMessage.read(incoming.headers, incoming.body, message_id=incoming.message_id) == MESSAGE


async def test_a_receiver_without_a_queue_stops_the_fan_out_and_names_what_was_queued(wired) -> None:
    publisher, topology, channel = wired
    queued: list[str] = []
    with pytest.raises(Unavailable, match="refused"):
        await publish_routed(
            publisher, topology, MESSAGE, ("nl-customs", "no-such-receiver", "de-customs"), queued=queued
        )
    assert queued == ["nl-customs"]
    await _get(channel, topology.deliver_queue("nl-customs"))
    assert await (await channel.get_queue(topology.deliver_queue("de-customs"))).get(fail=False) is None


def test_headers_read_back_the_next_attempt_and_the_dead_letter_reason() -> None:
    retried = MESSAGE.next_attempt().failed("x" * 5000)
    headers = retried.headers("nl-customs")
    assert headers["gw-attempt"] == 2
    assert len(str(headers["gw-failed-reason"])) == 1024
    back = RoutedMessage.read(headers, MESSAGE.body, message_id=None)
    assert (back.attempt, back.failed_reason) == (2, "x" * 1024)


def test_a_message_without_gateway_headers_falls_back_to_its_amqp_message_id() -> None:
    back = RoutedMessage.read(None, b"<x/>", message_id="amqp-id")
    assert (back.message_id, back.attempt, back.sender, back.message_type) == ("amqp-id", 1, "", "")
    assert RoutedMessage.read({"gw-attempt": b"3", "gw-sender": b"cn-nsw"}, b"", message_id="m").attempt == 3


async def test_what_ingress_proved_travels_with_the_message(wired) -> None:
    """gw-checked (issue 15): set by ingress only; read back on the consuming side, kept by a retry."""
    publisher, topology, channel = wired
    checked = RoutedMessage(**{**MESSAGE.__dict__, "checked": True})
    await publish_routed(publisher, topology, checked, ("nl-customs",))
    await publish_routed(publisher, topology, MESSAGE, ("de-customs",))
    got = await _get(channel, topology.deliver_queue("nl-customs"))
    back = RoutedMessage.read(got.headers, got.body, message_id=got.message_id)
    assert back.checked
    assert back.next_attempt().checked
    plain = await _get(channel, topology.deliver_queue("de-customs"))
    assert "gw-checked" not in plain.headers
    assert not RoutedMessage.read(plain.headers, plain.body, message_id=plain.message_id).checked
