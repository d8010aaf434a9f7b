from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import aio_pika
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from gateway.broker.topology import Topology
from tests.helpers import AMQP_URL, Deployment, Proxy


@dataclass
class Inbox:
    """A partner's HTTP endpoint: records what arrives; can be told to fail."""

    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    status: int = 200
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    url: str = ""

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        if self.status >= 300:
            return web.Response(status=self.status, text="simulated failure")
        self.received.append((dict(request.headers), body))
        self.arrived.set()
        return web.Response(status=200, text="ok")

    async def wait_for(self, count: int, timeout: float = 15.0) -> None:  # noqa: ASYNC109 - bounds every test wait
        async def enough() -> None:
            while len(self.received) < count:
                self.arrived.clear()
                await self.arrived.wait()

        await asyncio.wait_for(enough(), timeout)


@pytest.fixture
async def inbox_factory() -> AsyncIterator[Callable[[], asyncio.Future[Inbox]]]:
    servers: list[TestServer] = []

    async def make() -> Inbox:
        inbox = Inbox()
        app = web.Application()
        app.router.add_post("/inbox", inbox.handle)
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        servers.append(server)
        inbox.url = str(server.make_url("/inbox"))
        return inbox

    yield make  # type: ignore[misc]
    for server in servers:
        await server.close()


@pytest.fixture
async def amqp() -> AsyncIterator[aio_pika.abc.AbstractRobustConnection]:
    connection = await aio_pika.connect_robust(AMQP_URL)
    yield connection
    await connection.close()


async def remove_topology(
    connection: aio_pika.abc.AbstractConnection, deployment: Deployment, receivers: list[str]
) -> None:
    settings = deployment.settings()
    topology = Topology(settings.amqp.prefix, settings.amqp.delivery_limit, tuple(settings.delivery.retry_delays))
    channel = await connection.channel()
    await topology.delete(channel, receivers)
    await channel.close()


@pytest.fixture
async def proxy() -> AsyncIterator[Proxy]:
    """A TCP relay to the test RabbitMQ that the test can stall, cut and restore (tests.helpers.Proxy)."""
    relay = Proxy()
    await relay.start()
    yield relay
    await relay.close()
