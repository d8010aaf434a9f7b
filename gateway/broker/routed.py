"""The routed message: what travels on the broker from acceptance to delivery, and the one way to publish it.

Every message the gateway routes (accepted at ingress, released by the controls, originated by the gateway
itself, queued again by an operator) is a :class:`RoutedMessage`; it writes its own ``gw-*`` AMQP headers and
reads them back on the consuming side (settlement, delivery worker). :func:`publish_routed` publishes it to
its receivers, one confirmed publish each. Nothing here imports aio-pika: the publisher is passed in.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol

from gateway.broker.topology import Topology

HeaderValue = str | int

MESSAGE_ID = "gw-message-id"
SENDER = "gw-sender"
SENDER_MESSAGE_ID = "gw-sender-message-id"
MESSAGE_TYPE = "gw-message-type"
RECEIVER = "gw-receiver"
ATTEMPT = "gw-attempt"
FAILED_REASON = "gw-failed-reason"
FOLLOWS = "gw-follows"  # the gateway message id of the message this one follows (docs/DESIGN.md 8)
CHECKED = "gw-checked"  # 1: ingress validated the body against the canonical schema (issue 15)
FAILED_REASON_LIMIT = 1024  # characters of a dead-letter reason kept in its header


class Publishing(Protocol):
    """A confirmed publish (``gateway.broker.publisher.Publisher``): raises ``Unavailable``, or ``Unconfirmed``
    when the message was sent and may be queued."""

    async def publish(
        self,
        routing_key: str,
        body: bytes,
        *,
        message_id: str,
        headers: Mapping[str, HeaderValue],
        exchange: str | None = None,
    ) -> None: ...


@dataclass(frozen=True, kw_only=True)
class RoutedMessage:
    """One canonical message on its way to receivers; ``message_id`` is the gateway message id (a uuid)."""

    message_id: str
    sender: str  # the participant id of the sender (the gateway's own for messages it originates)
    sender_message_id: str
    message_type: str
    body: bytes  # the canonical envelope
    attempt: int = 1
    failed_reason: str | None = None  # set on a dead-lettered copy
    follows: str | None = None  # a follow-up: delivered after that message (gateway.delivery.worker)
    # The body is the canonical envelope ingress validated: delivery to a canonical receiver does not validate
    # it again (it only sets the Receiver to the partner's id). Set by ingress alone; anything else is checked.
    checked: bool = False

    def headers(self, receiver: str) -> dict[str, HeaderValue]:
        headers: dict[str, HeaderValue] = {
            MESSAGE_ID: self.message_id,
            SENDER: self.sender,
            SENDER_MESSAGE_ID: self.sender_message_id,
            MESSAGE_TYPE: self.message_type,
            RECEIVER: receiver,
            ATTEMPT: self.attempt,
        }
        if self.failed_reason is not None:
            headers[FAILED_REASON] = self.failed_reason[:FAILED_REASON_LIMIT]
        if self.follows is not None:
            headers[FOLLOWS] = self.follows
        if self.checked:
            headers[CHECKED] = 1
        return headers

    @classmethod
    def read(cls, headers: Mapping[str, object] | None, body: bytes, *, message_id: str | None) -> RoutedMessage:
        """The message a consumer got. Tolerant of what an older gateway (or an operator's shovel) left out:
        the AMQP message id stands in for ``gw-message-id``, a missing attempt counts as the first."""
        found = headers or {}
        attempt = found.get(ATTEMPT, 1)
        reason, follows = found.get(FAILED_REASON), found.get(FOLLOWS)
        return cls(
            message_id=_text(found.get(MESSAGE_ID)) or message_id or "",
            sender=_text(found.get(SENDER)),
            sender_message_id=_text(found.get(SENDER_MESSAGE_ID)),
            message_type=_text(found.get(MESSAGE_TYPE)),
            body=body,
            attempt=attempt if isinstance(attempt, int) else int(_text(attempt) or 1),
            failed_reason=None if reason is None else _text(reason),
            follows=_text(follows) or None,
            checked=found.get(CHECKED) == 1,
        )

    def next_attempt(self) -> RoutedMessage:
        return dataclasses.replace(self, attempt=self.attempt + 1)

    def failed(self, reason: str) -> RoutedMessage:
        return dataclasses.replace(self, failed_reason=reason)


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bytes):  # AMQP long strings arrive as bytes from some clients
        return value.decode("utf-8", "replace")
    return str(value)


async def publish_routed(
    publisher: Publishing,
    topology: Topology,
    message: RoutedMessage,
    receivers: Iterable[str],
    *,
    queued: list[str] | None = None,
    exchange: str | None = None,
) -> None:
    """Publish ``message`` to each receiver's queue (a confirmed publish each), in order.

    Raises ``Unavailable`` at the first receiver the broker did not take (``Unconfirmed``: it may hold it);
    ``queued`` (when given) then lists the receivers whose publish was confirmed before it. ``exchange``
    names a retry or dead-letter exchange instead of the routing one.
    """
    for receiver in receivers:
        await publisher.publish(
            topology.routing_key(receiver, message.message_type or "unknown"),
            message.body,
            message_id=message.message_id,
            headers=message.headers(receiver),
            exchange=exchange,
        )
        if queued is not None:
            queued.append(receiver)
