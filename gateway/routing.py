"""Routing: pure. A message and the partner registry in, the receivers out (or the reason there are none)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from gateway.config import RouteRule
from gateway.errors import NoRoute, NotPermitted
from gateway.partners.model import Partner


def route(
    *,
    sender: Partner,
    message_type: str,
    receiver: str | None,
    partners: Mapping[str, Partner],
    rules: Sequence[RouteRule],
    participant_id: str,  # this gateway's own participant id
) -> tuple[str, ...]:
    """Receivers of one message.

    An explicit Receiver other than the gateway itself is honoured if it exists and accepts the type. A message
    addressed to the gateway (or to nobody) goes where the first matching routing rule says.
    """
    if not sender.may_send(message_type):
        raise NotPermitted(
            f"partner {sender.id} may not send {message_type!r} messages; its partner file allows: "
            f"{', '.join(sender.spec.sends) or 'none'}",
            pointer="/Envelope/Header/MessageType",
        )
    if receiver and receiver != participant_id:
        target = partners.get(receiver)
        if target is None:
            raise NoRoute(f"receiver {receiver!r} is not a known partner", pointer="/Envelope/Header/Receiver")
        if receiver == sender.id:
            raise NoRoute("a message cannot be routed back to its sender", pointer="/Envelope/Header/Receiver")
        _check_accepts(target, message_type)
        return (receiver,)
    for rule in rules:
        if rule.matches(sender.id, message_type):
            receivers = tuple(r for r in rule.receivers if r != sender.id and r in partners)
            for name in receivers:
                _check_accepts(partners[name], message_type)
            if receivers:
                return receivers
    raise NoRoute(
        f"no routing rule sends {message_type!r} from {sender.id} anywhere; name a Receiver or add a rule "
        "under [routing] in gateway.toml",
        pointer="/Envelope/Header/Receiver",
    )


def _check_accepts(target: Partner, message_type: str) -> None:
    if not target.accepts(message_type):
        raise NoRoute(
            f"receiver {target.id} does not accept {message_type!r} messages; it accepts: "
            f"{', '.join(target.spec.receives) or 'none'}",
            pointer="/Envelope/Header/Receiver",
        )
    # A suspended receiver is still routed to: its messages are held in its queue until it is resumed
    # (delivery.worker stops consuming that queue meanwhile).
