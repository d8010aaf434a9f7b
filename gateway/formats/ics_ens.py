"""The ``ics-ens`` format: EU ICS (phase 1) messages as HMRC implements them.

    CC315A entry summary declaration (http://ics.dgtaxud.ec/CC315A)           <-> ``declaration``
    CC313A ENS amendment (http://ics.dgtaxud.ec/CC313A)                      <-> ``declaration`` FunctionCode 13
    CC351A advance intervention notification (http://ics.dgtaxud.ec/CC351A)   <-> ``risk-alert``
    receipts: HMRC's ICS API responses, SuccessResponse (accepted) and GovTalk ErrorResponse (rejected)

The message id is MesIdeMES19, the creation time the date and time of preparation (read in the partner's time
zone, :class:`~gateway.mapping.ics_tables.Profile`). Mapping: :mod:`gateway.mapping.ics_ens`.

Receipts: ICS has no receipt message of its own for an ENS lodged outside the EU systems (CC328A and CC316A
answer within them and carry an MRN the gateway does not assign), so the gateway answers as HMRC's ICS API
does: ``SuccessResponse`` with the accepted time, the gateway message id and the partner's message id as the
ICS CorrelationId, or ``ErrorResponse`` with one GovTalk error per rejection reason (schemas
``schemas/ics-ens/ens_store``, compiled through ``schemas/ics-ens/receipts.xsd``). The gateway does not map
these responses when a partner sends them.

Not supported (``unsupported-message``): messages inside a SOAP envelope or HMRC's
``notificationResponse`` wrapper: the gateway takes the ICS message itself, signed as an enveloped
``ds:Signature`` after its last child. The ICS schemas have no place for it; the gateway validates the
document the signature covers (without it) and signs what it renders after validating it, as for the other
formats.
"""

from __future__ import annotations

import datetime as dt
import hashlib

from lxml import etree

from gateway.errors import SchemaInvalid, UnsupportedMessage
from gateway.formats.base import Identity, MessageInfo, Receipt
from gateway.formats.canonical import ENV_NS, MESSAGE_ID, body_payload, read_header, receipt_payload
from gateway.formats.mapped import canonical_envelope, lossless
from gateway.formats.schemas import load_schema, validate
from gateway.mapping import ics_ens as ics
from gateway.mapping import ics_receipt
from gateway.mapping.ics_groups import fields_of
from gateway.mapping.ics_tables import Profile
from gateway.mapping.records import Loss, W

_E = f"{{{ENV_NS}}}"
ENS, INTERVENTION = f"{{{ics.ENS_NS}}}CC315A", f"{{{ics.INTERVENTION_NS}}}CC351A"
AMENDMENT = f"{{{ics.AMENDMENT_NS}}}CC313A"
KINDS = {ENS: "declaration", AMENDMENT: "declaration", INTERVENTION: "risk-alert"}
SCHEMAS = {
    ENS: "ics-ens/ens_store/CC315A-v11-2.xsd",
    AMENDMENT: "ics-ens/ens_store/CC313A-v11-2.xsd",
    INTERVENTION: "ics-ens/intervention_cc351a/CC351A-v10-0.xsd",
    f"{{{ics_receipt.SUCCESS_NS}}}SuccessResponse": "ics-ens/receipts.xsd",
    f"{{{ics_receipt.ERROR_NS}}}ErrorResponse": "ics-ens/receipts.xsd",
}


def _kind(root: etree._Element) -> str:
    kind = KINDS.get(root.tag)
    if kind is None:
        qname = etree.QName(root)
        raise UnsupportedMessage(
            f"root element {qname.localname!r} in namespace {qname.namespace!r} is not an ICS message the "
            f"gateway maps; supported: CC315A in {ics.ENS_NS}, CC313A in {ics.AMENDMENT_NS}, CC351A in "
            f"{ics.INTERVENTION_NS} (not wrapped "
            "in a SOAP envelope or notificationResponse)",
            pointer="/",
        )
    return kind


def _ics_id(envelope: etree._Element, info: MessageInfo) -> str:
    """MesIdeMES19 (14 characters) of a message the gateway renders: from its gateway message id."""
    gateway_id = envelope.findtext(f"{_E}Header/{_E}GatewayMessageID")
    if gateway_id:
        return str(gateway_id).replace("-", "").upper()[:14]
    if len(info.message_id) <= 14:
        return info.message_id
    return hashlib.sha256(f"{info.sender}/{info.message_id}".encode()).hexdigest()[:14].upper()


class IcsEnsAdapter:
    name = "ics-ens"

    def __init__(self, profile: Profile | None = None) -> None:
        self.profile = profile or Profile()

    def identify(self, root: etree._Element) -> MessageInfo:
        kind = _kind(root)
        local = etree.QName(root).localname
        fields = fields_of(root)
        message_id = fields.get("MesIdeMES19", "")
        if not MESSAGE_ID.match(message_id):
            raise SchemaInvalid(
                f"the {local} MesIdeMES19 {message_id!r} must be an id of 1-14 characters of "
                "A-Z a-z 0-9 . _ : - (it is the message id)",
                pointer=f"/{local}/MesIdeMES19",
            )
        created = ics.transmission(root, self.profile).prepared  # unreadable: refused, never a skipped window
        correlation = fields.get("CorIdeMES25")
        return MessageInfo(
            kind,
            message_id,
            created=created,
            correlation_id=correlation if correlation and MESSAGE_ID.match(correlation) else None,
        )

    def identity(self, root: etree._Element, info: MessageInfo, digest: str) -> Identity:
        """Unique by MesIdeMES19; a CC315A opens its LRN (RefNumHEA4), a CC313A follows its ENS's MRN
        (DocNumHEA5): linked when one of the sender's messages opened that MRN (a CC315A cannot: customs
        assigns the MRN), else by the MRN in the canonical Declaration/ID."""
        header = fields_of(root.find("HEAHEA")) if root.find("HEAHEA") is not None else {}
        if root.tag == ENS:
            return Identity(info.message_id, reference=header.get("RefNumHEA4"))
        if root.tag == AMENDMENT:
            return Identity(info.message_id, follows=header.get("DocNumHEA5"))
        return Identity(info.message_id)

    def validate(self, root: etree._Element) -> None:
        schema = SCHEMAS.get(root.tag)
        if schema is None:
            _kind(root)  # names what is supported
            return
        validate(load_schema(schema), root, f"the {etree.QName(root).localname}")

    def to_canonical(self, root: etree._Element, info: MessageInfo, sender: str) -> etree._Element:
        sent = ics.transmission(root, self.profile)
        if root.tag == AMENDMENT:
            payload, losses = ics.amendment_to_canonical(root, sent, self.profile)
        elif _kind(root) == "declaration":
            payload, losses = ics.ens_to_canonical(root, self.profile)
        else:
            payload, losses = ics.intervention_to_canonical(root, sent, self.profile)
        source = f"{etree.QName(root).localname} message"
        return canonical_envelope(payload, losses, info=info, sender=sender, created=sent.prepared, source=source)

    def render(self, envelope: etree._Element) -> tuple[etree._Element, list[Loss]]:
        """The ICS message of a canonical envelope and every canonical value it could not carry."""
        info, payload = read_header(envelope), body_payload(envelope)
        where = f"/Envelope/Body/{etree.QName(payload).localname}"
        if info.message_type == "receipt":
            return ics_receipt.response(payload, info.sender or "gateway", where)
        sent = ics.Transmission(
            message_id=_ics_id(envelope, info),
            prepared=info.created or dt.datetime.now(dt.UTC),
            sender=self.profile.sender,
            recipient=info.receiver,
            correlation_id=info.correlation_id,
        )
        if info.message_type == "declaration" and payload.findtext(f"{W}FunctionCode") == "13":
            return ics.amendment_from_canonical(payload, sent, self.profile, where)
        if info.message_type == "declaration":
            return ics.ens_from_canonical(payload, sent, self.profile, where)
        if info.message_type == "risk-alert":
            return ics.intervention_from_canonical(payload, sent, self.profile, where)
        raise UnsupportedMessage(
            f"the ics-ens format carries declaration, risk-alert and receipt messages, not {info.message_type!r}",
            pointer="/Envelope/Header/MessageType",
        )

    def from_canonical(self, envelope: etree._Element, receiver: str) -> etree._Element:
        return lossless(self.render(envelope), self.name)

    def render_receipt(self, receipt: Receipt) -> etree._Element:
        document, _ = ics_receipt.response(receipt_payload(receipt), receipt.sender, "/Receipt")
        return document
