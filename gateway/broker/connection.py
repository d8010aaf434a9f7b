"""The robust connection: reconnects after broker restarts and restores channels, queues and consumers."""

from __future__ import annotations

import aio_pika
import aiormq
from aio_pika.abc import AbstractRobustConnection
from yarl import URL

from gateway.errors import Unavailable


def _with_heartbeat(url: str, heartbeat: int) -> str:
    parsed = URL(url)
    if "heartbeat" in parsed.query:
        return url
    return str(parsed.update_query(heartbeat=heartbeat))


async def connect(
    url: str,
    heartbeat: int,
    *,
    timeout: float = 10.0,  # noqa: ASYNC109 - aio_pika's connection timeout, handed on
) -> AbstractRobustConnection:
    try:
        connection: AbstractRobustConnection = await aio_pika.connect_robust(
            _with_heartbeat(url, heartbeat), timeout=timeout, client_properties={"connection_name": "customs-gateway"}
        )
    except (TimeoutError, aiormq.exceptions.AMQPError, ConnectionError, OSError) as exc:
        safe = URL(url).with_password("***") if URL(url).password else URL(url)
        raise Unavailable(f"cannot connect to RabbitMQ at {safe}: {exc}") from exc
    return connection
