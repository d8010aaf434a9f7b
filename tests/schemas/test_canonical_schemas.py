"""The canonical schemas (schemas/canonical) and the shipped examples (examples/).

No network: schemas and documents are parsed with a parser that refuses network access, DTDs and
entities, and the schemas import each other only through local files.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path

import pytest
import xmlschema
from lxml import etree

from tests.helpers import FIXTURES

ROOT = Path(__file__).resolve().parents[2]
SCHEMA_DIR = ROOT / "schemas" / "canonical"
ENVELOPE_XSD = SCHEMA_DIR / "envelope.xsd"
WCO_XSD = SCHEMA_DIR / "wco.xsd"
# wco.xsd and the Declaration generated from the HMRC DEC schema that it includes.
PAYLOAD_XSDS = [WCO_XSD, SCHEMA_DIR / "declaration.xsd", SCHEMA_DIR / "notification.xsd", SCHEMA_DIR / "inspection.xsd"]
EXAMPLES_DIR = ROOT / "examples"
HMRC_SCHEMAS = FIXTURES / "wco-dec-dms" / "schemas"

XS = "http://www.w3.org/2001/XMLSchema"
ENV = "urn:customs-gateway:envelope:1"
WCO = "urn:customs-gateway:wco:1"
DS = "http://www.w3.org/2000/09/xmldsig#"
NS = {"xs": XS, "e": ENV, "w": WCO, "ds": DS}

EXAMPLES = sorted(EXAMPLES_DIR.glob("*.xml"))


def _parser() -> etree.XMLParser:
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)


def _parse(path: Path) -> etree._ElementTree:
    tree = etree.parse(str(path), _parser())
    assert tree.docinfo.doctype == "", f"{path} must not carry a DTD"
    return tree


@pytest.fixture(scope="module")
def envelope_schema() -> etree.XMLSchema:
    return etree.XMLSchema(_parse(ENVELOPE_XSD))


@pytest.fixture(scope="module")
def envelope_xmlschema() -> xmlschema.XMLSchema:
    return xmlschema.XMLSchema(str(ENVELOPE_XSD), allow="local")


@pytest.fixture
def risk_alert() -> etree._Element:
    return _parse(EXAMPLES_DIR / "risk-alert.xml").getroot()


@pytest.fixture
def receipt() -> etree._Element:
    return _parse(EXAMPLES_DIR / "receipt.xml").getroot()


def _one(root: etree._Element, xpath: str) -> etree._Element:
    found = root.xpath(xpath, namespaces=NS)
    assert len(found) == 1, f"{xpath}: {len(found)} matches"
    return found[0]


def _serialize(doc: etree._Element | bytes) -> bytes:
    return doc if isinstance(doc, bytes) else etree.tostring(doc)


def _assert_valid(lxml_schema: etree.XMLSchema, py_schema: xmlschema.XMLSchema, doc: etree._Element | bytes) -> None:
    # Both validators see the same serialized document (an lxml tree can differ from its text,
    # e.g. an unqualified child under a default namespace).
    data = _serialize(doc)
    ok = lxml_schema.validate(etree.fromstring(data, _parser()))
    assert ok, "\n".join(str(e) for e in lxml_schema.error_log)
    py_schema.validate(data.decode())


def _assert_invalid(lxml_schema: etree.XMLSchema, py_schema: xmlschema.XMLSchema, doc: etree._Element | bytes) -> None:
    data = _serialize(doc)
    assert not lxml_schema.validate(etree.fromstring(data, _parser())), "lxml accepted an invalid document"
    assert not py_schema.is_valid(data.decode()), "xmlschema accepted an invalid document"


# --- the schemas load, locally -------------------------------------------------------------------


@pytest.mark.parametrize("path", [ENVELOPE_XSD, WCO_XSD], ids=lambda p: p.name)
def test_schema_loads_with_lxml(path: Path) -> None:
    etree.XMLSchema(_parse(path))


@pytest.mark.parametrize("path", [ENVELOPE_XSD, WCO_XSD], ids=lambda p: p.name)
def test_schema_loads_with_xmlschema(path: Path) -> None:
    schema = xmlschema.XMLSchema(str(path), allow="local")  # no remote resources
    assert schema.validity == "valid"
    assert schema.target_namespace == (ENV if path == ENVELOPE_XSD else WCO)


@pytest.mark.parametrize("path", [ENVELOPE_XSD, WCO_XSD], ids=lambda p: p.name)
def test_schema_references_are_local_files(path: Path) -> None:
    tree = _parse(path)
    for ref in tree.xpath("//xs:import | //xs:include | //xs:redefine", namespaces=NS):
        location = ref.get("schemaLocation")
        assert location is not None
        assert "://" not in location
        assert (path.parent / location).is_file()


def test_envelope_imports_the_payload_namespace() -> None:
    imports = _parse(ENVELOPE_XSD).xpath("/xs:schema/xs:import", namespaces=NS)
    assert [(i.get("namespace"), i.get("schemaLocation")) for i in imports] == [(WCO, "wco.xsd")]


def test_message_id_patterns_agree() -> None:
    env = _parse(ENVELOPE_XSD).xpath("//xs:simpleType[@name='MessageIDType']//xs:pattern/@value", namespaces=NS)
    wco = _parse(WCO_XSD).xpath("//xs:simpleType[@name='MessageIdentifierType']//xs:pattern/@value", namespaces=NS)
    assert env == wco == [r"[A-Za-z0-9._:\-]{1,64}"]


def test_only_payloads_are_global_elements() -> None:
    # The envelope's Body takes any global element of the wco namespace: keep that set deliberate.
    names = _parse(WCO_XSD).xpath("/xs:schema/xs:element/@name", namespaces=NS)
    assert sorted(names) == [
        "CargoReport",
        "Declaration",
        "Inventory",
        "InventoryCancellation",
        "InventoryReturn",
        "Logistics",
        "LogisticsStatus",
        "Order",
        "Payment",
        "Receipt",
        "RiskAlert",
        "SummaryApplication",
        "SummaryResult",
        "TaxAssessment",
        "TaxPayment",
        "WarehouseEntry",
    ]


# --- WCO annotations --------------------------------------------------------------------------------


def _wco_annotations(tree: etree._ElementTree) -> list[tuple[str, str | None, str | None, bool]]:
    """(element path, WCOID, WCOName, has Remark) for every element declaration."""
    out = []
    for el in tree.iter(f"{{{XS}}}element"):
        docs = el.findall(f"{{{XS}}}annotation/{{{XS}}}documentation")
        fields: dict[str, str] = {}
        for doc in docs:
            for child in doc:
                if isinstance(child.tag, str):
                    fields[etree.QName(child).localname] = " ".join((child.text or "").split())
        owner = [a.get("name") for a in el.iterancestors() if a.get("name")]
        path = "/".join([*reversed(owner), el.get("name") or el.get("ref") or "?"])
        out.append((path, fields.get("WCOID"), fields.get("WCOName"), "Remark" in fields))
    return out


@pytest.mark.parametrize("xsd", PAYLOAD_XSDS, ids=lambda p: p.name)
def test_every_payload_element_has_a_wco_annotation(xsd: Path) -> None:
    annotations = _wco_annotations(_parse(xsd))
    assert len(annotations) > 30
    for path, wco_id, wco_name, has_remark in annotations:
        assert wco_id, f"{path}: no WCOID"
        if wco_id == "n/a":
            assert has_remark, f"{path}: WCOID n/a needs a Remark naming the closest WCO class"
        else:
            assert re.fullmatch(r"[0-9A-Z]{3,4}", wco_id), f"{path}: odd WCOID {wco_id}"
            assert wco_name, f"{path}: WCOID {wco_id} without WCOName"


@pytest.mark.parametrize("xsd", PAYLOAD_XSDS, ids=lambda p: p.name)
def test_wco_ids_are_taken_from_the_hmrc_schemas(xsd: Path) -> None:
    known: set[tuple[str, str]] = set()
    for hmrc in [
        HMRC_SCHEMAS / "declaration" / "WCO_DEC_2_DMS.xsd",
        HMRC_SCHEMAS / "notification" / "WCO_RES_2_DMS.xsd",
    ]:
        for _, wco_id, wco_name, _ in _wco_annotations(_parse(hmrc)):
            if wco_id and wco_name:
                known.add((wco_id, wco_name))
    for path, wco_id, wco_name, _ in _wco_annotations(_parse(xsd)):
        if wco_id != "n/a":
            assert (wco_id, wco_name) in known, f"{path}: {wco_id} {wco_name!r} not in the HMRC WCO DM schemas"


# --- the examples -------------------------------------------------------------------------------------


def test_required_examples_are_shipped() -> None:
    names = {p.name for p in EXAMPLES}
    assert {"risk-alert.xml", "risk-alert-drugs.xml", "receipt.xml"} <= names


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_is_a_valid_envelope(
    path: Path, envelope_schema: etree.XMLSchema, envelope_xmlschema: xmlschema.XMLSchema
) -> None:
    root = _parse(path).getroot()
    assert root.tag == f"{{{ENV}}}Envelope"
    _assert_valid(envelope_schema, envelope_xmlschema, root)
    # unsigned: the tools sign them
    assert root.find(f"{{{DS}}}Signature") is None


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_message_type_matches_payload(path: Path) -> None:
    root = _parse(path).getroot()
    message_type = _one(root, "e:Header/e:MessageType").text
    (payload,) = _one(root, "e:Body")
    expected = {
        "risk-alert": "RiskAlert",
        "receipt": "Receipt",
        "order": "Order",
        "payment": "Payment",
        "logistics": "Logistics",
        "inventory": "Inventory",
        "declaration": "Declaration",
        "tax-assessment": "TaxAssessment",
        "inventory-cancellation": "InventoryCancellation",
        "inventory-return": "InventoryReturn",
        "logistics-status": "LogisticsStatus",
        "warehouse-entry": "WarehouseEntry",
        "cargo-report": "CargoReport",
        "summary-application": "SummaryApplication",
        "summary-result": "SummaryResult",
        "tax-payment": "TaxPayment",
        "inspection-result": "InspectionResult",
    }
    assert message_type in expected, f"add the payload element of {message_type!r} to this test"
    assert payload.tag == f"{{{WCO}}}{expected[message_type]}"


def test_example_headers() -> None:
    def header(name: str) -> dict[str, str]:
        root = _parse(EXAMPLES_DIR / name).getroot()
        return {etree.QName(c).localname: c.text for c in _one(root, "e:Header")}

    alert, drugs, receipt = header("risk-alert.xml"), header("risk-alert-drugs.xml"), header("receipt.xml")
    assert (alert["Sender"], alert["Receiver"]) == ("nl-customs", "cn-customs")
    assert (drugs["Sender"], drugs["Receiver"]) == ("cn-nsw", "nl-customs")
    assert (receipt["Sender"], receipt["Receiver"]) == ("cn-customs", "nl-customs")
    assert receipt["CorrelationID"] == alert["MessageID"]
    for h in (alert, drugs, receipt):
        assert h["CreationDateTime"] == "2026-11-27T10:00:00Z"


# --- positive variants ------------------------------------------------------------------------------


SIGNATURE = b"""<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#">
  <ds:SignedInfo>
    <ds:CanonicalizationMethod Algorithm="http://www.w3.org/TR/2001/REC-xml-c14n-20010315"/>
    <ds:SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"/>
    <ds:Reference URI="">
      <ds:Transforms>
        <ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/>
      </ds:Transforms>
      <ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/>
      <ds:DigestValue>ObWECa6kLU5zx0sT3tsekf2C3wP9jGDJwD97il4stGg=</ds:DigestValue>
    </ds:Reference>
  </ds:SignedInfo>
  <ds:SignatureValue>AAAA</ds:SignatureValue>
</ds:Signature>"""


def test_signature_after_body_is_allowed(risk_alert, envelope_schema, envelope_xmlschema):
    # Shape only: lxml skips ds:* (lax, no XML-DSig schema imported); xmlschema checks it laxly
    # against the XML-DSig schema bundled with xmlschema. The signature is verified by code.
    risk_alert.append(etree.fromstring(SIGNATURE, _parser()))
    _assert_valid(envelope_schema, envelope_xmlschema, risk_alert)


def test_minimal_risk_alert_is_valid(risk_alert, envelope_schema, envelope_xmlschema):
    alert = _one(risk_alert, "e:Body/w:RiskAlert")
    for optional in (
        "w:Commodity",
        "w:Route",
        "w:Channel",
        "w:Validity",
        "w:Attachment",
        "w:IssuingAuthority/w:ID",
        "w:RecommendedAction/w:Description",
    ):
        for el in alert.xpath(optional, namespaces=NS):
            el.getparent().remove(el)
    for extra in alert.xpath("w:Indicator[position() > 1]", namespaces=NS):
        alert.remove(extra)
    _assert_valid(envelope_schema, envelope_xmlschema, risk_alert)


def test_rejection_receipt_with_errors_is_valid(receipt, envelope_schema, envelope_xmlschema):
    body = _one(receipt, "e:Body/w:Receipt")
    _one(body, "w:FunctionCode").text = "rejected"
    ref = _one(body, "w:ReferencedMessageID")
    gw = etree.Element(f"{{{WCO}}}GatewayMessageID")
    gw.text = "gw:01JD3ZK7Q9X4M2T8B5C6V0N1R"
    ref.addprevious(gw)
    for code, pointer, text in [
        ("signature-invalid", "/Envelope/ds:Signature", "digest mismatch"),
        ("schema-invalid", None, "Element 'Sender': [facet 'pattern'] ...\nsecond line"),
    ]:
        err = etree.SubElement(body, f"{{{WCO}}}Error")
        etree.SubElement(err, f"{{{WCO}}}ValidationCode").text = code
        if pointer:
            etree.SubElement(err, f"{{{WCO}}}Pointer").text = pointer
        etree.SubElement(err, f"{{{WCO}}}Description").text = text
    _assert_valid(envelope_schema, envelope_xmlschema, receipt)


def test_receipt_without_referenced_message_id_is_valid(receipt, envelope_schema, envelope_xmlschema):
    ref = _one(receipt, "e:Body/w:Receipt/w:ReferencedMessageID")
    ref.getparent().remove(ref)
    _assert_valid(envelope_schema, envelope_xmlschema, receipt)


# --- negative cases ---------------------------------------------------------------------------------


def _set(root, xpath, value):
    _one(root, xpath).text = value


def _remove(root, xpath):
    el = _one(root, xpath)
    el.getparent().remove(el)


def _duplicate_payload(root):
    body = _one(root, "e:Body")
    body.append(copy.deepcopy(body[0]))


def _empty_body(root):
    body = _one(root, "e:Body")
    body.remove(body[0])


def _foreign_namespace_payload(root):
    payload = _one(root, "e:Body/w:RiskAlert")
    for el in payload.iter():
        el.tag = "{urn:example:other}" + etree.QName(el).localname


def _envelope_namespace_payload(root):
    payload = _one(root, "e:Body/w:RiskAlert")
    payload.tag = f"{{{ENV}}}RiskAlert"


def _undeclared_wco_payload(root):
    payload = _one(root, "e:Body/w:RiskAlert")
    payload.tag = f"{{{WCO}}}Invoice"


def _foreign_element_after_body(root):
    etree.SubElement(root, "{urn:example:other}Signature")


def _two_signatures(root):
    etree.SubElement(root, f"{{{DS}}}Signature")
    etree.SubElement(root, f"{{{DS}}}Signature")


def _signature_before_body(root):
    _one(root, "e:Body").addprevious(etree.Element(f"{{{DS}}}Signature"))


def _unknown_header_field(root):
    etree.SubElement(_one(root, "e:Header"), f"{{{ENV}}}Priority").text = "high"


def _route_without_countries(root):
    route = _one(root, "e:Body/w:RiskAlert/w:Route[1]")
    for child in list(route):
        route.remove(child)
    etree.SubElement(route, f"{{{WCO}}}TransitCountryCode").text = "BE"


def _unit_value_without_currency(root):
    del _one(root, "e:Body/w:RiskAlert/w:Commodity[1]/w:UnitValue").attrib["currencyID"]


RA = "e:Body/w:RiskAlert"

RISK_ALERT_NEGATIVES = {
    "message-id-bad-characters": lambda r: _set(r, "e:Header/e:MessageID", "NL RA/417"),
    "message-id-too-long": lambda r: _set(r, "e:Header/e:MessageID", "A" * 65),
    "message-id-empty": lambda r: _set(r, "e:Header/e:MessageID", ""),
    "message-type-unknown": lambda r: _set(r, "e:Header/e:MessageType", "invoice"),
    "message-type-wrong-case": lambda r: _set(r, "e:Header/e:MessageType", "Risk-Alert"),
    "sender-uppercase": lambda r: _set(r, "e:Header/e:Sender", "NL-Customs"),
    "receiver-too-short": lambda r: _set(r, "e:Header/e:Receiver", "c"),
    "creation-datetime-without-zone": lambda r: _set(r, "e:Header/e:CreationDateTime", "2026-11-27T10:00:00"),
    "creation-datetime-not-a-date": lambda r: _set(r, "e:Header/e:CreationDateTime", "27/11/2026 10:00"),
    "missing-message-id": lambda r: _remove(r, "e:Header/e:MessageID"),
    "unknown-header-field": _unknown_header_field,
    "two-payloads-in-body": _duplicate_payload,
    "empty-body": _empty_body,
    "payload-from-another-namespace": _foreign_namespace_payload,
    "payload-in-envelope-namespace": _envelope_namespace_payload,
    "undeclared-wco-payload": _undeclared_wco_payload,
    "foreign-element-after-body": _foreign_element_after_body,
    "two-signatures": _two_signatures,
    "signature-before-body": _signature_before_body,
    "missing-functional-reference": lambda r: _remove(r, "e:Body/w:RiskAlert/w:FunctionalReferenceID"),
    "missing-issue-datetime": lambda r: _remove(r, "e:Body/w:RiskAlert/w:IssueDateTime"),
    "missing-issuing-authority": lambda r: _remove(r, "e:Body/w:RiskAlert/w:IssuingAuthority"),
    "missing-risk-area": lambda r: _remove(r, "e:Body/w:RiskAlert/w:RiskArea"),
    "missing-recommended-action": lambda r: _remove(r, "e:Body/w:RiskAlert/w:RecommendedAction"),
    "missing-indicators": lambda r: [_remove(r, "e:Body/w:RiskAlert/w:Indicator[1]") for _ in range(3)],
    "risk-area-unknown": lambda r: _set(r, "e:Body/w:RiskAlert/w:RiskArea", "counterfeit"),
    "country-code-lowercase": lambda r: _set(r, "e:Body/w:RiskAlert/w:IssuingAuthority/w:CountryCode", "nl"),
    "hs-code-too-short": lambda r: _set(r, f"{RA}/w:Commodity[1]/w:Classification/w:ID", "95030"),
    "hs-code-with-dot": lambda r: _set(r, f"{RA}/w:Commodity[1]/w:Classification/w:ID", "9503.00"),
    "unit-value-without-currency": _unit_value_without_currency,
    "unit-value-negative": lambda r: _set(r, "e:Body/w:RiskAlert/w:Commodity[1]/w:UnitValue", "-1"),
    "route-without-exportation-or-destination": _route_without_countries,
    "channel-unknown": lambda r: _set(r, "e:Body/w:RiskAlert/w:Channel[1]", "rail"),
    "action-unknown": lambda r: _set(r, "e:Body/w:RiskAlert/w:RecommendedAction/w:Code", "destroy"),
    "validity-end-without-zone": lambda r: _set(
        r, "e:Body/w:RiskAlert/w:Validity/w:EndDateTime", "2027-02-28T23:59:59"
    ),
    "blank-indicator-description": lambda r: _set(r, "e:Body/w:RiskAlert/w:Indicator[1]/w:Description", "  "),
    "authority-name-too-long": lambda r: _set(r, "e:Body/w:RiskAlert/w:IssuingAuthority/w:Name", "N" * 71),
    "elements-out-of-order": lambda r: _one(r, "e:Body/w:RiskAlert/w:IssueDateTime").addprevious(
        _one(r, "e:Body/w:RiskAlert/w:RiskArea")
    ),
}


@pytest.mark.parametrize("mutate", RISK_ALERT_NEGATIVES.values(), ids=RISK_ALERT_NEGATIVES.keys())
def test_invalid_risk_alert_envelope_is_rejected(risk_alert, envelope_schema, envelope_xmlschema, mutate):
    mutate(risk_alert)
    _assert_invalid(envelope_schema, envelope_xmlschema, risk_alert)


def test_payload_without_namespace_is_rejected(envelope_schema, envelope_xmlschema):
    data = (EXAMPLES_DIR / "risk-alert.xml").read_bytes()
    unqualified = data.replace(b'<RiskAlert xmlns="urn:customs-gateway:wco:1">', b'<RiskAlert xmlns="">')
    assert unqualified != data
    _assert_invalid(envelope_schema, envelope_xmlschema, unqualified)


def _drugs() -> etree._Element:
    return _parse(EXAMPLES_DIR / "risk-alert-drugs.xml").getroot()


ATTACHMENT = "e:Body/w:RiskAlert/w:Attachment"


def _add_content(root, text):
    etree.SubElement(_one(root, ATTACHMENT), f"{{{WCO}}}Content").text = text


ATTACHMENT_NEGATIVES = {
    "sha1-digest": lambda r: _set(r, f"{ATTACHMENT}/w:DigestAlgorithm", "http://www.w3.org/2000/09/xmldsig#sha1"),
    "digest-too-short": lambda r: _set(r, f"{ATTACHMENT}/w:DigestValue", "AAAA"),
    "digest-not-base64": lambda r: _set(r, f"{ATTACHMENT}/w:DigestValue", "not base64 !"),
    "file-name-with-path": lambda r: _set(r, f"{ATTACHMENT}/w:FileName", "../../etc/passwd"),
    "file-name-with-backslash": lambda r: _set(r, f"{ATTACHMENT}/w:FileName", "C:\\scan.png"),
    "media-type-without-subtype": lambda r: _set(r, f"{ATTACHMENT}/w:MediaType", "image"),
    "missing-digest": lambda r: _remove(r, f"{ATTACHMENT}/w:DigestValue"),
    "content-not-base64": lambda r: _add_content(r, "%%%"),
}


@pytest.mark.parametrize("mutate", ATTACHMENT_NEGATIVES.values(), ids=ATTACHMENT_NEGATIVES.keys())
def test_invalid_attachment_is_rejected(envelope_schema, envelope_xmlschema, mutate):
    root = _drugs()
    mutate(root)
    _assert_invalid(envelope_schema, envelope_xmlschema, root)


def test_inline_attachment_content_is_valid(envelope_schema, envelope_xmlschema):
    root = _drugs()
    content = etree.SubElement(_one(root, ATTACHMENT), f"{{{WCO}}}Content")
    content.text = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJ"
    _assert_valid(envelope_schema, envelope_xmlschema, root)


def _add_error(root, code="schema-invalid", pointer=None, description="bad"):
    err = etree.SubElement(_one(root, "e:Body/w:Receipt"), f"{{{WCO}}}Error")
    if code is not None:
        etree.SubElement(err, f"{{{WCO}}}ValidationCode").text = code
    if pointer is not None:
        etree.SubElement(err, f"{{{WCO}}}Pointer").text = pointer
    if description is not None:
        etree.SubElement(err, f"{{{WCO}}}Description").text = description


RECEIPT_NEGATIVES = {
    "function-code-unknown": lambda r: _set(r, "e:Body/w:Receipt/w:FunctionCode", "ok"),
    "function-code-edifact-number": lambda r: _set(r, "e:Body/w:Receipt/w:FunctionCode", "09"),
    "missing-issue-datetime": lambda r: _remove(r, "e:Body/w:Receipt/w:IssueDateTime"),
    "referenced-id-bad-pattern": lambda r: _set(r, "e:Body/w:Receipt/w:ReferencedMessageID", "a b"),
    "correlation-id-bad-pattern": lambda r: _set(r, "e:Header/e:CorrelationID", "x" * 65),
    "error-without-code": lambda r: _add_error(r, code=None),
    "error-without-description": lambda r: _add_error(r, description=None),
    "error-code-too-long": lambda r: _add_error(r, code="c" * 65),
    "error-description-too-long": lambda r: _add_error(r, description="d" * 2049),
    "error-pointer-too-long": lambda r: _add_error(r, pointer="/" + "p" * 512),
}


@pytest.mark.parametrize("mutate", RECEIPT_NEGATIVES.values(), ids=RECEIPT_NEGATIVES.keys())
def test_invalid_receipt_envelope_is_rejected(receipt, envelope_schema, envelope_xmlschema, mutate):
    mutate(receipt)
    _assert_invalid(envelope_schema, envelope_xmlschema, receipt)
