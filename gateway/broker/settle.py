"""Settlement of a consumed message, in one place: every delivery ends in ack, retry, dead-letter or requeue.

The outcome is recorded in the store *before* the broker is told, so a crash between the two can only cause a
redelivery (which the delivered check turns into a no-op), never a lost status.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aio_pika.abc import AbstractIncomingMessage

from gateway.broker.connection import BROKER_ERRORS
from gateway.broker.routed import Publishing, RoutedMessage, publish_routed
from gateway.broker.topology import Topology
from gateway.errors import BrokerAction, GatewayError, Unavailable
from gateway.store.base import Status, Store

log = logging.getLogger(__name__)

REQUEUE_PAUSE = 1.0  # seconds before handing back a message we could not settle (store or broker trouble)
# Seconds for an ack, nack or reject to be written. On a connection that dropped meanwhile aiormq may wait for
# the write forever; the broker has taken the message back anyway.
SETTLE_TIMEOUT = 5.0


@dataclass(frozen=True)
class Delivery:
    """One consumed message for one receiver (the consumer's queue names the receiver)."""

    message: RoutedMessage
    receiver: str

    @classmethod
    def of(cls, incoming: AbstractIncomingMessage, receiver: str) -> Delivery:
        return cls(RoutedMessage.read(incoming.headers, incoming.body, message_id=incoming.message_id), receiver)

    @property
    def message_id(self) -> str:
        return self.message.message_id

    @property
    def attempt(self) -> int:
        return self.message.attempt


class Settlement:
    def __init__(self, store: Store, publisher: Publishing, topology: Topology, max_attempts: int) -> None:
        self.store = store
        self.publisher = publisher
        self.topology = topology
        self.max_attempts = max_attempts

    async def process(
        self,
        message: AbstractIncomingMessage,
        delivery: Delivery,
        work: Callable[[], Awaitable[str]],
        on_outcome: Callable[[str], None] = lambda _: None,
    ) -> None:
        """Run ``work`` (returns a short success note) and settle the message by what happened: ack on
        success, else the error's own ``settlement`` (gateway.errors)."""
        try:
            outcome: str | GatewayError
            try:
                outcome = await work()
            except GatewayError as error:
                outcome = error
            match outcome:
                case str() as note:
                    await self.store.record_delivery(
                        delivery.message_id, delivery.receiver, Status.DELIVERED, attempt=delivery.attempt, reason=note
                    )
                    await self._tell(message.ack, delivery, "ack")
                    on_outcome("delivered")
                case GatewayError(settlement=BrokerAction.RETRY) if delivery.attempt < self.max_attempts:
                    await self._retry(message, delivery, outcome.message)
                    on_outcome("retrying")
                case GatewayError(settlement=BrokerAction.RETRY):
                    reason = f"{outcome.message} (after {delivery.attempt} attempts)"
                    await self._dead_letter(message, delivery, reason)
                    on_outcome("failed")
                case GatewayError(settlement=BrokerAction.DEAD_LETTER):
                    await self._dead_letter(message, delivery, outcome.message)
                    on_outcome("failed")
                case GatewayError(settlement=BrokerAction.REQUEUE):
                    # Our own trouble (e.g. mapping bug, store down at the start): hand it back, slowly.
                    raise _Requeue(str(outcome)) from outcome
        except (_Requeue, Unavailable) as error:
            log.warning("requeueing %s for %s: %s", delivery.message_id, delivery.receiver, error)
            await asyncio.sleep(REQUEUE_PAUSE)
            await self._tell(lambda: message.nack(requeue=True), delivery, "requeue")
            on_outcome("requeued")

    async def _retry(self, message: AbstractIncomingMessage, delivery: Delivery, reason: str) -> None:
        step, delay = self.topology.retry_step(delivery.attempt)
        next_at = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=delay)
        await self.store.record_delivery(
            delivery.message_id,
            delivery.receiver,
            Status.RETRYING,
            attempt=delivery.attempt,
            reason=reason,
            next_attempt=next_at,
        )
        await publish_routed(
            self.publisher,
            self.topology,
            delivery.message.next_attempt(),
            (delivery.receiver,),
            exchange=self.topology.retry_name(step),
        )
        await self._tell(message.ack, delivery, "ack")
        log.info(
            "delivery of %s to %s failed (attempt %d): %s; retry in %gs",
            delivery.message_id,
            delivery.receiver,
            delivery.attempt,
            reason,
            delay,
            extra={"status": "retrying"},
        )

    async def _dead_letter(self, message: AbstractIncomingMessage, delivery: Delivery, reason: str) -> None:
        await self.store.record_delivery(
            delivery.message_id, delivery.receiver, Status.FAILED, attempt=delivery.attempt, reason=reason
        )
        # Dead-lettered by a confirmed publish of our own, then acked: the queue's at-least-once dead-lettering
        # (kept for x-delivery-limit) runs in the broker's background and was seen to lag by tens of seconds.
        await publish_routed(
            self.publisher,
            self.topology,
            delivery.message.failed(reason),
            (delivery.receiver,),
            exchange=self.topology.dead_exchange,
        )
        await self._tell(message.ack, delivery, "ack")
        log.error(
            "delivery of %s to %s failed for good: %s",
            delivery.message_id,
            delivery.receiver,
            reason,
            extra={"status": "failed"},
        )

    @staticmethod
    async def _tell(action: Callable[[], Awaitable[object]], delivery: Delivery, what: str) -> None:
        """Settle with the broker. On a channel that dropped meanwhile, the broker has already taken the
        message back and delivers it again; the outcome is in the store: a delivered one is not sent twice."""
        try:
            async with asyncio.timeout(SETTLE_TIMEOUT):
                await action()
        # A closed channel raises ChannelInvalidStateError, a RuntimeError (in aio-pika's tuple).
        except BROKER_ERRORS as exc:
            log.warning(
                "could not %s %s for %s (%r); the broker delivers it again",
                what,
                delivery.message_id,
                delivery.receiver,
                exc,
            )


class _Requeue(Exception):
    pass
