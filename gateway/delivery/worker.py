"""Delivery workers: one consumer per receiver queue. Map canonical -> receiver format, validate, sign, POST."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import aiormq
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage, AbstractQueue, AbstractRobustConnection

from gateway.broker.publisher import Publisher
from gateway.broker.settle import REQUEUE_PAUSE, Delivery, Settlement
from gateway.broker.topology import Topology
from gateway.config import DeliverySection
from gateway.delivery.transport import Outbound, Transports
from gateway.errors import PermanentDeliveryError, Rejection, TransientDeliveryError
from gateway.formats.base import FormatAdapter
from gateway.formats.canonical import read_header, set_header
from gateway.partners.model import Partner
from gateway.security.keyring import Keyring
from gateway.security.xml import parse_xml, to_bytes
from gateway.store.base import Status, Store

log = logging.getLogger(__name__)

# A follow-up whose original is queued or being delivered (by this process or another) waits this long for it,
# looking every ORDER_POLL seconds, before it goes to the retry queue.
ORDER_POLL, ORDER_POLLS = 0.05, 100


class DeliveryWorker:
    def __init__(
        self,
        *,
        connection: AbstractRobustConnection,
        topology: Topology,
        partners: Callable[[], Mapping[str, Partner]],
        adapters: Mapping[str, FormatAdapter],
        keyring: Keyring,  # signs for each receiver in its algorithm
        store: Store,
        transports: Transports,  # by the receivers' [delivery] transport
        publisher: Publisher,
        settings: DeliverySection,
        observe: Callable[[str, str, float], None] = lambda receiver, outcome, seconds: None,
    ) -> None:
        self.connection = connection
        self.topology = topology
        self.partners = partners
        self.adapters = adapters
        self.keyring = keyring
        self.store = store
        self.transports = transports
        self.settings = settings
        self.settlement = Settlement(store, publisher, topology, settings.max_attempts)
        self.observe = observe
        self._channel: AbstractChannel | None = None
        self._consuming: set[str] = set()
        self._consumers: list[tuple[AbstractQueue, str]] = []  # (queue, consumer tag), to cancel on close
        self._in_hand: set[asyncio.Future[Any]] = set()  # deliveries being worked on now
        self._delivering: dict[tuple[str, str], asyncio.Future[Any]] = {}  # (gateway id, receiver) in hand
        self._stopping = False

    async def start(self) -> None:
        self._channel = await self.connection.channel()
        await self._channel.set_qos(prefetch_count=self.settings.concurrency)
        await self.topology.declare_exchanges(self._channel)
        await self.consume(self.receivers())

    def receivers(self) -> list[str]:
        return [p.id for p in self.partners().values() if p.spec.receives and p.spec.delivery is not None]

    async def consume(self, receivers: list[str]) -> None:
        """Declare and consume the queues of receivers not consumed yet (new partners join without restart)."""
        assert self._channel is not None
        new = [r for r in receivers if r not in self._consuming]
        await self.topology.declare_receivers(self._channel, new)
        for receiver in new:
            queue = await self._channel.get_queue(self.topology.deliver_queue(receiver))
            tag = await queue.consume(self._handler(receiver))
            self._consumers.append((queue, tag))
            self._consuming.add(receiver)
            log.info("delivering to %s from queue %s", receiver, queue.name)

    async def close(self) -> None:
        """Graceful stop: take no more messages, let those in hand finish (bounded by one delivery timeout and
        a margin), then close the channel; the broker hands back whatever is still unacknowledged."""
        self._stopping = True
        if self._channel is None or self._channel.is_closed:
            return
        for queue, tag in self._consumers:
            try:
                await queue.cancel(tag, timeout=5)
            except (aiormq.exceptions.AMQPError, ConnectionError, RuntimeError, TimeoutError) as exc:
                log.warning("could not cancel the consumer of %s: %r", queue.name, exc)
        if pending := {task for task in self._in_hand if not task.done()}:
            grace = self.settings.timeout + REQUEUE_PAUSE + 5.0
            log.info("stopping: waiting up to %gs for %d deliveries in hand", grace, len(pending))
            _, unfinished = await asyncio.wait(pending, timeout=grace)
            if unfinished:
                log.warning("stopping: %d deliveries unfinished; the broker redelivers them", len(unfinished))
        await self._channel.close()

    def _handler(self, receiver: str) -> Callable[[AbstractIncomingMessage], Awaitable[None]]:
        async def on_message(message: AbstractIncomingMessage) -> None:
            if self._stopping:  # arrived between our cancel and the broker's cancel-ok: hand it back
                await message.nack(requeue=True)
                return
            delivery = Delivery.of(message, receiver)
            started = time.perf_counter()

            def outcome(name: str) -> None:
                self.observe(receiver, name, time.perf_counter() - started)

            work = asyncio.ensure_future(
                self.settlement.process(message, delivery, lambda: self._deliver(delivery), outcome)
            )
            self._in_hand.add(work)
            work.add_done_callback(self._in_hand.discard)
            # A dropped channel cancels its consumer tasks. The delivery itself goes on and records its
            # outcome, so the redelivery that follows finds it delivered instead of posting it again.
            await asyncio.shield(work)

        return on_message

    async def _deliver(self, delivery: Delivery) -> str:
        """One copy of a message at a time: a second copy (a redelivery, an unconfirmed publish sent again)
        waits for the first, then finds it delivered."""
        key = (delivery.message_id, delivery.receiver)
        while (pending := self._delivering.get(key)) is not None:
            await asyncio.wait([pending])
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._delivering[key] = done
        try:
            return await self._deliver_once(delivery)
        finally:
            del self._delivering[key]
            done.set_result(None)

    async def _deliver_once(self, delivery: Delivery) -> str:
        if await self.store.delivered_to(delivery.message_id, delivery.receiver):
            return "already delivered; not sent again"
        await self._after_original(delivery)
        partner = self.partners().get(delivery.receiver)
        if partner is None:
            raise PermanentDeliveryError(f"receiver {delivery.receiver} is no longer configured for delivery")
        transport = self.transports.for_partner(partner)
        await self.store.record_delivery(
            delivery.message_id, delivery.receiver, Status.DELIVERING, attempt=delivery.attempt
        )
        body = self.render(delivery.message.body, partner)
        return await transport.send(Outbound(partner=partner, body=body, message=delivery.message))

    async def _after_original(self, delivery: Delivery) -> None:
        """A follow-up (header ``gw-follows``, docs/DESIGN.md 8) goes out after its original has been delivered to
        this receiver. The queue is FIFO and the original was published first, but up to ``concurrency``
        deliveries run at once and a failed one goes to a retry queue: so wait for an original in hand, and
        send the follow-up to the retry queue while its original is retrying. An original that failed for good
        (dead-lettered) does not hold its follow-ups back."""
        original = delivery.message.follows
        if original is None:
            return
        status: Status | None = None
        for _ in range(ORDER_POLLS):
            if (pending := self._delivering.get((original, delivery.receiver))) is not None:
                await asyncio.wait([pending])
                continue
            records = await self.store.deliveries(original)
            status = next((r.status for r in records if r.receiver == delivery.receiver), None)
            if status in (None, Status.DELIVERED, Status.FAILED):
                return
            if status == Status.RETRYING:
                break
            await asyncio.sleep(ORDER_POLL)
        raise TransientDeliveryError(
            f"follows {original}, which is not delivered to {delivery.receiver} yet ({status}): delivered after it"
        )

    def render(self, canonical: bytes, partner: Partner) -> bytes:
        """Canonical bytes -> the receiver's signed document. Failures here cannot be retried away."""
        format_name = partner.format
        try:
            envelope = parse_xml(canonical)
            format_name = partner.format_for(read_header(envelope).message_type)  # receive_formats
            adapter = self.adapters[format_name]
            set_header(envelope, "Receiver", partner.id)
            document = adapter.from_canonical(envelope, partner.id)
            adapter.validate(document)
        except Rejection as error:
            raise PermanentDeliveryError(
                f"cannot render the message for {partner.id} ({format_name}): {error.code}: {error.message}"
            ) from error
        return to_bytes(self.keyring.for_partner(partner).sign(document))
