"""The ``ceb`` format: China Customs' cross-border e-commerce messages (GACC CEB 2022-05), as the national
single window sends and receives them.

Supported: every business message of the 2022-05 import and export XSDs (CEB311 orders, 411 payment vouchers, 511
waybills, 513 waybill statuses, 621 inventories, 623 cancellations, 625 return requests, 711 warehouse entry lists,
816/818 tax bills; export 303, 403, 505, 507, 509, 603, 605, 607, 213, 215, 701, 792: ``gateway.mapping.ceb.KINDS``),
answered with their CEB receipts (CEB312/412/512/514/622/624/626/712, 304/404/506/508/510/604/606/608/214/216/702)
or, when a message has no receipt or cannot be read that far, CEB900 (:mod:`gateway.mapping.ceb_receipt`). CEB
receipts from the partner are canonical receipts.

The message id is the root's ``guid``; the creation time the latest ``appTime`` of its records (China time).
Signatures are enveloped ``ds:Signature`` children of the root, checked by the gateway's verifier before any
of this runs (RSA/ECDSA, and SM2-SM3 in the CEB profile: :mod:`gateway.security.sm2`).

Schemas: the GACC XSDs under ``schemas/ceb``, compiled once, from local files only. The GACC XSD makes
``ds:Signature`` mandatory in some messages (CEB621, 623, 625, 711); the gateway validates the document
the signature covers (the verifier's output, which no longer holds the signature) and the unsigned documents
it renders, so the schemas are compiled with that one element optional. The verifier, not the schema,
decides that a message must be signed.

Canonical -> CEB refuses to drop data: a canonical value the CEB message cannot carry is a
``mapping-failed`` naming every such value (:func:`CebAdapter.render`, which returns them, lets a caller
decide otherwise).
"""

from __future__ import annotations

import datetime as dt
import functools

from lxml import etree

from gateway.errors import SchemaInvalid, UnsupportedMessage
from gateway.formats import dxp
from gateway.formats.base import Identity, MessageInfo, Receipt, ReceiptError, RecordRef, Signing
from gateway.formats.canonical import ENV_NS, MESSAGE_ID, WCO_NS, new_envelope, parse_datetime, read_header
from gateway.formats.schemas import SCHEMAS_DIR, check_canonical_payload, validate
from gateway.mapping import ceb, ceb_receipt
from gateway.mapping.records import Loss

_XS = "{http://www.w3.org/2001/XMLSchema}"
TERMINAL = "ceb_terminal_node_202205.xsd"  # dxp:DxpMsg, the terminal-node wrapper (spec chapter 4)
_E = f"{{{ENV_NS}}}"
_W = f"{{{WCO_NS}}}"
_CARRIED = frozenset(kind.message_type for kind in ceb.KINDS.values())
# The receipts the gateway renders, validated before they are sent.
_RECEIPT_SCHEMAS = {
    **{kind.receipt: kind.schema for kind in ceb.KINDS.values() if kind.receipt},
    ceb_receipt.FORMAT_CHECK: ceb.IMPORT,
}


@functools.cache
def ceb_schema(name: str) -> etree.XMLSchema:
    """A GACC XSD from ``schemas/ceb``, compiled once, with ``ds:Signature`` optional (see the module doc)."""
    parser = etree.XMLParser(no_network=True, resolve_entities=False, load_dtd=False)
    tree = etree.parse(str(SCHEMAS_DIR / "ceb" / name), parser)
    for reference in tree.iter(f"{_XS}element"):
        if reference.get("ref") == "ds:Signature":
            reference.set("minOccurs", "0")
    return etree.XMLSchema(tree)


@functools.cache
def _signed_in_place() -> frozenset[str]:
    """The CEB messages whose own schema has a ``ds:Signature`` (the business messages): signed enveloped.
    The others (receipts, CEB900, CEB816/818) are signed in a DxpMsg (:mod:`gateway.formats.dxp`)."""
    names: set[str] = set()
    for name in (ceb.IMPORT, ceb.EXPORT):
        tree = etree.parse(str(SCHEMAS_DIR / "ceb" / name), etree.XMLParser(no_network=True, resolve_entities=False))
        for top in tree.getroot().findall(f"{_XS}element"):
            sequence = top.find(f"{_XS}complexType/{_XS}sequence")
            if sequence is not None and any(e.get("ref") == "ds:Signature" for e in sequence):
                names.add(top.get("name") or "")
    return frozenset(names)


def _schema_of(root: etree._Element) -> str:
    qname = etree.QName(root)
    if qname.namespace == ceb.CEB_NS and qname.localname in _RECEIPT_SCHEMAS:
        return _RECEIPT_SCHEMAS[qname.localname]
    return ceb.kind_of(root).schema  # or UnsupportedMessage naming what is supported


class CebAdapter:
    name = "ceb"

    def __init__(self, transfer: ceb.Transfer | None = None) -> None:
        self.transfer = transfer or ceb.Transfer()

    def identify(self, root: etree._Element) -> MessageInfo:
        root = dxp.unwrap(root)
        answered = ceb.receipt_kind_of(root)
        if answered is not None:  # a CEB receipt from the partner: a canonical receipt
            return self._identify_receipt(root, answered)
        kind = ceb.kind_of(root)
        guid = root.get("guid")
        if guid is None or not MESSAGE_ID.match(guid):
            raise SchemaInvalid(
                f"the {kind.root} guid {guid!r} must be an id of 1-64 characters of A-Z a-z 0-9 . _ : - "
                "(CEB: 36 characters)",
                pointer=f"/{kind.root}/@guid",
            )
        heads = ceb.heads(root, kind)
        refs = tuple(
            RecordRef(kind.root, tuple((k, head[k]) for k in kind.receipt_keys if head.get(k))) for head in heads
        )
        return MessageInfo(kind.message_type, guid, created=ceb.issued(heads, kind.time_field), records=refs)

    def _identify_receipt(self, root: etree._Element, answered: ceb.Kind) -> MessageInfo:
        guid = root.get("guid")
        name = etree.QName(root).localname
        if guid is None or not MESSAGE_ID.match(guid):
            raise SchemaInvalid(
                f"the {name} guid {guid!r} must be an id of 1-64 characters of A-Z a-z 0-9 . _ : - (CEB: 36)",
                pointer=f"/{name}/@guid",
            )
        times = [
            (ceb.fields_of(r).get("returnTime") or "")[:14] for r in root.findall(ceb.C + str(answered.receipt_record))
        ]
        created = ceb.issued([{"appTime": t} for t in times])
        return MessageInfo("receipt", guid, created=created)

    def identity(self, root: etree._Element, info: MessageInfo, digest: str) -> Identity:
        """Unique by the message's guid (every CEB message, a modification too, has a new one). An original
        (appType 1) opens its business key; a modification (appType 2), a CEB623 cancellation of an inventory
        and a CEB818 status of a tax bill follow the key of what they concern (``ceb.business_key``)."""
        root = dxp.unwrap(root)
        if ceb.receipt_kind_of(root) is not None:
            return Identity(info.message_id)
        kind = ceb.kind_of(root)
        heads = ceb.heads(root, kind)
        opens, follows = ceb.business_key(kind, heads[0]) if heads else (None, None)
        return Identity(info.message_id, reference=opens, follows=follows)

    def validate(self, root: etree._Element) -> None:
        if dxp.is_dxp(root):  # the terminal-node wrapper (its signature verified), then what it carries
            validate(ceb_schema(TERMINAL), root, "the DxpMsg")
            root = dxp.unwrap(root)
        validate(ceb_schema(_schema_of(root)), root, f"the {etree.QName(root).localname}")

    def to_canonical(self, root: etree._Element, info: MessageInfo, sender: str) -> etree._Element:
        root = dxp.unwrap(root)
        answered = ceb.receipt_kind_of(root)
        if answered is not None:
            payload = ceb.receipt_to_canonical(root, answered)
            check_canonical_payload(payload, f"the {etree.QName(root).localname}")
            assert info.created is not None  # every returnTime was just mapped, or MappingFailed was raised
            return new_envelope(
                message_id=info.message_id, message_type="receipt", sender=sender, receiver=None,
                created=info.created, payload=payload,
            )  # fmt: skip
        kind = ceb.kind_of(root)
        payload = ceb.to_canonical_payload(root, kind)
        created = info.created or ceb.issued(ceb.heads(root, kind), kind.time_field)
        assert created is not None  # every appTime was just mapped, or MappingFailed was raised
        return new_envelope(
            message_id=info.message_id,
            message_type=kind.message_type,
            sender=sender,
            receiver=None,
            created=created,
            payload=payload,
        )

    def render(self, envelope: etree._Element) -> tuple[etree._Element, list[Loss]]:
        """The CEB message of a canonical envelope and every canonical value it could not carry."""
        info = read_header(envelope)
        body = envelope.find(_E + "Body")
        payload = next((c for c in body if isinstance(c.tag, str)), None) if body is not None else None
        if payload is None:
            raise SchemaInvalid("the canonical Envelope has no payload", pointer="/Envelope/Body")
        if info.message_type == "receipt":
            return self._receipt(envelope, payload, info), []
        if info.message_type not in _CARRIED:
            raise UnsupportedMessage(
                f"the ceb format carries {', '.join(sorted(_CARRIED))} messages, not {info.message_type!r}",
                pointer="/Envelope/Header/MessageType",
            )
        # The CEB message is the gateway's: its guid is the gateway message id (36 characters, upper case).
        gateway_id = envelope.findtext(f"{_E}Header/{_E}GatewayMessageID")
        guid = ceb.guid_for(gateway_id or f"{info.sender}/{info.message_id}")
        return ceb.from_canonical_payload(payload, guid, self.transfer)

    def _receipt(self, envelope: etree._Element, payload: etree._Element, info: MessageInfo) -> etree._Element:
        """A canonical receipt routed to a CEB partner (e.g. a three-list matching rejection after the 202) as
        the CEB receipt of what it sent: CEB622 per clearance list of an inventory, CEB312 per order ... from
        the receipt's ReferencedRecord; CEB900 when it names no record a CEB receipt answers."""
        base = "/Envelope/Body/Receipt"
        records = []
        for index, reference in enumerate(payload.findall(f"{_W}ReferencedRecord"), 1):
            answered = ceb.answered_record(reference, f"{base}/ReferencedRecord[{index}]")
            if answered is not None:
                records.append(RecordRef(*answered))
        answered_id = payload.findtext(f"{_W}GatewayMessageID") or info.message_id
        receipt = Receipt(
            accepted=(payload.findtext(f"{_W}FunctionCode") or "").strip() == "accepted",
            issued=parse_datetime(payload.findtext(f"{_W}IssueDateTime")) or info.created or dt.datetime.now(dt.UTC),
            gateway_message_id=answered_id,
            sender=info.sender or "",
            receiver=info.receiver or "",
            referenced_message_id=payload.findtext(f"{_W}ReferencedMessageID"),
            errors=tuple(
                ReceiptError(
                    (error.findtext(f"{_W}ValidationCode") or "").strip(),
                    (error.findtext(f"{_W}Description") or "").strip(),
                    error.findtext(f"{_W}Pointer"),
                )
                for error in payload.findall(f"{_W}Error")
            ),
            records=tuple(records),
        )
        document = self.render_receipt(receipt)
        # Its own message: the receipt's gateway id, not the answered message's (that one had its 202 receipt).
        own_id = envelope.findtext(f"{_E}Header/{_E}GatewayMessageID") or f"{info.sender}/{info.message_id}"
        document.set("guid", ceb.guid_for(own_id))
        return document

    def from_canonical(self, envelope: etree._Element, receiver: str) -> etree._Element:
        document, losses = self.render(envelope)
        ceb.raise_if_lossy(losses)
        return document

    def seal(self, document: etree._Element, signer: Signing, receiver: str) -> etree._Element:
        """Signed where the CEB spec puts the signature: enveloped in a business message (its XSD has
        ``ds:Signature``), else in the DxpMsg that carries the document (spec chapter 4; see ``dxp``)."""
        if etree.QName(document).localname in _signed_in_place():
            return signer.sign(document)
        wrapper = dxp.wrap(
            document, sender_id=self.transfer.dxp_id, receiver_id=receiver, created=dt.datetime.now(dt.UTC)
        )
        return signer.sign(wrapper)

    def render_receipt(self, receipt: Receipt) -> etree._Element:
        document = ceb_receipt.business_receipt(receipt)
        if isinstance(document, str):  # no CEB receipt answers these records: the format check, saying why
            return ceb_receipt.format_check_receipt(receipt, document)
        try:
            self.validate(document)
        except SchemaInvalid:  # keys too long or malformed for the receipt: answer with the format check
            return ceb_receipt.format_check_receipt(receipt)
        return document
