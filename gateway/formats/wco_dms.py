"""The ``wco-dms`` format: WCO Data Model 3.6 messages as HMRC CDS implements them (DMS).

A message is a DocumentMetaData wrapper (``urn:wco:datamodel:WCO:DocumentMetaData-DMS:2``) holding either a
DEC-DMS ``Declaration`` (message type ``declaration``; message id: its FunctionalReferenceID, the LRN) or a
RES-DMS ``Response`` (FunctionCode 02 received and 03 rejected are ``receipt``s; every other FunctionCode, a
customs decision, is a ``notification``: :mod:`gateway.mapping.dms_notification`). An ``inventory`` (CBEC
clearance list) is rendered as the DEC of its goods declaration (:mod:`gateway.mapping.inventory_declaration`).
The gateway answers with RES-DMS notifications: 02 (DMSRCV) when it accepts a message, 03 (DMSREJ) with the
error when it refuses one.
Mapping: :mod:`gateway.mapping.wco_dms`.

Schemas: the HMRC files under ``schemas/wco-dms`` (SOURCE.md), compiled once through ``dms.xsd``, which joins
the MetaData wrapper with the DEC and RES namespaces its ``xs:any`` expects. Only local files are read; the
samples' ``xsi:schemaLocation`` is never followed.

Signatures: an enveloped ``ds:Signature``, the last child of ``md:MetaData``, covering the whole document.
The MetaData schema has no place for it (its content ends with the Declaration or the Responses; HMRC
authenticates at the transport level), so it travels outside the schema, as the enveloped-signature transform
intends: the gateway validates the document the signature covers (the verifier's output, without the
signature) and signs the documents it renders after validating them. A receiver validates likewise.

Notifications published without any namespace (HMRC's own documentation samples) are refused with
``schema-invalid``: they match no schema, and the namespace cannot be guessed safely: a DMSRES holds a RES
``Declaration`` and a DEC ``Declaration`` side by side that only their namespaces tell apart.
"""

from __future__ import annotations

import datetime as dt

from lxml import etree

from gateway.errors import MappingFailed, SchemaInvalid, UnsupportedMessage
from gateway.formats.base import Identity, MessageInfo, Receipt
from gateway.formats.canonical import ENV_NS, MESSAGE_ID, body_payload, read_header, receipt_payload
from gateway.formats.mapped import canonical_envelope, lossless
from gateway.formats.schemas import check_canonical_payload, load_schema, validate
from gateway.mapping import dms_receipt
from gateway.mapping import wco_dms as dms
from gateway.mapping.dms_notification import notification_from_canonical, notification_to_canonical
from gateway.mapping.inventory_declaration import inventory_to_declaration
from gateway.mapping.records import Loss, path_in

_E = f"{{{ENV_NS}}}"
SCHEMA = "wco-dms/dms.xsd"
DECLARATION, RESPONSE = dms.DEC + "Declaration", dms.RES + "Response"
ORIGINAL = "9"  # DEC FunctionCode of a declaration; 13 (request: amendment, cancellation) and 14 follow one


def _payload(root: etree._Element) -> etree._Element:
    """The Declaration or the one Response of a DocumentMetaData document."""
    qname = etree.QName(root)
    if qname.localname == "MetaData" and qname.namespace is None:
        raise SchemaInvalid(
            "the MetaData and its content have no namespace: a WCO DMS document is in "
            f"{dms.MD_NS} with a Declaration in {dms.DEC_NS} or Responses in {dms.RES_NS}. "
            "The gateway does not guess namespaces (a DMSRES notification holds a RES and a DEC Declaration "
            "that only the namespace tells apart); send the document with its namespaces, as the HMRC "
            "schemas define it",
            pointer="/MetaData",
        )
    if root.tag != dms.MD + "MetaData":
        raise UnsupportedMessage(
            f"root element {qname.localname!r} in namespace {qname.namespace!r} is not a WCO DMS document; "
            f"expected {{{dms.MD_NS}}}MetaData",
            pointer="/",
        )
    found = [c for c in root if c.tag in (DECLARATION, RESPONSE)]
    if len(found) != 1:
        raise UnsupportedMessage(
            f"a WCO DMS document must hold one DEC Declaration or one RES Response; this one holds {len(found)}",
            pointer="/MetaData",
        )
    return found[0]


def _identifier(value: str | None, what: str, pointer: str) -> str:
    """A partner's own id, as its schema allows it (spaces included: DEC's an..35 is any text with one
    non-blank character); the schema check later bounds it. The canonical envelope's MessageID is derived from
    it (:func:`~gateway.formats.base.canonical_id`), so it need not be a canonical id."""
    text = (value or "").strip()
    if not text or len(text) > 512:
        raise SchemaInvalid(
            f"the {what} {text[:64]!r} must be present and not blank (it is the message id)", pointer=pointer
        )
    return text


def _when(container: etree._Element | None, pointer: str) -> dt.datetime | None:
    """The message's issue time; absent or a date without time: None (the LRN alone guards against replays),
    unreadable: refused, so the replay window is never skipped for a time the gateway cannot read."""
    if container is None:
        return None
    value = dms.date_from_dec(container, pointer)
    if "T" not in value:
        return None  # a date (formatCode 102) is no time to measure a replay window with
    when = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    try:
        when.astimezone(dt.UTC)
    except OverflowError:  # year 0001 at +14 or 9999 at -14: no UTC time to compare (was a 500)
        raise SchemaInvalid(
            f"{pointer}/DateTimeString: {value!r} is outside the times the gateway can compare (UTC years 1-9999)",
            pointer=pointer,
        ) from None
    return when


def _refused(document: etree._Element, path: str | None) -> tuple[str, str | None]:
    """The named path (``/MetaData/Declaration/Exporter/ID``) and text of the element libxml2 points to in a
    schema error (its own path, ``/md:MetaData/*[6]/*[13]/*[2]``, where it cannot be read)."""
    try:
        prefixes = {prefix: uri for prefix, uri in document.nsmap.items() if prefix}
        found = document.getroottree().xpath(path, namespaces=prefixes) if path else []
    except etree.XPathError:
        found = []
    if not isinstance(found, list) or not found or not isinstance(found[0], etree._Element):
        return path or "?", None
    return "/MetaData" + path_in(document, found[0]), found[0].text


class WcoDmsAdapter:
    name = "wco-dms"

    def __init__(self, profile: dms.Profile | None = None) -> None:
        self.profile = profile or dms.Profile()

    def identify(self, root: etree._Element) -> MessageInfo:
        payload = _payload(root)
        if payload.tag == DECLARATION:
            lrn = payload.findtext(dms.DEC + "FunctionalReferenceID")
            message_id = _identifier(
                lrn,
                "Declaration's FunctionalReferenceID (LRN)",
                "/MetaData/Declaration/FunctionalReferenceID",
            )
            created = _when(payload.find(dms.DEC + "IssueDateTime"), "/MetaData/Declaration/IssueDateTime")
            return MessageInfo("declaration", message_id, created=created)
        code = (payload.findtext(dms.RES + "FunctionCode") or "").strip()
        kind = "receipt" if code in dms_receipt.RECEIPT_CODES else "notification"
        notification = payload.findtext(dms.RES + "FunctionalReferenceID")
        message_id = _identifier(
            notification, "Response's FunctionalReferenceID", "/MetaData/Response/FunctionalReferenceID"
        )
        answered = payload.findtext(f"{dms.RES}Declaration/{dms.RES}FunctionalReferenceID")
        return MessageInfo(
            kind,
            message_id,
            created=_when(payload.find(dms.RES + "IssueDateTime"), "/MetaData/Response/IssueDateTime"),
            correlation_id=answered.strip() if answered and MESSAGE_ID.match(answered.strip()) else None,
        )

    def identity(self, root: etree._Element, info: MessageInfo, digest: str) -> Identity:
        """A declaration (FunctionCode 9) is unique by its LRN and opens it; a follow-up reusing the LRN
        (13 amendment, cancellation or invalidation request; 14 supplementary) is unique by LRN, FunctionCode
        and IssueDateTime (or, without an IssueDateTime, its signed content) and follows the LRN. A notification
        is unique by its own FunctionalReferenceID (it answers another sender's declaration: CorrelationID)."""
        payload = _payload(root)
        if payload.tag != DECLARATION:
            return Identity(info.message_id)
        code = (payload.findtext(dms.DEC + "FunctionCode") or "9").strip()
        if code == ORIGINAL:
            return Identity(info.message_id, reference=info.message_id)
        when = info.created.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ") if info.created else f"sha256-{digest[:32]}"
        return Identity(f"{info.message_id}:{code}:{when}", follows=info.message_id)

    def validate(self, root: etree._Element) -> None:
        _payload(root)  # the namespace-less notifications get their own message
        validate(load_schema(SCHEMA), root, "the WCO DMS document")

    def to_canonical(self, root: etree._Element, info: MessageInfo, sender: str) -> etree._Element:
        source = _payload(root)
        if source.tag == DECLARATION:
            payload, losses = dms.declaration_to_canonical(source, "/MetaData/Declaration")
        elif info.message_type == "receipt":
            payload, losses = dms_receipt.receipt_to_canonical(source, "/MetaData/Response")
        else:
            payload, losses = notification_to_canonical(source, "/MetaData/Response")
        created = info.created or dt.datetime.now(dt.UTC)
        source = f"WCO DMS {info.message_type}"
        return canonical_envelope(payload, losses, info=info, sender=sender, created=created, source=source)

    def render(self, envelope: etree._Element) -> tuple[etree._Element, list[Loss]]:
        """The WCO DMS document of a canonical envelope and every canonical value it could not carry."""
        info, payload = read_header(envelope), body_payload(envelope)
        if info.message_type == "declaration":
            declaration, losses = dms.declaration_from_canonical(payload, "/Envelope/Body/Declaration")
            return dms.metadata("DEC", declaration, self.profile), losses
        if info.message_type == "inventory":
            # The receiver gets the goods declaration of the clearance list (the envelope stays an inventory).
            derived = inventory_to_declaration(payload)
            check_canonical_payload(derived, "declaration mapped from the inventory")
            declaration, losses = dms.declaration_from_canonical(derived, "/Envelope/Body/Inventory(Declaration)")
            return dms.metadata("DEC", declaration, self.profile), losses
        if info.message_type == "receipt":
            own = envelope.findtext(f"{_E}Header/{_E}GatewayMessageID") or info.message_id
            response, losses = dms_receipt.response_from_canonical(payload, own, "/Envelope/Body/Receipt")
            return dms.metadata("RES", response, self.profile), losses
        if info.message_type == "notification":
            response, losses = notification_from_canonical(payload, "/Envelope/Body/Notification")
            return dms.metadata("RES", response, self.profile), losses
        raise UnsupportedMessage(
            f"the wco-dms format carries declaration, inventory (as its declaration), receipt and notification "
            "messages, "
            f"not {info.message_type!r}",
            pointer="/Envelope/Header/MessageType",
        )

    def from_canonical(self, envelope: etree._Element, receiver: str) -> etree._Element:
        document = lossless(self.render(envelope), self.name)
        schema = load_schema(SCHEMA)
        if not schema.validate(document):
            # A canonical value DEC's facets refuse (e.g. a name longer than an..70): the receiver's format
            # cannot carry it. Name the value, not only the schema's complaint.
            error = schema.error_log.last_error
            where, value = _refused(document, error.path if error else None)
            raise MappingFailed(
                f"the wco-dms format cannot carry the value {value!r} at {where}: "
                f"{error.message if error else 'schema error'}",
                pointer=where,
            )
        return document

    def render_receipt(self, receipt: Receipt) -> etree._Element:
        # The gateway's own receipt: descriptions longer than RES allows are cut (the audit trail keeps them).
        response, _cut = dms_receipt.response_from_canonical(
            receipt_payload(receipt), receipt.gateway_message_id, "/Receipt"
        )
        return dms.metadata("RES", response, self.profile)
