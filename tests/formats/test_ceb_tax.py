"""China customs' tax messages: CEB816 electronic tax bill and CEB818 tax bill status <-> canonical
``tax-assessment`` / ``tax-payment`` (WCO DutyTaxFee 50A, Payment 94A), and a CEB816 from the single window
reaching a foreign administration through the real app and broker."""

from __future__ import annotations

import copy
import datetime as dt
from decimal import Decimal

import pytest
from lxml import etree
from signxml import XMLVerifier

from gateway.app import build_app
from gateway.errors import MappingFailed
from gateway.formats import dxp
from gateway.formats.base import Receipt
from gateway.formats.canonical import CanonicalAdapter, body_payload
from gateway.formats.ceb import CebAdapter
from gateway.mapping import ceb
from gateway.mapping.ceb import CEB_NS
from gateway.mapping.records import WCO_NS
from gateway.security.xml import to_bytes
from tests.conftest import remove_topology
from tests.formats import ceb_samples
from tests.formats.support import record_of
from tests.helpers import ENV, PartnerSpec, make_deployment, make_identity, signed

C, W, E = f"{{{CEB_NS}}}", f"{{{WCO_NS}}}", f"{{{ENV}}}"
NS = {"c": CEB_NS, "w": WCO_NS, "e": ENV}


@pytest.fixture(scope="module")
def adapter() -> CebAdapter:
    return CebAdapter()


def values(root: etree._Element) -> list[tuple[dict[str, str], list[dict[str, str]]]]:
    kind = ceb.kind_of(root)
    return [
        (
            ceb.fields_of(record.find(C + kind.head)),
            [ceb.fields_of(line) for line in record.findall(C + kind.lines)] if kind.lines else [],
        )
        for record in ceb.records(root, kind)
    ]


@pytest.mark.parametrize("build", [ceb_samples.tax_bill, ceb_samples.tax_status], ids=["CEB816", "CEB818"])
def test_tax_message_maps_to_valid_canonical_and_back_unchanged(adapter, build):
    message = build(ceb_samples.Purchase())
    adapter.validate(message)  # generated from the GACC XSD: valid against it
    info = adapter.identify(message)
    envelope = adapter.to_canonical(message, info, "cn-nsw")
    CanonicalAdapter().validate(envelope)
    back = adapter.from_canonical(envelope, "cn-nsw")
    adapter.validate(back)
    assert values(back) == values(message)
    assert back.find(C + "BaseTransfer") is None  # the customs' tax messages have none


def test_tax_bill_duties_are_wco_duty_tax_fees(adapter):
    purchase = ceb_samples.Purchase()
    message = ceb_samples.tax_bill(purchase)
    head = ceb.fields_of(message.find("c:Tax/c:TaxHeadRd", NS))
    envelope = adapter.to_canonical(message, adapter.identify(message), "cn-nsw")
    assert envelope.findtext("e:Header/e:MessageType", namespaces=NS) == "tax-assessment"
    bill = body_payload(envelope).find(W + "TaxBill")
    assert bill.findtext(W + "DeclarationID") == head["invtNo"]
    assert bill.findtext(W + "TaxBillID") == head["taxNo"]
    assert bill.findtext(W + "StatusCode") == "generated"
    assert bill.findtext(W + "IssueDateTime").endswith(".123+08:00")  # returnTime's milliseconds kept
    duties = {
        d.findtext(W + "TypeCode"): d.find(f"{W}Payment/{W}TaxAssessedAmount") for d in bill.findall(W + "DutyTaxFee")
    }
    assert set(duties) == {"CUD", "VAT", "EXC"}
    assert Decimal(duties["VAT"].text) == Decimal(head["valueAddedTax"])
    assert duties["VAT"].get("currencyID") == "CNY"
    items = bill.findall(W + "GoodsItem")
    assert [i.findtext(f"{W}Classification/{W}ID") for i in items] == [line.hs for line in purchase.lines]
    assert [Decimal(i.findtext(W + "AdValoremTaxBaseAmount")) for i in items] == [line.total for line in purchase.lines]


def test_tax_status_carries_the_payment_reference(adapter):
    message = ceb_samples.tax_status(ceb_samples.Purchase(), status=2)
    envelope = adapter.to_canonical(message, adapter.identify(message), "cn-nsw")
    assert envelope.findtext("e:Header/e:MessageType", namespaces=NS) == "tax-payment"
    bill = body_payload(envelope).find(W + "TaxBill")
    assert bill.findtext(W + "StatusCode") == "summarised"
    assert bill.findtext(f"{W}Payment/{W}ReferenceID") == "JK-0101-2026-0007"


def test_unknown_tax_status_is_mapping_failed_naming_the_field(adapter):
    message = ceb_samples.tax_bill(ceb_samples.Purchase())
    message.find("c:Tax/c:TaxHeadRd/c:status", NS).text = "7"
    adapter.validate(message)  # the XSD allows any one character
    with pytest.raises(MappingFailed) as caught:
        adapter.to_canonical(message, adapter.identify(message), "cn-nsw")
    assert caught.value.pointer == "/CEB816Message/Tax[1]/TaxHeadRd/status"
    assert "'7'" in caught.value.message


def test_duty_in_another_currency_is_mapping_failed_towards_ceb(adapter):
    message = ceb_samples.tax_bill(ceb_samples.Purchase())
    envelope = adapter.to_canonical(message, adapter.identify(message), "cn-nsw")
    amount = body_payload(envelope).find(f"{W}TaxBill/{W}DutyTaxFee[{W}TypeCode='VAT']/{W}Payment/{W}TaxAssessedAmount")
    amount.set("currencyID", "EUR")
    with pytest.raises(MappingFailed) as caught:
        adapter.from_canonical(envelope, "cn-nsw")
    assert "in CNY only, not in 'EUR'" in caught.value.message
    assert caught.value.pointer.endswith("DutyTaxFee[TypeCode='VAT']/Payment/TaxAssessedAmount/@currencyID")


def test_status_record_with_duties_cannot_be_a_ceb818(adapter):
    bill = ceb_samples.tax_bill(ceb_samples.Purchase())
    envelope = adapter.to_canonical(bill, adapter.identify(bill), "cn-nsw")
    assessment = body_payload(envelope)
    status = etree.Element(W + "TaxPayment", nsmap={None: WCO_NS})
    status.append(copy.deepcopy(assessment.find(W + "TaxBill")))
    assessment.getparent().replace(assessment, status)
    with pytest.raises(MappingFailed) as caught:
        adapter.from_canonical(envelope, "cn-nsw")
    assert "ceb format cannot carry" in caught.value.message
    assert "DutyTaxFee" in caught.value.message  # named, not dropped


def test_tax_message_is_answered_with_a_valid_ceb900(adapter):
    message = ceb_samples.tax_bill(ceb_samples.Purchase())
    info = adapter.identify(message)
    receipt = Receipt(
        accepted=True,
        issued=dt.datetime.now(dt.UTC),
        gateway_message_id="G-1",
        sender="gw",
        receiver="cn-nsw",
        referenced_message_id=info.message_id,
        referenced_message_type=info.message_type,
        records=info.records,
    )
    document = adapter.render_receipt(receipt)
    assert etree.QName(document).localname == "CEB900Message"
    adapter.validate(document)
    assert document.findtext("c:MessageReturn/c:oriMessageType", namespaces=NS) == "CEB816Message"
    assert document.findtext("c:MessageReturn/c:guid", namespaces=NS) == message.get("guid")
    assert document.findtext("c:MessageReturn/c:returnStatus", namespaces=NS) == "2"


# --- end to end: the single window's CEB816 reaches a foreign administration --------------------------------


@pytest.fixture
async def tax_flow(tmp_path, inbox_factory, amqp, aiohttp_client):
    inbox = await inbox_factory()
    deployment = make_deployment(
        tmp_path,
        [
            PartnerSpec("cn-nsw", format="ceb", role="single-window", country="CN",
                        sends=["tax-assessment", "tax-payment"], receives=[]),
            PartnerSpec("gb-customs", url=inbox.url, country="GB", sends=[],
                        receives=["tax-assessment", "tax-payment"]),
        ],
        rules='[[routing.rules]]\ntypes = ["tax-assessment", "tax-payment"]\nreceivers = ["gb-customs"]\n',
        max_attempts=1,
    )  # fmt: skip
    client = await aiohttp_client(build_app(deployment.settings()))
    yield deployment, client, inbox
    await client.close()
    await remove_topology(amqp, deployment, ["cn-nsw", "gb-customs"])


async def test_ceb816_reaches_a_foreign_administration_as_a_canonical_tax_assessment(tax_flow):
    deployment, client, inbox = tax_flow
    purchase = ceb_samples.Purchase()
    bill, status = ceb_samples.tax_bill(purchase), ceb_samples.tax_status(purchase)
    head = ceb.fields_of(bill.find("c:Tax/c:TaxHeadRd", NS))
    nsw = deployment.partners["cn-nsw"]
    # CEB816 has no signature element: signed enveloped anyway (the gateway verifies, then validates what the
    # signature covers); the CEB818 as the spec's chapter 4 has it, signed in a DxpMsg that carries it.
    wrapped = dxp.wrap(status, sender_id="DXPNSW0000000001", receiver_id="GATEWAY", created=purchase.when)
    ids = []
    for body in (signed(nsw, bill), signed(nsw, wrapped)):
        response = await client.post("/v1/partners/cn-nsw/messages", data=body)
        answer = await response.read()
        assert response.status == 202, answer
        ids.append(response.headers["X-Gateway-Message-Id"])
        # No CEB receipt answers a tax message: CEB900, in a DxpMsg signed by the gateway.
        verified = XMLVerifier().verify(answer, x509_cert=deployment.gateway.cert).signed_xml
        receipt = ceb_samples.carried(verified)
        assert etree.QName(receipt).localname == "CEB900Message"
        assert receipt.findtext("c:MessageReturn/c:returnStatus", namespaces=NS) == "2"

    other = dxp.wrap(ceb_samples.tax_status(purchase), sender_id="DXPNSW0000000001", receiver_id="GATEWAY",
                     created=purchase.when)  # fmt: skip
    tampered = signed(nsw, other).replace(b">GATEWAY<", b">GATEWAX<")  # the wrapper changed after signing
    response = await client.post("/v1/partners/cn-nsw/messages", data=tampered)
    assert response.status == 401, await response.text()

    await inbox.wait_for(2)
    delivered = {}
    for headers, body in inbox.received:
        assert headers["X-Sender"] == "cn-nsw"
        envelope = XMLVerifier().verify(body, x509_cert=deployment.gateway.cert).signed_xml
        CanonicalAdapter().validate(envelope)
        delivered[headers["X-Message-Type"]] = envelope
    assert set(delivered) == {"tax-assessment", "tax-payment"}

    assessment = delivered["tax-assessment"]
    assert assessment.findtext("e:Header/e:MessageID", namespaces=NS) == bill.get("guid")
    assert assessment.findtext("e:Header/e:Receiver", namespaces=NS) == "gb-customs"
    taxed = body_payload(assessment).find(W + "TaxBill")
    assert taxed.findtext(W + "TaxBillID") == head["taxNo"]
    vat = taxed.find(f"{W}DutyTaxFee[{W}TypeCode='VAT']/{W}Payment/{W}TaxAssessedAmount")
    assert (Decimal(vat.text), vat.get("currencyID")) == (Decimal(head["valueAddedTax"]), "CNY")
    assert len(taxed.findall(W + "GoodsItem")) == len(purchase.lines)
    paid = body_payload(delivered["tax-payment"]).find(W + "TaxBill")
    assert (paid.findtext(W + "StatusCode"), paid.findtext(f"{W}Payment/{W}ReferenceID")) == (
        "summarised",
        "JK-0101-2026-0007",
    )
    for gateway_id in ids:
        assert (await record_of(deployment, client, gateway_id, "delivered"))["status"] == "delivered"


def test_the_gateway_signs_a_tax_message_in_a_dxp_msg_and_an_order_in_place(adapter, tmp_path):
    gateway = make_identity(tmp_path, "gw-test")
    bill = ceb_samples.tax_bill(ceb_samples.Purchase())
    sealed = adapter.seal(copy.deepcopy(bill), gateway.signer, "cn-nsw")
    verified = XMLVerifier().verify(to_bytes(sealed), x509_cert=gateway.cert).signed_xml
    carried = ceb_samples.carried(verified)  # strictly valid wrapper and CEB816
    assert values(carried) == values(bill)
    assert verified.findtext(f"{{{dxp.DXP_NS}}}TransInfo/{{{dxp.DXP_NS}}}ReceiverIds/{{{dxp.DXP_NS}}}ReceiverId") == (
        "cn-nsw"
    )
    order = adapter.seal(ceb_samples.order(ceb_samples.Purchase()), gateway.signer, "cn-nsw")
    assert etree.QName(order).localname == "CEB311Message"  # its XSD has ds:Signature: enveloped, as before
    assert ceb_samples.strict_schema("ceb_import_business_202205.xsd").validate(order)
