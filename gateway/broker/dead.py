"""The dead-letter queues hold what awaits an operator's decision, and nothing else.

An operator retry takes the message's copies out of ``<prefix>.dead.<receiver>`` (so that the queue, the
Dead-lettered page and the ``gateway_queue_depth{queue="dead"}`` gauge agree); copies of messages that were
delivered meanwhile go too. A queue cannot be searched, so the queue is read once through: each copy is
either taken out (acked) or put back at its tail (a confirmed publish of the same message, then acked), and
the pass stops after as many copies as the queue held when it began. Putting back by publishing, not by
``nack(requeue)``, leaves the quorum queue's delivery count alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aio_pika
from aio_pika.abc import AbstractConnection

from gateway.broker.connection import BROKER_ERRORS
from gateway.broker.routed import RoutedMessage
from gateway.errors import Unavailable

log = logging.getLogger(__name__)
# A closed channel raises ChannelInvalidStateError, a RuntimeError.

# One pass at a time per connection: two passes over one queue would each miss what the other holds.
_passes: weakref.WeakKeyDictionary[AbstractConnection, asyncio.Lock] = weakref.WeakKeyDictionary()


@dataclass(frozen=True)
class DeadCopy:
    """A copy read from a dead-letter queue, kept to be put back if the retry cannot be queued."""

    body: bytes
    headers: dict[str, Any]
    message_id: str


def message_id_of(message: aio_pika.abc.AbstractIncomingMessage) -> str:
    return RoutedMessage.read(message.headers, b"", message_id=message.message_id).message_id


async def take_out(
    connection: AbstractConnection,
    queue_name: str,
    settled: Callable[[str], Awaitable[bool]],
    *,
    limit: float = 5.0,
) -> list[DeadCopy]:
    """Take out of ``queue_name`` every copy whose gateway message id ``settled`` says needs no decision any
    more; the others stay, in their order. Returns what was taken out.

    Broker trouble (or no answer within ``limit`` seconds, plus a little per copy) raises Unavailable; a copy
    read but not settled then goes back to the queue when the broker closes the channel."""
    lock = _passes.setdefault(connection, asyncio.Lock())
    taken: list[DeadCopy] = []
    channel = None
    try:
        async with lock:
            async with asyncio.timeout(limit):
                channel = await connection.channel(publisher_confirms=True)
                queue = await channel.declare_queue(queue_name, passive=True)
                count = queue.declaration_result.message_count or 0
            async with asyncio.timeout(limit + 0.05 * count):
                for _ in range(count):
                    message = await queue.get(no_ack=False, fail=False)
                    if message is None:
                        break
                    message_id = message_id_of(message)
                    headers = dict(message.headers or {})
                    if await settled(message_id):
                        taken.append(DeadCopy(message.body, headers, message_id))
                    else:
                        await _publish(channel, queue_name, message.body, headers, message_id)
                    await message.ack()
                await channel.close()
    except BROKER_ERRORS as exc:
        raise Unavailable(f"the dead-letter queue {queue_name} could not be read: {exc!r}") from exc
    finally:
        if channel is not None and not channel.is_closed:
            with contextlib.suppress(*BROKER_ERRORS):
                await channel.close()
    if taken:
        log.info("took %d settled message(s) out of %s", len(taken), queue_name)
    return taken


async def put_back(connection: AbstractConnection, queue_name: str, copies: list[DeadCopy]) -> None:
    """Return copies taken out by a retry that could not be queued (best effort: logged when it fails)."""
    if not copies:
        return
    try:
        channel = await connection.channel(publisher_confirms=True)
        try:
            for copy in copies:
                await _publish(channel, queue_name, copy.body, copy.headers, copy.message_id)
        finally:
            await channel.close()
    except BROKER_ERRORS as exc:
        ids = ", ".join(c.message_id for c in copies)
        log.error("could not put %s back into %s: %r; the store still shows them failed", ids, queue_name, exc)


async def _publish(
    channel: aio_pika.abc.AbstractChannel, queue_name: str, body: bytes, headers: dict[str, Any], message_id: str
) -> None:
    await channel.default_exchange.publish(
        aio_pika.Message(
            body,
            headers=headers,
            message_id=message_id,
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        ),
        routing_key=queue_name,  # the default exchange routes by queue name: straight back to this queue
        mandatory=True,
    )
