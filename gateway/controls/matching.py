"""Three-list matching: an inventory against its e-commerce order, payment voucher and logistics waybill.

Pure: the records found for an inventory go in, every failed rule (with the values seen on each side) and
every list still missing come out. How the records are found (by which keys) is the store's business; these
rules compare whatever was found, so a payment found through the order's transaction id that names another
order fails ``payment-order`` just as a payment found through the order number that names another
transaction fails ``payment-transaction``.

Rules (ids are stable: receipts and logs name them):

    order-platform       the order was lodged by the platform the inventory names (OrderID + Platform/ID)
    payment-order        the payment names the inventory's order number and platform
    payment-transaction  the payment provider + transaction id on the order are the payment's
    waybill              the logistics provider + waybill number on the inventory are the waybill's
    waybill-order        the waybill names the inventory's order number
    buyer                buyer name and identity document agree on order, payment (payer) and inventory
    amount-paid          the amount paid equals the order's actual paid amount (same currency)
    goods                every inventory line has the order's line (item, quantity and unit, price, total)
                         and no order line is left out
    freight              the inventory's freight equals the order's and the waybill's (where they give one)

Amounts are compared exactly (decimal values and currency): CEB requires equal amounts, not close ones.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import StrEnum

from gateway.controls.facts import (
    InventoryFacts,
    Line,
    Money,
    OrderFacts,
    PaymentFacts,
    Person,
    WaybillFacts,
    plain,
)

RULES: dict[str, str] = {
    "order-platform": "the order was lodged by the platform the inventory names",
    "payment-order": "the payment names the inventory's order number and platform",
    "payment-transaction": "the order's payment provider and transaction id are the payment's",
    "waybill": "the inventory's logistics provider and waybill number are the waybill's",
    "waybill-order": "the waybill names the inventory's order number",
    "buyer": "buyer name and identity document agree on order, payment and inventory",
    "amount-paid": "the amount paid equals the order's actual paid amount",
    "goods": "the inventory's goods lines are the order's (item, quantity, price, total)",
    "freight": "the inventory's freight equals the order's and the waybill's",
}


class Outcome(StrEnum):
    MATCHED = "matched"
    MISMATCHED = "mismatched"
    INCOMPLETE = "incomplete"


@dataclass(frozen=True)
class Failure:
    rule: str
    pointer: str  # the inventory field concerned, in the canonical message
    description: str  # what disagrees, with the values seen


@dataclass(frozen=True)
class Found:
    """The records the store found for one inventory (None: that list has not arrived)."""

    order: OrderFacts | None = None
    payment: PaymentFacts | None = None
    waybill: WaybillFacts | None = None


@dataclass(frozen=True)
class Verdict:
    inventory: InventoryFacts
    failures: tuple[Failure, ...] = ()
    missing: tuple[str, ...] = ()  # "order", "payment", "logistics"
    found: Found = field(default_factory=Found)

    @property
    def outcome(self) -> Outcome:
        if self.failures:
            return Outcome.MISMATCHED  # no missing list can repair a rule that already failed
        return Outcome.INCOMPLETE if self.missing else Outcome.MATCHED

    def describe_missing(self) -> str:
        inv = self.inventory
        wanted = {
            "order": f"order {inv.order_id} of platform {inv.platform}",
            "payment": f"payment of order {inv.order_id}",
            "logistics": f"waybill {inv.waybill} of logistics provider {inv.carrier}",
        }
        return ", ".join(wanted[m] for m in self.missing)


def check(inventory: InventoryFacts, found: Found) -> Verdict:
    """Every rule that can be checked with what was found; the lists not found are ``missing``."""
    failures: list[Failure] = []
    rules = _Rules(inventory, found)
    for failure in rules.all():
        failures.append(failure)
    missing = tuple(
        name
        for name, record in (("order", found.order), ("payment", found.payment), ("logistics", found.waybill))
        if record is None
    )
    return Verdict(inventory, tuple(failures), missing, found)


def _same(a: Money | None, b: Money | None) -> bool:
    return a is not None and b is not None and a.value == b.value and a.currency == b.currency


def _norm(value: str | None) -> str | None:
    return " ".join(value.split()).casefold() if value else None


def _shown(value: object) -> str:
    return "(none)" if value is None or value == "" else str(value)


class _Rules:
    def __init__(self, inventory: InventoryFacts, found: Found) -> None:
        self.inv = inventory
        self.order = found.order
        self.payment = found.payment
        self.waybill = found.waybill

    def fail(self, rule: str, where: str, text: str) -> Failure:
        inv = self.inv
        return Failure(
            rule,
            f"{inv.pointer}/{where}",
            f"{rule}: ClearanceList {inv.index} (order {inv.order_id}): {text}",
        )

    def all(self) -> Iterator[Failure]:
        yield from self.order_platform()
        yield from self.payment_keys()
        yield from self.waybill_keys()
        yield from self.buyer()
        yield from self.amount_paid()
        yield from self.goods()
        yield from self.freight()

    def order_platform(self) -> Iterator[Failure]:
        order, inv = self.order, self.inv
        if order is None:
            return
        if order.order_id != inv.order_id or order.platform != inv.platform:
            yield self.fail(
                "order-platform",
                "Platform/ID",
                f"the inventory names order {inv.order_id} of platform {inv.platform}; the order found is "
                f"{order.order_id} of platform {order.platform}",
            )

    def payment_keys(self) -> Iterator[Failure]:
        payment, order, inv = self.payment, self.order, self.inv
        if payment is None:
            return
        if payment.order_id != inv.order_id or payment.platform != inv.platform:
            yield self.fail(
                "payment-order",
                "OrderID",
                f"the payment {payment.provider}/{payment.transaction} names order {payment.order_id} "
                f"of platform {payment.platform}; the inventory names order {inv.order_id} of platform "
                f"{inv.platform}",
            )
        if order is not None and (order.provider, order.transaction) != (
            payment.provider,
            payment.transaction,
        ):
            yield self.fail(
                "payment-transaction",
                "OrderID",
                f"the order names payment provider {_shown(order.provider)} transaction "
                f"{_shown(order.transaction)}; the payment is provider {payment.provider} transaction "
                f"{payment.transaction}",
            )

    def waybill_keys(self) -> Iterator[Failure]:
        waybill, inv = self.waybill, self.inv
        if waybill is None:
            return
        if (waybill.carrier, waybill.waybill) != (inv.carrier, inv.waybill):
            yield self.fail(
                "waybill",
                "WaybillID",
                f"the inventory names logistics provider {inv.carrier} waybill {inv.waybill}; the waybill of "
                f"the order is provider {waybill.carrier} waybill {waybill.waybill}",
            )
        if waybill.order_id != inv.order_id:
            yield self.fail(
                "waybill-order",
                "WaybillID",
                f"waybill {waybill.carrier}/{waybill.waybill} names order {waybill.order_id}; the inventory "
                f"names order {inv.order_id}",
            )

    def buyer(self) -> Iterator[Failure]:
        sides: list[tuple[str, Person]] = [("inventory", self.inv.buyer)]
        if self.order is not None:
            sides.append(("order", self.order.buyer))
        if self.payment is not None:
            sides.append(("payment (payer)", self.payment.payer))
        if len(sides) < 2:
            return
        fields = (
            ("name", "Buyer/Name", "name"),
            ("identity document type", "Buyer/IdentityDocument/TypeCode", "id_type"),
            ("identity document number", "Buyer/IdentityDocument/ID", "id_number"),
        )
        for label, where, attribute in fields:
            values: list[tuple[str, str | None]] = [(side, getattr(person, attribute)) for side, person in sides]
            if len({_norm(v) for _, v in values}) > 1:
                seen = ", ".join(f"{side} {_shown(v)}" for side, v in values)
                yield self.fail("buyer", where, f"buyer {label} differs: {seen}")

    def amount_paid(self) -> Iterator[Failure]:
        order, payment = self.order, self.payment
        if order is None or payment is None:
            return
        expected = order.actual_paid()
        if not _same(payment.amount, expected):
            source = "actual paid" if order.paid is not None else "goods + freight - discount + tax"
            yield self.fail(
                "amount-paid",
                "OrderID",
                f"payment {payment.provider}/{payment.transaction} paid {payment.amount}; "
                f"the order's {source} is {expected}",
            )

    def goods(self) -> Iterator[Failure]:
        order, inv = self.order, self.inv
        if order is None:
            return
        ordered = {line.key: line for line in order.lines}
        declared = {line.key: line for line in inv.lines}
        for line in inv.lines:
            where = f"GoodsItem[{line.seq}]"
            match = ordered.get(line.key)
            if match is None:
                yield self.fail("goods", where, f"inventory line {line.seq} ({line.key}) is not in the order")
                continue
            yield from self._compare_line(line, match, where)
        for line in order.lines:
            if line.key not in declared:
                yield self.fail(
                    "goods", "GoodsItem", f"order line {line.seq} ({line.key}) is missing from the inventory"
                )

    def _compare_line(self, line: Line, match: Line, where: str) -> Iterator[Failure]:
        name = f"line {line.seq} ({line.key})"
        if (line.quantity, line.unit) != (match.quantity, match.unit):
            yield self.fail(
                "goods",
                f"{where}/Quantity",
                f"{name} quantity: inventory {plain(line.quantity)} {line.unit}, order "
                f"{plain(match.quantity)} {match.unit}",
            )
        if not _same(line.unit_price, match.unit_price):
            yield self.fail(
                "goods",
                f"{where}/UnitPriceAmount",
                f"{name} price: inventory {line.unit_price}, order {match.unit_price}",
            )
        if not _same(line.total, match.total):
            yield self.fail(
                "goods",
                f"{where}/ItemChargeAmount",
                f"{name} total: inventory {line.total}, order {match.total}",
            )

    def freight(self) -> Iterator[Failure]:
        inv = self.inv
        others = [
            ("order", self.order.freight if self.order else None),
            ("waybill", self.waybill.freight if self.waybill else None),
        ]
        for side, amount in others:
            if amount is not None and not _same(inv.freight, amount):
                yield self.fail("freight", "FreightChargeAmount", f"inventory {inv.freight}, {side} {amount}")
