"""Queue depths for the metrics scrape: a passive declare per queue, on a short-lived channel."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import aiormq
from aio_pika.abc import AbstractConnection

from gateway.broker.connection import BROKER_ERRORS


async def queue_depths(connection: AbstractConnection, names: Sequence[str], limit: float = 2.0) -> dict[str, int]:
    """Ready messages per queue; a missing queue is left out. Never raises for broker trouble: a scrape must
    answer even when the broker does not (the gauges then keep their last value)."""
    depths: dict[str, int] = {}
    channel = None
    try:
        async with asyncio.timeout(limit):
            channel = await connection.channel(publisher_confirms=False)
            for name in names:
                try:
                    queue = await channel.declare_queue(name, passive=True)
                except aiormq.exceptions.ChannelNotFoundEntity:
                    channel = await connection.channel(publisher_confirms=False)  # a 404 closes the channel
                    continue
                count = queue.declaration_result.message_count
                if count is not None:
                    depths[name] = count
    except BROKER_ERRORS:
        pass
    finally:
        if channel is not None and not channel.is_closed:
            await channel.close()
    return depths
