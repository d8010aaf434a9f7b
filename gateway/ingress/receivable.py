"""Before a message is accepted: can every receiver's format carry it? (docs/DESIGN.md 8, issue 11)

A value the receiver's format has no place for is answered ``422 mapping-failed`` naming the receiver, the path
and the value, and nothing is forwarded, instead of a 202 followed by a dead letter. The delivery worker renders
again (with the receiver's configuration of that moment); this check costs one more rendering per receiver.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping

from lxml import etree

from gateway.errors import MappingFailed, Rejection
from gateway.formats.base import FormatAdapter
from gateway.formats.canonical import set_header
from gateway.partners.model import Partner


def check_receivable(
    canonical: etree._Element,
    message_type: str,
    receivers: Iterable[str],
    partners: Mapping[str, Partner],
    adapters: Mapping[str, FormatAdapter],
) -> None:
    """Render ``canonical`` for each receiver and validate it against the receiver's schema, or raise
    ``MappingFailed`` naming the receiver and what it cannot carry."""
    for receiver in receivers:
        partner = partners.get(receiver)
        if partner is None:  # the gateway itself, or a partner removed meanwhile: routing answers for it
            continue
        format_name = partner.format_for(message_type)
        adapter = adapters.get(format_name)
        if adapter is None or format_name == "canonical":  # canonical receivers get the validated envelope
            continue
        envelope = copy.deepcopy(canonical)
        set_header(envelope, "Receiver", receiver)
        try:
            adapter.validate(adapter.from_canonical(envelope, receiver))
        except Rejection as error:
            raise MappingFailed(
                f"receiver {receiver} ({format_name}) cannot take this {message_type}: {error.code}: {error.message}",
                pointer=error.pointer,
            ) from error
