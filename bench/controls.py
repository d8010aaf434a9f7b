"""``python -m bench.controls``: the cost per message of three-list matching and of the risk rules, with a
million records stored.

No broker and no HTTP: this measures what the controls add to a message on the ingress path, on the store
the gateway uses (SQLite, WAL, one connection on the loop's thread), filled beforehand with ``--records``
records (default 1,000,000) written with ``executemany``:

- matching: a third each of orders, payments and waybills, forming complete sets, plus (``--consignments``,
  default 1,000,000) monitoring consignments spread over 90 days, with their daily counts;
- per inventory (``screen``): extract its facts from the canonical XML, look its order, payment and waybill
  up by their keys, run every matching rule, in one ``BEGIN IMMEDIATE`` transaction (what ingress does before
  routing; an inventory that matches writes nothing);
- per list (``keep``): store an order and look for the waiting inventories it may complete (what ingress
  does after accepting an order, payment or waybill);
- per consignment (``rules``): derive the consignment from a canonical declaration, store it with its items
  and daily counts, and evaluate the shipped rules (``rules/*.toml``: brand watch list, destination
  concentration, channel preference) over the sliding windows (what ingress does after accepting an inventory
  or a declaration).

Figures: microseconds per message (mean, median, p99) over ``--samples`` messages (default 5000) each, the
time to generate the records, and the database size. Written to ``bench/results/controls-<timestamp>.json``.
"""

from __future__ import annotations

import argparse
import copy
import datetime as dt
import json
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lxml import etree

from gateway.controls import facts
from gateway.controls.matching import check
from gateway.controls.model import DAY
from gateway.controls.monitoring import consignments_of
from gateway.controls.rules import RuleBook
from gateway.controls.service import stored
from gateway.controls.store_sqlite import SqliteControlsStore as ControlsStore

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
W = "{urn:customs-gateway:wco:1}"
E = "{urn:customs-gateway:envelope:1}"
PLATFORM, PROVIDER, CARRIER = "1105910159", "1101110323", "1101180326"
COUNTRIES = ["NL", "DE", "PL", "FR", "IT", "ES", "US", "GB", "JP", "KR", "AU", "CA"]
CHANNELS = ["post", "express", "cbec", "cargo"]
HS = ["9503004100", "9503003500", "8471300000", "6109100000", "6404110000", "3926909000", "6912004900"]


def example(kind: str) -> etree._Element:
    return etree.fromstring((ROOT / "examples" / f"{kind}.xml").read_bytes())


def _set(root: etree._Element, path: str, value: str) -> None:
    for element in root.iterfind(path.replace("w:", W)):
        element.text = value


def keyed(kind: str, n: int) -> etree._Element:
    """The example of a kind with the keys of purchase number ``n``."""
    root = copy.deepcopy(example(kind))
    _set(root, ".//w:OrderID", f"ORD{n:09d}")
    _set(root, ".//w:PaymentTransactionID", f"TX{n:09d}")
    _set(root, ".//w:WaybillID", f"WB{n:09d}")
    return root


def fill(store: ControlsStore, records: int, consignments: int, now: float) -> dict[str, float]:
    """Write the records with executemany, in large transactions; returns seconds per part."""
    order = next(facts.orders(keyed("order", 0)))
    payment = next(facts.payments(keyed("payment", 0)))
    waybill = next(facts.waybills(keyed("logistics", 0)))
    templates = {
        "order": facts.to_json(order),
        "payment": facts.to_json(payment),
        "waybill": facts.to_json(waybill),
    }

    def record(kind: str, n: int) -> str:
        """The template's keys (purchase 0) replaced by purchase n's."""
        text = templates[kind].replace("ORD000000000", f"ORD{n:09d}")
        return text.replace("TX000000000", f"TX{n:09d}").replace("WB000000000", f"WB{n:09d}")

    sets = records // 3
    timings: dict[str, float] = {}
    db = store.db
    batch = 50_000
    started = time.perf_counter()
    for first in range(0, sets, batch):
        numbers = range(first, min(sets, first + batch))
        db.execute("BEGIN")
        db.executemany(
            "INSERT INTO cbec_orders (platform, order_id, facts, message_id, at) VALUES (?, ?, ?, ?, ?)",
            [(PLATFORM, f"ORD{n:09d}", record("order", n), "m", now) for n in numbers],
        )
        db.executemany(
            "INSERT INTO cbec_payments (provider, txn, platform, order_id, facts, message_id, at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            [(PROVIDER, f"TX{n:09d}", PLATFORM, f"ORD{n:09d}", record("payment", n), "m", now) for n in numbers],
        )
        db.executemany(
            "INSERT INTO cbec_waybills (carrier, waybill, order_id, facts, message_id, at) VALUES (?, ?, ?, ?, ?, ?)",
            [(CARRIER, f"WB{n:09d}", f"ORD{n:09d}", record("waybill", n), "m", now) for n in numbers],
        )
        db.execute("COMMIT")
    timings["lists_s"] = time.perf_counter() - started

    started = time.perf_counter()
    rng = random.Random(7)
    counts: dict[tuple[str, str, int, str, str], int] = {}
    for first in range(0, consignments, batch):
        rows, items = [], []
        for cid in range(first + 1, min(consignments, first + batch) + 1):
            at = now - rng.random() * 90 * DAY
            channel, destination, hs = rng.choice(CHANNELS), rng.choice(COUNTRIES), rng.choice(HS)
            consignor = f"trader {cid % 5000}"
            rows.append(
                (
                    cid,
                    at,
                    channel,
                    "declaration",
                    f"REF{cid}",
                    consignor,
                    None,
                    consignor,
                    "CN",
                    destination,
                    "m",
                    "bench",
                )
            )
            items.append((cid, 1, hs, "bench goods, brand: Bencho", "Bencho", "1", "12.5", "EUR"))
            day = int(at // DAY)
            for dim, key in (("all", "*"), ("consignor", consignor), ("hs4", hs[:4]), ("hs6", hs[:6])):
                k = (dim, key, day, destination, channel)
                counts[k] = counts.get(k, 0) + 1
        db.execute("BEGIN")
        db.executemany("INSERT INTO consignments VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
        db.executemany("INSERT INTO consignment_items VALUES (?, ?, ?, ?, ?, ?, ?, ?)", items)
        db.execute("COMMIT")
    db.execute("BEGIN")
    db.executemany("INSERT INTO consignment_counts VALUES (?, ?, ?, ?, ?, ?)", [(*k, n) for k, n in counts.items()])
    db.execute("COMMIT")
    timings["consignments_s"] = time.perf_counter() - started
    db.execute("ANALYZE")
    return timings


def timed(samples: int, fn: Callable[[int], object]) -> dict[str, float]:
    times = []
    for i in range(samples):
        started = time.perf_counter_ns()
        fn(i)
        times.append((time.perf_counter_ns() - started) / 1000)
    times.sort()
    return {
        "mean_us": round(statistics.fmean(times), 1),
        "p50_us": round(times[len(times) // 2], 1),
        "p99_us": round(times[int(len(times) * 0.99)], 1),
        "samples": samples,
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-controls-") as folder:
        store = ControlsStore(Path(folder) / "gateway.db")
        store.open()
        now = time.time()
        print(f"filling: {args.records:,} lists, {args.consignments:,} consignments ...", flush=True)
        filling = fill(store, args.records, args.consignments, now)
        sets = args.records // 3
        rng = random.Random(11)

        inventories = [keyed("inventory", rng.randrange(sets)) for _ in range(256)]

        def screen(i: int) -> None:
            envelope = inventories[i % len(inventories)]
            with store.transaction():
                for inventory in facts.inventories(envelope):
                    verdict = check(inventory, store.find(inventory))
                    if verdict.failures or verdict.missing:
                        raise RuntimeError(f"the bench's sets should match: {verdict}")

        orders = [keyed("order", sets + n) for n in range(args.samples)]

        def keep(i: int) -> None:
            with store.transaction():
                keys = []
                for order in facts.orders(orders[i]):
                    store.put_order(order, "bench", now)
                    keys.append(("order", order.order_id))
                store.waiting_for(keys)

        book = RuleBook.load(ROOT / "rules")
        declaration = example("declaration")

        def rules(i: int) -> None:
            (c,) = consignments_of(
                declaration,
                "declaration",
                sender="bench",
                message_id=f"b{i}",
                own_country="CN",
                sender_channels={},
                now=dt.datetime.now(dt.UTC),
            )
            with store.transaction():
                cid = store.add_consignment(c)
                book.evaluate(stored(c, cid), store)

        print("measuring ...", flush=True)
        figures = {
            "screen_inventory": timed(args.samples, screen),
            "keep_list": timed(args.samples, keep),
            "consignment_and_rules": timed(args.samples, rules),
        }
        size = sum(p.stat().st_size for p in Path(folder).iterdir())
        store.close()
    return {
        "records": args.records,
        "consignments": args.consignments,
        "fill_seconds": {k: round(v, 1) for k, v in filling.items()},
        "database_mb": round(size / 1e6, 1),
        "rules": [r.id for r in book.rules],
        "per_message": figures,
    }


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.controls", description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=1_000_000, help="stored orders + payments + waybills")
    parser.add_argument("--consignments", type=int, default=1_000_000, help="stored monitoring consignments")
    parser.add_argument("--samples", type=int, default=5000, help="messages measured per operation")
    args = parser.parse_args()
    result = run(args)
    print(
        f"\nstored: {result['records']:,} lists + {result['consignments']:,} consignments, "
        f"{result['database_mb']} MB (filled in {result['fill_seconds']['lists_s']} s + "
        f"{result['fill_seconds']['consignments_s']} s)"
    )
    print(f"{'per message':<26} {'mean us':>9} {'p50 us':>9} {'p99 us':>9}")
    for name, figure in result["per_message"].items():
        print(f"{name:<26} {figure['mean_us']:>9} {figure['p50_us']:>9} {figure['p99_us']:>9}")
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"controls-{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%S}.json"
    out.write_text(json.dumps(result, indent=2))
    print(f"written to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
