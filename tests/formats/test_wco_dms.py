"""The ``wco-dms`` adapter: HMRC CDS WCO DM 3.6 declarations and notifications <-> canonical; real flows."""

from __future__ import annotations

import copy
import datetime as dt
from dataclasses import replace
from pathlib import Path

import pytest
from lxml import etree
from signxml import XMLVerifier

from gateway.app import build_app
from gateway.errors import MalformedXml, MappingFailed, SchemaInvalid, UnsupportedMessage
from gateway.formats import default_adapters
from gateway.formats.base import Receipt, ReceiptError
from gateway.formats.canonical import CanonicalAdapter
from gateway.formats.schemas import SCHEMAS_DIR, load_schema
from gateway.formats.wco_dms import SCHEMA, WcoDmsAdapter
from gateway.mapping import dms_receipt
from gateway.mapping import wco_dms as dms
from gateway.mapping.ceb import CEB_NS
from gateway.mapping.records import path_in
from gateway.mapping.structure import sort_children
from gateway.security.xml import parse_xml
from tests.conftest import remove_topology
from tests.formats import ceb_samples
from tests.formats.support import c14n, load, payload, record_of
from tests.formats.support import to_canonical as mapped
from tests.helpers import ENV, FIXTURES, ROOT, PartnerSpec, make_deployment, signed

E, W = f"{{{ENV}}}", "{urn:customs-gateway:wco:1}"
NS = {"md": dms.MD_NS, "d": dms.DEC_NS, "r": dms.RES_NS, "w": W[1:-1], "e": ENV}
SAMPLES = FIXTURES / "wco-dec-dms" / "samples"
DECLARATIONS = sorted((SAMPLES / "declarations").glob("*.xml"))
RECEIPTS = sorted((SAMPLES / "notifications_namespaced").glob("*Function_Code_02.xml"))
DECISIONS = sorted(p for p in (SAMPLES / "notifications_namespaced").glob("*.xml") if p not in RECEIPTS)
NO_NAMESPACE = sorted((SAMPLES / "notifications_no_namespace").glob("*.xml"))
NOT_WELL_FORMED = ["TT_EX002a.xml", "TT_EX022a_Declaration1_Step1.xml", "TT_IM084a.xml"]
MASSES = ("TotalGrossMassMeasure", "GrossMassMeasure", "NetNetWeightMeasure")


@pytest.fixture(scope="module")
def adapter() -> WcoDmsAdapter:
    return WcoDmsAdapter()


def to_canonical(adapter: WcoDmsAdapter, root: etree._Element, sender: str = "gb-hmrc") -> etree._Element:
    return mapped(adapter, root, sender)


def leaves(element: etree._Element) -> list[tuple[str, str, tuple[tuple[str, str], ...]]]:
    """Every value below ``element``: (path with positions, text as it is, attributes)."""
    out = []
    for leaf in element.iter():
        if not isinstance(leaf.tag, str) or len(leaf):
            continue
        attributes = {k: v for k, v in leaf.attrib.items() if "schemaLocation" not in k}
        out.append((path_in(element, leaf), leaf.text or "", tuple(sorted(attributes.items()))))
    return out


def test_adapter_is_registered():
    assert isinstance(default_adapters()["wco-dms"], WcoDmsAdapter)


def test_schemas_are_local_files_compiled_once():
    for xsd in (SCHEMAS_DIR / "wco-dms").rglob("*.xsd"):
        for ref in etree.parse(str(xsd)).iter("{http://www.w3.org/2001/XMLSchema}import"):
            location = ref.get("schemaLocation")
            assert "://" not in location
            assert (xsd.parent / location).is_file(), (xsd, location)
    assert load_schema(SCHEMA) is load_schema(SCHEMA)
    assert (SCHEMAS_DIR / "wco-dms" / "SOURCE.md").is_file()


def test_shared_elements_are_in_the_same_order_in_the_dec_and_canonical_schemas():
    # Path-for-path copying keeps the source order: it must be valid in the other schema too.
    canonical, dec = dms.canonical_shape(), dms.dec_shape()
    for path, node in canonical.items():
        if path in dec:
            assert [c for c in node.children if c in dec[path].children] == [
                c for c in dec[path].children if c in node.children
            ], path


# --- declarations ------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", DECLARATIONS, ids=lambda p: p.stem)
def test_declaration_sample_round_trips(adapter, path):
    original = load(path)
    info = adapter.identify(original)
    declaration = original.find("d:Declaration", NS)
    assert info.message_type == "declaration"
    assert info.message_id == declaration.findtext("d:FunctionalReferenceID", namespaces=NS)  # the LRN
    adapter.validate(original)

    first = to_canonical(adapter, original)
    CanonicalAdapter().validate(first)
    assert payload(first).findtext("w:FunctionalReferenceID", namespaces=NS) == info.message_id

    rendered = adapter.from_canonical(copy.deepcopy(first), "gb-hmrc")
    adapter.validate(rendered)
    # DEC -> canonical -> DEC: every value, at the same place, nothing added.
    assert leaves(rendered.find("d:Declaration", NS)) == leaves(declaration)
    # ... and canonical -> DEC -> canonical is the identity.
    assert c14n(payload(to_canonical(adapter, rendered))) == c14n(payload(first))
    # The wrapper is the gateway's.
    assert [c.text for c in rendered][:5] == ["3.6", "DEC", "GB", "HMRC", "v2.1"]


def test_cancellation_request_keeps_its_pointers_and_amendment(adapter):
    envelope = to_canonical(adapter, load(SAMPLES / "declarations" / "TT_EX010a__TT_EX010a_Cancellation.xml"))
    declaration = payload(envelope)
    assert declaration.findtext("w:FunctionCode", namespaces=NS) == "13"
    assert declaration.findtext("w:TypeCode", namespaces=NS) == "INV"
    pointers = declaration.findall("w:AdditionalInformation/w:Pointer/w:DocumentSectionCode", NS)
    assert [p.text for p in pointers] == ["42A", "06A"]
    assert declaration.findtext("w:Amendment/w:ChangeReasonCode", namespaces=NS) == "1"


def test_masses_are_carried_as_sent_without_a_unit_added(adapter):
    original = load(SAMPLES / "declarations" / "TT_IM021a__Step1_TT_IM021a.xml")
    declaration = payload(to_canonical(adapter, original))
    measure = declaration.find(".//w:GoodsMeasure", NS)
    assert [(m.get("unitCode"), m.text) for m in measure] == [(None, "3100"), (None, "3000"), (None, "100")]
    rendered = adapter.from_canonical(to_canonical(adapter, original), "gb-hmrc")
    assert not [m for name in MASSES for m in rendered.iter(dms.DEC + name) if m.get("unitCode")]
    codes = [
        (c.findtext("w:ID", namespaces=NS), c.findtext("w:IdentificationTypeCode", namespaces=NS))
        for c in declaration.findall(".//w:Commodity/w:Classification", NS)
    ]
    assert codes[0][1] == "TSP"


def sample(name: str = "TT_IM077a__TT_IM077a.xml") -> etree._Element:
    return load(SAMPLES / "declarations" / name)


def test_what_the_canonical_form_once_refused_is_carried(adapter):
    root = sample()
    shipment = root.find("d:Declaration/d:GoodsShipment", NS)
    buyer = etree.Element(dms.DEC + "Buyer")
    etree.SubElement(buyer, dms.DEC + "Name").text = "Antique Prints Ltd"
    shipment.find("d:Consignment", NS).addprevious(buyer)
    shipment.find(".//d:Commodity/d:Description", NS).set("languageID", "en")
    item = shipment.find("d:GovernmentAgencyGoodsItem", NS)
    for country in ("CN", "US"):  # origin and preferential origin
        origin = etree.SubElement(item, dms.DEC + "Origin")
        etree.SubElement(origin, dms.DEC + "CountryCode").text = country
        etree.SubElement(origin, dms.DEC + "TypeCode").text = "1"
    sort_children(item, dms.dec_shape(), GOODS_ITEM)
    root.find("d:Declaration/d:TypeCode", NS).addprevious(
        etree.fromstring(
            f'<IssueDateTime xmlns="{dms.DEC_NS}"><p:DateTimeString xmlns:p="{dms.DEC_DS_NS}" '
            'formatCode="102">20260127</p:DateTimeString></IssueDateTime>'
        )
    )
    adapter.validate(root)
    envelope = to_canonical(adapter, root)
    CanonicalAdapter().validate(envelope)
    assert payload(envelope).findtext("w:IssueDateTime", namespaces=NS) == "2026-01-27"
    rendered = adapter.from_canonical(envelope, "gb-hmrc")
    adapter.validate(rendered)
    assert leaves(rendered.find("d:Declaration", NS)) == leaves(root.find("d:Declaration", NS))


GOODS_ITEM = "Declaration/GoodsShipment/GovernmentAgencyGoodsItem"


@pytest.mark.parametrize(
    ("code", "text", "message"),
    [
        ("102", "20260127101500Z", "does not match its format code"),
        ("304", "20260127", "does not match its format code"),
        ("102", "20261399", "not a date in the calendar"),
    ],
)
def test_a_dec_date_that_means_no_date_is_mapping_failed(adapter, code, text, message):
    root = sample()
    root.find("d:Declaration", NS).insert(
        0,
        etree.fromstring(
            f'<AcceptanceDateTime xmlns="{dms.DEC_NS}"><p:DateTimeString xmlns:p="{dms.DEC_DS_NS}" '
            f'formatCode="{code}">{text}</p:DateTimeString></AcceptanceDateTime>'
        ),
    )
    adapter.validate(root)
    with pytest.raises(MappingFailed, match=message) as caught:
        to_canonical(adapter, root)
    assert text in caught.value.message


def canonical_declaration() -> etree._Element:
    return etree.fromstring((ROOT / "examples" / "declaration.xml").read_bytes())


def test_what_dec_cannot_carry_is_reported_not_dropped(adapter):
    envelope = canonical_declaration()
    body = payload(envelope)
    body.find("w:BorderTransportMeans/w:ID", NS).set("languageID", "en")
    _document, losses = adapter.render(envelope)
    assert [(loss.pointer, loss.value) for loss in losses] == [
        ("/Envelope/Body/Declaration/BorderTransportMeans/ID/@languageID", "en"),
        ("/Envelope/Body/Declaration/BorderTransportMeans/JourneyID", "043W"),
    ]
    with pytest.raises(MappingFailed, match="the wco-dms format cannot carry 2 value"):
        adapter.from_canonical(envelope, "gb-hmrc")


def dec_ready(envelope: etree._Element) -> etree._Element:
    """The canonical example without what DEC cannot carry (the journey) or hold (identifiers over 17)."""
    body = payload(envelope)
    means = body.find("w:BorderTransportMeans", NS)
    means.remove(means.find("w:JourneyID", NS))
    body.find("w:Exporter/w:ID", NS).text = "CN4403000000X"
    return envelope


def test_canonical_example_renders_as_a_valid_dec_declaration(adapter):
    too_long = canonical_declaration()
    means = payload(too_long).find("w:BorderTransportMeans", NS)
    means.remove(means.find("w:JourneyID", NS))
    # The exporter id has 18 characters (a Chinese USCC); DEC takes an..17: the receiver cannot carry it.
    with pytest.raises(MappingFailed, match=r"cannot carry the value '91440300MA5XXXXX0T'.*length of '18'") as caught:
        adapter.from_canonical(too_long, "gb-hmrc")
    assert caught.value.pointer == "/MetaData/Declaration/Exporter/ID"
    assert "at /MetaData/Declaration/Exporter/ID:" in caught.value.message
    document = adapter.from_canonical(dec_ready(canonical_declaration()), "gb-hmrc")
    adapter.validate(document)
    declaration = document.find("d:Declaration", NS)
    assert declaration.findtext("d:IssueDateTime/p:DateTimeString", namespaces={**NS, "p": dms.DEC_DS_NS}) == (
        "20261127174500+08"
    )
    assert [m.get("unitCode") for m in declaration.iter(dms.DEC + "GrossMassMeasure")] == ["KGM", "KGM"]


def test_risk_alert_is_not_a_dms_message(adapter):
    envelope = etree.fromstring((ROOT / "examples" / "risk-alert.xml").read_bytes())
    with pytest.raises(
        UnsupportedMessage, match=r"declaration, inventory .as its declaration., receipt and notification"
    ):
        adapter.from_canonical(envelope, "gb-hmrc")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-27T17:45:00+08:00", "20261127174500+08"),
        ("2026-11-27T10:00:00Z", "20261127100000Z"),
        ("2026-11-27T10:00:00-05:00", "20261127100000-05"),
        ("2026-11-27T10:00:00+05:30", "20261127043000Z"),
    ],
)
def test_date_times_are_written_as_format_304(text, expected):
    assert dms.to_304(text, "/x") == expected


def test_fractions_of_a_second_cannot_be_carried():
    with pytest.raises(MappingFailed, match="fractions of a second"):
        dms.to_304("2026-11-27T10:00:00.5Z", "/Envelope/Body/Declaration/IssueDateTime")


# --- notifications (receipts) ---------------------------------------------------------------------------


@pytest.mark.parametrize("path", RECEIPTS, ids=lambda p: p.stem)
def test_received_notification_is_an_accepted_receipt_and_round_trips(adapter, path):
    original = load(path)
    adapter.validate(original)
    info = adapter.identify(original)
    response = original.find("r:Response", NS)
    assert (info.message_type, info.message_id) == (
        "receipt",
        response.findtext("r:FunctionalReferenceID", namespaces=NS),
    )
    assert info.correlation_id == response.findtext("r:Declaration/r:FunctionalReferenceID", namespaces=NS)
    assert info.created is not None

    envelope = to_canonical(adapter, original)
    CanonicalAdapter().validate(envelope)
    receipt = payload(envelope)
    assert receipt.findtext("w:FunctionCode", namespaces=NS) == "accepted"
    assert receipt.findtext("w:Declaration/w:ID", namespaces=NS) == "23GB5SCPZSPYDAUAA1"
    rendered = adapter.from_canonical(copy.deepcopy(envelope), "gb-hmrc")
    adapter.validate(rendered)
    assert leaves(rendered.find("r:Response", NS)) == leaves(response)


def namespaced(path: Path) -> etree._Element:
    """A no-namespace notification as HMRC's schemas define it (only for those with one Declaration)."""
    root = etree.fromstring(path.read_bytes())
    for element in root.iter():
        if not isinstance(element.tag, str):
            continue
        if element is root or (element.getparent() is root and element.tag != "Response"):
            element.tag = dms.MD + element.tag
        elif element.tag == "DateTimeString":
            element.tag = f"{{{dms.RES_DS_NS}}}DateTimeString"
        else:
            element.tag = dms.RES + element.tag
    return parse_xml(etree.tostring(root))


def test_rejection_notification_maps_error_pointer_and_dates(adapter):
    original = namespaced(SAMPLES / "notifications_no_namespace" / "03_DMSREJ.xml")
    adapter.validate(original)
    receipt = payload(to_canonical(adapter, original))
    assert receipt.findtext("w:FunctionCode", namespaces=NS) == "rejected"
    assert receipt.findtext("w:ReferencedMessageID", namespaces=NS) == "Sample_A_TC01_1102_03"
    assert receipt.findtext("w:Declaration/w:RejectionDateTime", namespaces=NS) == "2020-02-11T11:42:12Z"
    error = receipt.find("w:Error", NS)
    assert [c.text for c in error] == ["CDS12005", "42A/17C#R144", dms_receipt.NO_DESCRIPTION]
    rendered = adapter.from_canonical(to_canonical(adapter, original), "gb-hmrc")
    adapter.validate(rendered)
    assert leaves(rendered.find("r:Response", NS)) == leaves(original.find("r:Response", NS))


# HMRC's notification samples of every FunctionCode but the receipts (02, 03), namespaced as the schema wants.
# 07_DMSRES (no namespace) puts its DEC declaration in the RES namespace when namespaced (invalid); 16_DMSEOG
# writes a date as 'Wed Nov 13 00:00:00 UTC 2019' (invalid): both are schema-invalid, like other invalid samples.
NOTIFICATIONS = DECISIONS + [p for p in NO_NAMESPACE if p.name[:2] not in {"02", "03", "07", "16"}]
INVALID_NOTIFICATIONS = [p for p in NO_NAMESPACE if p.name[:2] in {"07", "16"}]


def notification(path: Path) -> etree._Element:
    return load(path) if path in DECISIONS else namespaced(path)


@pytest.mark.parametrize("path", NOTIFICATIONS, ids=lambda p: p.stem)
def test_customs_decisions_are_canonical_notifications_and_back_losslessly(adapter, path):
    root = notification(path)
    adapter.validate(root)
    info = adapter.identify(root)
    assert info.message_type == "notification"
    failure: MappingFailed | None = None
    try:
        envelope = adapter.to_canonical(root, info, "gb-hmrc")
    except MappingFailed as caught:
        failure = caught
    if failure is not None:
        # Only a DEC declaration inside the Response (DMSRES: the amended data) without an LRN, which the
        # canonical declaration requires (until it carries DEC at DEC's cardinalities, issue 11 item 1).
        partial = root.find(f"r:Response/{{{dms.DEC_NS}}}Declaration", NS)
        assert partial is not None
        assert partial.find("d:FunctionalReferenceID", NS) is None
        assert "DEC declaration at /MetaData/Response/Declaration[2]" in failure.message
        return
    CanonicalAdapter().validate(envelope)
    notice = payload(envelope)
    assert etree.QName(notice).localname == "Notification"
    assert notice.findtext("w:FunctionCode", namespaces=NS) == root.findtext("r:Response/r:FunctionCode", namespaces=NS)
    assert envelope.findtext("e:Header/e:CorrelationID", namespaces=NS) == root.findtext(
        "r:Response/r:Declaration/r:FunctionalReferenceID", namespaces=NS
    )
    rendered = adapter.from_canonical(copy.deepcopy(envelope), "gb-hmrc")
    adapter.validate(rendered)
    assert leaves(rendered.find("r:Response", NS)) == leaves(root.find("r:Response", NS))


@pytest.mark.parametrize("path", INVALID_NOTIFICATIONS, ids=lambda p: p.stem)
def test_invalid_notification_samples_are_schema_invalid_naming_line_and_reason(adapter, path):
    with pytest.raises(SchemaInvalid, match=r"does not match its schema at line \d+: .+"):
        adapter.validate(notification(path))


@pytest.mark.parametrize("path", NO_NAMESPACE, ids=lambda p: p.stem)
def test_notifications_without_namespace_are_schema_invalid_with_the_reason(adapter, path):
    root = load(path)
    for step in (adapter.identify, adapter.validate):
        with pytest.raises(SchemaInvalid) as caught:
            step(root)
        assert "have no namespace" in caught.value.message
        assert dms.RES_NS in caught.value.message
        assert caught.value.pointer == "/MetaData"


@pytest.mark.parametrize("name", NOT_WELL_FORMED)
def test_not_well_formed_samples_are_malformed_xml(name):
    with pytest.raises(MalformedXml, match=r"(?i)comment"):
        load(SAMPLES / "malformed_or_invalid" / name)


def test_schema_invalid_sample_is_schema_invalid(adapter):
    root = load(SAMPLES / "malformed_or_invalid" / "example_submission_declaration_400.xml")
    with pytest.raises(SchemaInvalid, match="unknown"):
        adapter.validate(root)
    with pytest.raises(SchemaInvalid, match="FunctionalReferenceID"):
        adapter.identify(root)  # no LRN: no message id


def test_other_documents_are_unsupported(adapter):
    with pytest.raises(UnsupportedMessage, match="MetaData"):
        adapter.identify(etree.fromstring(b'<Declaration xmlns="urn:wco:datamodel:WCO:DEC-DMS:2"/>'))


@pytest.mark.parametrize(
    ("text", "steps"),
    [
        ("42A/17C#R144", [(None, "42A", None), (None, "17C", "R144")]),
        ("68A[2]/23A#145", [("2", "68A", None), (None, "23A", "145")]),
        ("/MetaData/Declaration", None),
        ("/*/ds:Signature", None),
    ],
)
def test_wco_pointer_text(text, steps):
    assert dms_receipt.pointer_steps(text) == steps


# --- the gateway's receipts ------------------------------------------------------------------------------


def gateway_receipt(accepted: bool, *errors: ReceiptError) -> Receipt:
    return Receipt(
        accepted=accepted,
        issued=dt.datetime(2026, 11, 27, 10, 0, 0, 123000, tzinfo=dt.UTC),
        gateway_message_id="0f9c7a52-6a4e-4f55-9d2e-1c8b7e5a3d21",
        sender="gw-test",
        receiver="gb-hmrc",
        referenced_message_id="U.7847767797YA",
        referenced_message_type="declaration",
        errors=errors,
    )


def test_accepted_message_is_answered_with_dmsrcv(adapter):
    document = adapter.render_receipt(gateway_receipt(True))
    adapter.validate(document)
    response = document.find("r:Response", NS)
    assert response.findtext("r:FunctionCode", namespaces=NS) == "02"
    assert response.findtext("r:FunctionalReferenceID", namespaces=NS) == "0f9c7a526a4e4f559d2e1c8b7e5a3d21"
    assert response.findtext("r:Declaration/r:FunctionalReferenceID", namespaces=NS) == "U.7847767797YA"
    assert document.findtext("md:WCOTypeName", namespaces=NS) == "RES"


def test_rejection_is_answered_with_dmsrej_and_the_reason(adapter):
    long = ReceiptError("schema-invalid", "Element 'Name': " + "x" * 700, "/MetaData/Declaration/Exporter/Name")
    wco = ReceiptError("CDS12005", "authorisation holder", "42A/17C#R144")
    document = adapter.render_receipt(gateway_receipt(False, long, wco))
    adapter.validate(document)
    first, second = document.findall("r:Response/r:Error", NS)
    assert first.findtext("r:ValidationCode", namespaces=NS) == "GWSCHEMA"
    description = first.findtext("r:Description", namespaces=NS)
    assert description.startswith("schema-invalid at /MetaData/Declaration/Exporter/Name: Element 'Name'")
    assert len(description) == 512
    assert [p.findtext("r:DocumentSectionCode", namespaces=NS) for p in second.findall("r:Pointer", NS)] == [
        "42A",
        "17C",
    ]


def test_receipt_for_an_id_longer_than_an_lrn_leaves_it_out_and_stays_valid(adapter):
    receipt = gateway_receipt(False, ReceiptError("schema-invalid", "FunctionalReferenceID too long"))
    document = adapter.render_receipt(replace(receipt, referenced_message_id="L" * 40))
    adapter.validate(document)
    assert document.find("r:Response/r:Declaration/r:FunctionalReferenceID", NS) is None


def test_canonical_receipt_reaches_a_dms_receiver_as_a_notification(adapter):
    envelope = etree.fromstring((ROOT / "examples" / "receipt.xml").read_bytes())
    document = adapter.from_canonical(envelope, "gb-hmrc")
    adapter.validate(document)
    assert document.findtext("r:Response/r:FunctionCode", namespaces=NS) == "02"
    assert document.findtext("r:Response/r:Declaration/r:FunctionalReferenceID", namespaces=NS) == (
        "NL-RA-20261127-000417"
    )


# --- end to end through the real app ---------------------------------------------------------------------


@pytest.fixture
async def flow(tmp_path, inbox_factory, amqp, aiohttp_client):
    canonical_inbox, dms_inbox = await inbox_factory(), await inbox_factory()
    deployment = make_deployment(
        tmp_path,
        [
            PartnerSpec(
                "gb-hmrc",
                url=dms_inbox.url,
                format="wco-dms",
                country="GB",
                sends=["declaration"],
                receives=["declaration", "inventory", "receipt"],
            ),
            PartnerSpec("nl-customs", url=canonical_inbox.url, sends=["declaration"], receives=["declaration"]),
            PartnerSpec("cn-nsw", format="ceb", role="single-window", country="CN", sends=["inventory"], receives=[]),
        ],
        rules=(
            '[[routing.rules]]\ntypes = ["inventory"]\nreceivers = ["gb-hmrc"]\n'
            '[[routing.rules]]\ntypes = ["declaration"]\nreceivers = ["nl-customs", "gb-hmrc"]\n'
        ),
        max_attempts=1,
    )
    client = await aiohttp_client(build_app(deployment.settings()))
    yield deployment, client, canonical_inbox, dms_inbox
    await client.close()
    await remove_topology(amqp, deployment, ["gb-hmrc", "nl-customs", "cn-nsw"])


async def test_signed_dms_declaration_is_answered_with_a_signed_dmsrcv_and_reaches_a_canonical_receiver(flow):
    deployment, client, canonical_inbox, _ = flow
    declaration = sample()
    body = signed(deployment.partners["gb-hmrc"], declaration)
    # The signature is enveloped: the MetaData's last child, outside the HMRC schema (which checks the rest).
    assert etree.QName(etree.fromstring(body)[-1]).localname == "Signature"

    response = await client.post(
        "/v1/partners/gb-hmrc/messages", data=body, headers={"Content-Type": "application/xml"}
    )
    answer = await response.read()
    assert response.status == 202, answer
    receipt = XMLVerifier().verify(answer, x509_cert=deployment.gateway.cert).signed_xml
    WcoDmsAdapter().validate(receipt)
    gateway_id = response.headers["X-Gateway-Message-Id"]
    assert receipt.findtext("r:Response/r:FunctionCode", namespaces=NS) == "02"
    assert receipt.findtext("r:Response/r:FunctionalReferenceID", namespaces=NS) == gateway_id.replace("-", "")
    assert receipt.findtext("r:Response/r:Declaration/r:FunctionalReferenceID", namespaces=NS) == "U.7847767797YA"

    await canonical_inbox.wait_for(1)
    headers, delivered = canonical_inbox.received[0]
    assert (headers["X-Sender"], headers["X-Message-Type"]) == ("gb-hmrc", "declaration")
    envelope = XMLVerifier().verify(delivered, x509_cert=deployment.gateway.cert).signed_xml
    CanonicalAdapter().validate(envelope)
    assert envelope.findtext("e:Header/e:MessageID", namespaces=NS) == "U.7847767797YA"
    assert c14n(payload(envelope)) == c14n(payload(to_canonical(WcoDmsAdapter(), sample())))
    # A duplicate gets the original receipt.
    again = await client.post("/v1/partners/gb-hmrc/messages", data=body)
    assert again.status == 200
    assert await again.read() == answer


async def test_tampered_dms_declaration_is_refused_with_a_signed_dmsrej(flow):
    deployment, client, _, _ = flow
    body = signed(deployment.partners["gb-hmrc"], sample()).replace(b"Sydney", b"Sidney")
    response = await client.post("/v1/partners/gb-hmrc/messages", data=body)
    assert response.status == 401
    receipt = XMLVerifier().verify(await response.read(), x509_cert=deployment.gateway.cert).signed_xml
    WcoDmsAdapter().validate(receipt)
    assert receipt.findtext("r:Response/r:FunctionCode", namespaces=NS) == "03"
    assert receipt.findtext("r:Response/r:Error/r:ValidationCode", namespaces=NS) == "GWSIG"
    assert receipt.findtext("r:Response/r:Error/r:Description", namespaces=NS).startswith("signature-invalid")


async def test_sloppy_notification_without_namespace_is_refused_with_the_reason(flow):
    deployment, client, _, _ = flow
    body = signed(deployment.partners["gb-hmrc"], load(SAMPLES / "notifications_no_namespace" / "02_DMSRCV.xml"))
    response = await client.post("/v1/partners/gb-hmrc/messages", data=body)
    assert response.status == 422
    receipt = XMLVerifier().verify(await response.read(), x509_cert=deployment.gateway.cert).signed_xml
    assert "have no namespace" in receipt.findtext("r:Response/r:Error/r:Description", namespaces=NS)


async def test_canonical_declaration_reaches_the_dms_receiver_as_a_signed_dec(flow):
    deployment, client, _, dms_inbox = flow
    original = dec_ready(canonical_declaration())
    header = original.find(f"{E}Header")
    header.find(f"{E}Sender").text = "nl-customs"
    header.find(f"{E}Receiver").text = "gb-hmrc"
    header.find(f"{E}CreationDateTime").text = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    response = await client.post(
        "/v1/partners/nl-customs/messages", data=signed(deployment.partners["nl-customs"], original)
    )
    assert response.status == 202, await response.text()
    await dms_inbox.wait_for(1)
    _, delivered = dms_inbox.received[0]
    document = XMLVerifier().verify(delivered, x509_cert=deployment.gateway.cert).signed_xml
    WcoDmsAdapter().validate(document)
    assert document.findtext("d:Declaration/d:FunctionalReferenceID", namespaces=NS) == "CN20261127EX000077"
    goods = document.findall("d:Declaration/d:GoodsShipment/d:GovernmentAgencyGoodsItem", NS)
    assert [g.findtext("d:Commodity/d:Classification/d:ID", namespaces=NS) for g in goods] == [
        "9503003500",
        "9503004100",
    ]


async def test_single_window_inventory_replacement_cannot_reach_a_dms_receiver_and_says_why(flow):
    deployment, client, _, dms_inbox = flow
    inventory = ceb_samples.inventory(ceb_samples.Purchase())
    inventory.find(f"{{{CEB_NS}}}Inventory/{{{CEB_NS}}}InventoryHead/{{{CEB_NS}}}appType").text = "2"
    response = await client.post("/v1/partners/cn-nsw/messages", data=signed(deployment.partners["cn-nsw"], inventory))
    text = await response.text()
    # Refused at ingress (issue 11): the receiver's format cannot carry it, so nothing is queued.
    assert (response.status, response.headers["X-Gateway-Outcome"]) == (422, "mapping-failed"), text
    record = await record_of(deployment, client, response.headers["X-Gateway-Message-Id"], "rejected")
    assert record["status"] == "rejected"
    reasons = str(record.get("reason")) + " ".join(str(e.get("reason", "")) for e in record.get("history", []))
    assert "receiver gb-hmrc (wco-dms) cannot take this inventory" in reasons
    assert "FunctionCode: '5' cannot be declared" in reasons
    assert dms_inbox.received == []
