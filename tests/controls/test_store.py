"""The controls store: lookups by the join keys, waiting inventories and their keys, pruning."""

from __future__ import annotations

import datetime as dt
import time

import pytest

from gateway.controls import facts
from gateway.controls.matching import Outcome, check
from gateway.controls.model import Consignment, Item, Query
from gateway.controls.monitoring import find
from gateway.controls.store import ControlsStore
from gateway.controls.store_postgres import PostgresControlsStore
from gateway.controls.store_sqlite import SqliteControlsStore
from tests.controls.cbec import CbecSet
from tests.store.support import pg_schema

NOW = time.time()


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path):
    """Every test runs on both stores (PostgreSQL: a schema of its own on the test server)."""
    if request.param == "sqlite":
        s: ControlsStore = SqliteControlsStore(tmp_path / "c.db")
        s.open()
        yield s
        s.close()
        return
    with pg_schema() as url:
        s = PostgresControlsStore(url)
        s.open()
        yield s
        s.close()


def keep(store: ControlsStore, cbec: CbecSet, *kinds: str, at: float = NOW) -> None:
    for kind in kinds:
        envelope = cbec.envelope(kind)
        if kind == "order":
            store.put_order(next(facts.orders(envelope)), "m", at)
        elif kind == "payment":
            store.put_payment(next(facts.payments(envelope)), "m", at)
        else:
            store.put_waybill(next(facts.waybills(envelope)), "m", at)


def inventory(cbec: CbecSet) -> facts.InventoryFacts:
    return next(facts.inventories(cbec.envelope("inventory")))


def test_the_lists_are_found_by_their_keys(store):
    cbec = CbecSet()
    keep(store, cbec, "order", "payment", "logistics")
    keep(store, CbecSet(), "order", "payment", "logistics")  # another purchase
    assert check(inventory(cbec), store.find(inventory(cbec))).outcome is Outcome.MATCHED


def test_a_replaced_list_replaces_and_a_deleted_one_is_gone(store):
    cbec = CbecSet()
    keep(store, cbec, "order", "payment", "logistics")
    store.put_payment(
        next(
            facts.payments(
                CbecSet(
                    **{
                        **cbec.__dict__,
                        "tweaks": {"payment": [(".//w:PaymentAmount", "1"), (".//w:FunctionCode", "5")]},
                    }
                ).envelope("payment")
            )
        ),
        "m",
        NOW,
    )
    assert {f.rule for f in check(inventory(cbec), store.find(inventory(cbec))).failures} == {"amount-paid"}
    deleted = CbecSet(**{**cbec.__dict__, "tweaks": {"logistics": [(".//w:FunctionCode", "3")]}})
    keep(store, deleted, "logistics")
    assert check(inventory(cbec), store.find(inventory(cbec))).missing == ("logistics",)


def test_an_order_of_another_platform_is_taken_only_for_the_same_buyer(store):
    cbec = CbecSet()
    elsewhere = CbecSet(**{**cbec.__dict__, "platform": "7777777777"})
    keep(store, elsewhere, "order")
    verdict = check(inventory(cbec), store.find(inventory(cbec)))
    assert {f.rule for f in verdict.failures} == {"order-platform"}
    other_buyer = CbecSet(
        **{
            **cbec.__dict__,
            "order_id": "ORD-SHARED",
            "platform": "6666666666",
            "tweaks": {"order": [(".//w:Buyer/w:IdentityDocument/w:ID", "999")]},
        }
    )
    keep(store, other_buyer, "order")
    mine = CbecSet(**{**cbec.__dict__, "order_id": "ORD-SHARED"})
    assert check(inventory(mine), store.find(inventory(mine))).missing == ("order", "payment", "logistics")


def test_the_carriers_waybill_for_the_order_under_another_number_fails_the_waybill_rule(store):
    cbec = CbecSet()
    keep(store, CbecSet(**{**cbec.__dict__, "waybill": "LN-OTHER"}), "logistics")
    verdict = check(inventory(cbec), store.find(inventory(cbec)))
    assert {f.rule for f in verdict.failures} == {"waybill"}
    assert "LN-OTHER" in verdict.failures[0].description


def test_waiting_inventories_are_found_by_their_keys_and_deadline(store):
    cbec = CbecSet()
    store.hold(
        message_id="g1",
        sender="cn-nsw",
        sender_message_id="m1",
        message_type="inventory",
        receivers=["a", "b"],
        inventories=[inventory(cbec)],
        canonical=b"<x/>",
        deadline=NOW + 10,
        now=NOW,
    )
    assert store.waiting_for([("order", cbec.order_id)]) == []  # pending: not parked yet
    assert store.set_state("g1", "parked", expect="pending")
    assert not store.set_state("g1", "parked", expect="pending")
    assert store.waiting_for([("order", cbec.order_id)]) == ["g1"]
    assert store.waiting_for([("waybill", f"{cbec.carrier}\x1f{cbec.waybill}")]) == ["g1"]
    assert store.waiting_for([("order", "ORD-ELSE")]) == []
    waiting = store.waiting("g1")
    assert waiting.receivers == ("a", "b")
    assert waiting.inventories == (inventory(cbec),)
    assert store.due(NOW + 5) == []
    assert store.due(NOW + 10) == ["g1"]
    store.finish("g1")
    assert store.waiting("g1") is None
    assert store.waiting_for([("order", cbec.order_id)]) == []


def test_prune_drops_old_lists_and_consignments(store):
    old, new = CbecSet(), CbecSet()
    keep(store, old, "order", "payment", "logistics", at=NOW - 7200)
    keep(store, new, "order", "payment", "logistics", at=NOW)
    at = dt.datetime.fromtimestamp(NOW, dt.UTC)
    for days in (0, 100):
        store.add_consignment(
            Consignment(
                at - dt.timedelta(days=days),
                "post",
                "declaration",
                "R",
                "C",
                None,
                "CN",
                "NL",
                (Item(1, "9503000000", "toy", None, None, None),),
            )
        )
    removed = store.prune(lists_before=NOW - 3600, consignments_before=NOW - 50 * 86400)
    assert removed == {"cbec_orders": 1, "cbec_payments": 1, "cbec_waybills": 1, "consignments": 1, "watch_holds": 0}
    assert store.find(inventory(old)).order is None
    assert check(inventory(new), store.find(inventory(new))).outcome is Outcome.MATCHED
    assert find(store, Query(days=365), now=at).total == 1
    assert store.counts("hs6", "950300", NOW - 365 * 86400, NOW) == {("NL", "post"): 1}


def test_the_all_traffic_counts_follow_this_process_inserts(store):
    at = dt.datetime.fromtimestamp(NOW, dt.UTC)

    def add(channel: str) -> None:
        store.add_consignment(Consignment(at, channel, "declaration", "R", "C", None, "CN", "DE", ()))

    add("post")
    assert store.counts("all", "*", NOW - 86400, NOW) == {("DE", "post"): 1}  # read, then kept
    add("express")
    add("post")
    assert store.counts("all", "*", NOW - 86400, NOW) == {("DE", "post"): 2, ("DE", "express"): 1}


def test_two_postgresql_stores_race_one_alert_and_one_release():
    """Two instances' stores (two connections to one database) racing from threads: the decisions the service
    takes in one transaction (alert unless one was raised in the window; take a parked inventory for release)
    happen once across them (the transaction's advisory lock)."""
    import datetime as dt
    import threading

    from gateway.controls.model import AlertRecord

    with pg_schema() as url:
        stores = [PostgresControlsStore(url) for _ in range(4)]
        for s in stores:
            s.open()
        try:
            inv = inventory(CbecSet())
            stores[0].hold(
                message_id="w1",
                sender="cn-nsw",
                sender_message_id="s1",
                message_type="inventory",
                receivers=["cn-clearance"],
                inventories=[inv],
                canonical=b"<x/>",
                deadline=NOW + 3600,
                now=NOW,
            )
            stores[0].set_state("w1", "parked", expect="pending")
            start = threading.Barrier(len(stores))
            raised: list[str] = []
            released: list[bool] = []

            def race(n: int, store: PostgresControlsStore) -> None:
                start.wait()
                for round_ in range(20):
                    with store.transaction():
                        if store.recent_alert("r1", "p1", NOW, 3600) is None:
                            when = dt.datetime.fromtimestamp(NOW, dt.UTC)
                            store.add_alert(
                                AlertRecord(
                                    f"a{n}-{round_}", "ref", "r1", "p1", when, when, "sent", (), 1, "s", b"", b""
                                )
                            )
                            raised.append(f"a{n}-{round_}")
                released.append(store.set_state("w1", "releasing", expect="parked"))

            threads = [threading.Thread(target=race, args=(n, s)) for n, s in enumerate(stores)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(60)
            assert len(raised) == 1, raised
            assert [a.id for a in stores[1].alerts()] == raised
            assert released.count(True) == 1, released
        finally:
            for s in stores:
                s.close()
