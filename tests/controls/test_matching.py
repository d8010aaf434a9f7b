"""Three-list matching, pure: every rule, with the values it reports."""

from __future__ import annotations

from decimal import Decimal

import pytest

from gateway.controls import facts
from gateway.controls.matching import RULES, Found, Outcome, check
from tests.controls.cbec import CbecSet


def verdict(cbec: CbecSet, *, order: bool = True, payment: bool = True, logistics: bool = True):
    (inventory,) = facts.inventories(cbec.envelope("inventory"))
    found = Found(
        next(facts.orders(cbec.envelope("order"))) if order else None,
        next(facts.payments(cbec.envelope("payment"))) if payment else None,
        next(facts.waybills(cbec.envelope("logistics"))) if logistics else None,
    )
    return check(inventory, found)


def test_a_consistent_set_matches():
    result = verdict(CbecSet())
    assert result.outcome is Outcome.MATCHED
    assert result.failures == ()
    assert result.missing == ()


def test_missing_lists_are_incomplete_and_named():
    result = verdict(CbecSet(order_id="ORD-1"), payment=False, logistics=False)
    assert result.outcome is Outcome.INCOMPLETE
    assert result.missing == ("payment", "logistics")
    assert "payment of order ORD-1" in result.describe_missing()
    assert "waybill" in result.describe_missing()


def test_nothing_found_is_incomplete_not_mismatched():
    result = verdict(CbecSet(), order=False, payment=False, logistics=False)
    assert result.outcome is Outcome.INCOMPLETE
    assert result.missing == ("order", "payment", "logistics")


W = "w:"
CASES = [
    # (rule, list changed, [(path, value)], words the description must show)
    ("amount-paid", "payment", [(".//w:PaymentAmount", "556.0")], ["556 CNY", "557 CNY"]),
    (
        "buyer",
        "payment",
        [(".//w:Payer/w:IdentityDocument/w:ID", "110101199001019999")],
        ["identity document number", "110101199001019999", "110101199001011234"],
    ),
    ("buyer", "order", [(".//w:Buyer/w:Name", "李四")], ["name", "李四", "张三"]),
    (
        "goods",
        "inventory",
        [(".//w:GoodsItem[2]/w:Quantity", "4")],
        ["quantity", "inventory 4 H87", "order 3 H87"],
    ),
    ("goods", "inventory", [(".//w:GoodsItem[1]/w:UnitPriceAmount", "140")], ["price", "140 CNY", "150 CNY"]),
    ("goods", "inventory", [(".//w:GoodsItem[1]/w:ItemID", "SKU-9")], ["SKU-9", "not in the order", "SKU-1"]),
    ("freight", "logistics", [(".//w:FreightChargeAmount", "12")], ["inventory 10 CNY", "waybill 12 CNY"]),
    ("freight", "order", [(".//w:FreightChargeAmount", "0")], ["order 0 CNY"]),
    ("payment-transaction", "order", [(".//w:PaymentTransactionID", "P-OTHER")], ["P-OTHER"]),
    ("payment-order", "payment", [(".//w:Platform/w:ID", "9999999999")], ["9999999999"]),
    ("waybill-order", "logistics", [(".//w:OrderID", "ORD-ELSEWHERE")], ["ORD-ELSEWHERE"]),
    ("order-platform", "order", [(".//w:Platform/w:ID", "8888888888")], ["8888888888"]),
]


@pytest.mark.parametrize(("rule", "kind", "tweak", "words"), CASES, ids=[f"{c[0]}-{c[1]}" for c in CASES])
def test_each_rule_fails_alone_with_the_values_seen(rule, kind, tweak, words):
    result = verdict(CbecSet(tweaks={kind: tweak}))
    assert result.outcome is Outcome.MISMATCHED
    assert {f.rule for f in result.failures} == {rule}, [f.description for f in result.failures]
    assert rule in RULES  # ids are part of the receipts: the documented list names them all
    text = " ".join(f.description for f in result.failures)
    for word in words:
        assert word in text
    assert all(f.pointer.startswith("/Envelope/Body/Inventory/ClearanceList[1]") for f in result.failures)


def test_every_failed_rule_is_named_at_once():
    cbec = CbecSet(
        tweaks={
            "payment": [(".//w:PaymentAmount", "1.0"), (".//w:Payer/w:Name", "王五")],
            "logistics": [(".//w:FreightChargeAmount", "99")],
        }
    )
    result = verdict(cbec, order=True)
    assert {f.rule for f in result.failures} == {"amount-paid", "buyer", "freight"}


def test_a_disagreeing_list_rejects_even_while_another_is_missing():
    result = verdict(CbecSet(tweaks={"payment": [(".//w:PaymentAmount", "1")]}), logistics=False)
    assert result.outcome is Outcome.MISMATCHED
    assert result.missing == ("logistics",)


def test_actual_paid_falls_back_to_ceb_formula():
    order = next(facts.orders(CbecSet().envelope("order")))
    without = facts.OrderFacts(**{**order.__dict__, "paid": None})
    # 541.5 goods + 10 freight - 0 discount + 5.5 tax
    assert without.actual_paid() == facts.Money(Decimal("557.0"), "CNY")


def test_facts_survive_json():
    envelopes = CbecSet().all()
    order = next(facts.orders(envelopes["order"]))
    payment = next(facts.payments(envelopes["payment"]))
    waybill = next(facts.waybills(envelopes["logistics"]))
    inventory = next(facts.inventories(envelopes["inventory"]))
    assert facts.order_from_json(facts.to_json(order)) == order
    assert facts.payment_from_json(facts.to_json(payment)) == payment
    assert facts.waybill_from_json(facts.to_json(waybill)) == waybill
    assert facts.inventory_from_json(facts.to_json(inventory)) == inventory
