"""Confirmed, persistent, mandatory publishing. A publish either is confirmed or raises ``Unavailable``
(``Unconfirmed`` when it was sent and may still be queued).

A channel that keeps refusing is replaced. RabbitMQ can leave a channel nacking every publish for as long as it
lives (a quorum queue's leader killed just as the channel first published to it; a new channel is confirmed at
once), so after ``NACK_LIMIT`` refusals in a row the publisher opens another channel and closes the old one
once its confirms are due.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping

import aio_pika
import aiormq
from aio_pika.abc import AbstractChannel, AbstractExchange, AbstractRobustConnection

from gateway.broker.topology import Topology
from gateway.errors import Unavailable, Unconfirmed

log = logging.getLogger(__name__)

# What a publish can raise, translated here, once. Refused for certain: the broker answered nack, or returned
# it as unroutable (mandatory, on_return_raises).
_REFUSED = (aiormq.exceptions.DeliveryError,)
# Anything else may have reached a queue: confirm timeout, connection or channel lost while waiting. aiormq
# gives no type to rely on (a closed channel raises ChannelInvalidStateError, a RuntimeError, before or after
# the frames went out; a dropped connection fails the pending write with a bare Exception).

HeaderValue = str | int

NACK_LIMIT = 3  # refusals in a row after which a channel is taken for broken and replaced


class Publisher:
    def __init__(self, connection: AbstractRobustConnection, topology: Topology, timeout: float) -> None:
        self.connection = connection
        self.topology = topology
        self.timeout = timeout
        self._channel: AbstractChannel | None = None
        self._route: AbstractExchange | None = None
        self._lock = asyncio.Lock()
        self._nacks = 0  # refusals in a row on the current channel
        self._retired: set[asyncio.Task[None]] = set()  # replaced channels closing once their confirms are due
        self.replaced = 0  # channels replaced for refusing (tests and logs)

    async def start(self) -> None:
        self._channel, self._route = await self._open()

    async def _open(self) -> tuple[AbstractChannel, AbstractExchange]:
        channel = await self.connection.channel(publisher_confirms=True, on_return_raises=True)
        return channel, await self.topology.declare_exchanges(channel)

    async def close(self) -> None:
        for task in list(self._retired):
            task.cancel()
        if self._channel is not None and not self._channel.is_closed:
            await self._channel.close()

    async def _refused(self, channel: AbstractChannel | None) -> None:
        """A nack on ``channel``: after ``NACK_LIMIT`` in a row, publish on a new channel from now on."""
        self._nacks += 1
        if self._nacks < NACK_LIMIT or channel is None:
            return
        async with self._lock:
            if channel is not self._channel:
                return  # another publish replaced it meanwhile
            try:
                self._channel, self._route = await self._open()
            except Exception as exc:  # the library boundary: the connection is going; the refusal is the answer
                log.warning("could not replace the refusing publisher channel: %r", exc)
                return
            self._nacks = 0
            self.replaced += 1
        log.warning("publisher channel refused %d publishes in a row: replaced by a new channel", NACK_LIMIT)
        # Publishes still in flight on the old channel keep their confirms: close it once those are due.
        task = asyncio.get_running_loop().create_task(self._retire(channel))
        self._retired.add(task)
        task.add_done_callback(self._retired.discard)

    async def _retire(self, channel: AbstractChannel) -> None:
        await asyncio.sleep(self.timeout)
        if not channel.is_closed:
            try:
                await channel.close()
            except Exception as exc:  # the old channel's state is not ours to report any more
                log.info("closing a replaced publisher channel: %r", exc)

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
        return await self._channel.get_exchange(name, ensure=False)

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
        if not self.connection.connected.is_set():
            # Reconnecting: a robust channel would wait for the broker as long as it takes. Answer now.
            raise Unavailable("the message broker is not connected (reconnecting)")
        channel = None
        try:
            # The whole publish is bounded: waiting for the channel too, not only for the confirm.
            async with asyncio.timeout(self.timeout):
                target = await self._exchange(exchange)
                channel = self._channel
                await target.publish(message, routing_key, mandatory=True, timeout=self.timeout)
            if channel is self._channel:
                self._nacks = 0
        except Unavailable:
            raise
        except _REFUSED as exc:
            log.warning("publish of %s to %s refused: %r", message_id, routing_key, exc)
            if getattr(exc.frame, "name", "") == "Basic.Nack":  # not a return (unroutable): a refusal
                await self._refused(channel)
            raise Unavailable(f"the message broker refused the message ({type(exc).__name__})") from exc
        except Exception as exc:  # the library boundary: see above
            log.warning("publish of %s to %s not confirmed: %r", message_id, routing_key, exc)
            kind = type(exc).__name__
            raise Unconfirmed(f"the message broker did not confirm the message ({kind})") from exc
        except asyncio.CancelledError as exc:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise  # this request is being cancelled (shutdown): not an answer from the broker
            # aiormq cancels the confirms owed on a connection it drops (a stuck broker: heartbeats missed)
            log.warning("publish of %s to %s not confirmed: connection dropped", message_id, routing_key)
            raise Unconfirmed("the message broker did not confirm the message (connection dropped)") from exc
