"""The robust connection: reconnects after broker restarts and restores channels, queues and consumers.

With several URLs (``[amqp] urls``: the nodes of a RabbitMQ cluster) each reconnection attempt goes to the next
node, so the gateway fails over to a node that is up; the start tries each in turn.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from functools import partial
from typing import Any

import aio_pika
from aio_pika import RobustConnection
from aio_pika.abc import AbstractRobustConnection
from yarl import URL

from gateway.errors import Unavailable

# What aio-pika and aiormq raise when the broker, the connection or a channel fails: aio-pika's own tuple
# (AMQPError, ConnectionError, OSError - TimeoutError among them -, RuntimeError for a closed channel, ...).
# The one list every broker boundary of the gateway catches (tests/test_errors.py checks it covers
# every exception class the two libraries define).
BROKER_ERRORS: tuple[type[BaseException], ...] = aio_pika.exceptions.CONNECTION_EXCEPTIONS

log = logging.getLogger(__name__)


def _with_heartbeat(url: str, heartbeat: int) -> str:
    parsed = URL(url)
    if "heartbeat" in parsed.query:
        return url
    return str(parsed.update_query(heartbeat=heartbeat))


class FailoverConnection(RobustConnection):
    """A robust connection over several nodes: aio-pika clears ``transport`` before every connection attempt;
    from the second attempt on, that moves ``url`` to the next node."""

    def __init__(self, urls: Sequence[URL], url: URL, **kwargs: Any) -> None:
        self._urls = [URL(url), *urls[1:]]  # the first as aio-pika made it
        self._index = 0
        self._attempts = 0
        super().__init__(self._urls[0], **kwargs)

    @property
    def url(self) -> URL:
        return self._urls[self._index]

    @url.setter
    def url(self, value: URL) -> None:
        self._urls[self._index] = value

    @property
    def transport(self) -> Any:
        return self._transport

    @transport.setter
    def transport(self, value: Any) -> None:
        if value is None and getattr(self, "_transport", ...) is None:  # a new attempt (not the connection's loss)
            if self._attempts:
                self._index = (self._index + 1) % len(self._urls)
                log.info("connecting to the next RabbitMQ node: %s", _safe(self.url))
            self._attempts += 1
        self._transport = value


def _safe(url: URL) -> URL:
    return url.with_password("***") if url.password else url


async def connect(
    url: str | Sequence[str],
    heartbeat: int,
    *,
    timeout: float = 10.0,  # noqa: ASYNC109 - aio_pika's connection timeout, handed on
) -> AbstractRobustConnection:
    urls = [URL(_with_heartbeat(u, heartbeat)) for u in ([url] if isinstance(url, str) else url)]
    failures = []
    for start in range(len(urls)):
        order = urls[start:] + urls[:start]
        try:
            connection: AbstractRobustConnection = await aio_pika.connect_robust(
                order[0],
                timeout=timeout,
                client_properties={"connection_name": "customs-gateway"},
                connection_class=partial(FailoverConnection, order),
            )
        except BROKER_ERRORS as exc:
            failures.append(f"{_safe(order[0])}: {exc}")
            continue
        return connection
    raise Unavailable(f"cannot connect to RabbitMQ at {'; '.join(failures)}")
