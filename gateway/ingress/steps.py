"""The pure steps of ingress: check (signature, sender, time window) and translate (schemas, canonical form,
receivers, what each receiver's format can carry). No store, no broker, no clock of their own: the pipeline
(``gateway.ingress.pipeline``) and the conformance test (``gateway.conformance``) call the same functions.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from lxml import etree

from gateway.config import RouteRule, SecuritySection
from gateway.errors import NotPermitted, Replayed
from gateway.formats.base import FormatAdapter, Identity, MessageInfo, canonical_id
from gateway.formats.canonical import CanonicalAdapter, format_datetime, set_header
from gateway.ingress.receivable import check_receivable
from gateway.partners.model import Partner
from gateway.routing import route
from gateway.security.verified import Verified
from gateway.store.base import MessageRecord

_CANONICAL = CanonicalAdapter()


@dataclass(frozen=True)
class Checked:
    """A message whose signature verified: everything below reads ``verified.xml`` only."""

    info: MessageInfo
    verified: Verified
    digest: str
    identity: Identity  # the uniqueness key and follows link (the adapter's, docs/DESIGN.md 8)


def check(
    partner: Partner, adapter: FormatAdapter, root: etree._Element, *, now: dt.datetime, window: SecuritySection
) -> Checked:
    """Steps 3-5: the signature (partner's certificates), the Sender against the URL partner, CreationDateTime
    inside ``window``'s accepted window around ``now``."""
    verified = partner.verifier.verify(root, now=now)
    info = adapter.identify(verified.xml)
    if info.sender is not None and info.sender != partner.id:
        raise NotPermitted(
            f"Sender {info.sender!r} in the message differs from the partner {partner.id!r} in the URL",
            pointer="/Envelope/Header/Sender",
        )
    if info.created is not None:
        age = (now - info.created).total_seconds()
        if age > window.max_age_seconds or -age > window.max_future_seconds:
            raise Replayed(
                f"CreationDateTime {format_datetime(info.created)} is outside the accepted window "
                f"({window.max_age_seconds} s in the past to {window.max_future_seconds} s ahead "
                f"of the gateway clock {format_datetime(now)})",
                pointer="/Envelope/Header/CreationDateTime",
            )
    digest = hashlib.sha256(verified.signed_data).hexdigest()
    return Checked(info, verified, digest, adapter.identity(verified.xml, info, digest))


def translate(
    message_id: str,
    partner: Partner,
    adapter: FormatAdapter,
    checked: Checked,
    original: MessageRecord | None = None,
    *,
    partners: Mapping[str, Partner],
    rules: Sequence[RouteRule],
    participant_id: str,
    adapters: Mapping[str, FormatAdapter],
) -> tuple[etree._Element, tuple[str, ...]]:
    """Steps 6-8: the partner's schema, the canonical form (with ``message_id`` as its GatewayMessageID) and
    its schema, the receivers. For a canonical partner ``checked.verified.xml`` becomes the canonical form:
    read nothing from it afterwards."""
    info = checked.info
    adapter.validate(checked.verified.xml)
    if isinstance(adapter, CanonicalAdapter):
        # A canonical message's verified tree is its canonical form: taken over rather than copied (issue 15),
        # since nothing reads ``verified.xml`` after this step (it gets the GatewayMessageID below).
        canonical = checked.verified.xml
    else:
        canonical = adapter.to_canonical(checked.verified.xml, info, partner.id)
    if not isinstance(adapter, CanonicalAdapter):  # a partner's id and follows link, in canonical ids
        set_header(canonical, "MessageID", checked.identity.canonical_id)
        if original is not None and original.key is not None:
            set_header(canonical, "CorrelationID", canonical_id(original.key))
    set_header(canonical, "GatewayMessageID", message_id)
    if not isinstance(adapter, CanonicalAdapter):  # the canonical adapter has just validated it
        _CANONICAL.validate(canonical)
    receivers = route(
        sender=partner,
        message_type=info.message_type,
        receiver=info.receiver,
        partners=partners,
        rules=rules,
        participant_id=participant_id,
    )
    check_receivable(canonical, info.message_type, receivers, partners, adapters)  # each receiver's format
    return canonical, receivers
