"""Confirmed, persistent, mandatory publishing. A publish either is confirmed or raises ``Unavailable``."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping

import aio_pika
import aiormq
from aio_pika.abc import AbstractChannel, AbstractExchange, AbstractRobustConnection

from gateway.broker.topology import Topology
from gateway.errors import Unavailable

log = logging.getLogger(__name__)

# Everything a publish can raise that means "not accepted by the broker". Translated here, once.
_BROKER_ERRORS = (aiormq.exceptions.AMQPError, ConnectionError, asyncio.TimeoutError, RuntimeError)

HeaderValue = str | int


class Publisher:
    def __init__(self, connection: AbstractRobustConnection, topology: Topology, timeout: float) -> None:
        self.connection = connection
        self.topology = topology
        self.timeout = timeout
        self._channel: AbstractChannel | None = None
        self._route: AbstractExchange | None = None
        self._lock = asyncio.Lock()

    async def start(self) -> None:
        self._channel = await self.connection.channel(publisher_confirms=True, on_return_raises=True)
        self._route = await self.topology.declare_exchanges(self._channel)

    async def close(self) -> None:
        if self._channel is not None and not self._channel.is_closed:
            await self._channel.close()

    async def _exchange(self, name: str | None) -> AbstractExchange:
        if self._channel is None or self._route is None:
            raise Unavailable("the broker connection is not open yet")
        if self._channel.is_closed:
            async with self._lock:
                if self._channel.is_closed:
                    # A channel closed by the broker (e.g. after an error) is not restored by the robust
                    # connection; open a new one.
                    await self.start()
        if name is None:
            return self._route
        return await self._channel.get_exchange(name, ensure=False)  # type: ignore[union-attr]

    async def publish(
        self,
        routing_key: str,
        body: bytes,
        *,
        message_id: str,
        headers: Mapping[str, HeaderValue],
        exchange: str | None = None,
    ) -> None:
        message = aio_pika.Message(
            body,
            message_id=message_id,
            headers=dict(headers),
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            content_type="application/xml",
        )
        try:
            target = await self._exchange(exchange)
            await target.publish(message, routing_key, mandatory=True, timeout=self.timeout)
        except Unavailable:
            raise
        except _BROKER_ERRORS as exc:
            log.warning("publish of %s to %s failed: %r", message_id, routing_key, exc)
            raise Unavailable(f"the message broker did not confirm the message ({type(exc).__name__})") from exc
