"""Consistent CEB message sets built by the tests: one purchase as order, payment, waybill and inventory.

The official samples do not match each other (different order numbers, amounts that do not add up), so the
join-key tests build their own: one :class:`Purchase`, four messages sharing orderNo, ebpCode, payCode +
payTransactionId, logisticsCode + logisticsNo and the buyer's identity, amounts that add up.
"""

from __future__ import annotations

import datetime as dt
import functools
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from lxml import etree

from gateway.formats import dxp
from gateway.formats.schemas import SCHEMAS_DIR
from gateway.mapping.ceb import CEB_NS, CHINA, KINDS

C = f"{{{CEB_NS}}}"
SCHEMAS = SCHEMAS_DIR / "ceb"
IMPORT_ROOTS = frozenset(
    etree.parse(str(SCHEMAS / "ceb_import_business_202205.xsd")).xpath(
        "/xs:schema/xs:element/@name", namespaces={"xs": "http://www.w3.org/2001/XMLSchema"}
    )
)


@dataclass(frozen=True)
class Line:
    name: str
    hs: str
    unit: str  # China customs unit code
    qty: Decimal
    price: Decimal
    country: str = "116"  # Japan

    @property
    def total(self) -> Decimal:
        return self.qty * self.price


@dataclass(frozen=True)
class Purchase:
    order_no: str = "ORD-2026-000123"
    ebp_code: str = "1105910159"
    ebp_name: str = "跨境平台北京有限公司"
    ebc_code: str = "1105910160"
    ebc_name: str = "跨境电商北京有限公司"
    pay_code: str = "1101110323"
    pay_name: str = "支付科技有限公司"
    pay_tx: str = "P2026112700001"
    logistics_code: str = "1101180326"
    logistics_name: str = "国际快递有限公司"
    logistics_no: str = "LN2026112700042"
    buyer_name: str = "张三"
    buyer_id: str = "110101199001011234"
    buyer_phone: str = "13800000000"
    consignee_address: str = "北京市朝阳区建国路1号"
    trade_mode: str = "9610"
    freight: Decimal = Decimal("10")
    tax: Decimal = Decimal("5.5")
    discount: Decimal = Decimal("0")
    when: dt.datetime = field(default_factory=lambda: dt.datetime.now(CHINA).replace(microsecond=0))
    lines: tuple[Line, ...] = (
        Line("奶粉", "0402290000", "122", Decimal("2"), Decimal("150")),  # 罐: cans of milk powder
        Line("纸尿裤", "9619001100", "011", Decimal("3"), Decimal("80.5")),  # 件
    )

    @property
    def goods_value(self) -> Decimal:
        return sum((line.total for line in self.lines), Decimal(0))

    @property
    def paid(self) -> Decimal:
        return self.goods_value + self.freight + self.tax - self.discount

    @property
    def app_time(self) -> str:
        return self.when.astimezone(CHINA).strftime("%Y%m%d%H%M%S")


def _guid() -> str:
    return str(uuid.uuid4()).upper()


def _record(
    parent: etree._Element, tag: str, sequence: tuple[tuple[str, bool], ...], values: Mapping[str, object]
) -> None:
    element = etree.SubElement(parent, C + tag)
    unknown = set(values) - {name for name, _ in sequence}
    assert not unknown, f"{tag}: {unknown}"
    for name, _ in sequence:
        if name in values and values[name] is not None:
            etree.SubElement(element, C + name).text = str(values[name])


def _message(
    root_name: str, heads: Sequence[tuple[Mapping[str, object], Sequence[Mapping[str, object]]]]
) -> etree._Element:
    kind = KINDS[root_name]
    root = etree.Element(C + root_name, nsmap={"ceb": CEB_NS})
    root.set("guid", _guid())
    root.set("version", "1.0")
    for head, lines in heads:
        if kind.head == kind.record:  # a flat record (CEB623 InvtCancel)
            _record(root, kind.head, kind.head_fields, head)
            continue
        wrapper = etree.SubElement(root, C + kind.record)
        _record(wrapper, kind.head, kind.head_fields, head)
        for line in lines:
            assert kind.lines is not None
            _record(wrapper, kind.lines, kind.line_fields, line)
    if not kind.transfer:
        return root
    transfer = etree.SubElement(root, C + "BaseTransfer")
    for name, value in (
        ("copCode", "1105910159"),
        ("copName", "单一窗口"),
        ("dxpMode", "DXP"),
        ("dxpId", "DXPENT0000000001"),
    ):
        etree.SubElement(transfer, C + name).text = value
    return root


def _common(p: Purchase) -> dict[str, object]:
    return {"guid": _guid(), "appType": 1, "appTime": p.app_time, "appStatus": 2}


def order(p: Purchase) -> etree._Element:
    head = {
        **_common(p),
        "orderType": "I",
        "orderNo": p.order_no,
        "ebpCode": p.ebp_code,
        "ebpName": p.ebp_name,
        "ebcCode": p.ebc_code,
        "ebcName": p.ebc_name,
        "goodsValue": p.goods_value,
        "freight": p.freight,
        "discount": p.discount,
        "taxTotal": p.tax,
        "acturalPaid": p.paid,
        "currency": "142",
        "buyerRegNo": "U-000042",
        "buyerName": p.buyer_name,
        "buyerTelephone": p.buyer_phone,
        "buyerIdType": 1,
        "buyerIdNumber": p.buyer_id,
        "payCode": p.pay_code,
        "payName": p.pay_name,
        "payTransactionId": p.pay_tx,
        "consignee": p.buyer_name,
        "consigneeTelephone": p.buyer_phone,
        "consigneeAddress": p.consignee_address,
        "consigneeDistrict": "110105",
        "note": "gift wrap",
    }
    lines = [
        {
            "gnum": n,
            "itemNo": f"SKU-{n}",
            "itemName": line.name,
            "gmodel": f"{line.name} 规格{n}",
            "unit": line.unit,
            "qty": line.qty,
            "price": line.price,
            "totalPrice": line.total,
            "currency": "142",
            "country": line.country,
        }
        for n, line in enumerate(p.lines, 1)
    ]
    return _message("CEB311Message", [(head, lines)])


def payment(p: Purchase) -> etree._Element:
    head = {
        **_common(p),
        "payCode": p.pay_code,
        "payName": p.pay_name,
        "payTransactionId": p.pay_tx,
        "orderNo": p.order_no,
        "ebpCode": p.ebp_code,
        "ebpName": p.ebp_name,
        "payerIdType": 1,
        "payerIdNumber": p.buyer_id,
        "payerName": p.buyer_name,
        "telephone": p.buyer_phone,
        "amountPaid": p.paid,
        "currency": "142",
        "payTime": p.app_time,
    }
    return _message("CEB411Message", [(head, [])])


def logistics(p: Purchase) -> etree._Element:
    head = {
        **_common(p),
        "logisticsCode": p.logistics_code,
        "logisticsName": p.logistics_name,
        "logisticsNo": p.logistics_no,
        "orderNo": p.order_no,
        "freight": p.freight,
        "insuredFee": 0,
        "currency": "142",
        "weight": "2.4",
        "packNo": 1,
        "goodsInfo": "奶粉2罐 纸尿裤3件",
        "consignee": p.buyer_name,
        "consigneeAddress": p.consignee_address,
        "consigneeTelephone": p.buyer_phone,
    }
    return _message("CEB511Message", [(head, [])])


def inventory(p: Purchase) -> etree._Element:
    head = {
        **_common(p),
        "orderNo": p.order_no,
        "ebpCode": p.ebp_code,
        "ebpName": p.ebp_name,
        "ebcCode": p.ebc_code,
        "ebcName": p.ebc_name,
        "logisticsNo": p.logistics_no,
        "logisticsCode": p.logistics_code,
        "logisticsName": p.logistics_name,
        "copNo": "COP-000123",
        "assureCode": p.ebc_code,
        "ieFlag": "I",
        "declTime": p.when.strftime("%Y%m%d"),
        "customsCode": "0101",
        "portCode": "0101",
        "buyerIdType": 1,
        "buyerIdNumber": p.buyer_id,
        "buyerName": p.buyer_name,
        "buyerTelephone": p.buyer_phone,
        "consigneeAddress": p.consignee_address,
        "agentCode": p.ebc_code,
        "agentName": p.ebc_name,
        "tradeMode": p.trade_mode,
        "trafMode": 5,
        "trafNo": "CA926",
        "voyageNo": "20261127",
        "billNo": "999-12345675",
        "country": "116",
        "freight": p.freight,
        "insuredFee": 0,
        "currency": "142",
        "wrapType": 2,
        "packNo": 1,
        "grossWeight": "2.4",
        "netWeight": "2.1",
    }
    lines = [
        {
            "gnum": n,
            "itemNo": f"SKU-{n}",
            "itemName": line.name,
            "gcode": line.hs,
            "gname": line.name,
            "gmodel": f"{line.name} 规格{n}",
            "country": line.country,
            "currency": "142",
            "qty": line.qty,
            "unit": line.unit,
            "qty1": line.qty,
            "unit1": line.unit,
            "price": line.price,
            "totalPrice": line.total,
        }
        for n, line in enumerate(p.lines, 1)
    ]
    return _message("CEB621Message", [(head, lines)])


# The customs' tax messages: no official sample exists, so these follow the GACC XSD (TaxHeadRd, TaxListRd,
# TaxHeadStatus) and the spec's tables 3-59 and 3-62. Rates: 9.1 % of the dutiable value for VAT (70 % of 13 %,
# the CBEC retail rate), no customs duty within the CBEC quota, no consumption tax on these goods.


def return_time(p: Purchase) -> str:
    return p.when.astimezone(CHINA).strftime("%Y%m%d%H%M%S") + "123"


def tax_bill(p: Purchase, invt_no: str = "010120261000000042", tax_no: str = "TAX-0101-2026-000042") -> etree._Element:
    """CEB816: the electronic tax bill of the purchase's clearance list."""
    vat = [(line.total * Decimal("0.091")).quantize(Decimal("0.00001")) for line in p.lines]
    head = {
        "guid": _guid(),
        "returnTime": return_time(p),
        "invtNo": invt_no,
        "taxNo": tax_no,
        "customsTax": "0",
        "valueAddedTax": sum(vat, Decimal(0)),
        "consumptionTax": "0",
        "status": 1,
        "note": "跨境电商零售进口税",
        "assureCode": p.ebc_code,
        "ebcCode": p.ebc_code,
        "logisticsCode": p.logistics_code,
        "agentCode": p.ebc_code,
        "customsCode": "0101",
    }
    lines = [
        {
            "gnum": n,
            "gcode": line.hs,
            "taxPrice": line.total,
            "customsTax": "0",
            "valueAddedTax": tax,
            "consumptionTax": "0",
        }
        for n, (line, tax) in enumerate(zip(p.lines, vat, strict=True), 1)
    ]
    return _message("CEB816Message", [(head, lines)])


def tax_status(p: Purchase, status: int = 2, invt_no: str = "010120261000000042") -> etree._Element:
    """CEB818: the status of that tax bill (2: summarised into the payment entDutyNo)."""
    head = {
        "guid": _guid(),
        "returnTime": return_time(p),
        "invtNo": invt_no,
        "taxNo": "TAX-0101-2026-000042",
        "status": status,
        "entDutyNo": "JK-0101-2026-0007" if status == 2 else None,
        "assureCode": p.ebc_code,
    }
    return _message("CEB818Message", [(head, [])])


@functools.cache
def strict_schema(name: str) -> etree.XMLSchema:
    """A GACC XSD exactly as published (``ds:Signature`` where it says so, nowhere else): a strict partner."""
    parser = etree.XMLParser(no_network=True, resolve_entities=False)
    return etree.XMLSchema(etree.parse(str(SCHEMAS / name), parser))


def carried(verified: etree._Element) -> etree._Element:
    """What a strict CEB partner does with a signed CEB receipt (or CEB816/818) from the gateway, once the
    signature is verified: the wrapper must be a DxpMsg valid against the terminal-node XSD, and the document
    in its Data valid against the business XSD as published."""
    assert verified.tag == f"{{{dxp.DXP_NS}}}DxpMsg", etree.QName(verified).localname
    assert strict_schema("ceb_terminal_node_202205.xsd").validate(verified), strict_schema(
        "ceb_terminal_node_202205.xsd"
    ).error_log
    document = dxp.unwrap(verified)
    assert verified.findtext(f"{{{dxp.DXP_NS}}}TransInfo/{{{dxp.DXP_NS}}}MsgType") == etree.QName(document).localname
    schema = strict_schema("ceb_import_business_202205.xsd" if etree.QName(document).localname in IMPORT_ROOTS
                           else "ceb_export_business_202205.xsd")  # fmt: skip
    assert schema.validate(document), schema.error_log
    return document


def cancellation(p: Purchase, invt_no: str = "010120261000000042") -> etree._Element:
    """CEB623: the single window asks to cancel the purchase's clearance list (no official sample is consistent
    with the other messages; this one follows the GACC XSD and table 3-41)."""
    head = {
        **_common(p),
        "customsCode": "0101",
        "orderNo": p.order_no,
        "ebpCode": p.ebp_code,
        "ebpName": p.ebp_name,
        "ebcCode": p.ebc_code,
        "ebcName": p.ebc_name,
        "logisticsNo": p.logistics_no,
        "logisticsCode": p.logistics_code,
        "logisticsName": p.logistics_name,
        "copNo": "COP-000123",
        "invtNo": invt_no,
        "buyerIdType": 1,
        "buyerIdNumber": p.buyer_id,
        "buyerName": p.buyer_name,
        "buyerTelephone": p.buyer_phone,
        "agentCode": p.ebc_code,
        "agentName": p.ebc_name,
        "reason": "买家取消订单",
    }
    return _message("CEB623Message", [(head, [])])


def refund(p: Purchase, invt_no: str = "010120261000000042") -> etree._Element:
    """CEB625: the single window asks to return the first goods line of the purchase's released clearance list
    (the head of a CEB623, spec table 3-45, and the lines returned)."""
    head = {k: v for k, v in ceb_head(cancellation(p, invt_no)).items() if v}
    head.update(guid=_guid(), reason="商品破损 买家退货")
    first = p.lines[0]
    line = {"gnum": 1, "gcode": first.hs, "gname": first.name, "qty": first.qty, "unit": first.unit}
    return _message("CEB625Message", [(head, [line])])


def ceb_head(root: etree._Element) -> dict[str, str]:
    """The fields of the first record's head of a CEB message built here."""
    kind = KINDS[etree.QName(root).localname]
    record = root.find(C + kind.record)
    head = record if kind.head == kind.record else record.find(C + kind.head)
    return {etree.QName(c).localname: c.text or "" for c in head}


def waybill_status(p: Purchase) -> etree._Element:
    """CEB513: the carrier reports the purchase's parcel signed for by the buyer (spec table 3-24)."""
    head = {
        **_common(p),
        "logisticsCode": p.logistics_code,
        "logisticsName": p.logistics_name,
        "logisticsNo": p.logistics_no,
        "logisticsStatus": "S",
        "logisticsTime": p.app_time,
    }
    return _message("CEB513Message", [(head, [])])


def warehouse_entry(p: Purchase, parcels: int = 1) -> etree._Element:
    """CEB711: the operator of a supervised site lists the parcels of one arrival that entered it (table 3-52);
    the first parcel is the purchase's."""
    head = {
        **_common(p),
        "customsCode": "0101",
        "copNo": "RKD-COP-000042",
        "operatorCode": "1101110326",
        "operatorName": "首都机场监管仓库",
        "ieFlag": "I",
        "trafMode": 5,
        "trafNo": "CA926",
        "voyageNo": "20261127",
        "billNo": "999-12345675",
        "logisticsCode": p.logistics_code,
        "logisticsName": p.logistics_name,
        "unloadLocation": "A区3号库位",
    }
    numbers = [p.logistics_no, *(f"{p.logistics_no}-{n}" for n in range(2, parcels + 1))]
    lines = [{"gnum": n, "logisticsNo": number} for n, number in enumerate(numbers, 1)]
    return _message("CEB711Message", [(head, lines)])


def export_inventory(p: Purchase) -> etree._Element:
    """CEB603: the purchase's goods declared for export (9610) on a clearance list (spec table 2-38)."""
    head = {
        **_common(p),
        "customsCode": "0101",
        "ebpCode": p.ebp_code,
        "ebpName": p.ebp_name,
        "orderNo": p.order_no,
        "logisticsCode": p.logistics_code,
        "logisticsName": p.logistics_name,
        "logisticsNo": p.logistics_no,
        "copNo": "EXP-COP-000123",
        "ieFlag": "E",
        "portCode": "0101",
        "ieDate": p.when.strftime("%Y%m%d"),
        "statisticsFlag": "A",
        "agentCode": p.ebc_code,
        "agentName": p.ebc_name,
        "ebcCode": p.ebc_code,
        "ebcName": p.ebc_name,
        "ownerCode": p.ebc_code,
        "ownerName": p.ebc_name,
        "tradeMode": "9610",
        "trafMode": 5,
        "trafName": "CA925",
        "voyageNo": "20261127",
        "billNo": "999-12345675",
        "country": "502",
        "POD": "3101",  # China customs port code of the final port (spec: C3..4)
        "freight": p.freight,
        "fCurrency": "142",
        "fFlag": 3,
        "insuredFee": 0,
        "iCurrency": "142",
        "iFlag": 3,
        "wrapType": 2,
        "packNo": 1,
        "grossWeight": "2.4",
        "netWeight": "2.1",
    }
    lines = [
        {
            "gnum": n,
            "itemNo": f"SKU-{n}",
            "gcode": line.hs,
            "gname": line.name,
            "gmodel": f"{line.name} 规格{n}",
            "barCode": "无",
            "country": "502",
            "currency": "142",
            "qty": line.qty,
            "qty1": line.qty,
            "unit": line.unit,
            "unit1": line.unit,
            "price": line.price,
            "totalPrice": line.total,
        }
        for n, line in enumerate(p.lines, 1)
    ]
    return _message("CEB603Message", [(head, lines)])


def export_cancellation(p: Purchase, invt_no: str = "010120261000000077") -> etree._Element:
    """CEB605: cancel the purchase's export clearance list (spec table 2-44)."""
    head = {
        **_common(p),
        "customsCode": "0101",
        "copNo": "EXP-COP-000123",
        "invtNo": invt_no,
        "reason": "订单取消",
        "agentCode": p.ebc_code,
        "agentName": p.ebc_name,
        "ebcCode": p.ebc_code,
        "ebcName": p.ebc_name,
    }
    return _message("CEB605Message", [(head, [])])


def export_waybill(p: Purchase) -> etree._Element:
    """CEB505: the export parcel's waybill (spec table 2-22)."""
    head = {
        **_common(p),
        "logisticsCode": p.logistics_code,
        "logisticsName": p.logistics_name,
        "logisticsNo": p.logistics_no,
        "freight": p.freight,
        "insuredFee": 0,
        "currency": "142",
        "grossWeight": "2.4",
        "packNo": 1,
        "goodsInfo": "奶粉2罐 纸尿裤3件",
        "ebcCode": p.ebc_code,
        "ebcName": p.ebc_name,
        "ebcTelephone": "010-12345678",
    }
    return _message("CEB505Message", [(head, [])])


def payment_receipt(p: Purchase) -> etree._Element:
    """CEB403: the e-commerce enterprise received the export order's payment (spec table 2-14)."""
    head = {
        **_common(p),
        "ebpCode": p.ebp_code,
        "ebpName": p.ebp_name,
        "ebcCode": p.ebc_code,
        "ebcName": p.ebc_name,
        "orderNo": p.order_no,
        "payName": "Overseas Pay Ltd",
        "payNo": p.pay_tx,
        "charge": p.goods_value,
        "currency": "502",
        "accountingDate": p.app_time,
    }
    return _message("CEB403Message", [(head, [])])


def _report(p: Purchase, **extra: object) -> dict[str, object]:
    return {**_common(p), "customsCode": "0101", "copNo": "RPT-COP-000042", **extra}


def _tail(head: dict[str, object], p: Purchase) -> dict[str, object]:
    return {**head, "logisticsCode": p.logistics_code, "logisticsName": p.logistics_name, "msgCount": 1, "msgSeqNo": 1}


def export_arrival(p: Purchase) -> etree._Element:
    """CEB507: the export parcel arrived at the supervised site (spec 2.8)."""
    head = _report(p, operatorCode="1101110326", operatorName="首都机场监管仓库", ieFlag="E", trafMode=5,
                   billNo="999-12345675", domesticTrafNo="京A12345")  # fmt: skip
    return _message("CEB507Message", [(_tail(head, p), [{"gnum": 1, "logisticsNo": p.logistics_no}])])


def consignment_list(p: Purchase, invt_no: str = "010120261000000077") -> etree._Element:
    """CEB607: the parcel and its clearance list under the master air waybill (spec 2.14)."""
    head = _report(p, agentCode=p.ebc_code, agentName=p.ebc_name, trafMode=5, trafName="CA925",
                   voyageNo="20261127", billNo="999-12345675", grossWeight="2.4")  # fmt: skip
    line = {"gnum": 1, "totalPackageNo": "ULD-AKE12345CA", "logisticsNo": p.logistics_no, "invtNo": invt_no}
    return _message("CEB607Message", [(_tail(head, p), [line])])


def export_departure(p: Purchase) -> etree._Element:
    """CEB509: the parcel left the country on the flight (spec 2.9)."""
    head = _report(p, trafMode=5, trafName="CA925", voyageNo="20261127", billNo="999-12345675")
    head = {**_tail(head, p), "leaveTime": p.app_time}
    order = [n for n, _ in KINDS["CEB509Message"].head_fields]
    head = {name: head[name] for name in order if name in head}
    return _message("CEB509Message", [(head, [{"gnum": 1, "logisticsNo": p.logistics_no}])])


def summary_application(p: Purchase, lists: tuple[str, ...] = ("010120261000000077",)) -> etree._Element:
    """CEB701: sum up the enterprise's export clearance lists (summary mode) into goods declarations (spec 2.21)."""
    head = {
        **_common(p),
        "customsCode": "0101",
        "copNo": "SUM-COP-000042",
        "agentCode": p.ebc_code,
        "agentName": p.ebc_name,
        "ebcCode": p.ebc_code,
        "ebcName": p.ebc_name,
        "declAgentCode": "1101980001",
        "declAgentName": "报关行北京有限公司",
        "summaryFlag": 1,
        "itemNameFlag": 1,
        "msgCount": 1,
        "msgSeqNo": 1,
    }
    return _message("CEB701Message", [(head, [{"invtNo": number} for number in lists])])
