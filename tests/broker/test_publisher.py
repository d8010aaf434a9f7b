"""The publisher replaces a channel that keeps refusing (real broker on 127.0.0.1:5672)."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from gateway.broker.connection import connect
from gateway.broker.publisher import NACK_LIMIT, Publisher
from gateway.broker.topology import Topology
from gateway.errors import Unavailable
from tests.helpers import AMQP_URL


async def test_a_channel_that_keeps_nacking_is_replaced_and_publishing_goes_on():
    topology = Topology(f"t{uuid.uuid4().hex[:10]}", 5, (1.0,))
    connection = await connect(AMQP_URL, 10)
    publisher = Publisher(connection, topology, timeout=1.0)
    admin = await connection.channel()
    queue_name = f"{topology.prefix}.refusing"
    try:
        await publisher.start()
        route = await topology.declare_exchanges(admin)
        # A queue that refuses everything: the broker nacks each publish routed to it (reject-publish at 0).
        refusing = await admin.declare_queue(
            queue_name, arguments={"x-max-length": 0, "x-overflow": "reject-publish"}, auto_delete=False
        )
        await refusing.bind(route, "rx.order")
        first = publisher._channel
        for n in range(NACK_LIMIT):
            assert publisher.replaced == 0, n
            with pytest.raises(Unavailable, match="refused"):
                await publisher.publish("rx.order", b"<x/>", message_id=f"m{n}", headers={})
        assert publisher.replaced == 1
        assert publisher._channel is not first
        # The refusing queue gone, a plain one in its place: the new channel publishes, confirmed.
        await refusing.delete(if_unused=False, if_empty=False)
        accepting = await admin.declare_queue(queue_name, auto_delete=False)
        await accepting.bind(route, "rx.order")
        await publisher.publish("rx.order", b"<x/>", message_id="ok", headers={})
        assert publisher.replaced == 1
        message = await accepting.get(timeout=5)
        assert message.message_id == "ok"
        await message.ack()
        # The old channel is closed once its confirms were due (the publish timeout).
        for _ in range(100):
            if first is not None and first.is_closed:
                break
            await asyncio.sleep(0.05)
        assert first is not None
        assert first.is_closed
    finally:
        await admin.queue_delete(queue_name, if_unused=False, if_empty=False)
        await topology.delete(admin, [])
        await publisher.close()
        await connection.close()


async def test_an_accepted_publish_resets_the_count():
    """Refusals that are not in a row (a full queue now and then) keep the channel."""
    topology = Topology(f"t{uuid.uuid4().hex[:10]}", 5, (1.0,))
    connection = await connect(AMQP_URL, 10)
    publisher = Publisher(connection, topology, timeout=1.0)
    admin = await connection.channel()
    names = [f"{topology.prefix}.refusing", f"{topology.prefix}.accepting"]
    try:
        await publisher.start()
        route = await topology.declare_exchanges(admin)
        refusing = await admin.declare_queue(names[0], arguments={"x-max-length": 0, "x-overflow": "reject-publish"})
        await refusing.bind(route, "rx.order")
        accepting = await admin.declare_queue(names[1])
        await accepting.bind(route, "rx.ping")
        for round_ in range(3):
            for n in range(NACK_LIMIT - 1):
                with pytest.raises(Unavailable):
                    await publisher.publish("rx.order", b"<x/>", message_id=f"r{round_}-{n}", headers={})
            await publisher.publish("rx.ping", b"<x/>", message_id=f"ok{round_}", headers={})
        assert publisher.replaced == 0
    finally:
        for name in names:
            await admin.queue_delete(name, if_unused=False, if_empty=False)
        await topology.delete(admin, [])
        await publisher.close()
        await connection.close()
