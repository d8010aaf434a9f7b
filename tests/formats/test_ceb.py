"""The ``ceb`` adapter: GACC CEB 2022-05 messages <-> canonical envelopes, receipts, and a real flow."""

from __future__ import annotations

import copy
import datetime as dt
from pathlib import Path

import pytest
from lxml import etree
from signxml import XMLVerifier

from gateway.app import build_app
from gateway.errors import MappingFailed, SchemaInvalid, UnsupportedMessage
from gateway.formats import default_adapters, dxp
from gateway.formats.base import Receipt, ReceiptError, RecordRef
from gateway.formats.canonical import CanonicalAdapter
from gateway.formats.ceb import CebAdapter, ceb_schema
from gateway.mapping import ceb
from gateway.mapping.ceb import CEB_NS, KINDS
from gateway.security.xml import parse_xml, to_bytes
from tests.conftest import remove_topology
from tests.formats import ceb_samples
from tests.formats.support import record_of
from tests.helpers import ENV, FIXTURES, ROOT, PartnerSpec, envelope, make_deployment, signed

C = f"{{{CEB_NS}}}"
E = f"{{{ENV}}}"
W = "{urn:customs-gateway:wco:1}"
NS = {"w": W[1:-1], "e": ENV, "c": CEB_NS}
SAMPLES = FIXTURES / "ceb" / "samples"
SUPPORTED = sorted((p for p in SAMPLES.glob("*/*.xml") if p.stem in KINDS), key=lambda p: p.stem)
RECEIPT_SAMPLES = sorted((p for p in SAMPLES.glob("*/*.xml") if p.stem in ceb.RECEIPTS), key=lambda p: p.stem)
UNSUPPORTED = sorted(  # none left: every import and export message of the GACC XSDs is mapped
    p for p in SAMPLES.glob("*/*.xml") if p.stem not in KINDS and p.stem not in ceb.RECEIPTS
)
XS = "{http://www.w3.org/2001/XMLSchema}"


@pytest.fixture(scope="module")
def adapter() -> CebAdapter:
    return CebAdapter()


def canonical_valid(envelope: etree._Element) -> None:
    """Valid against schemas/canonical/envelope.xsd, payload matching MessageType."""
    CanonicalAdapter().validate(envelope)


def load(path: Path) -> etree._Element:
    return parse_xml(path.read_bytes())


# The GACC export samples as published: 8 carry BaseTransfer twice (schema-invalid) and use placeholders where
# the spec names a code list (ieFlag "a", tradeMode "0101", country "001", statisticsFlag "1", unit "aaa" ...);
# CEB214's root is named CEB214 and its records carry an appSenderId the XSD does not define; CEB792's lines have
# gnum but not the gseqno the XSD requires before it.
EXPORT_PLACEHOLDERS = {"ieFlag": "E", "tradeMode": "9610", "country": "502", "statisticsFlag": "A"}


def sample(path: Path) -> etree._Element:
    """A GACC sample as a partner would send it: the export samples with one BaseTransfer and real codes."""
    root = load(path)
    if path.parent.name != "export":
        return root
    if etree.QName(root).localname != path.stem:  # CEB214Message's root is published as CEB214 ...
        root.tag = C + path.stem
        for extra in list(root.iter(C + "appSenderId")):  # ... with an appSenderId its XSD does not have
            extra.getparent().remove(extra)
    for line in root.iter(C + "SummaryResultList"):  # CEB792: gnum where the XSD says gseqno, then gnum
        if line.find(C + "gseqno") is None:
            line.find(C + "gnum").addprevious(copy.deepcopy(line.find(C + "gnum")))
            line.find(C + "gnum").tag = C + "gseqno"
    for extra in root.findall(C + "BaseTransfer")[1:]:
        root.remove(extra)
    for name, code in EXPORT_PLACEHOLDERS.items():
        for element in root.iter(C + name):
            element.text = code
    for element in root.iter(C + "unit", C + "currency"):
        if not (element.text or "").isdigit():
            element.text = "011" if element.tag == C + "unit" else "502"
    return root


def test_export_samples_as_published_are_schema_invalid_or_carry_placeholders(adapter):
    kinds = [p for p in SUPPORTED if p.parent.name == "export"]
    assert {p.stem for p in kinds} >= {"CEB303Message", "CEB403Message", "CEB505Message", "CEB603Message"}
    usable = []
    for path in kinds:
        root = load(path)
        if len(root.findall(C + "BaseTransfer")) > 1:
            with pytest.raises(SchemaInvalid, match="BaseTransfer"):
                adapter.validate(root)
            continue
        if path.stem == "CEB792Message":
            with pytest.raises(SchemaInvalid, match="gnum"):
                adapter.validate(root)
            continue
        adapter.validate(root)
        try:
            to_canonical(adapter, root)
        except MappingFailed:  # a placeholder code (ieFlag "a", unit "aaa" ...), named with its field
            continue
        usable.append(path.stem)
    # the export business samples valid and with real codes as published
    assert usable == ["CEB213Message", "CEB215Message", "CEB701Message"]


def to_canonical(adapter: CebAdapter, root: etree._Element, sender: str = "cn-nsw") -> etree._Element:
    return adapter.to_canonical(root, adapter.identify(root), sender)


def payload(envelope: etree._Element) -> etree._Element:
    return envelope.find(f"{E}Body")[0]


# --- the tables agree with the GACC XSDs ----------------------------------------------------------


def xsd_sequence(schema_file: str, element: str) -> tuple[tuple[str, bool], ...]:
    tree = etree.parse(str(ROOT / "schemas" / "ceb" / schema_file))
    (top,) = tree.getroot().findall(f"{XS}element[@name='{element}']")
    return tuple((e.get("name"), e.get("minOccurs", "1") != "0") for e in top.iter(f"{XS}element") if e is not top)


@pytest.mark.parametrize("kind", KINDS.values(), ids=lambda k: k.root)
def test_field_sequences_are_those_of_the_gacc_xsd(kind):
    assert xsd_sequence(kind.schema, kind.head) == kind.head_fields
    if kind.lines:
        assert xsd_sequence(kind.schema, kind.lines) == kind.line_fields
    if kind.receipt_record:
        assert xsd_sequence(kind.schema, kind.receipt_record) == kind.receipt_fields


@pytest.mark.parametrize("kind", KINDS.values(), ids=lambda k: k.root)
def test_every_ceb_field_has_a_place_in_the_canonical_form(kind):
    assert {n for n, _ in kind.head_fields} <= kind.head_table.sources()
    if kind.line_table:
        assert {n for n, _ in kind.line_fields} <= kind.line_table.sources()


def test_adapter_is_registered():
    assert isinstance(default_adapters()["ceb"], CebAdapter)


# --- every supported official sample ------------------------------------------------------------


@pytest.mark.parametrize("path", SUPPORTED, ids=lambda p: p.stem)
def test_sample_parses_validates_and_maps_to_a_valid_canonical_envelope(adapter, path):
    root = sample(path)  # one sample starts with a UTF-8 byte-order mark
    info = adapter.identify(root)
    kind = KINDS[path.stem]
    assert info.message_type == kind.message_type
    assert info.message_id == root.get("guid")
    assert len(info.message_id) == 36  # the GACC samples' guids (4CDE1CFD-..., 5923DGGB-...)
    assert info.created is not None
    assert info.created.utcoffset() == dt.timedelta(hours=8)
    assert len(info.records) == len(root.findall(C + kind.record))
    assert all(ref.kind == kind.root for ref in info.records)
    if kind.receipt:  # the keys its receipt echoes (CEB792, 816, 818 have no receipt)
        assert all(dict(ref.keys)["guid"] for ref in info.records)
    adapter.validate(root)

    envelope = to_canonical(adapter, root)
    canonical_valid(envelope)
    header = envelope.find(f"{E}Header")
    assert header.findtext(f"{E}MessageID") == info.message_id
    assert header.findtext(f"{E}MessageType") == kind.message_type
    assert header.findtext(f"{E}Sender") == "cn-nsw"
    assert header.find(f"{E}Receiver") is None  # routing rules decide
    assert header.findtext(f"{E}CreationDateTime") == info.created.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    records = payload(envelope).findall(W + kind.canonical_record)
    assert len(records) == len(root.findall(C + kind.record))


def ceb_values(root: etree._Element, kind: ceb.Kind) -> list[tuple[dict[str, str], list[dict[str, str]]]]:
    """Every non-empty CEB field, record by record: what a round trip must give back."""
    out = []
    for record in root.findall(C + kind.record):
        head = {k: v for k, v in ceb.fields_of(ceb.head_of(record, kind)).items() if v}
        lines = [
            {k: v for k, v in ceb.fields_of(line).items() if v} for line in record.findall(C + (kind.lines or "-"))
        ]
        out.append((head, lines))
    return out


@pytest.mark.parametrize("path", SUPPORTED, ids=lambda p: p.stem)
def test_round_trip_preserves_every_field(adapter, path):
    original = sample(path)
    kind = KINDS[path.stem]
    first = to_canonical(adapter, original)
    rendered = adapter.from_canonical(copy.deepcopy(first), "cn-nsw")
    adapter.validate(rendered)
    assert etree.QName(rendered).localname == kind.root
    # CEB -> canonical -> CEB: field by field, record by record, line by line.
    assert ceb_values(rendered, kind) == ceb_values(original, kind)
    # ... and the canonical form it gives is the same again.
    second = to_canonical(adapter, rendered)
    assert etree.tostring(payload(second), method="c14n") == etree.tostring(payload(first), method="c14n")
    # The transmission data is the gateway's own (the customs' messages, CEB792 ..., have none).
    transfer = rendered.find(C + "BaseTransfer")
    if kind.transfer:
        assert [etree.QName(c).localname for c in transfer] == ["copCode", "copName", "dxpMode", "dxpId"]
    else:
        assert transfer is None


def test_every_gacc_sample_is_a_message_or_a_receipt_the_gateway_maps():
    assert [p.stem for p in UNSUPPORTED] == []
    assert len(SUPPORTED) + len(RECEIPT_SAMPLES) == len(list(SAMPLES.glob("*/*.xml"))) == 39


def test_a_ceb_root_the_gateway_does_not_map_is_an_unsupported_message(adapter):
    root = etree.fromstring(f'<CEB900Message xmlns="{CEB_NS}" guid="x" version="1.0"/>'.encode())
    with pytest.raises(UnsupportedMessage, match="CEB900Message") as caught:
        adapter.identify(root)
    assert "CEB311Message" in caught.value.message  # it names what is supported


def export_order() -> etree._Element:
    """The CEB303 sample without its second BaseTransfer (the published one has two: schema-invalid)."""
    root = load(SAMPLES / "export" / "CEB303Message.xml")
    root.remove(root.findall(C + "BaseTransfer")[1])
    return root


def test_export_order_sample_is_schema_invalid(adapter):
    with pytest.raises(SchemaInvalid, match="BaseTransfer"):
        adapter.validate(load(SAMPLES / "export" / "CEB303Message.xml"))


def test_export_order_sample_with_placeholder_codes_is_mapping_failed(adapter):
    root = export_order()
    adapter.validate(root)
    with pytest.raises(MappingFailed) as caught:
        to_canonical(adapter, root)
    assert caught.value.pointer == "/CEB303Message/Order[1]/OrderList[1]/unit"
    assert "'aaa'" in caught.value.message


def test_export_order_maps_both_ways(adapter):
    root = export_order()
    for element in root.iter(C + "unit"):
        element.text = "011"
    for element in root.iter(C + "currency"):
        element.text = "502"
    envelope = to_canonical(adapter, root)
    canonical_valid(envelope)
    assert {e.text for e in payload(envelope).iter(W + "TypeCode")} == {"EX"}
    assert {e.get("currencyID") for e in payload(envelope).iter(W + "ItemChargeAmount")} == {"USD"}
    rendered = adapter.from_canonical(envelope, "cn-nsw")
    assert etree.QName(rendered).localname == "CEB303Message"
    adapter.validate(rendered)
    assert ceb_values(rendered, KINDS["CEB303Message"]) == ceb_values(root, KINDS["CEB303Message"])


def test_export_order_cannot_carry_the_import_order_fields(adapter):
    envelope = canonical_order(adapter)
    record = payload(envelope)[0]
    record.find(W + "TypeCode").text = "EX"
    _document, losses = adapter.render(envelope)
    assert etree.QName(_document).localname == "CEB303Message"
    lost = {loss.pointer.removeprefix("/Envelope/Body/Order/ElectronicOrder/") for loss in losses}
    assert {"Buyer/Name", "Buyer/IdentityDocument/ID", "PaymentAmount", "Consignee/Address/Line"} <= lost
    assert "GoodsItem[1]/OriginCountryCode" in lost
    with pytest.raises(MappingFailed, match="Buyer/Name = '张三'"):
        adapter.from_canonical(envelope, "cn-nsw")


# --- a consistent set built here: the keys that tie the four lists together ----------------------


def test_consistent_set_maps_with_matching_join_keys(adapter):
    purchase = ceb_samples.Purchase()
    built = {
        "order": ceb_samples.order(purchase),
        "payment": ceb_samples.payment(purchase),
        "logistics": ceb_samples.logistics(purchase),
        "inventory": ceb_samples.inventory(purchase),
    }
    records = {}
    for name, root in built.items():
        adapter.validate(root)
        envelope = to_canonical(adapter, root)
        canonical_valid(envelope)
        (records[name],) = payload(envelope)
    order, pay, waybill, inventory = (records[n] for n in ("order", "payment", "logistics", "inventory"))

    def text(record, path):
        return record.findtext(path, namespaces=NS)

    # order number, platform
    assert {text(r, "w:OrderID") for r in records.values()} == {purchase.order_no}
    assert {text(r, "w:Platform/w:ID") for r in (order, pay, inventory)} == {purchase.ebp_code}
    # payment provider + transaction
    for path in ("w:PaymentProvider/w:ID", "w:PaymentTransactionID"):
        assert text(order, path) == text(pay, path) is not None
    # logistics provider + waybill
    for path in ("w:Carrier/w:ID", "w:WaybillID"):
        assert text(waybill, path) == text(inventory, path) is not None
    # buyer identity: the order's buyer, the payer, the inventory's buyer
    identity = ("w:Name", "w:IdentityDocument/w:TypeCode", "w:IdentityDocument/w:ID")
    buyers = [tuple(text(r.find(p, NS), i) for i in identity) for r, p in
              ((order, "w:Buyer"), (pay, "w:Payer"), (inventory, "w:Buyer"))]  # fmt: skip
    assert buyers == [(purchase.buyer_name, "identity-card", purchase.buyer_id)] * 3
    # the amount paid, with its ISO currency
    paid = [(r.find("w:PaymentAmount", NS).text, r.find("w:PaymentAmount", NS).get("currencyID")) for r in (order, pay)]
    assert paid == [(str(purchase.paid), "CNY")] * 2
    # goods lines: same numbering; HS code, origin, unit on the inventory
    assert [text(i, "w:SequenceNumeric") for i in order.findall("w:GoodsItem", NS)] == ["1", "2"]
    assert [text(i, "w:SequenceNumeric") for i in inventory.findall("w:GoodsItem", NS)] == ["1", "2"]
    first = inventory.find("w:GoodsItem", NS)
    assert text(first, "w:Classification/w:ID") == "0402290000"
    assert text(first, "w:OriginCountryCode") == "JP"
    quantity = first.find("w:Quantity", NS)
    assert (quantity.text, quantity.get("unitCode"), quantity.get("nationalCode")) == ("2", "H87", "122")
    assert text(inventory, "w:BusinessModelCode") == "9610"
    assert text(inventory, "w:BorderTransportMeans/w:ModeCode") == "4"  # air
    assert text(order, "w:IssueDateTime") == purchase.when.isoformat()


# --- unknown codes and values the other side cannot carry ---------------------------------------


@pytest.mark.parametrize(
    ("build", "field", "value", "pointer"),
    [
        (ceb_samples.order, "unit", "999", "/CEB311Message/Order[1]/OrderList[2]/unit"),
        (ceb_samples.order, "country", "701", "/CEB311Message/Order[1]/OrderList[1]/country"),
        (ceb_samples.order, "currency", "777", "/CEB311Message/Order[1]/OrderHead/currency"),
        (ceb_samples.order, "buyerIdType", "9", "/CEB311Message/Order[1]/OrderHead/buyerIdType"),
        (ceb_samples.payment, "payTime", "2026-11-27", "/CEB411Message/Payment[1]/PaymentHead/payTime"),
        (ceb_samples.inventory, "trafMode", "Q", "/CEB621Message/Inventory[1]/InventoryHead/trafMode"),
        (ceb_samples.inventory, "tradeMode", "0110", "/CEB621Message/Inventory[1]/InventoryHead/tradeMode"),
        (ceb_samples.inventory, "unit1", "038", "/CEB621Message/Inventory[1]/InventoryList[1]/unit1"),
    ],
)
def test_unknown_code_is_mapping_failed_naming_the_field(adapter, build, field, value, pointer):
    root = build(ceb_samples.Purchase())
    (target,) = root.xpath(pointer.replace("/", "/c:"), namespaces=NS)
    assert etree.QName(target).localname == field
    target.text = value
    with pytest.raises(MappingFailed) as caught:
        to_canonical(adapter, root)
    assert caught.value.pointer == pointer
    assert pointer in caught.value.message
    assert repr(value) in caught.value.message


def canonical_order(adapter: CebAdapter) -> etree._Element:
    return to_canonical(adapter, ceb_samples.order(ceb_samples.Purchase()))


def add(parent: etree._Element, before: str, name: str, text: str) -> etree._Element:
    element = etree.Element(W + name)
    element.text = text
    parent.find(W + before).addprevious(element)
    return element


def test_canonical_value_the_ceb_message_cannot_carry_is_reported_not_dropped(adapter):
    envelope = canonical_order(adapter)
    record = payload(envelope)[0]
    add(record, "OrderID", "BusinessModelCode", "9610")  # CEB311 has no trade mode
    classification = etree.Element(W + "Classification")
    etree.SubElement(classification, W + "ID").text = "0402290000"
    record.find(W + "GoodsItem").find(W + "OriginCountryCode").addprevious(classification)  # nor HS codes
    canonical_valid(envelope)
    _document, losses = adapter.render(envelope)
    assert [(loss.pointer, loss.value) for loss in losses] == [
        ("/Envelope/Body/Order/ElectronicOrder/BusinessModelCode", "9610"),
        ("/Envelope/Body/Order/ElectronicOrder/GoodsItem[1]/Classification/ID", "0402290000"),
    ]
    with pytest.raises(MappingFailed) as caught:
        adapter.from_canonical(envelope, "cn-nsw")
    assert "BusinessModelCode = '9610'" in caught.value.message
    assert "GoodsItem[1]/Classification/ID = '0402290000'" in caught.value.message
    assert caught.value.pointer == "/Envelope/Body/Order/ElectronicOrder/BusinessModelCode"


@pytest.mark.parametrize(
    ("mutate", "pointer", "text"),
    [
        (lambda r: r.find("w:GoodsItem/w:Quantity", NS).set("unitCode", "XYZ"),
         "/Envelope/Body/Order/ElectronicOrder/GoodsItem[1]/Quantity/@unitCode", "'XYZ'"),
        (lambda r: r.find("w:GoodsItem/w:Quantity", NS).set("nationalCode", "035"),
         "/Envelope/Body/Order/ElectronicOrder/GoodsItem[1]/Quantity/@unitCode", "nationalCode '035'"),
        (lambda r: r.find("w:FreightChargeAmount", NS).set("currencyID", "USD"),
         "/Envelope/Body/Order/ElectronicOrder/FreightChargeAmount", "one currency"),
        (lambda r: setattr(r.find("w:Buyer/w:Communication/w:TypeCode", NS), "text", "EM"),
         "/Envelope/Body/Order/ElectronicOrder/Buyer/Communication/TypeCode", "'EM'"),
        (lambda r: r.remove(r.find("w:Buyer", NS)),
         "/Envelope/Body/Order/ElectronicOrder/Buyer/ID", "Buyer/Name (CEB buyerName)"),
        (lambda r: setattr(r.find("w:IssueDateTime", NS), "text", "2026-11-27T10:00:00.5Z"),
         "/Envelope/Body/Order/ElectronicOrder/IssueDateTime", "fractions of a second"),
        (lambda r: setattr(r.find("w:FunctionalReferenceID", NS), "text", "NL-ORDER-1"),
         "/Envelope/Body/Order/ElectronicOrder/FunctionalReferenceID", "exactly 36 characters"),
    ],
    ids=["unknown-unit", "contradicting-national-unit", "two-currencies", "e-mail-as-telephone",
         "missing-buyer", "sub-second-time", "short-guid"],
)  # fmt: skip
def test_canonical_value_that_cannot_be_mapped_is_mapping_failed(adapter, mutate, pointer, text):
    envelope = canonical_order(adapter)
    mutate(payload(envelope)[0])
    with pytest.raises(MappingFailed) as caught:
        adapter.from_canonical(envelope, "cn-nsw")
    assert caught.value.pointer == pointer
    assert text in caught.value.message


def test_canonical_without_optional_amounts_gets_the_spec_defaults(adapter):
    envelope = canonical_order(adapter)
    record = payload(envelope)[0]
    for name in ("FreightChargeAmount", "DiscountAmount", "WithheldTaxAmount"):
        record.remove(record.find(W + name))
    head = adapter.from_canonical(envelope, "cn-nsw").find("c:Order/c:OrderHead", NS)
    assert [head.findtext(C + n) for n in ("freight", "discount", "taxTotal", "currency")] == [
        "0",
        "0",
        "0",
        "142",
    ]


def test_declaration_and_risk_alert_are_not_ceb_messages(adapter):
    envelope = etree.fromstring((ROOT / "examples" / "declaration.xml").read_bytes())
    with pytest.raises(UnsupportedMessage, match="declaration"):
        adapter.from_canonical(envelope, "cn-nsw")


def test_shipped_cbec_examples_render_as_ceb(adapter):
    for name, root_name in (("order", "CEB311Message"), ("payment", "CEB411Message"),
                            ("logistics", "CEB511Message"), ("inventory", "CEB621Message"),
                            ("tax-assessment", "CEB816Message"), ("tax-payment", "CEB818Message"),
                            ("inventory-cancellation", "CEB623Message"),
                            ("inventory-return", "CEB625Message"), ("logistics-status", "CEB513Message"),
                            ("warehouse-entry", "CEB711Message"), ("cargo-report", "CEB607Message"),
                            ("summary-application", "CEB701Message"), ("summary-result", "CEB792Message")):  # fmt: skip
        envelope = etree.fromstring((ROOT / "examples" / f"{name}.xml").read_bytes())
        document = adapter.from_canonical(envelope, "cn-nsw")
        assert etree.QName(document).localname == root_name
        adapter.validate(document)


# --- identify and validate -----------------------------------------------------------------------


def test_identify_refuses_a_guid_that_is_no_message_id(adapter):
    root = ceb_samples.order(ceb_samples.Purchase())
    root.set("guid", "4CDE1CFD EDED 46B1 946C B8022E42FC94")
    with pytest.raises(SchemaInvalid) as caught:
        adapter.identify(root)
    assert caught.value.pointer == "/CEB311Message/@guid"


def test_identify_refuses_other_roots(adapter):
    with pytest.raises(UnsupportedMessage, match="CEB311Message"):
        adapter.identify(etree.fromstring(b'<CEB311Message xmlns="urn:other"/>'))


def test_schema_error_names_the_field(adapter):
    root = ceb_samples.inventory(ceb_samples.Purchase())
    head = root.find("c:Inventory/c:InventoryHead", NS)
    head.remove(head.find(C + "orderNo"))
    with pytest.raises(SchemaInvalid, match="orderNo"):
        adapter.validate(root)


def test_signature_is_optional_to_the_schema_the_verifier_checks_it(adapter):
    # CEB621's XSD makes ds:Signature mandatory; the gateway validates what the signature covers.
    root = ceb_samples.inventory(ceb_samples.Purchase())
    assert root.find("{http://www.w3.org/2000/09/xmldsig#}Signature") is None
    adapter.validate(root)
    assert ceb_schema(ceb.IMPORT) is ceb_schema(ceb.IMPORT)  # compiled once


# --- receipts ------------------------------------------------------------------------------------


def receipt_for(root: etree._Element, accepted: bool, *errors: ReceiptError) -> Receipt:
    info = CebAdapter().identify(root)
    return Receipt(
        accepted=accepted,
        issued=dt.datetime(2026, 11, 27, 10, 0, 0, 123000, tzinfo=dt.UTC),
        gateway_message_id="0f9c7a52-6a4e-4f55-9d2e-1c8b7e5a3d21",
        sender="cn-customs",
        receiver="cn-nsw",
        referenced_message_id=info.message_id,
        referenced_message_type=info.message_type,
        errors=errors,
        records=info.records,
    )


def test_accepted_order_is_answered_with_a_ceb312_per_record(adapter):
    root = load(SAMPLES / "import" / "CEB311Message.xml")
    document = adapter.render_receipt(receipt_for(root, True))
    adapter.validate(document)
    assert etree.QName(document).localname == "CEB312Message"
    assert document.get("guid") == "0F9C7A52-6A4E-4F55-9D2E-1C8B7E5A3D21"
    returns = document.findall(C + "OrderReturn")
    assert len(returns) == len(root.findall(C + "Order"))
    first = ceb.fields_of(returns[0])
    assert first["orderNo"] == "order20160321116421002"
    assert first["ebpCode"] == "1105910159"
    assert first["returnStatus"] == "2"
    assert first["returnTime"] == "20261127180000123"  # China time, milliseconds


@pytest.mark.parametrize(
    ("build", "receipt_root", "record"),
    [(ceb_samples.payment, "CEB412Message", "PaymentReturn"),
     (ceb_samples.logistics, "CEB512Message", "LogisticsReturn"),
     (ceb_samples.inventory, "CEB622Message", "InventoryReturn")],
)  # fmt: skip
def test_rejection_is_answered_with_the_chapter_7_code(adapter, build, receipt_root, record):
    root = build(ceb_samples.Purchase())
    error = ReceiptError("signature-invalid", "the signature does not verify", "/*/ds:Signature")
    document = adapter.render_receipt(receipt_for(root, False, error))
    adapter.validate(document)
    assert etree.QName(document).localname == receipt_root
    answer = ceb.fields_of(document.find(C + record))
    assert answer["returnStatus"] == "-1001"
    assert answer["returnInfo"].startswith("1001 数字签名无效: signature-invalid at /*/ds:Signature")


@pytest.mark.parametrize(
    ("stem", "receipt_root", "record"),
    [("CEB213Message", "CEB214Message", "RefundReturn"), ("CEB215Message", "CEB216Message", "InvtRefundDetailReturn"),
     ("CEB701Message", "CEB702Message", "SummaryReturn"), ("CEB605Message", "CEB606Message", "InvtCancelReturn")],
)  # fmt: skip
def test_export_messages_are_answered_with_their_receipt(adapter, stem, receipt_root, record):
    root = sample(SAMPLES / "export" / f"{stem}.xml")
    document = adapter.render_receipt(receipt_for(root, True))
    adapter.validate(document)
    assert etree.QName(document).localname == receipt_root
    answers = document.findall(C + record)
    assert len(answers) == len(root.findall(C + KINDS[stem].record))
    assert {ceb.fields_of(a)["returnStatus"] for a in answers} == {"2"}


def test_a_summary_result_has_no_ceb_receipt_and_is_answered_with_ceb900(adapter):
    root = sample(SAMPLES / "export" / "CEB792Message.xml")
    document = adapter.render_receipt(receipt_for(root, True))
    adapter.validate(document)
    assert etree.QName(document).localname == "CEB900Message"
    assert document.findtext(f"{C}MessageReturn/{C}oriMessageType") == "CEB792Message"


@pytest.mark.parametrize(
    ("build", "field", "receipt", "record"),
    [(ceb_samples.export_inventory, "invtNo", "CEB604Message", "InventoryReturn"),
     (ceb_samples.export_arrival, "billNo", "CEB508Message", "ArrivalReturn")],
    ids=["CEB603-invtNo", "CEB507-billNo"],
)  # fmt: skip
def test_an_export_record_without_what_its_receipt_requires_gets_a_ceb900_naming_the_field(
    adapter, build, field, receipt, record
):
    root = build(ceb_samples.Purchase())
    head = next(root.iter(C + "appType")).getparent()
    given = head.find(C + field)
    if given is not None:  # the export list just lodged has no invtNo; the arrival has its billNo
        head.remove(given)
    adapter.validate(root)  # optional in the message (CEB603 invtNo?, CEB507 billNo?), required in its receipt
    document = adapter.render_receipt(receipt_for(root, True))
    adapter.validate(document)
    assert etree.QName(document).localname == "CEB900Message"
    answer = ceb.fields_of(document.find(C + "MessageReturn"))
    assert answer["returnStatus"] == "2"  # accepted all the same
    assert answer["oriMessageType"] == etree.QName(root).localname
    assert answer["returnInfo"].endswith(
        f"; no {receipt}: its {record} requires {field}, which record 1 of the {etree.QName(root).localname} "
        "does not give"
    )

    etree.SubElement(head, C + field).text = "010120261000000077" if field == "invtNo" else "999-12345675"
    document = adapter.render_receipt(receipt_for(root, True))  # given (the order in the head does not matter)
    adapter.validate(document)
    assert etree.QName(document).localname == receipt
    assert ceb.fields_of(document.find(C + record))[field] == head.findtext(C + field)


def test_inventory_receipt_fills_what_ceb622_requires(adapter):
    root = ceb_samples.inventory(ceb_samples.Purchase())
    head = root.find("c:Inventory/c:InventoryHead", NS)
    head.remove(head.find(C + "copNo"))
    document = adapter.render_receipt(receipt_for(root, True))
    adapter.validate(document)
    answer = ceb.fields_of(document.find(C + "InventoryReturn"))
    assert len(answer["preNo"]) == 18
    assert answer["copNo"]


@pytest.mark.parametrize(
    ("code", "status"),
    [("malformed-xml", "-0001"), ("schema-invalid", "-0002"), ("unsupported-message", "-0999"),
     ("certificate-expired", "-1002"), ("no-route", "-2001"), ("mapping-failed", "-2999"),
     ("unavailable", "-3001")],
)  # fmt: skip
def test_message_without_records_is_answered_with_ceb900(adapter, code, status):
    receipt = Receipt(accepted=False, issued=dt.datetime(2026, 11, 27, tzinfo=dt.UTC),
                      gateway_message_id="0f9c7a52-6a4e-4f55-9d2e-1c8b7e5a3d21", sender="cn-customs",
                      receiver="cn-nsw", errors=(ReceiptError(code, "what went wrong"),))  # fmt: skip
    document = adapter.render_receipt(receipt)
    adapter.validate(document)
    assert etree.QName(document).localname == "CEB900Message"
    answer = ceb.fields_of(document.find(C + "MessageReturn"))
    assert answer["returnStatus"] == status
    assert answer["oriMessageType"] == "Unknown"
    assert f"{code}: what went wrong" in answer["returnInfo"]


def test_receipt_for_records_too_odd_for_ceb312_falls_back_to_ceb900(adapter):
    odd = RecordRef("CEB311Message", (("guid", "x" * 36), ("orderNo", "A1")))  # no ebpCode / ebcCode
    receipt = Receipt(
        accepted=False,
        issued=dt.datetime(2026, 11, 27, tzinfo=dt.UTC),
        gateway_message_id="0f9c7a52-6a4e-4f55-9d2e-1c8b7e5a3d21",
        sender="cn-customs",
        receiver="cn-nsw",
        referenced_message_id="G" * 36,
        referenced_message_type="order",
        errors=(ReceiptError("schema-invalid", "bad"),),
        records=(odd,),
    )
    document = adapter.render_receipt(receipt)
    assert etree.QName(document).localname == "CEB900Message"
    assert document.findtext("c:MessageReturn/c:oriMessageType", namespaces=NS) == "CEB311Message"
    assert document.findtext("c:MessageReturn/c:guid", namespaces=NS) == "G" * 36


# --- end to end through the real app -----------------------------------------------------------


@pytest.fixture
async def flow(tmp_path, inbox_factory, amqp, aiohttp_client):
    inbox = await inbox_factory()
    deployment = make_deployment(
        tmp_path,
        [
            PartnerSpec("cn-nsw", format="ceb", role="single-window", country="CN", sends=["order"], receives=[]),
            PartnerSpec("nl-customs", url=inbox.url, sends=[], receives=["order", "receipt"]),
        ],
        rules='[[routing.rules]]\ntypes = ["order"]\nreceivers = ["nl-customs"]\n',
    )
    client = await aiohttp_client(build_app(deployment.settings()))
    yield deployment, client, inbox
    await client.close()
    await remove_topology(amqp, deployment, ["cn-nsw", "nl-customs"])


async def test_single_window_order_reaches_a_canonical_receiver(flow):
    deployment, client, inbox = flow
    purchase = ceb_samples.Purchase()
    message = ceb_samples.order(purchase)
    body = b"\xef\xbb\xbf" + signed(deployment.partners["cn-nsw"], message)  # as the samples: with a BOM

    response = await client.post("/v1/partners/cn-nsw/messages", data=body, headers={"Content-Type": "application/xml"})
    answer = await response.read()
    assert response.status == 202, answer

    # The receipt is a CEB312 signed by the gateway, answering the order by its keys.
    receipt = ceb_samples.carried(XMLVerifier().verify(answer, x509_cert=deployment.gateway.cert).signed_xml)
    assert etree.QName(receipt).localname == "CEB312Message"
    returned = ceb.fields_of(receipt.find(C + "OrderReturn"))
    assert returned["orderNo"] == purchase.order_no
    assert returned["ebpCode"] == purchase.ebp_code
    assert returned["returnStatus"] == "2"
    gateway_id = response.headers["X-Gateway-Message-Id"]
    assert receipt.get("guid") == gateway_id.upper()

    # The canonical receiver gets the canonical order, signed by the gateway.
    await inbox.wait_for(1)
    headers, delivered = inbox.received[0]
    assert headers["X-Sender"] == "cn-nsw"
    assert headers["X-Message-Type"] == "order"
    envelope = XMLVerifier().verify(delivered, x509_cert=deployment.gateway.cert).signed_xml
    header = envelope.find(f"{E}Header")
    assert header.findtext(f"{E}MessageID") == message.get("guid")
    assert header.findtext(f"{E}Sender") == "cn-nsw"
    assert header.findtext(f"{E}Receiver") == "nl-customs"
    assert header.findtext(f"{E}GatewayMessageID") == gateway_id
    order = payload(envelope).find(W + "ElectronicOrder")
    assert order.findtext(W + "OrderID") == purchase.order_no
    assert order.findtext("w:Buyer/w:IdentityDocument/w:ID", namespaces=NS) == purchase.buyer_id
    assert len(order.findall(W + "GoodsItem")) == len(purchase.lines)
    canonical_valid(envelope)


@pytest.mark.parametrize("app_time", ["00010101000000", "00010101075959"])
async def test_an_app_time_before_year_1_in_utc_is_not_a_500(flow, app_time):
    """appTime is China time: 0001-01-01 00:00 there is before 0001-01-01 UTC, which the replay window's message
    could not write (a 500). Refused naming appTime."""
    deployment, client, _ = flow
    message = ceb_samples.order(ceb_samples.Purchase())
    message.find("c:Order/c:OrderHead/c:appTime", NS).text = app_time
    response = await client.post(
        "/v1/partners/cn-nsw/messages", data=signed(deployment.partners["cn-nsw"], message),
        headers={"Content-Type": "application/xml"},
    )  # fmt: skip
    answer = await response.read()
    assert (response.status, response.headers["X-Gateway-Outcome"]) == (422, "schema-invalid"), answer
    verified = XMLVerifier().verify(answer, x509_cert=deployment.gateway.cert).signed_xml
    assert "appTime" in " ".join(ceb_samples.carried(verified).itertext())


async def test_single_window_gets_a_ceb_rejection(flow):
    deployment, client, _ = flow
    message = ceb_samples.order(ceb_samples.Purchase())
    message.find("c:Order/c:OrderList/c:unit", NS).text = "999"
    response = await client.post("/v1/partners/cn-nsw/messages", data=signed(deployment.partners["cn-nsw"], message))
    assert response.status == 422
    verified = XMLVerifier().verify(await response.read(), x509_cert=deployment.gateway.cert).signed_xml
    returned = ceb.fields_of(ceb_samples.carried(verified).find(C + "OrderReturn"))
    assert returned["returnStatus"] == "-2999"
    assert "mapping-failed at /CEB311Message/Order[1]/OrderList[1]/unit" in returned["returnInfo"]


async def test_tampered_ceb_order_is_refused_with_1001(flow):
    deployment, client, _ = flow
    body = signed(deployment.partners["cn-nsw"], ceb_samples.order(ceb_samples.Purchase()))
    tampered = body.replace(b"ORD-2026-000123", b"ORD-2026-000999")
    response = await client.post("/v1/partners/cn-nsw/messages", data=tampered)
    assert response.status == 401
    verified = XMLVerifier().verify(await response.read(), x509_cert=deployment.gateway.cert).signed_xml
    assert ceb_samples.carried(verified).findtext("c:OrderReturn/c:returnStatus", namespaces=NS) == "-1001"


def test_to_bytes_round_trip_keeps_chinese_text(adapter):
    envelope = canonical_order(adapter)
    again = parse_xml(to_bytes(envelope))
    assert again.findtext("e:Body/w:Order/w:ElectronicOrder/w:Buyer/w:Name", namespaces=NS) == "张三"


@pytest.fixture
async def to_single_window(tmp_path, inbox_factory, amqp, aiohttp_client):
    inbox = await inbox_factory()
    deployment = make_deployment(
        tmp_path,
        [
            PartnerSpec("hk-platform", url="http://127.0.0.1:9/never", sends=["order"], receives=["receipt"]),
            PartnerSpec("cn-nsw", url=inbox.url, format="ceb", role="single-window", country="CN", sends=[],
                        receives=["order"]),
        ],
        max_attempts=1,
    )  # fmt: skip
    client = await aiohttp_client(build_app(deployment.settings()))
    yield deployment, client, inbox
    await client.close()
    await remove_topology(amqp, deployment, ["hk-platform", "cn-nsw"])


async def test_canonical_order_reaches_the_single_window_as_a_signed_ceb311(to_single_window):
    deployment, client, inbox = to_single_window
    original = envelope("hk-platform", "cn-nsw", message_type="order", example="order.xml")
    response = await client.post(
        "/v1/partners/hk-platform/messages", data=signed(deployment.partners["hk-platform"], original)
    )
    assert response.status == 202, await response.text()
    gateway_id = response.headers["X-Gateway-Message-Id"]

    await inbox.wait_for(1)
    _, delivered = inbox.received[0]
    document = XMLVerifier().verify(delivered, x509_cert=deployment.gateway.cert).signed_xml
    assert etree.QName(document).localname == "CEB311Message"
    assert document.get("guid") == gateway_id.upper()
    CebAdapter().validate(document)
    head = ceb.fields_of(document.find("c:Order/c:OrderHead", NS))
    assert head["orderNo"] == "ORD-2026-000123"
    assert (head["acturalPaid"], head["currency"], head["buyerIdType"]) == ("557.0", "142", "1")
    lines = [ceb.fields_of(line) for line in document.iterfind("c:Order/c:OrderList", NS)]
    assert [(line["unit"], line["country"]) for line in lines] == [("122", "116"), ("011", "116")]
    assert (await record_of(deployment, client, gateway_id, "delivered"))["status"] == "delivered"


async def test_what_ceb_cannot_carry_is_refused_at_ingress_with_the_reason(to_single_window):
    """Issue 11: the receiver's format cannot carry a value -> 422 mapping-failed naming it, nothing queued."""
    deployment, client, inbox = to_single_window
    original = envelope("hk-platform", "cn-nsw", message_type="order", example="order.xml")
    add(original.find("e:Body/w:Order/w:ElectronicOrder", NS), "OrderID", "BusinessModelCode", "9610")
    response = await client.post(
        "/v1/partners/hk-platform/messages", data=signed(deployment.partners["hk-platform"], original)
    )
    text = await response.text()
    assert (response.status, response.headers["X-Gateway-Outcome"]) == (422, "mapping-failed"), text
    assert "receiver cn-nsw (ceb) cannot take this order" in text
    assert "BusinessModelCode = '9610'" in text
    record = await record_of(deployment, client, response.headers["X-Gateway-Message-Id"], "rejected")
    assert record["status"] == "rejected"
    assert inbox.received == []


# --- CEB receipts from a CEB partner ------------------------------------------------------------------------


@pytest.mark.parametrize("path", RECEIPT_SAMPLES, ids=lambda p: p.stem)
def test_receipt_sample_maps_to_a_canonical_receipt_and_back_unchanged(adapter, path):
    root = sample(path)
    adapter.validate(root)
    info = adapter.identify(root)
    assert (info.message_type, info.message_id) == ("receipt", root.get("guid"))
    envelope = to_canonical(adapter, root)
    canonical_valid(envelope)
    kind = ceb.RECEIPTS[path.stem]
    assert kind.receipt_record is not None
    records = payload(envelope).findall(W + "ReferencedRecord")
    assert len(records) == len(root.findall(C + kind.receipt_record))
    assert {r.findtext(W + "RecordName") for r in records} == {kind.canonical_record}
    back = adapter.from_canonical(envelope, "cn-nsw")
    adapter.validate(back)
    assert etree.QName(back).localname == path.stem
    fields = [ceb.fields_of(r) for r in root.findall(C + kind.receipt_record)]
    assert [ceb.fields_of(r) for r in back.findall(C + kind.receipt_record)] == fields


def test_a_refused_record_makes_a_rejected_receipt_naming_it(adapter):
    root = load(SAMPLES / "import" / "CEB622Message.xml")
    answer = root.findall(C + "InventoryReturn")[-1]
    answer.find(C + "returnStatus").text = "100"
    answer.find(C + "returnInfo").text = "海关退单: 商品编码错误"
    envelope = to_canonical(adapter, root)
    canonical_valid(envelope)
    receipt = payload(envelope)
    assert receipt.findtext(W + "FunctionCode") == "rejected"
    (error,) = receipt.findall(W + "Error")
    count = len(root.findall(C + "InventoryReturn"))
    assert error.findtext(W + "ValidationCode") == "100"
    assert error.findtext(W + "Pointer") == f"/CEB622Message/InventoryReturn[{count}]"
    assert error.findtext(W + "Description") == "海关退单: 商品编码错误"
    back = adapter.from_canonical(envelope, "cn-nsw")
    assert back.findall(C + "InventoryReturn")[-1].findtext(C + "returnStatus") == "100"  # its own status


def test_a_receipt_time_that_is_no_time_is_mapping_failed(adapter):
    root = load(SAMPLES / "import" / "CEB312Message.xml")
    root.find("c:OrderReturn/c:returnTime", NS).text = "2016X428182238123"
    adapter.validate(root)  # the XSD only bounds its length
    with pytest.raises(MappingFailed) as caught:
        to_canonical(adapter, root)
    assert "'2016X428182238123'" in caught.value.message
    assert caught.value.pointer.endswith("returnTime")


@pytest.fixture
async def receipt_flow(tmp_path, inbox_factory, amqp, aiohttp_client):
    inbox = await inbox_factory()
    deployment = make_deployment(
        tmp_path,
        [
            PartnerSpec("cn-nsw", format="ceb", role="single-window", country="CN", sends=["receipt"], receives=[]),
            PartnerSpec("nl-customs", url=inbox.url, sends=[], receives=["receipt"]),
        ],
        rules='[[routing.rules]]\ntypes = ["receipt"]\nreceivers = ["nl-customs"]\n',
    )
    client = await aiohttp_client(build_app(deployment.settings()))
    yield deployment, client, inbox
    await client.close()
    await remove_topology(amqp, deployment, ["cn-nsw", "nl-customs"])


async def test_a_ceb622_from_the_single_window_reaches_a_canonical_partner(receipt_flow):
    deployment, client, inbox = receipt_flow
    root = load(SAMPLES / "import" / "CEB622Message.xml")
    now = dt.datetime.now(ceb.CHINA).strftime("%Y%m%d%H%M%S") + "000"
    for element in root.iter(C + "returnTime"):
        element.text = now  # inside the replay window
    wrapped = dxp.wrap(root, sender_id="DXPNSW0000000001", receiver_id="GATEWAY", created=dt.datetime.now(dt.UTC))
    response = await client.post("/v1/partners/cn-nsw/messages", data=signed(deployment.partners["cn-nsw"], wrapped))
    assert response.status == 202, await response.text()
    await inbox.wait_for(1)
    headers, body = inbox.received[0]
    assert headers["X-Message-Type"] == "receipt"
    envelope = XMLVerifier().verify(body, x509_cert=deployment.gateway.cert).signed_xml
    canonical_valid(envelope)
    records = payload(envelope).findall(W + "ReferencedRecord")
    assert len(records) == len(root.findall(C + "InventoryReturn"))
    first = ceb.fields_of(root.find(C + "InventoryReturn"))
    assert records[0].findtext(W + "PreEntryID") == first["preNo"]
    assert records[0].findtext(W + "ProcessingStatusCode") == first["returnStatus"]
