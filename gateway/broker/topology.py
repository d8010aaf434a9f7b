"""Exchanges and queues (DESIGN.md 4). Names carry a prefix so tests can run side by side on one broker.

<p>.route            topic exchange; routing key <receiver-id>.<message-type>
<p>.deliver.<id>     quorum queue per receiver, bound <id>.*, dead-letters to <p>.dead (at-least-once)
<p>.urgent.<id>      the fast lane (issue 17): the same per receiver for the urgent types ([fairness]
                     urgent_types), bound _urgent.<id>.*; their routing key is _urgent.<id>.<type>, three words,
                     which <id>.* never matches (and "_" is not in a participant id)
<p>.retry.<n>        fanout exchange + quorum queue per backoff step: TTL, then dead-lettered back to <p>.route
<p>.dead             topic exchange; <p>.dead.<id> keeps what exhausted its attempts
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractExchange

URGENT = "_urgent"  # first word of the urgent types' routing keys


@dataclass(frozen=True)
class Topology:
    prefix: str
    delivery_limit: int
    retry_delays: tuple[float, ...]
    urgent_types: frozenset[str] = frozenset()  # routed to <p>.urgent.<id> (the fast lane)

    @property
    def route_exchange(self) -> str:
        return f"{self.prefix}.route"

    @property
    def dead_exchange(self) -> str:
        return f"{self.prefix}.dead"

    def deliver_queue(self, receiver: str) -> str:
        return f"{self.prefix}.deliver.{receiver}"

    def urgent_queue(self, receiver: str) -> str:
        return f"{self.prefix}.urgent.{receiver}"

    def dead_queue(self, receiver: str) -> str:
        return f"{self.prefix}.dead.{receiver}"

    def retry_name(self, step: int) -> str:
        return f"{self.prefix}.retry.{step}"

    def retry_step(self, attempt: int) -> tuple[int, float]:
        """Backoff step for a failed attempt (1-based): the last delay repeats."""
        step = min(attempt, len(self.retry_delays)) - 1
        return step, self.retry_delays[step]

    def routing_key(self, receiver: str, message_type: str) -> str:
        """Every publish of a routed message (ingress, retries, dead letters, operator retries) uses this key,
        so a retried or dead-lettered urgent message stays in its lane. The key of a bulk type is v1's."""
        if message_type in self.urgent_types:
            return f"{URGENT}.{receiver}.{message_type}"
        return f"{receiver}.{message_type}"

    def _quorum(self, **extra: Any) -> dict[str, Any]:
        return {
            "x-queue-type": "quorum",
            "x-dead-letter-strategy": "at-least-once",
            "x-overflow": "reject-publish",
            **extra,
        }

    async def declare_exchanges(self, channel: AbstractChannel) -> AbstractExchange:
        route = await channel.declare_exchange(self.route_exchange, aio_pika.ExchangeType.TOPIC, durable=True)
        await channel.declare_exchange(self.dead_exchange, aio_pika.ExchangeType.TOPIC, durable=True)
        for step, delay in enumerate(self.retry_delays):
            name = self.retry_name(step)
            exchange = await channel.declare_exchange(name, aio_pika.ExchangeType.FANOUT, durable=True)
            queue = await channel.declare_queue(
                name,
                durable=True,
                arguments=self._quorum(
                    **{"x-message-ttl": int(delay * 1000), "x-dead-letter-exchange": self.route_exchange}
                ),
            )
            await queue.bind(exchange)
        return route

    async def declare_receivers(self, channel: AbstractChannel, receivers: Iterable[str]) -> None:
        for receiver in receivers:
            queue = await channel.declare_queue(
                self.deliver_queue(receiver),
                durable=True,
                arguments=self._quorum(
                    **{"x-delivery-limit": self.delivery_limit, "x-dead-letter-exchange": self.dead_exchange}
                ),
            )
            await queue.bind(self.route_exchange, routing_key=f"{receiver}.*")
            # Declared even with no urgent types: a gateway upgraded in place, or one of several on a cluster
            # running another version, may still have urgent messages queued there.
            urgent = await channel.declare_queue(
                self.urgent_queue(receiver),
                durable=True,
                arguments=self._quorum(
                    **{"x-delivery-limit": self.delivery_limit, "x-dead-letter-exchange": self.dead_exchange}
                ),
            )
            await urgent.bind(self.route_exchange, routing_key=f"{URGENT}.{receiver}.*")
            dead = await channel.declare_queue(
                self.dead_queue(receiver), durable=True, arguments={"x-queue-type": "quorum"}
            )
            await dead.bind(self.dead_exchange, routing_key=f"{receiver}.#")
            await dead.bind(self.dead_exchange, routing_key=f"{URGENT}.{receiver}.#")

    async def delete(self, channel: AbstractChannel, receivers: Sequence[str]) -> None:
        """Remove everything (tests). Quorum queues refuse ``if_unused``: pass False explicitly."""
        names = [self.deliver_queue(r) for r in receivers] + [self.dead_queue(r) for r in receivers]
        names += [self.urgent_queue(r) for r in receivers]
        names += [self.retry_name(s) for s in range(len(self.retry_delays))]
        for name in names:
            await channel.queue_delete(name, if_unused=False, if_empty=False)
        for name in [self.route_exchange, self.dead_exchange] + [
            self.retry_name(s) for s in range(len(self.retry_delays))
        ]:
            await channel.exchange_delete(name)
