"""The plumbing the mapping adapters (ics-ens, wco-dms) share around their mappings: a mapped payload becomes a
canonical Envelope only when nothing was lost and it is valid canonical, and a rendered document leaves only
when it carries every canonical value."""

from __future__ import annotations

import datetime as dt

from lxml import etree

from gateway.formats.base import MessageInfo
from gateway.formats.canonical import new_envelope
from gateway.formats.schemas import check_canonical_payload
from gateway.mapping.records import Loss, raise_losses


def canonical_envelope(
    payload: etree._Element,
    losses: list[Loss],
    *,
    info: MessageInfo,
    sender: str,
    created: dt.datetime,
    source: str,
) -> etree._Element:
    """The canonical Envelope of a payload mapped from a partner message (``source`` names it in errors);
    ``mapping-failed`` when the mapping lost values or a value has no canonical form."""
    raise_losses(losses, "canonical")
    check_canonical_payload(payload, source)
    return new_envelope(
        message_id=info.message_id,
        message_type=info.message_type,
        sender=sender,
        receiver=None,
        created=created,
        payload=payload,
        correlation_id=info.correlation_id,
    )


def lossless(rendered: tuple[etree._Element, list[Loss]], format_name: str) -> etree._Element:
    """The rendered document, or ``mapping-failed`` naming every canonical value the format cannot carry."""
    document, losses = rendered
    raise_losses(losses, format_name)
    return document
