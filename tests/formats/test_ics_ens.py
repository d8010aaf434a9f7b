"""The ``ics-ens`` adapter: EU ICS CC315A and CC351A (HMRC) <-> canonical declaration and risk-alert."""

from __future__ import annotations

import copy
import datetime as dt

import pytest
from lxml import etree
from signxml import XMLVerifier

from gateway.app import build_app
from gateway.errors import MappingFailed, SchemaInvalid, UnsupportedMessage
from gateway.formats import default_adapters
from gateway.formats.base import Receipt, ReceiptError
from gateway.formats.canonical import CanonicalAdapter, set_header
from gateway.formats.ics_ens import IcsEnsAdapter
from gateway.formats.schemas import SCHEMAS_DIR
from gateway.mapping import ics_receipt, ics_tables
from gateway.mapping.ics_groups import Group
from gateway.mapping.ics_tables import Profile
from gateway.mapping.records import path_in
from tests.conftest import remove_topology
from tests.formats.support import c14n, load, payload
from tests.formats.support import to_canonical as mapped
from tests.helpers import ENV, FIXTURES, ROOT, PartnerSpec, make_deployment, signed

E, W = f"{{{ENV}}}", "{urn:customs-gateway:wco:1}"
NS = {"w": W[1:-1], "e": ENV}
XS = "{http://www.w3.org/2001/XMLSchema}"
STORE, INTERVENTIONS = FIXTURES / "ics-ens" / "ens_store", FIXTURES / "ics-ens" / "intervention_cc351a"
VALID = [
    STORE / "examples" / "CC315A_reduced.xml",
    STORE / "examples" / "validSubmission.xml",
    STORE / "test_xmls" / "315NoOptional.xml",
    INTERVENTIONS / "test_xmls" / "Intervention.xml",
    INTERVENTIONS / "test_xmls" / "InterventionNew.xml",
    INTERVENTIONS / "test_xmls" / "InterventionAllOptional.xml",
]
PLACEHOLDERS = STORE / "test_xmls" / "CC315A-schemaValidSample-v11-2.xml"  # schema-valid, transport mode 42
# Published as examples, but invalid against their own schemas (fixtures NOTES.txt), and the invalid samples.
SCHEMA_INVALID = [
    STORE / "examples" / "CC315A_full.xml",
    STORE / "test_xmls" / "315AllOptional.xml",
    STORE / "test_xmls" / "CC315A-schemaInvalidSample-v11-2.xml",
    INTERVENTIONS / "test_xmls" / "BadExample.xml",
]
AMENDMENTS = [
    STORE / "test_xmls" / "CC313A-schemaValidSample-v11-2.xml",
    STORE / "test_xmls" / "CC313A-schemaValidSampleWithSpecialChars-v11-2.xml",
    STORE / "examples" / "validAmendment.xml",
]
# CC313A_reduced (MRN 'mrn') and the invalid sample: invalid against their own schema (fixtures NOTES.txt).
INVALID_AMENDMENTS = [
    STORE / "examples" / "CC313A_reduced.xml",
    STORE / "test_xmls" / "CC313A-schemaInvalidSample-v11-2.xml",
]
UNSUPPORTED = [
    STORE / "test_xmls" / "CC313A-schemaValidSampleWithEnvelope-v11-2.xml",
    STORE / "test_xmls" / "CC315A-schemaValidSampleWithEnvelope-v11-2.xml",
    INTERVENTIONS / "examples" / "advancedNotification.xml",
    INTERVENTIONS / "examples" / "listOfInterventions.xml",
    STORE / "examples" / "validResponse.xml",
    STORE / "examples" / "errorResponse.xml",
]


@pytest.fixture(scope="module")
def adapter() -> IcsEnsAdapter:
    return IcsEnsAdapter()


def to_canonical(adapter: IcsEnsAdapter, root: etree._Element, sender: str = "gb-ics") -> etree._Element:
    return mapped(adapter, root, sender)


def business_fields(root: etree._Element) -> list[tuple[str, str]]:
    """Every ICS field but the MESSAGE group (transmission data, the gateway writes its own)."""
    return [
        (path_in(root, leaf), (leaf.text or "").strip())
        for leaf in root.iter()
        if isinstance(leaf.tag, str) and not len(leaf) and leaf.getparent() is not root
    ]


def test_adapter_is_registered():
    assert isinstance(default_adapters()["ics-ens"], IcsEnsAdapter)


def test_schemas_are_local_files():
    for xsd in (SCHEMAS_DIR / "ics-ens").rglob("*.xsd"):
        for ref in etree.parse(str(xsd)).iter(XS + "import", XS + "include"):
            location = ref.get("schemaLocation")
            assert "://" not in location
            assert (xsd.parent / location).is_file(), (xsd, location)
    assert (SCHEMAS_DIR / "ics-ens" / "SOURCE.md").is_file()


# --- the group tables agree with the ICS schemas -------------------------------------------------------


def xsd_fields(folder: str, files: tuple[str, ...], type_name: str) -> tuple[str, ...]:
    """The plain fields of an ICS group type, in schema order (its sub-groups left out)."""
    for name in files:
        root = etree.parse(str(SCHEMAS_DIR / "ics-ens" / folder / name)).getroot()
        for complex_type in root.findall(XS + "complexType"):
            if complex_type.get("name") == type_name:
                return tuple(
                    e.get("name")
                    for e in complex_type.iter(XS + "element")
                    if not (e.get("type") or "").startswith(("ie:", "complex_ics:"))
                )
    raise KeyError(type_name)


def all_groups(group: Group) -> list[Group]:
    return [g for child in group.groups for g in (child, *all_groups(child))]


@pytest.mark.parametrize(
    ("index", "folder", "files"),
    [
        (0, "ens_store", ("CC315A-v11-2.xsd", "complex_types_ics-v11-2.xsd")),
        (1, "intervention_cc351a", ("CC351A-v10-0.xsd", "complex_types_ics-v10-0.xsd")),
        (2, "ens_store", ("CC313A-v11-2.xsd", "complex_types_ics-v11-2.xsd")),
    ],
    ids=["CC315A", "CC351A", "CC313A"],
)
def test_group_field_sequences_are_those_of_the_schema(index, folder, files):
    groups = (*ics_tables.tables(Profile()), ics_tables.amendment_table(Profile()))
    for group in all_groups(groups[index]):
        assert group.sequence == xsd_fields(folder, files, f"{group.source}Type"), group.source


# --- every valid sample -----------------------------------------------------------------------------------


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.stem)
def test_valid_sample_maps_and_round_trips(adapter, path):
    original = load(path)
    adapter.validate(original)
    info = adapter.identify(original)
    assert info.message_id == original.findtext("MesIdeMES19")
    assert info.message_type == {"CC315A": "declaration", "CC351A": "risk-alert"}[etree.QName(original).localname]

    first = to_canonical(adapter, original)
    CanonicalAdapter().validate(first)
    set_header(first, "Receiver", "nl-customs")
    rendered = adapter.from_canonical(copy.deepcopy(first), "nl-customs")
    adapter.validate(rendered)
    # ICS -> canonical -> ICS: every business field, at the same place ...
    assert business_fields(rendered) == business_fields(original)
    # ... and canonical -> ICS -> canonical is the identity.
    assert c14n(payload(to_canonical(adapter, rendered))) == c14n(payload(first))


def placeholders_fixed() -> etree._Element:
    root = load(PLACEHOLDERS)
    root.find("HEAHEA/TraModAtBorHEA76").text = "4"
    return root


def test_a_two_digit_transport_mode_is_carried_as_its_rec_19_mode_and_national_code(adapter):
    """ICS allows n..2 (e.g. 42): its first digit is the UN/ECE Rec 19 mode; the ICS code travels as nationalCode."""
    root = load(PLACEHOLDERS)
    adapter.validate(root)
    envelope = to_canonical(adapter, root)
    CanonicalAdapter().validate(envelope)
    mode = payload(envelope).find("w:BorderTransportMeans/w:ModeCode", NS)
    assert (mode.text, mode.get("nationalCode")) == ("4", "42")
    rendered = adapter.from_canonical(envelope, "gb-hmrc-ics")
    adapter.validate(rendered)
    assert rendered.findtext("HEAHEA/TraModAtBorHEA76") == "42"
    assert business_fields(rendered) == business_fields(root)


def test_a_national_transport_mode_of_another_rec_19_mode_is_mapping_failed(adapter):
    envelope = to_canonical(adapter, load(PLACEHOLDERS))
    payload(envelope).find("w:BorderTransportMeans/w:ModeCode", NS).set("nationalCode", "31")
    with pytest.raises(MappingFailed) as caught:
        adapter.from_canonical(envelope, "gb-hmrc-ics")
    assert "nationalCode '31'" in caught.value.message
    assert caught.value.pointer.endswith("BorderTransportMeans/ModeCode")


def test_every_cc315a_group_maps_both_ways(adapter):
    original = placeholders_fixed()  # the sample that fills every group and language code
    envelope = to_canonical(adapter, original)
    CanonicalAdapter().validate(envelope)
    declaration = payload(envelope)
    text = lambda path: declaration.findtext(path, namespaces=NS)  # noqa: E731
    assert text("w:BorderTransportMeans/w:ModeCode") == "4"
    assert declaration.find("w:BorderTransportMeans/w:ID", NS).get("languageID") == "en"
    assert declaration.find("w:GoodsShipment/w:Consignor", NS).get("languageID") == "en"
    assert text("w:GoodsShipment/w:Consignment/w:UnloadingLocation/w:Name") == "ABC123"
    assert text("w:Consignment/w:Itinerary/w:RoutingCountryCode") == "EN"
    assert text("w:FirstEntryOffice/w:ArrivalDateTime") == "2003-02-11T12:34:00+00:00"
    item = declaration.find("w:GoodsShipment/w:GovernmentAgencyGoodsItem", NS)
    assert item.findtext("w:Packaging/w:PieceCountQuantity", namespaces=NS) == "42"
    assert item.findtext("w:Commodity/w:Classification/w:ID", namespaces=NS) == "12345"
    assert item.findtext("w:Commodity/w:GoodsMeasure/w:GrossMassMeasure", namespaces=NS) == "3.14"
    rendered = adapter.from_canonical(envelope, "nl-customs")
    adapter.validate(rendered)
    assert business_fields(rendered) == business_fields(original)
    assert rendered.findtext("MesTypMES20") == "CC315A"


@pytest.mark.parametrize("path", SCHEMA_INVALID, ids=lambda p: p.stem)
def test_schema_invalid_samples_are_rejected(adapter, path):
    with pytest.raises(SchemaInvalid):
        adapter.validate(load(path))


@pytest.mark.parametrize("path", UNSUPPORTED, ids=lambda p: p.stem)
def test_other_messages_are_unsupported(adapter, path):
    with pytest.raises(UnsupportedMessage, match="supported: CC315A"):
        adapter.identify(load(path))


@pytest.mark.parametrize("path", AMENDMENTS, ids=lambda p: p.stem)
def test_an_ens_amendment_is_a_declaration_following_its_ens_and_round_trips(adapter, path):
    original = load(path)
    adapter.validate(original)
    info = adapter.identify(original)
    assert info.message_type == "declaration"
    identity = adapter.identity(original, info, "0" * 64)
    mrn = original.findtext("HEAHEA/DocNumHEA5")
    assert (identity.key, identity.reference, identity.follows) == (original.findtext("MesIdeMES19"), None, mrn)
    envelope = to_canonical(adapter, original)
    CanonicalAdapter().validate(envelope)
    declaration = payload(envelope)
    assert [declaration.findtext(f"w:{n}", namespaces=NS) for n in ("FunctionCode", "FunctionalReferenceID", "ID")] == [
        "13",
        original.findtext("MesIdeMES19"),
        mrn,
    ]
    rendered = adapter.from_canonical(copy.deepcopy(envelope), "gb-ics")
    adapter.validate(rendered)
    assert etree.QName(rendered).localname == "CC313A"
    assert business_fields(rendered) == business_fields(original)


@pytest.mark.parametrize("path", INVALID_AMENDMENTS, ids=lambda p: p.stem)
def test_invalid_amendments_are_schema_invalid_naming_line_and_reason(adapter, path):
    with pytest.raises(SchemaInvalid, match=r"the CC313A does not match its schema at line \d+: .+"):
        adapter.validate(load(path))


# --- what cannot be mapped or carried ----------------------------------------------------------------------


def test_a_language_code_without_its_text_is_reported(adapter):
    root = placeholders_fixed()
    item = root.find("GOOITEGDS")
    item.remove(item.find("GooDesGDS23"))
    adapter.validate(root)
    with pytest.raises(MappingFailed, match="GOOITEGDS/GooDesGDS23LNG = 'en'"):
        to_canonical(adapter, root)


def intervention_alert(adapter: IcsEnsAdapter) -> etree._Element:
    envelope = to_canonical(adapter, load(INTERVENTIONS / "test_xmls" / "InterventionAllOptional.xml"))
    set_header(envelope, "Receiver", "nl-customs")
    return envelope


def test_intervention_becomes_a_security_alert_about_the_ens(adapter):
    alert = payload(intervention_alert(adapter))
    assert [alert.findtext(f"w:{n}", namespaces=NS) for n in ("FunctionalReferenceID", "RiskArea")] == [
        "ABCDE",
        "security",
    ]
    assert alert.findtext("w:IssuingAuthority/w:Name", namespaces=NS) == "ABCDEFGHIJKLMN/ABCDEFGHIJKLMNO"
    indicators = [
        (i.findtext("w:Code", namespaces=NS), i.findtext("w:SequenceNumeric", namespaces=NS))
        for i in alert.findall("w:Indicator", NS)
    ]
    assert indicators == [("A001", "1"), ("A001", "2")]
    assert alert.findtext("w:Declaration/w:ID", namespaces=NS) == "12AB3C4D5E6F7G8H90"  # the MRN
    assert alert.find("w:Declaration/w:Agent", NS).get("languageID") == "FR"


RISK_AREAS = ("IPR", "drugs", "safety", "revenue", "security", "other")
ACTIONS = ("inspect", "hold", "inform", "seize")


@pytest.mark.parametrize("area", RISK_AREAS)
@pytest.mark.parametrize("action", ACTIONS)
def test_every_risk_area_and_action_goes_through_a_cc351a_and_back(adapter, area, action):
    envelope = intervention_alert(adapter)
    alert = payload(envelope)
    alert.find("w:RiskArea", NS).text = area
    alert.find("w:RecommendedAction/w:Code", NS).text = action
    document = adapter.from_canonical(copy.deepcopy(envelope), "gb-ics")
    adapter.validate(document)
    codes = [i.findtext("CusIntCodCUSINT665") for i in document.findall("CUSINT632")]
    if (area, action) == ("security", "inform"):
        assert "GWRA" not in codes  # what ICS means by an intervention: nothing added
    else:
        assert codes[-1] == "GWRA"
        assert document.findall("CUSINT632")[-1].findtext("CusIntTexCUSINT666") == (
            f"RiskArea {area}; RecommendedAction {action}"
        )
    back = payload(to_canonical(adapter, document))
    assert (back.findtext("w:RiskArea", namespaces=NS), back.findtext("w:RecommendedAction/w:Code", namespaces=NS)) == (
        area,
        action,
    )
    assert c14n(back.find("w:Declaration", NS)) == c14n(alert.find("w:Declaration", NS))
    assert [c14n(i) for i in back.findall("w:Indicator", NS)] == [c14n(i) for i in alert.findall("w:Indicator", NS)]


def test_a_gwra_intervention_with_another_text_is_mapping_failed_naming_it(adapter):
    envelope = intervention_alert(adapter)
    payload(envelope).find("w:RiskArea", NS).text = "drugs"
    document = adapter.from_canonical(envelope, "gb-ics")
    document.findall("CUSINT632")[-1].find("CusIntTexCUSINT666").text = "drugs, please inspect"
    with pytest.raises(MappingFailed) as caught:
        to_canonical(adapter, document)
    assert caught.value.pointer == "/CC351A/CUSINT632[3]/CusIntTexCUSINT666"
    assert "'drugs, please inspect'" in caught.value.message


def test_alert_values_cc351a_cannot_carry_are_reported_not_dropped(adapter):
    envelope = intervention_alert(adapter)
    alert = payload(envelope)
    commodity = etree.Element(W + "Commodity")
    etree.SubElement(commodity, W + "Description").text = "Lithium batteries"
    alert.find("w:RecommendedAction", NS).addprevious(commodity)
    CanonicalAdapter().validate(envelope)
    _document, losses = adapter.render(envelope)
    assert [(loss.pointer, loss.value) for loss in losses] == [
        ("/Envelope/Body/RiskAlert/Commodity/Description", "Lithium batteries")
    ]
    with pytest.raises(MappingFailed, match="the ics-ens format cannot carry 1 value"):
        adapter.from_canonical(envelope, "gb-ics")


@pytest.mark.parametrize(
    ("mutate", "pointer", "text"),
    [
        (
            lambda a: setattr(a.find("w:IssuingAuthority/w:CountryCode", NS), "text", "NL"),
            "/Envelope/Body/RiskAlert/IssuingAuthority/CountryCode",
            "office 'ABCDEFGH'",
        ),
        (
            lambda a: setattr(a.find(".//w:Commodity/w:TransportEquipment/w:SequenceNumeric", NS), "text", "7"),
            "/Envelope/Body/RiskAlert/Declaration/GoodsShipment/GovernmentAgencyGoodsItem[1]/Commodity/"
            "TransportEquipment[1]/SequenceNumeric",
            "'7' is not 1",
        ),
        (
            lambda a: setattr(a.find("w:IssueDateTime", NS), "text", "2020-12-23T14:46:30Z"),
            "/Envelope/Body/RiskAlert/IssueDateTime",
            "has seconds",
        ),
        (
            lambda a: setattr(a.find("w:Declaration/w:BorderTransportMeans/w:ModeCode", NS), "text", "x"),
            "/Envelope/Body/RiskAlert/Declaration/BorderTransportMeans/ModeCode",
            "'x'",
        ),
    ],
    ids=["issuer-not-the-entry-office-country", "containers-out-of-order", "seconds", "unknown-mode"],
)
def test_canonical_value_cc351a_cannot_take_is_mapping_failed(adapter, mutate, pointer, text):
    envelope = intervention_alert(adapter)
    mutate(payload(envelope))
    with pytest.raises(MappingFailed) as caught:
        adapter.from_canonical(envelope, "gb-ics")
    assert caught.value.pointer == pointer
    assert text in caught.value.message


def test_canonical_declaration_needs_what_an_ens_has(adapter):
    envelope = etree.fromstring((ROOT / "examples" / "declaration.xml").read_bytes())
    with pytest.raises(MappingFailed, match="TypeCode 'ENS' only, not 'EX'"):
        adapter.from_canonical(envelope, "gb-ics")
    payload(envelope).find("w:TypeCode", NS).text = "ENS"
    _document, losses = adapter.render(envelope)
    lost = {loss.pointer.removeprefix("/Envelope/Body/Declaration/") for loss in losses}
    assert {
        "ID",
        "InvoiceAmount/@currencyID",
        "Exporter/Name",
        "GoodsShipment/Destination/CountryCode",
    } <= lost


def test_partner_time_zone_is_configurable():
    adapter = IcsEnsAdapter(Profile(offset=dt.timezone(dt.timedelta(hours=1))))
    root = load(INTERVENTIONS / "test_xmls" / "Intervention.xml")
    assert payload(to_canonical(adapter, root)).findtext("w:IssueDateTime", namespaces=NS) == (
        "2020-12-23T14:46:00+01:00"
    )
    assert adapter.identify(root).created == dt.datetime(2020, 12, 23, 13, 46, tzinfo=dt.UTC)


# --- receipts ---------------------------------------------------------------------------------------------


def gateway_receipt(accepted: bool, *errors: ReceiptError, answered: str = "ABCDE") -> Receipt:
    return Receipt(
        accepted=accepted,
        issued=dt.datetime(2026, 11, 27, 10, 0, tzinfo=dt.UTC),
        gateway_message_id="0f9c7a52-6a4e-4f55-9d2e-1c8b7e5a3d21",
        sender="gw-test",
        receiver="gb-ics",
        referenced_message_id=answered,
        referenced_message_type="risk-alert",
        errors=errors,
    )


def test_accepted_message_is_answered_with_a_success_response(adapter):
    document = adapter.render_receipt(gateway_receipt(True))
    adapter.validate(document)
    namespaces = {"s": ics_receipt.SUCCESS_NS, "d": ics_receipt.RESPONSE_DATA_NS}
    assert document.findtext("s:Message", namespaces=namespaces) == (
        "accepted as gateway message 0f9c7a52-6a4e-4f55-9d2e-1c8b7e5a3d21"
    )
    assert document.findtext("s:AcceptedTime", namespaces=namespaces) == "2026-11-27T10:00:00Z"
    assert document.findtext("s:ResponseData/d:CorrelationId", namespaces=namespaces) == "ABCDE"


def test_rejection_is_answered_with_an_error_response(adapter):
    error = ReceiptError("mapping-failed", "/CC315A/HEAHEA/TraModAtBorHEA76: '42'", "/CC315A/HEAHEA/TraModAtBorHEA76")
    document = adapter.render_receipt(gateway_receipt(False, error))
    adapter.validate(document)
    namespaces = {"err": ics_receipt.ERROR_NS, "w": W[1:-1]}
    assert [t.text for t in document.findall("err:Error/err:Text", namespaces)] == [
        error.code,
        error.description,
    ]
    assert document.findtext("err:Error/err:Location", namespaces=namespaces) == error.pointer
    assert document.findtext("err:Error/err:RaisedBy", namespaces=namespaces) == "gw-test"
    assert document.findtext("err:Application/w:GatewayMessageID", namespaces=namespaces) == (
        "0f9c7a52-6a4e-4f55-9d2e-1c8b7e5a3d21"
    )


def test_canonical_receipt_with_an_id_too_long_for_ics_is_reported(adapter):
    envelope = etree.fromstring((ROOT / "examples" / "receipt.xml").read_bytes())
    with pytest.raises(MappingFailed, match="ReferencedMessageID = 'NL-RA-20261127-000417'"):
        adapter.from_canonical(envelope, "gb-ics")
    payload(envelope).find("w:ReferencedMessageID", NS).text = "NL-RA-417"
    document = adapter.from_canonical(envelope, "gb-ics")
    adapter.validate(document)


# --- end to end through the real app --------------------------------------------------------------------


@pytest.fixture
async def flow(tmp_path, inbox_factory, amqp, aiohttp_client):
    canonical_inbox, ics_inbox = await inbox_factory(), await inbox_factory()
    deployment = make_deployment(
        tmp_path,
        [
            PartnerSpec(
                "gb-ics",
                url=ics_inbox.url,
                format="ics-ens",
                country="GB",
                sends=["risk-alert"],
                receives=["risk-alert"],
            ),
            PartnerSpec("nl-customs", url=canonical_inbox.url, sends=["risk-alert"], receives=["risk-alert"]),
        ],
        rules='[[routing.rules]]\ntypes = ["risk-alert"]\nreceivers = ["nl-customs", "gb-ics"]\n',
    )
    client = await aiohttp_client(build_app(deployment.settings()))
    yield deployment, client, canonical_inbox, ics_inbox
    await client.close()
    await remove_topology(amqp, deployment, ["gb-ics", "nl-customs"])


def fresh_intervention() -> etree._Element:
    """The published CC351A, prepared now (the gateway refuses messages outside its time window)."""
    root = load(INTERVENTIONS / "test_xmls" / "InterventionAllOptional.xml")
    now = dt.datetime.now(dt.UTC)
    root.find("DatOfPreMES9").text, root.find("TimOfPreMES10").text = (
        now.strftime("%y%m%d"),
        now.strftime("%H%M"),
    )
    return root


async def test_intervention_reaches_a_canonical_receiver_as_a_risk_alert(flow):
    deployment, client, canonical_inbox, _ = flow
    response = await client.post(
        "/v1/partners/gb-ics/messages", data=signed(deployment.partners["gb-ics"], fresh_intervention())
    )
    answer = await response.read()
    assert response.status == 202, answer
    receipt = XMLVerifier().verify(answer, x509_cert=deployment.gateway.cert).signed_xml
    IcsEnsAdapter().validate(receipt)
    assert etree.QName(receipt).localname == "SuccessResponse"

    await canonical_inbox.wait_for(1)
    headers, delivered = canonical_inbox.received[0]
    assert headers["X-Message-Type"] == "risk-alert"
    envelope = XMLVerifier().verify(delivered, x509_cert=deployment.gateway.cert).signed_xml
    CanonicalAdapter().validate(envelope)
    alert = payload(envelope)
    assert [i.findtext("w:Code", namespaces=NS) for i in alert.findall("w:Indicator", NS)] == ["A001", "A001"]
    assert alert.findtext("w:Declaration/w:FunctionalReferenceID", namespaces=NS) == "ABCDEFGHIJKLMNOPQRST"


async def test_canonical_risk_alert_reaches_an_ics_receiver_as_a_cc351a(flow):
    deployment, client, _, ics_inbox = flow
    original = to_canonical(IcsEnsAdapter(), fresh_intervention(), "nl-customs")
    header = original.find(f"{E}Header")
    header.find(f"{E}MessageID").text = "NL-RA-417"
    set_header(original, "Receiver", "gb-ics")
    response = await client.post(
        "/v1/partners/nl-customs/messages", data=signed(deployment.partners["nl-customs"], original)
    )
    assert response.status == 202, await response.text()

    await ics_inbox.wait_for(1)
    _, delivered = ics_inbox.received[0]
    document = XMLVerifier().verify(delivered, x509_cert=deployment.gateway.cert).signed_xml
    IcsEnsAdapter().validate(document)
    assert etree.QName(document).localname == "CC351A"
    assert document.findtext("MesRecMES6") == "gb-ics"
    assert document.findtext("HEAHEA/DocNumHEA5") == "12AB3C4D5E6F7G8H90"
    assert [c.findtext("CusIntCodCUSINT665") for c in document.iter("CUSINT632")] == ["A001", "A001"]
    assert business_fields(document) == business_fields(fresh_intervention())


def test_an_unreadable_preparation_date_is_refused_not_skipped(adapter):
    root = load(INTERVENTIONS / "test_xmls" / "Intervention.xml")
    root.find("DatOfPreMES9").text = "210229"  # the schema's pattern lets 29 February through in any year
    with pytest.raises(SchemaInvalid, match="'210229'"):
        adapter.identify(root)
