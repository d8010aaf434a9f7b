"""Delivery workers: one consumer per receiver queue. Map canonical -> receiver format, validate, sign, POST.

A suspended receiver's queue is declared but not consumed: what is routed to it is held there, and its
consumer starts again when it is resumed (``consume`` is called after every reload).

The fast lane (issue 17): each receiver has a second queue, ``<prefix>.urgent.<id>``, for the urgent types,
with a consumer (and prefetch) of its own, so an urgent message never waits behind a bulk backlog in a queue.
In the worker, a bulk delivery does not start while urgent work is in hand in this process (urgent deliveries, or
urgent messages in the ingress pipeline: ``gateway.broker.lane``), for a bounded time; bulk deliveries already
started carry on.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aio_pika.abc import AbstractChannel, AbstractIncomingMessage, AbstractQueue, AbstractRobustConnection

from gateway.broker.connection import BROKER_ERRORS
from gateway.broker.lane import FastLane
from gateway.broker.publisher import Publisher
from gateway.broker.routed import RoutedMessage
from gateway.broker.settle import REQUEUE_PAUSE, Delivery, Settlement
from gateway.broker.topology import Topology
from gateway.config import DeliverySection
from gateway.delivery.transport import Outbound, Transport, Transports
from gateway.errors import PermanentDeliveryError, Rejection, TransientDeliveryError, Unavailable
from gateway.formats.base import FormatAdapter, sign_for
from gateway.formats.canonical import CanonicalAdapter, read_header, set_header
from gateway.images.manifest import ImageRef, images_of
from gateway.images.store import ImageStore
from gateway.logs import bind, unbind
from gateway.partners.model import Partner
from gateway.security.keyring import Keyring
from gateway.security.xml import parse_xml, to_bytes
from gateway.store.base import Status, Store

log = logging.getLogger(__name__)

# A follow-up whose original is queued or being delivered (by this process or another) waits this long for it,
# looking every ORDER_POLL seconds, before it goes to the retry queue.
ORDER_POLL, ORDER_POLLS = 0.05, 100
ALREADY_DELIVERED = "already delivered; not sent again"


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
        images: ImageStore | None = None,  # the images of inspection results (streamed after the document)
        lane: FastLane | None = None,
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
        self.images = images
        self._channel: AbstractChannel | None = None
        self._declared: set[str] = set()
        self._consumers: dict[str, list[tuple[AbstractQueue, str]]] = {}  # receiver -> [(queue, consumer tag)]
        self.lane = lane or FastLane()  # urgent work in hand in this process (ingress too): bulk gives way
        self._in_hand: dict[asyncio.Future[Any], str] = {}  # deliveries being worked on now -> their receiver
        self._delivering: dict[tuple[str, str], asyncio.Future[Any]] = {}  # (gateway id, receiver) in hand
        self._stopping = False

    async def start(self) -> None:
        self._channel = await self.connection.channel()
        await self._channel.set_qos(prefetch_count=self.settings.concurrency)
        await self.topology.declare_exchanges(self._channel)
        await self.consume(self.receivers())

    def receivers(self) -> list[str]:
        """Receivers with a delivery endpoint, suspended ones included (their queues exist and hold)."""
        return [p.id for p in self.partners().values() if p.spec.receives and p.spec.delivery is not None]

    def _suspended(self, receiver: str) -> bool:
        partner = self.partners().get(receiver)
        return partner is not None and partner.spec.suspended

    async def consume(self, receivers: list[str]) -> None:
        """Declare the queues of new receivers; consume those not suspended, stop consuming suspended ones.

        Called at start and after every reload: new partners join, suspended ones are held and resumed ones are
        delivered to again, all without a restart."""
        assert self._channel is not None
        new = [r for r in receivers if r not in self._declared]
        await self.topology.declare_receivers(self._channel, new)
        self._declared.update(new)
        for receiver in receivers:
            if self._suspended(receiver):
                await self._hold(receiver)
            elif receiver not in self._consumers:
                consumers = self._consumers[receiver] = []
                for name, urgent in (
                    (self.topology.urgent_queue(receiver), True),
                    (self.topology.deliver_queue(receiver), False),
                ):
                    queue = await self._channel.get_queue(name)
                    tag = await queue.consume(self._handler(receiver, urgent=urgent))
                    consumers.append((queue, tag))
                    log.info("delivering to %s from queue %s", receiver, queue.name)

    async def _hold(self, receiver: str) -> None:
        """Stop consuming a suspended receiver's queue and let its deliveries in hand finish: when this returns,
        nothing more is sent to it until it is resumed."""
        entries = self._consumers.pop(receiver, [])  # popped first: a second caller finds nothing to cancel
        for queue, tag in entries:
            try:
                await queue.cancel(tag, timeout=5)
            except BROKER_ERRORS as exc:
                log.warning("could not stop consuming %s: %r", queue.name, exc)
            log.info("receiver %s is suspended: its messages are held in %s until it is resumed", receiver, queue.name)
        if pending := [task for task, to in self._in_hand.items() if to == receiver and not task.done()]:
            await asyncio.wait(pending, timeout=self.settings.timeout + REQUEUE_PAUSE + 5.0)

    async def close(self) -> None:
        """Graceful stop: take no more messages, let those in hand finish (bounded by one delivery timeout and
        a margin), then close the channel; the broker hands back whatever is still unacknowledged."""
        self._stopping = True
        if self._channel is None or self._channel.is_closed:
            return
        for queue, tag in (entry for entries in self._consumers.values() for entry in entries):
            try:
                await queue.cancel(tag, timeout=5)
            except BROKER_ERRORS as exc:
                log.warning("could not cancel the consumer of %s: %r", queue.name, exc)
        if pending := {task for task in self._in_hand if not task.done()}:
            grace = self.settings.timeout + REQUEUE_PAUSE + 5.0
            log.info("stopping: waiting up to %gs for %d deliveries in hand", grace, len(pending))
            _, unfinished = await asyncio.wait(pending, timeout=grace)
            if unfinished:
                log.warning("stopping: %d deliveries unfinished; the broker redelivers them", len(unfinished))
        await self._channel.close()

    def _handler(self, receiver: str, *, urgent: bool = False) -> Callable[[AbstractIncomingMessage], Awaitable[None]]:
        async def on_message(message: AbstractIncomingMessage) -> None:
            if not urgent:
                await self.lane.give_way()  # urgent work in hand goes first (a bounded wait: never starved)
            if self._stopping:  # arrived between our cancel and the broker's cancel-ok: hand it back
                await message.nack(requeue=True)
                return
            if self._suspended(receiver):
                # Prefetched before the suspension showed: stop the consumer first, then hand the message back,
                # so that the broker keeps it in the queue instead of giving it to us again.
                await self._hold(receiver)
                await message.nack(requeue=True)
                return
            delivery = Delivery.of(message, receiver)
            # The delivery's facts go with every record it logs (gateway.logs; the task copies the context).
            facts = bind(
                message_id=delivery.message_id,
                partner=receiver,
                receiver=receiver,
                sender=delivery.message.sender,
                type=delivery.message.message_type,
            )
            # A task of its own, not awaited here: a dropped channel cancels its consumer tasks (this one), and the
            # delivery must go on and record its outcome, so that the redelivery that follows finds it delivered
            # instead of posting it again. (Awaiting it through asyncio.shield cost a future and a wake-up more
            # per message, issue 15.) close() and _hold() wait for the tasks in hand.
            work = asyncio.ensure_future(self._settle(message, delivery, urgent=urgent))
            unbind(facts)
            self._in_hand[work] = receiver
            work.add_done_callback(lambda done: self._in_hand.pop(done, None))

        return on_message

    async def _settle(self, message: AbstractIncomingMessage, delivery: Delivery, *, urgent: bool) -> None:
        receiver = delivery.receiver
        started = time.perf_counter()

        def outcome(name: str) -> None:
            seconds = time.perf_counter() - started
            self.observe(receiver, name, seconds)
            if name == "delivered":
                log.info("delivered %s to %s in %.3fs", delivery.message_id, receiver, seconds, extra={"status": name})

        if urgent:
            with self.lane.urgent():
                await self.settlement.process(message, delivery, lambda: self._deliver(delivery), outcome)
        else:
            await self.settlement.process(message, delivery, lambda: self._deliver(delivery), outcome)

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
        partner = self.partners().get(delivery.receiver)
        transport = self._transport(partner) if delivery.message.follows is None else None
        if partner is not None and transport is not None:
            # The common case (issue 15): the delivered check and the "delivering" record are one store write.
            if not await self.store.start_delivery(delivery.message_id, delivery.receiver, attempt=delivery.attempt):
                return ALREADY_DELIVERED
        else:  # a follow-up waits for its original; a receiver gone, suspended or without transport is answered
            if await self.store.delivered_to(delivery.message_id, delivery.receiver):
                return ALREADY_DELIVERED
            await self._after_original(delivery)
            partner = self.partners().get(delivery.receiver)
            if partner is None:
                raise PermanentDeliveryError(f"receiver {delivery.receiver} is no longer configured for delivery")
            if partner.spec.suspended:  # suspended while this copy waited for another: back into the held queue
                raise Unavailable(f"receiver {delivery.receiver} is suspended; the message is held until it is resumed")
            transport = self.transports.for_partner(partner)
            await self.store.record_delivery(
                delivery.message_id, delivery.receiver, Status.DELIVERING, attempt=delivery.attempt
            )
        if delivery.message.message_type not in self.topology.urgent_types:
            await self.lane.give_way()  # rendering and signing are CPU work: urgent work in hand goes first
        body = self.render(delivery.message.body, partner, delivery.message)
        images = self.images_of(delivery.message.body) if delivery.message.message_type == "inspection-result" else ()
        return await transport.send(
            Outbound(partner=partner, body=body, message=delivery.message, images=images, image_store=self.images)
        )

    def _transport(self, partner: Partner | None) -> Transport | None:
        """The receiver's transport when it can be sent to now (configured, not suspended), else None."""
        if partner is None or partner.spec.suspended:
            return None
        try:
            return self.transports.for_partner(partner)
        except PermanentDeliveryError:
            return None

    def images_of(self, canonical: bytes) -> tuple[ImageRef, ...]:
        """The images the message names: they go with it, from the image store (docs/DESIGN.md 8)."""
        try:
            images = images_of(parse_xml(canonical))
        except Rejection as error:
            raise PermanentDeliveryError(f"cannot read the message's images: {error.message}") from error
        if images and self.images is None:
            raise Unavailable("this gateway has no image store open: the images cannot be delivered")
        return images

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

    def render(self, canonical: bytes, partner: Partner, routed: RoutedMessage | None = None) -> bytes:
        """Canonical bytes -> the receiver's signed document. Failures here cannot be retried away.

        What the routed message carries is not worked out again (issue 15): its type (``gw-message-type``) picks
        the receiver's format, and an envelope ingress validated (``gw-checked``) goes to a canonical receiver
        as it is, with the receiver's id as Receiver, without a copy or a second schema check."""
        format_name = partner.format
        try:
            envelope = parse_xml(canonical)
            message_type = (routed.message_type if routed else "") or read_header(envelope).message_type
            format_name = partner.format_for(message_type)  # receive_formats
            adapter = self.adapters[format_name]
            set_header(envelope, "Receiver", partner.id)
            if routed is not None and routed.checked and isinstance(adapter, CanonicalAdapter):
                document = envelope  # parsed here, so ours to sign
            else:
                document = adapter.from_canonical(envelope, partner.id)
                adapter.validate(document)
        except Rejection as error:
            raise PermanentDeliveryError(
                f"cannot render the message for {partner.id} ({format_name}): {error.code}: {error.message}"
            ) from error
        return to_bytes(sign_for(adapter, self.keyring.for_partner(partner), document, partner.id))
