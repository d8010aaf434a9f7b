"""CEB follow-ups (docs/DESIGN.md 8, "Follow-ups"): a CEB623 cancellation and an appType 2 modification are new
messages linked to the inventory / order they concern and delivered after it; a resend is a duplicate (200 with
the first receipt). Real app, broker and receiver."""

from __future__ import annotations

import pytest
from lxml import etree
from signxml import XMLVerifier

from gateway.app import build_app
from gateway.formats.canonical import CanonicalAdapter, body_payload
from gateway.formats.ceb import CebAdapter
from gateway.mapping import ceb
from gateway.mapping.ceb import CEB_NS
from gateway.mapping.records import WCO_NS
from tests.conftest import remove_topology
from tests.formats import ceb_samples
from tests.formats.support import record_of
from tests.helpers import ENV, PartnerSpec, make_deployment, signed

C, W = f"{{{CEB_NS}}}", f"{{{WCO_NS}}}"
NS = {"c": CEB_NS, "w": WCO_NS, "e": ENV}
TYPES = [
    "order",
    "inventory",
    "inventory-cancellation",
    "inventory-return",
    "logistics",
    "logistics-status",
    "warehouse-entry",
    "payment",
    "cargo-report",
    "summary-application",
]


@pytest.fixture
async def flow(tmp_path, inbox_factory, amqp, aiohttp_client):
    inbox = await inbox_factory()
    deployment = make_deployment(
        tmp_path,
        [
            PartnerSpec("cn-nsw", format="ceb", role="single-window", country="CN", sends=TYPES, receives=[]),
            PartnerSpec("cn-clearance", url=inbox.url, country="CN", sends=[], receives=TYPES),
        ],
        rules=f'[[routing.rules]]\ntypes = {TYPES!r}\nreceivers = ["cn-clearance"]\n'.replace("'", '"'),
        max_attempts=1,
    )
    client = await aiohttp_client(build_app(deployment.settings()))
    yield deployment, client, inbox
    await client.close()
    await remove_topology(amqp, deployment, ["cn-nsw", "cn-clearance"])


async def post(deployment, client, body: bytes):
    response = await client.post("/v1/partners/cn-nsw/messages", data=body)
    return response, await response.read()


def test_identity_opens_and_follows_the_business_key():
    adapter, purchase = CebAdapter(), ceb_samples.Purchase()
    for message, opens, follows in (
        (ceb_samples.inventory(purchase), f"inventory:{purchase.ebp_code}:{purchase.order_no}", None),
        (ceb_samples.cancellation(purchase), None, f"inventory:{purchase.ebp_code}:{purchase.order_no}"),
        (ceb_samples.refund(purchase), None, f"inventory:{purchase.ebp_code}:{purchase.order_no}"),
        (ceb_samples.logistics(purchase), f"waybill:{purchase.logistics_code}:{purchase.logistics_no}", None),
        (ceb_samples.waybill_status(purchase), None, f"waybill:{purchase.logistics_code}:{purchase.logistics_no}"),
        (ceb_samples.warehouse_entry(purchase), "warehouse-entry:1101110326:RKD-COP-000042", None),
        (ceb_samples.export_inventory(purchase), f"export-inventory:{purchase.ebc_code}:EXP-COP-000123", None),
        (ceb_samples.export_cancellation(purchase), None, f"export-inventory:{purchase.ebc_code}:EXP-COP-000123"),
        (
            ceb_samples.export_waybill(purchase),
            f"export-waybill:{purchase.logistics_code}:{purchase.logistics_no}",
            None,
        ),
        (ceb_samples.payment_receipt(purchase), f"payment-receipt:{purchase.ebc_code}:{purchase.order_no}", None),
        (ceb_samples.export_arrival(purchase), "export-arrival:1101110326:RPT-COP-000042", None),
        (ceb_samples.consignment_list(purchase), f"export-consignment-list:{purchase.ebc_code}:RPT-COP-000042", None),
        (ceb_samples.export_departure(purchase), f"export-departure:{purchase.logistics_code}:RPT-COP-000042", None),
        (ceb_samples.summary_application(purchase), f"summary-application:{purchase.ebc_code}:SUM-COP-000042", None),
        (ceb_samples.order(purchase), f"order:{purchase.ebp_code}:{purchase.order_no}", None),
        (ceb_samples.tax_status(purchase), None, "tax:TAX-0101-2026-000042"),
    ):
        info = adapter.identify(message)
        identity = adapter.identity(message, info, "digest")
        assert (identity.key, identity.reference, identity.follows) == (message.get("guid"), opens, follows)
    modified = ceb_samples.order(purchase)
    modified.find("c:Order/c:OrderHead/c:appType", NS).text = "2"
    identity = adapter.identity(modified, adapter.identify(modified), "digest")
    assert (identity.reference, identity.follows) == (None, f"order:{purchase.ebp_code}:{purchase.order_no}")


async def test_cancellation_and_modification_follow_and_their_resends_are_duplicates(flow):
    deployment, client, inbox = flow
    nsw = deployment.partners["cn-nsw"]
    purchase = ceb_samples.Purchase()
    inventory, cancellation = ceb_samples.inventory(purchase), ceb_samples.cancellation(purchase)
    order, modified = ceb_samples.order(purchase), ceb_samples.order(purchase)
    modified.find("c:Order/c:OrderHead/c:appType", NS).text = "2"
    modified.find("c:Order/c:OrderHead/c:note", NS).text = "address corrected"

    response, _ = await post(deployment, client, signed(nsw, inventory))
    assert response.status == 202
    inventory_id = response.headers["X-Gateway-Message-Id"]
    cancel_body = signed(nsw, cancellation)
    response, first_receipt = await post(deployment, client, cancel_body)
    assert response.status == 202, first_receipt
    assert response.headers["X-Gateway-Follows"] == inventory_id
    cancellation_id = response.headers["X-Gateway-Message-Id"]
    # Its receipt: the CEB624 the spec answers a CEB623 with, signed in a DxpMsg.
    verified = XMLVerifier().verify(first_receipt, x509_cert=deployment.gateway.cert).signed_xml
    receipt = ceb_samples.carried(verified)
    assert etree.QName(receipt).localname == "CEB624Message"
    returned = ceb.fields_of(receipt.find(C + "InvtCancelReturn"))
    assert (returned["invtNo"], returned["returnStatus"]) == ("010120261000000042", "2")
    # The same cancellation again: a duplicate, answered with the first receipt.
    response, again = await post(deployment, client, cancel_body)
    assert (response.status, response.headers["X-Gateway-Outcome"]) == (200, "duplicate")
    assert again == first_receipt

    response, _ = await post(deployment, client, signed(nsw, order))
    order_id = response.headers["X-Gateway-Message-Id"]
    response, answer = await post(deployment, client, signed(nsw, modified))
    assert response.status == 202, answer
    assert response.headers["X-Gateway-Follows"] == order_id

    await inbox.wait_for(4)
    delivered = [XMLVerifier().verify(body, x509_cert=deployment.gateway.cert).signed_xml for _, body in inbox.received]
    types = [d.findtext("e:Header/e:MessageType", namespaces=NS) for d in delivered]
    assert types.index("inventory") < types.index("inventory-cancellation")  # delivered after what it follows
    by_type = {t: d for t, d in zip(types, delivered, strict=True)}
    cancelled = by_type["inventory-cancellation"]
    CanonicalAdapter().validate(cancelled)
    assert cancelled.findtext("e:Header/e:CorrelationID", namespaces=NS) == inventory.get("guid")
    request = body_payload(cancelled).find(W + "CancellationRequest")
    assert request.findtext(W + "Reason") == "买家取消订单"
    assert request.findtext(W + "DeclarationID") == "010120261000000042"
    orders = [d for t, d in zip(types, delivered, strict=True) if t == "order"]
    assert [o.findtext("e:Header/e:CorrelationID", namespaces=NS) for o in orders] == [None, order.get("guid")]
    assert (await record_of(deployment, client, cancellation_id, "delivered"))["status"] == "delivered"


async def test_a_return_request_follows_its_inventory_and_is_answered_with_a_ceb626(flow):
    deployment, client, inbox = flow
    nsw = deployment.partners["cn-nsw"]
    purchase = ceb_samples.Purchase()
    inventory, refund = ceb_samples.inventory(purchase), ceb_samples.refund(purchase)
    response, _ = await post(deployment, client, signed(nsw, inventory))
    assert response.status == 202
    inventory_id = response.headers["X-Gateway-Message-Id"]
    body = signed(nsw, refund)
    response, first_receipt = await post(deployment, client, body)
    assert response.status == 202, first_receipt
    assert response.headers["X-Gateway-Follows"] == inventory_id
    # Its receipt: the CEB626 the spec answers a CEB625 with, signed in a DxpMsg, valid for a strict partner.
    verified = XMLVerifier().verify(first_receipt, x509_cert=deployment.gateway.cert).signed_xml
    receipt = ceb_samples.carried(verified)
    assert etree.QName(receipt).localname == "CEB626Message"
    returned = ceb.fields_of(receipt.find(C + "InvtRefundReturn"))
    assert (returned["invtNo"], returned["returnStatus"]) == ("010120261000000042", "2")
    response, again = await post(deployment, client, body)
    assert (response.status, response.headers["X-Gateway-Outcome"], again) == (200, "duplicate", first_receipt)

    await inbox.wait_for(2)
    delivered = [XMLVerifier().verify(b, x509_cert=deployment.gateway.cert).signed_xml for _, b in inbox.received]
    types = [d.findtext("e:Header/e:MessageType", namespaces=NS) for d in delivered]
    assert types == ["inventory", "inventory-return"]  # delivered after what it follows
    returned_message = delivered[1]
    CanonicalAdapter().validate(returned_message)
    assert returned_message.findtext("e:Header/e:CorrelationID", namespaces=NS) == inventory.get("guid")
    request = body_payload(returned_message).find(W + "ReturnRequest")
    assert request.findtext(W + "Reason") == "商品破损 买家退货"
    (item,) = request.findall(W + "GoodsItem")
    quantity = item.find(W + "Quantity")
    first = purchase.lines[0]
    assert (item.findtext(W + "Classification/" + W + "ID"), quantity.text) == (first.hs, str(first.qty))


async def test_a_waybill_status_follows_its_waybill_and_an_entry_list_is_answered_with_a_ceb712(flow):
    deployment, client, inbox = flow
    nsw = deployment.partners["cn-nsw"]
    purchase = ceb_samples.Purchase()
    response, _ = await post(deployment, client, signed(nsw, ceb_samples.logistics(purchase)))
    assert response.status == 202
    waybill_id = response.headers["X-Gateway-Message-Id"]
    response, answer = await post(deployment, client, signed(nsw, ceb_samples.waybill_status(purchase)))
    assert response.status == 202, answer
    assert response.headers["X-Gateway-Follows"] == waybill_id
    receipt = ceb_samples.carried(XMLVerifier().verify(answer, x509_cert=deployment.gateway.cert).signed_xml)
    assert etree.QName(receipt).localname == "CEB514Message"
    returned = ceb.fields_of(receipt.find(C + "LogisticsStatusReturn"))
    assert (returned["logisticsNo"], returned["logisticsStatus"], returned["returnStatus"]) == (
        purchase.logistics_no, "S", "2")  # fmt: skip

    entry = ceb_samples.warehouse_entry(purchase, parcels=3)
    response, answer = await post(deployment, client, signed(nsw, entry))
    assert response.status == 202, answer
    receipt = ceb_samples.carried(XMLVerifier().verify(answer, x509_cert=deployment.gateway.cert).signed_xml)
    assert etree.QName(receipt).localname == "CEB712Message"
    returned = ceb.fields_of(receipt.find(C + "DeliveryReturn"))
    assert (returned["operatorCode"], returned["copNo"], returned["returnStatus"]) == (
        "1101110326",
        "RKD-COP-000042",
        "2",
    )

    await inbox.wait_for(3)
    delivered = [XMLVerifier().verify(b, x509_cert=deployment.gateway.cert).signed_xml for _, b in inbox.received]
    types = [d.findtext("e:Header/e:MessageType", namespaces=NS) for d in delivered]
    assert types.index("logistics") < types.index("logistics-status")
    by_type = {t: d for t, d in zip(types, delivered, strict=True)}
    for message in by_type.values():
        CanonicalAdapter().validate(message)
    status = body_payload(by_type["logistics-status"]).find(W + "WaybillStatus")
    assert (status.findtext(W + "WaybillID"), status.findtext(W + "DeliveryStatusCode")) == (purchase.logistics_no, "S")
    entered = body_payload(by_type["warehouse-entry"]).findall(f"{W}EntryList/{W}EnteredWaybill/{W}WaybillID")
    assert [e.text for e in entered] == [
        purchase.logistics_no,
        f"{purchase.logistics_no}-2",
        f"{purchase.logistics_no}-3",
    ]


async def test_export_messages_are_answered_in_their_receipts_and_a_cancellation_follows_its_list(flow):
    deployment, client, inbox = flow
    nsw = deployment.partners["cn-nsw"]
    purchase = ceb_samples.Purchase()
    answers = {}
    for build in (ceb_samples.export_inventory, ceb_samples.export_cancellation, ceb_samples.export_waybill,
                  ceb_samples.payment_receipt):  # fmt: skip
        response, answer = await post(deployment, client, signed(nsw, build(purchase)))
        assert response.status == 202, (build.__name__, response.headers["X-Gateway-Outcome"], answer)
        verified = XMLVerifier().verify(answer, x509_cert=deployment.gateway.cert).signed_xml
        answers[build.__name__] = (response.headers, ceb_samples.carried(verified))
    listed_id = answers["export_inventory"][0]["X-Gateway-Message-Id"]
    assert answers["export_cancellation"][0]["X-Gateway-Follows"] == listed_id
    # CEB604 needs the list's customs number (invtNo), which a list just lodged does not have: CEB900 answers it.
    roots = {name: etree.QName(document).localname for name, (_, document) in answers.items()}
    assert roots == {"export_inventory": "CEB900Message", "export_cancellation": "CEB606Message",
                     "export_waybill": "CEB506Message", "payment_receipt": "CEB404Message"}  # fmt: skip
    cancelled = ceb.fields_of(answers["export_cancellation"][1].find(C + "InvtCancelReturn"))
    assert (cancelled["invtNo"], cancelled["copNo"], cancelled["returnStatus"]) == (
        "010120261000000077", "EXP-COP-000123", "2")  # fmt: skip

    await inbox.wait_for(4)
    delivered = [XMLVerifier().verify(b, x509_cert=deployment.gateway.cert).signed_xml for _, b in inbox.received]
    types = [d.findtext("e:Header/e:MessageType", namespaces=NS) for d in delivered]
    assert types.index("inventory") < types.index("inventory-cancellation")
    records = {}
    for message in delivered:
        CanonicalAdapter().validate(message)
        (record,) = body_payload(message)
        records[etree.QName(record).localname] = record
    assert set(records) == {"ExportClearanceList", "ExportCancellationRequest", "ExportWaybill", "PaymentReceipt"}
    listed = records["ExportClearanceList"]
    assert (listed.findtext(W + "TypeCode"), listed.findtext(W + "DestinationCountryCode")) == ("EX", "US")
    assert listed.find(W + "FreightChargeAmount").get("currencyID") == "CNY"
    assert records["PaymentReceipt"].find(W + "PaymentAmount").get("currencyID") == "USD"


async def test_export_cargo_reports_are_answered_with_their_ceb_receipts(flow):
    deployment, client, inbox = flow
    nsw = deployment.partners["cn-nsw"]
    purchase = ceb_samples.Purchase()
    roots = []
    for build in (ceb_samples.export_arrival, ceb_samples.consignment_list, ceb_samples.export_departure,
                  ceb_samples.summary_application):  # fmt: skip
        message = build(purchase)
        response, answer = await post(deployment, client, signed(nsw, message))
        assert response.status == 202, (build.__name__, answer)
        receipt = ceb_samples.carried(XMLVerifier().verify(answer, x509_cert=deployment.gateway.cert).signed_xml)
        roots.append(etree.QName(receipt).localname)
        (returned,) = [ceb.fields_of(r) for r in receipt if isinstance(r.tag, str)]
        copied = ceb_samples.ceb_head(message)["copNo"]
        assert (returned["copNo"], returned["msgSeqNo"], returned["returnStatus"]) == (copied, "1", "2")
        assert len(returned["preNo"]) == 18  # the gateway's number for it, as CEB508/608/510/702 require one
    assert roots == ["CEB508Message", "CEB608Message", "CEB510Message", "CEB702Message"]
    await inbox.wait_for(4)
    delivered = [XMLVerifier().verify(b, x509_cert=deployment.gateway.cert).signed_xml for _, b in inbox.received]
    names = set()
    for message in delivered:
        CanonicalAdapter().validate(message)
        (record,) = body_payload(message)
        names.add(etree.QName(record).localname)
        if etree.QName(record).localname == "SummaryRequest":
            listed = record.findtext(f"{W}SummarisedClearanceList/{W}DeclarationID")
            assert (listed, record.findtext(W + "SummaryModeCode")) == ("010120261000000077", "consignor")
        else:
            assert record.findtext(f"{W}Parcel/{W}WaybillID") == purchase.logistics_no
    assert names == {"ArrivalReport", "ConsignmentList", "DepartureReport", "SummaryRequest"}
