"""Canonical CBEC payloads -> plain frozen records, the only values matching and monitoring look at.

The canonical payload has been validated against ``schemas/canonical/wco.xsd`` before anything here runs, so
required elements are present; optional ones become ``None``. Records are kept as JSON in the controls store
(:func:`to_json` / :func:`order_from_json` ...), small and independent of the XML.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, is_dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from lxml import etree

from gateway.formats.canonical import ENV_NS, WCO_NS

W = f"{{{WCO_NS}}}"
E = f"{{{ENV_NS}}}"
DELETE = "3"  # EDIFACT 1225 message function "deletion"


@dataclass(frozen=True)
class Money:
    value: Decimal
    currency: str

    def __str__(self) -> str:
        return f"{plain(self.value)} {self.currency}"


@dataclass(frozen=True)
class Person:
    """A buyer or payer: the identity the three lists must agree on."""

    name: str | None
    id_type: str | None
    id_number: str | None


@dataclass(frozen=True)
class Line:
    """One goods line of an order or an inventory."""

    seq: int
    item_id: str | None
    item_name: str | None
    description: str | None
    specification: str | None
    hs: str | None
    quantity: Decimal
    unit: str
    unit_price: Money
    total: Money

    @property
    def key(self) -> str:
        """How an inventory line finds its order line: the item number, else the name, else the position."""
        return self.item_id or self.item_name or f"#{self.seq}"


@dataclass(frozen=True)
class OrderFacts:
    order_id: str
    platform: str
    provider: str | None
    transaction: str | None
    buyer: Person
    invoice: Money
    freight: Money | None
    discount: Money | None
    tax: Money | None
    paid: Money | None
    lines: tuple[Line, ...]
    function: str = "9"

    def actual_paid(self) -> Money:
        """The order's actual paid amount; when absent, what CEB defines it as: goods + freight - discount +
        tax (acturalPaid = goodsValue + freight - discount + taxTotal)."""
        if self.paid is not None:
            return self.paid
        total = self.invoice.value
        for amount, sign in ((self.freight, 1), (self.discount, -1), (self.tax, 1)):
            if amount is not None:
                total += sign * amount.value
        return Money(total, self.invoice.currency)


@dataclass(frozen=True)
class PaymentFacts:
    provider: str
    transaction: str
    order_id: str
    platform: str
    payer: Person
    amount: Money
    function: str = "9"


@dataclass(frozen=True)
class WaybillFacts:
    carrier: str
    waybill: str
    order_id: str
    freight: Money | None
    function: str = "9"


@dataclass(frozen=True)
class InventoryFacts:
    reference: str  # FunctionalReferenceID: how receipts name the list
    index: int  # 1-based position of the ClearanceList in its message
    order_id: str
    platform: str
    carrier: str
    waybill: str
    buyer: Person
    freight: Money
    lines: tuple[Line, ...]
    function: str = "9"

    @property
    def pointer(self) -> str:
        return f"/Envelope/Body/Inventory/ClearanceList[{self.index}]"


# Reading the XML --------------------------------------------------------------------------------------------


def _text(element: etree._Element | None, path: str) -> str | None:
    if element is None:
        return None
    found = element.find(path.replace("w:", W))
    if found is None or found.text is None:
        return None
    value = found.text.strip()
    return value or None


def _decimal(value: str | None) -> Decimal | None:
    if value is None:
        return None
    try:
        return Decimal(value)
    except InvalidOperation:
        return None


def _money(element: etree._Element, path: str) -> Money | None:
    found = element.find(path.replace("w:", W))
    if found is None:
        return None
    value = _decimal((found.text or "").strip())
    return None if value is None else Money(value, found.get("currencyID", ""))


def _required_money(element: etree._Element, path: str) -> Money:
    money = _money(element, path)
    return money if money is not None else Money(Decimal(0), "")


def _person(element: etree._Element | None) -> Person:
    return Person(
        _text(element, "w:Name"),
        _text(element, "w:IdentityDocument/w:TypeCode"),
        _text(element, "w:IdentityDocument/w:ID"),
    )


def _line(item: etree._Element) -> Line:
    quantity = item.find(W + "Quantity")
    return Line(
        seq=int(_text(item, "w:SequenceNumeric") or 0),
        item_id=_text(item, "w:ItemID"),
        item_name=_text(item, "w:ItemName"),
        description=_text(item, "w:Description") or _text(item, "w:ItemDescription"),
        specification=_text(item, "w:Specification"),
        hs=_text(item, "w:Classification/w:ID"),
        quantity=_decimal((quantity.text or "").strip() if quantity is not None else None) or Decimal(0),
        unit=quantity.get("unitCode", "") if quantity is not None else "",
        unit_price=_required_money(item, "w:UnitPriceAmount"),
        total=_required_money(item, "w:ItemChargeAmount"),
    )


def payload(envelope: etree._Element) -> etree._Element | None:
    body = envelope.find(E + "Body")
    if body is None:
        return None
    return next((child for child in body if isinstance(child.tag, str)), None)


def orders(envelope: etree._Element) -> Iterator[OrderFacts]:
    body = payload(envelope)
    for record in body.iterfind(W + "ElectronicOrder") if body is not None else ():
        yield OrderFacts(
            order_id=_text(record, "w:OrderID") or "",
            platform=_text(record, "w:Platform/w:ID") or "",
            provider=_text(record, "w:PaymentProvider/w:ID"),
            transaction=_text(record, "w:PaymentTransactionID"),
            buyer=_person(record.find(W + "Buyer")),
            invoice=_required_money(record, "w:InvoiceAmount"),
            freight=_money(record, "w:FreightChargeAmount"),
            discount=_money(record, "w:DiscountAmount"),
            tax=_money(record, "w:WithheldTaxAmount"),
            paid=_money(record, "w:PaymentAmount"),
            lines=tuple(_line(item) for item in record.iterfind(W + "GoodsItem")),
            function=_text(record, "w:FunctionCode") or "9",
        )


def payments(envelope: etree._Element) -> Iterator[PaymentFacts]:
    body = payload(envelope)
    for record in body.iterfind(W + "PaymentVoucher") if body is not None else ():
        yield PaymentFacts(
            provider=_text(record, "w:PaymentProvider/w:ID") or "",
            transaction=_text(record, "w:PaymentTransactionID") or "",
            order_id=_text(record, "w:OrderID") or "",
            platform=_text(record, "w:Platform/w:ID") or "",
            payer=_person(record.find(W + "Payer")),
            amount=_required_money(record, "w:PaymentAmount"),
            function=_text(record, "w:FunctionCode") or "9",
        )


def waybills(envelope: etree._Element) -> Iterator[WaybillFacts]:
    body = payload(envelope)
    for record in body.iterfind(W + "Waybill") if body is not None else ():
        yield WaybillFacts(
            carrier=_text(record, "w:Carrier/w:ID") or "",
            waybill=_text(record, "w:WaybillID") or "",
            order_id=_text(record, "w:OrderID") or "",
            freight=_money(record, "w:FreightChargeAmount"),
            function=_text(record, "w:FunctionCode") or "9",
        )


def inventories(envelope: etree._Element) -> Iterator[InventoryFacts]:
    body = payload(envelope)
    records = body.iterfind(W + "ClearanceList") if body is not None else ()
    for index, record in enumerate(records, start=1):
        yield InventoryFacts(
            reference=_text(record, "w:FunctionalReferenceID") or "",
            index=index,
            order_id=_text(record, "w:OrderID") or "",
            platform=_text(record, "w:Platform/w:ID") or "",
            carrier=_text(record, "w:Carrier/w:ID") or "",
            waybill=_text(record, "w:WaybillID") or "",
            buyer=_person(record.find(W + "Buyer")),
            freight=_required_money(record, "w:FreightChargeAmount"),
            lines=tuple(_line(item) for item in record.iterfind(W + "GoodsItem")),
            function=_text(record, "w:FunctionCode") or "9",
        )


# JSON -------------------------------------------------------------------------------------------------------


def plain(value: Decimal) -> str:
    """A decimal without exponent or trailing zeros: 557.0 -> 557, 80.50 -> 80.5."""
    return format(value.normalize(), "f")


def _encode(value: Any) -> Any:
    if isinstance(value, Decimal):
        return plain(value)
    if is_dataclass(value):  # shallow: json recurses (dataclasses.asdict deep-copies, 10x slower)
        return {name: getattr(value, name) for name in value.__dataclass_fields__}
    raise TypeError(f"cannot store {type(value).__name__}")


def to_json(record: OrderFacts | PaymentFacts | WaybillFacts | InventoryFacts) -> str:
    return json.dumps(record, default=_encode, ensure_ascii=False, separators=(",", ":"))


def _money_of(data: dict[str, Any] | None) -> Money | None:
    return None if data is None else Money(Decimal(data["value"]), data["currency"])


def _lines_of(data: list[dict[str, Any]]) -> tuple[Line, ...]:
    return tuple(
        Line(
            seq=d["seq"],
            item_id=d["item_id"],
            item_name=d["item_name"],
            description=d["description"],
            specification=d["specification"],
            hs=d["hs"],
            quantity=Decimal(d["quantity"]),
            unit=d["unit"],
            unit_price=Money(Decimal(d["unit_price"]["value"]), d["unit_price"]["currency"]),
            total=Money(Decimal(d["total"]["value"]), d["total"]["currency"]),
        )
        for d in data
    )


def order_from_json(text: str) -> OrderFacts:
    d = json.loads(text)
    return OrderFacts(
        order_id=d["order_id"],
        platform=d["platform"],
        provider=d["provider"],
        transaction=d["transaction"],
        buyer=Person(**d["buyer"]),
        invoice=_money_of(d["invoice"]),  # type: ignore[arg-type]
        freight=_money_of(d["freight"]),
        discount=_money_of(d["discount"]),
        tax=_money_of(d["tax"]),
        paid=_money_of(d["paid"]),
        lines=_lines_of(d["lines"]),
        function=d["function"],
    )


def payment_from_json(text: str) -> PaymentFacts:
    d = json.loads(text)
    return PaymentFacts(
        provider=d["provider"],
        transaction=d["transaction"],
        order_id=d["order_id"],
        platform=d["platform"],
        payer=Person(**d["payer"]),
        amount=_money_of(d["amount"]),  # type: ignore[arg-type]
        function=d["function"],
    )


def waybill_from_json(text: str) -> WaybillFacts:
    d = json.loads(text)
    return WaybillFacts(d["carrier"], d["waybill"], d["order_id"], _money_of(d["freight"]), d["function"])


def inventory_from_json(text: str) -> InventoryFacts:
    d = json.loads(text)
    return InventoryFacts(
        reference=d["reference"],
        index=d["index"],
        order_id=d["order_id"],
        platform=d["platform"],
        carrier=d["carrier"],
        waybill=d["waybill"],
        buyer=Person(**d["buyer"]),
        freight=_money_of(d["freight"]),  # type: ignore[arg-type]
        lines=_lines_of(d["lines"]),
        function=d["function"],
    )
