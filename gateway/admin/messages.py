"""Operator retry: a failed message published again to the receivers it failed for."""

from __future__ import annotations

from dataclasses import dataclass

from aio_pika.abc import AbstractConnection

from gateway.broker.dead import DeadCopy, put_back, take_out
from gateway.broker.routed import Publishing, RoutedMessage, publish_routed
from gateway.broker.topology import Topology
from gateway.errors import Unavailable
from gateway.store.base import Status, Store


@dataclass(frozen=True)
class Broker:
    """What an operator retry uses of the broker: the connection (dead-letter queues), the publisher."""

    connection: AbstractConnection
    publisher: Publishing
    topology: Topology
    timeout: float  # seconds for taking copies out of a dead-letter queue


@dataclass(frozen=True)
class RetryResult:
    ok: bool
    code: str
    message: str
    receivers: tuple[str, ...] = ()


async def retry_message(
    store: Store,
    broker: Broker,
    message_id: str,
    *,
    actor: str,
    reason: str,
) -> RetryResult:
    """Publish a failed message again to the receivers it failed for (attempt count starts over)."""
    record = await store.get(message_id)
    if record is None:
        return RetryResult(False, "unknown-message", f"no message {message_id!r}")
    attempts = {d.receiver: d.attempts for d in await store.deliveries(message_id) if d.status == Status.FAILED}
    failed = tuple(attempts)
    if not failed:
        return RetryResult(
            False,
            "not-failed",
            f"message {message_id} is {record.status.value}; only failed deliveries are retried",
        )
    body = await store.canonical(message_id)
    if body is None:
        return RetryResult(False, "unavailable", "the message content is not available")
    routed = RoutedMessage(
        message_id=message_id,
        sender=record.sender,
        sender_message_id=record.sender_message_id or "",
        message_type=record.message_type or "",
        body=body,
    )
    queued: list[str] = []
    try:
        for receiver in failed:
            await store.record_delivery(message_id, receiver, Status.ACCEPTED, attempt=0, reason=reason, actor=actor)
            taken: list[DeadCopy] = []
            try:
                # Out of the dead-letter queue before it is queued again: a new failure puts it back there.
                taken = await _take_out_dead(store, broker, message_id, receiver)
                await publish_routed(broker.publisher, broker.topology, routed, (receiver,))
            except Unavailable as exc:
                # Recorded as accepted but never queued: mark it failed again, or it could never be retried.
                await put_back(broker.connection, broker.topology.dead_queue(receiver), taken)
                await store.record_delivery(
                    message_id,
                    receiver,
                    Status.FAILED,
                    attempt=attempts[receiver],
                    reason=f"operator retry not queued: {exc.message}",
                    actor=actor,
                )
                raise
            queued.append(receiver)
    except Unavailable as exc:
        return RetryResult(False, "unavailable", exc.message, tuple(queued))
    return RetryResult(True, "retried", f"requeued for {', '.join(failed)}", failed)


async def _take_out_dead(store: Store, broker: Broker, message_id: str, receiver: str) -> list[DeadCopy]:
    """The message's copies leave the receiver's dead-letter queue, with any of a message delivered since."""

    async def settled(copy_id: str) -> bool:  # the message id a dead-lettered copy carries
        return copy_id == message_id or await store.delivered_to(copy_id, receiver)

    return await take_out(broker.connection, broker.topology.dead_queue(receiver), settled, limit=broker.timeout)
