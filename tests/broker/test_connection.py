"""Several AMQP URLs (``[amqp] urls``): the start tries each in turn, a lost connection reconnects to the next
(real broker on 127.0.0.1:5672 behind two TCP relays standing for two cluster nodes)."""

from __future__ import annotations

import asyncio
import uuid

import aio_pika

from gateway.broker.connection import FailoverConnection, connect
from tests.helpers import Proxy
from tests.multiworker import free_port


def url(port: int) -> str:
    return f"amqp://guest:guest@127.0.0.1:{port}/?reconnect_interval=0.2"


def node(connection: aio_pika.abc.AbstractRobustConnection) -> int | None:
    """The port of the node the connection is on now (``connect`` makes a FailoverConnection)."""
    assert isinstance(connection, FailoverConnection)
    return connection.url.port


async def test_the_start_skips_a_node_that_is_down():
    dead = free_port()
    proxy = Proxy()
    await proxy.start()
    try:
        connection = await connect([url(dead), url(proxy.port)], 10, timeout=2)
        try:
            assert node(connection) == proxy.port
        finally:
            await connection.close()
    finally:
        await proxy.close()


async def test_a_lost_node_fails_over_to_the_next_and_consumers_come_back():
    first, second = Proxy(), Proxy()
    await first.start()
    await second.start()
    connection = await connect([url(first.port), url(second.port)], 10, timeout=2)
    name = f"t-failover-{uuid.uuid4().hex[:8]}"
    try:
        assert node(connection) == first.port
        channel = await connection.channel()
        queue = await channel.declare_queue(name, auto_delete=True)
        got: asyncio.Queue[bytes] = asyncio.Queue()

        async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            await got.put(message.body)
            await message.ack()

        await queue.consume(on_message)
        first.cut()  # the node goes away and stays away
        for _ in range(600):  # 30 s: a loaded machine reconnects slowly
            if connection.connected.is_set() and node(connection) == second.port:
                break
            await asyncio.sleep(0.05)
        assert node(connection) == second.port
        assert second.connections >= 1
        # The channel, its auto-delete queue and its consumer are restored after the connection: publish until the
        # consumer has it (a message published before the queue is declared again goes nowhere).
        received = None
        for _ in range(30):
            try:
                await channel.default_exchange.publish(aio_pika.Message(b"after failover"), routing_key=name)
                received = await asyncio.wait_for(got.get(), 1)
                break
            except (TimeoutError, aio_pika.exceptions.AMQPError, RuntimeError):  # not restored yet
                await asyncio.sleep(0.2)
        assert received == b"after failover"
    finally:
        await connection.close()
        await first.close()
        await second.close()
