"""End to end: the national single window (ceb) sends a consistent CBEC set; a foreign administration receives
the inventory as a WCO DMS declaration and answers with a risk alert that reaches the single window.

``gb-customs`` speaks canonical for what it sends (the risk alert; the ingress reads a partner's messages in its
main format, and DEC-DMS has no risk alert) and receives inventories as DEC-DMS documents
(``receive_formats``); ``cn-nsw`` speaks CEB and receives risk alerts as canonical envelopes, since CEB has no
risk-alert message.
"""

from __future__ import annotations

import copy
import datetime as dt
import uuid
from decimal import Decimal

import pytest
from lxml import etree
from signxml import XMLVerifier

from gateway.app import build_app
from gateway.errors import ConfigError, MappingFailed
from gateway.formats import default_adapters
from gateway.formats.canonical import body_payload
from gateway.formats.ceb import CebAdapter
from gateway.formats.schemas import check_canonical_payload
from gateway.formats.wco_dms import WcoDmsAdapter
from gateway.mapping import ceb
from gateway.mapping import wco_dms as dms
from gateway.mapping.ceb import CEB_NS
from gateway.mapping.inventory_declaration import inventory_to_declaration
from gateway.mapping.records import WCO_NS
from gateway.partners.registry import load_partners
from gateway.security.xml import parse_xml
from tests.conftest import remove_topology
from tests.formats import ceb_samples
from tests.formats.support import payload, record_of, to_canonical
from tests.helpers import ENV, EXAMPLES, PartnerSpec, make_deployment, signed

C, W, E = f"{{{CEB_NS}}}", f"{{{WCO_NS}}}", f"{{{ENV}}}"
NS = {"d": dms.DEC_NS, "w": WCO_NS, "e": ENV, "c": CEB_NS}
RECEIPTS = {"order": "CEB312Message", "payment": "CEB412Message", "logistics": "CEB512Message",
            "inventory": "CEB622Message"}  # fmt: skip


@pytest.fixture
async def nsw_and_foreign(tmp_path, inbox_factory, amqp, aiohttp_client):
    nsw_inbox, customs_inbox, domestic_inbox = await inbox_factory(), await inbox_factory(), await inbox_factory()
    deployment = make_deployment(
        tmp_path,
        [
            PartnerSpec("cn-nsw", url=nsw_inbox.url, format="ceb", role="single-window", country="CN",
                        sends=["order", "payment", "logistics", "inventory"], receives=["risk-alert"],
                        extra='receive_formats = { "risk-alert" = "canonical" }'),
            PartnerSpec("gb-customs", url=customs_inbox.url, country="GB", sends=["risk-alert"],
                        receives=["inventory"], extra='receive_formats = { inventory = "wco-dms" }'),
            PartnerSpec("cn-customs", url=domestic_inbox.url, country="CN", sends=[],
                        receives=["order", "payment", "logistics"]),
        ],
        rules=(
            '[[routing.rules]]\ntypes = ["inventory"]\nreceivers = ["gb-customs"]\n'
            '[[routing.rules]]\ntypes = ["order", "payment", "logistics"]\nreceivers = ["cn-customs"]\n'
        ),
        max_attempts=1,
    )  # fmt: skip
    client = await aiohttp_client(build_app(deployment.settings()))
    yield deployment, client, nsw_inbox, customs_inbox
    await client.close()
    await remove_topology(amqp, deployment, ["cn-nsw", "gb-customs", "cn-customs"])


def risk_alert_about(declaration: etree._Element, hs_code: str) -> etree._Element:
    """gb-customs' canonical risk alert on the declaration it received (carried in the alert's Declaration)."""
    root = etree.fromstring((EXAMPLES / "risk-alert.xml").read_bytes())
    header = root.find(f"{E}Header")
    header.find(f"{E}MessageID").text = f"GB-RA-{uuid.uuid4().hex[:12]}"
    header.find(f"{E}Sender").text = "gb-customs"
    header.find(f"{E}Receiver").text = "cn-nsw"
    header.find(f"{E}CreationDateTime").text = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    alert = body_payload(root)
    alert.find("w:IssuingAuthority/w:ID", NS).text = "gb-customs"
    alert.find("w:IssuingAuthority/w:CountryCode", NS).text = "GB"
    alert.find("w:Commodity/w:Classification/w:ID", NS).text = hs_code[:6]
    alert.append(copy.deepcopy(declaration))
    return root


async def test_single_window_set_reaches_a_foreign_administration_whose_risk_alert_comes_back(nsw_and_foreign):
    deployment, client, nsw_inbox, customs_inbox = nsw_and_foreign
    nsw = deployment.partners["cn-nsw"]
    purchase = ceb_samples.Purchase()
    messages = {
        "order": ceb_samples.order(purchase),
        "payment": ceb_samples.payment(purchase),
        "logistics": ceb_samples.logistics(purchase),
        "inventory": ceb_samples.inventory(purchase),
    }

    # 1. The single window's four messages are each accepted with a signed CEB receipt.
    ids = {}
    for message_type, message in messages.items():
        response = await client.post("/v1/partners/cn-nsw/messages", data=signed(nsw, message))
        answer = await response.read()
        assert response.status == 202, answer
        receipt = ceb_samples.carried(XMLVerifier().verify(answer, x509_cert=deployment.gateway.cert).signed_xml)
        assert etree.QName(receipt).localname == RECEIPTS[message_type]
        assert receipt.findtext(".//c:returnStatus", namespaces=NS) == "2"
        ids[message_type] = response.headers["X-Gateway-Message-Id"]

    # 2. gb-customs gets the inventory as a signed, schema-valid DEC whose goods, parties and values are the CEB621's.
    await customs_inbox.wait_for(1)
    headers, delivered = customs_inbox.received[0]
    assert (headers["X-Message-Type"], headers["X-Sender"]) == ("inventory", "cn-nsw")
    document = XMLVerifier().verify(delivered, x509_cert=deployment.gateway.cert).signed_xml
    WcoDmsAdapter().validate(document)
    head = ceb.fields_of(messages["inventory"].find("c:Inventory/c:InventoryHead", NS))
    lines = [ceb.fields_of(line) for line in messages["inventory"].iterfind("c:Inventory/c:InventoryList", NS)]
    dec = document.find("d:Declaration", NS)
    assert dec.findtext("d:FunctionalReferenceID", namespaces=NS) == head["copNo"]
    assert dec.findtext("d:TypeCode", namespaces=NS) == "IM"
    assert dec.findtext("d:Exporter/d:Name", namespaces=NS) == purchase.ebc_name
    assert dec.findtext("d:Declarant/d:ID", namespaces=NS) == head["agentCode"]
    assert dec.findtext("d:Consignment/d:Carrier/d:ID", namespaces=NS) == purchase.logistics_code
    assert dec.findtext("d:BorderTransportMeans/d:ModeCode", namespaces=NS) == "4"  # CEB trafMode 5: air
    assert dec.findtext("d:GoodsShipment/d:Importer/d:Name", namespaces=NS) == purchase.buyer_name
    assert dec.findtext("d:GoodsShipment/d:Consignee/d:Address/d:Line", namespaces=NS) == purchase.consignee_address
    assert dec.findtext("d:GoodsShipment/d:ExportCountry/d:ID", namespaces=NS) == "JP"  # CEB country 116
    assert dec.findtext("d:GoodsShipment/d:Destination/d:CountryCode", namespaces=NS) == "CN"
    assert dec.findtext("d:GoodsShipment/d:UCR/d:TraderAssignedReferenceID", namespaces=NS) == purchase.order_no
    documents = [(p.findtext("d:TypeCode", namespaces=NS), p.findtext("d:ID", namespaces=NS))
                 for p in dec.iterfind("d:GoodsShipment/d:PreviousDocument", NS)]  # fmt: skip
    assert documents == [("703", purchase.logistics_no), ("741", head["billNo"])]
    invoice = dec.find("d:InvoiceAmount", NS)
    assert (Decimal(invoice.text), invoice.get("currencyID")) == (purchase.goods_value, "CNY")
    items = dec.findall("d:GoodsShipment/d:GovernmentAgencyGoodsItem", NS)
    assert len(items) == len(lines) == int(dec.findtext("d:GoodsItemQuantity", namespaces=NS))
    for item, line in zip(items, lines, strict=True):
        assert item.findtext("d:Commodity/d:Classification/d:ID", namespaces=NS) == line["gcode"]
        assert item.findtext("d:Commodity/d:Description", namespaces=NS) == f"{line['gname']}; {line['gmodel']}"
        quantity = item.find("d:Commodity/d:GoodsMeasure/d:TariffQuantity", NS)
        assert (Decimal(quantity.text), quantity.get("unitCode")) == (Decimal(line["qty"]), "H87")
        value = item.find("d:Commodity/d:InvoiceLine/d:ItemChargeAmount", NS)
        assert (Decimal(value.text), value.get("currencyID")) == (Decimal(line["totalPrice"]), "CNY")
        assert item.findtext("d:Origin/d:CountryCode", namespaces=NS) == "JP"
    record = await record_of(deployment, client, ids["inventory"], "delivered")
    assert record["status"] == "delivered"

    # 3. gb-customs answers with a canonical risk alert on that declaration; cn-nsw gets it as a signed canonical
    #    risk-alert envelope (receive_formats), not as CEB.
    declaration = payload(to_canonical(WcoDmsAdapter(), document, "gb-customs"))
    alert = risk_alert_about(declaration, lines[0]["gcode"])
    response = await client.post(
        "/v1/partners/gb-customs/messages", data=signed(deployment.partners["gb-customs"], alert)
    )
    assert response.status == 202, await response.text()
    await nsw_inbox.wait_for(1)
    headers, delivered = nsw_inbox.received[0]
    assert (headers["X-Message-Type"], headers["X-Sender"]) == ("risk-alert", "gb-customs")
    envelope = XMLVerifier().verify(delivered, x509_cert=deployment.gateway.cert).signed_xml
    assert envelope.tag == f"{E}Envelope"
    assert envelope.findtext("e:Header/e:MessageType", namespaces=NS) == "risk-alert"
    assert envelope.findtext("e:Header/e:Receiver", namespaces=NS) == "cn-nsw"
    received = body_payload(envelope)
    assert received.tag == f"{W}RiskAlert"
    check_canonical_payload(received, "the delivered risk alert")
    assert received.findtext("w:Declaration/w:FunctionalReferenceID", namespaces=NS) == head["copNo"]
    assert received.findtext("w:Commodity/w:Classification/w:ID", namespaces=NS) == lines[0]["gcode"][:6]


# --- the mapping on its own ---------------------------------------------------------------------------------


def example_inventory() -> etree._Element:
    return body_payload(parse_xml((EXAMPLES / "inventory.xml").read_bytes()))


def test_example_inventory_maps_to_a_valid_declaration_and_a_valid_dec():
    declaration = inventory_to_declaration(example_inventory())
    check_canonical_payload(declaration, "declaration")
    envelope = parse_xml((EXAMPLES / "inventory.xml").read_bytes())
    WcoDmsAdapter().validate(WcoDmsAdapter().from_canonical(envelope, "gb-customs"))
    assert declaration.findtext("w:FunctionalReferenceID", namespaces=NS) == "COP-000123"
    assert declaration.findtext("w:InvoiceAmount", namespaces=NS) == "541.5"


def test_without_cop_no_the_record_id_is_the_lrn():
    inventory = example_inventory()
    record = inventory.find("w:ClearanceList", NS)
    record.remove(record.find("w:TraderReferenceID", NS))
    declaration = inventory_to_declaration(inventory)
    assert declaration.findtext("w:FunctionalReferenceID", namespaces=NS) == "5F0C2A4E8B1D4C6A9E2F1A3B5C7DAB04"


@pytest.mark.parametrize(
    ("mutate", "text"),
    [
        (lambda r: setattr(r.find("w:FunctionCode", NS), "text", "5"), "FunctionCode: '5' cannot be declared"),
        (lambda r: setattr(r.find("w:TypeCode", NS), "text", "EX"), "only import clearance lists"),
        (lambda r: r.find("w:GoodsItem/w:ItemChargeAmount", NS).set("currencyID", "USD"), "one currency"),
        (lambda r: r.getparent().append(copy.deepcopy(r)), "this inventory holds 2"),
    ],
)
def test_what_a_declaration_cannot_declare_is_mapping_failed(mutate, text):
    inventory = example_inventory()
    mutate(inventory.find("w:ClearanceList", NS))
    with pytest.raises(MappingFailed, match=text):
        inventory_to_declaration(inventory)


def test_an_export_clearance_list_is_refused_as_one():
    adapter = CebAdapter()
    root = ceb_samples.export_inventory(ceb_samples.Purchase())
    inventory = payload(adapter.to_canonical(root, adapter.identify(root), "cn-nsw"))
    with pytest.raises(
        MappingFailed, match=r"export clearance list \(CEB603\) is not mapped to a declaration"
    ) as caught:
        inventory_to_declaration(inventory)
    assert caught.value.pointer == "/Envelope/Body/Inventory/ExportClearanceList"


async def test_an_export_list_for_a_wco_dms_receiver_is_refused_at_ingress_and_not_forwarded(nsw_and_foreign):
    deployment, client, _, customs_inbox = nsw_and_foreign
    export_list = ceb_samples.export_inventory(ceb_samples.Purchase())
    response = await client.post(
        "/v1/partners/cn-nsw/messages", data=signed(deployment.partners["cn-nsw"], export_list)
    )
    answer = await response.read()
    assert (response.status, response.headers["X-Gateway-Outcome"]) == (422, "mapping-failed"), answer
    receipt = ceb_samples.carried(XMLVerifier().verify(answer, x509_cert=deployment.gateway.cert).signed_xml)
    info = receipt.findtext(".//c:returnInfo", namespaces=NS)
    assert receipt.findtext(".//c:returnStatus", namespaces=NS) == "-2999"
    assert "receiver gb-customs (wco-dms) cannot take this inventory" in info
    assert "ExportClearanceList: an export clearance list (CEB603) is not mapped to a declaration" in info

    # Nothing was forwarded: the import list sent next is the first and only thing gb-customs gets.
    response = await client.post(
        "/v1/partners/cn-nsw/messages",
        data=signed(deployment.partners["cn-nsw"], ceb_samples.inventory(ceb_samples.Purchase())),
    )
    assert response.status == 202, await response.read()
    await customs_inbox.wait_for(1)
    assert len(customs_inbox.received) == 1
    assert customs_inbox.received[0][0]["X-Gateway-Message-Id"] == response.headers["X-Gateway-Message-Id"]


def test_a_field_neither_mapped_nor_deliberately_omitted_is_reported():
    inventory = example_inventory()
    record = inventory.find("w:ClearanceList", NS)
    record.find("w:Consignee/w:Address", NS).addprevious(etree.Element(W + "ID"))
    record.find("w:Consignee/w:ID", NS).text = "C-1"  # mapped: not a loss
    inventory_to_declaration(inventory)
    record.find("w:Seller", NS).append(etree.Element(W + "Extra"))
    record.find("w:Seller/w:Extra", NS).text = "x"
    with pytest.raises(MappingFailed, match=r"ClearanceList/Seller/Extra = 'x'"):
        inventory_to_declaration(inventory)


def test_receive_format_must_be_known_and_for_a_received_type(tmp_path):
    formats = frozenset(default_adapters())
    spec = PartnerSpec(
        "cn-nsw", format="ceb", receives=["risk-alert"], extra='receive_formats = { "risk-alert" = "cbor" }'
    )
    deployment = make_deployment(tmp_path, [spec])
    with pytest.raises(ConfigError, match=r"cn-nsw.toml: receive_formats.risk-alert: unknown format 'cbor'"):
        load_partners(deployment.folder / "partners", formats)
    path = deployment.folder / "partners" / "cn-nsw.toml"
    path.write_text(path.read_text().replace('"risk-alert" = "cbor"', 'order = "canonical"'))
    with pytest.raises(ConfigError, match=r"cn-nsw.toml: .*'order' is not a type the partner receives"):
        load_partners(deployment.folder / "partners", formats)
