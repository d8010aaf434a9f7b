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

- the watch list of non-compliant products (``--entries``, default 100,000: GTIN, brand + model and HS +
  keywords entries, written as a regulator's CSV and loaded as the gateway loads it), with the watch-list
  counts of the million consignments (per day, platform and seller) in the store: per inventory
  (``watch_screen``) extract its goods, match them, and count the consignment (what ingress does for every
  inventory and declaration; a quarter of them hit an entry), the matching alone (``watch_match``), a hold
  (``watch_hold``: the record and its counts), and the monitoring query an officer's page makes
  (``watch_shares``: the API's answer for 30 days, the 50 riskiest, by platform, then by seller, in turn).

Figures: microseconds per message (mean, median, p99) over ``--samples`` messages (default 5000) each, the
time to generate the records, and the database size; beside them the crypto floor measured in the same run
(one RSA-2048 verify + sign: what every message costs anyway) and each figure as a share of it. Written to
``bench/results/controls-<timestamp>.json``. The machine may be shared: compare the shares, not the
microseconds.
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
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, cast

from lxml import etree

from bench.floors import crypto_floor
from gateway.controls import facts
from gateway.controls.matching import check
from gateway.controls.model import DAY, WatchRecord, day_of
from gateway.controls.monitoring import consignments_of
from gateway.controls.rules import RuleBook
from gateway.controls.service import stored
from gateway.controls.store_sqlite import SqliteControlsStore as ControlsStore
from gateway.controls.watching import Watch
from gateway.controls.watchlist import WatchList, screened

if TYPE_CHECKING:
    from gateway.controls.service import Controls

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


def gtin13(n: int) -> str:
    body = f"69{n:010d}"
    total = sum(int(d) * (1 if i % 2 == 0 else 3) for i, d in enumerate(body))
    return body + str((10 - total % 10) % 10)


def watch_file(folder: Path, entries: int) -> Path:
    """A regulator's CSV of ``entries`` products: 40 % by GTIN, 40 % by brand + model, 20 % by HS + keywords."""
    path = folder / "watchlist" / "bench.csv"
    path.parent.mkdir()
    with path.open("w", encoding="utf-8") as out:
        out.write("id,category,brand,model,gtin,hs,keywords,hazard,measure,action\n")
        for n in range(entries):
            kind = n % 5
            if kind in (0, 1):
                row = f"G{n},Toys,,,{gtin13(n)},,,Choking,Withdrawal,hold"
            elif kind in (2, 3):
                row = f"B{n},Toys,Brand{n % 2000},M-{n:07d},,,,Chemical,Recall,hold"
            else:
                row = f"K{n},Cosmetics,,,,{HS[n % len(HS)][:6]},word{n} cream;term{n},Chemical,Rejected,alert"
            out.write(row + "\n")
    return path


def watched_inventories(entries: int, count: int) -> list[etree._Element]:
    """Inventories of two goods items; every fourth hits an entry (by GTIN, brand + model or keywords)."""
    rng = random.Random(5)
    out = []
    for i in range(count):
        root = keyed("inventory", i)
        for k, item in enumerate(root.iter(W + "GoodsItem")):
            barcode = etree.Element(W + "BarcodeID")
            barcode.text = gtin13(entries + i * 2 + k)  # on no entry
            item.find(W + "Classification").addprevious(barcode)
            n = rng.randrange(entries)
            if i % 4 == 0 and k == 0:  # a hit, by the way the entry matches
                if n % 5 in (0, 1):
                    barcode.text = gtin13(n)
                elif n % 5 in (2, 3):
                    item.find(W + "Specification").text = f"品牌:Brand{n % 2000};型号:M {n:07d}"
                else:
                    item.find(W + "Classification/" + W + "ID").text = HS[n % len(HS)]
                    item.find(W + "Description").text = f"word{n} cream"
            else:
                item.find(W + "Specification").text = f"品牌:Brand{n % 2000};型号:X-{n}"
        out.append(root)
    return out


def fill_watch_counts(store: ControlsStore, consignments: int, now: float) -> float:
    """The watch-list tallies of the stored consignments: per day and platform (20), per day and seller (5000)."""
    started = time.perf_counter()
    rng = random.Random(13)
    counts: dict[tuple[str, str, int], int] = {}
    for _ in range(consignments):
        day = int((now - rng.random() * 90 * DAY) // DAY)
        for key in (("platform", f"EBP{rng.randrange(20):04d}", day), ("seller", f"EBC{rng.randrange(5000):05d}", day)):
            counts[key] = counts.get(key, 0) + 1
    db = store.db
    db.execute("BEGIN")
    db.executemany(
        "INSERT INTO watch_tallies VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [(*k, n, n // 20, n // 50, 0, 0) for k, n in counts.items()],
    )
    db.execute("COMMIT")
    db.execute("ANALYZE")
    return time.perf_counter() - started


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

        print(f"watch list: {args.entries:,} entries ...", flush=True)
        filling["watch_counts_s"] = fill_watch_counts(store, args.consignments, now)
        path = watch_file(Path(folder), args.entries)
        started = time.perf_counter()
        watchlist = WatchList.load(path.parent)
        watch_load_s = time.perf_counter() - started
        watched = watched_inventories(args.entries, 256)
        hit_share = sum(1 for e in watched if watchlist.match(screened(e, "inventory"))) / len(watched)
        day = day_of(now)

        def watch_match(i: int) -> None:
            watchlist.match(screened(watched[i % len(watched)], "inventory"))

        def watch_screen(i: int) -> None:
            records = screened(watched[i % len(watched)], "inventory")
            hits = watchlist.match(records)
            outcome = "held" if any(h.entry.action == "hold" for h in hits) else "alerted" if hits else "clear"
            store.count_watch(day, [(r.platform, r.seller, outcome) for r in records])

        def watch_hold(i: int) -> None:
            envelope = watched[0]
            records = screened(envelope, "inventory")
            hits = watchlist.match(records)
            when = dt.datetime.now(dt.UTC)
            held = tuple((r.platform, r.seller, "held") for r in records)
            store.add_watch(
                WatchRecord(f"hold-{i}", "bench", f"s{i}", "inventory", ("cn-clearance",), "held",
                            tuple(h.as_json() for h in hits), "held", held, day, etree.tostring(envelope), when, when)
            )  # fmt: skip
            store.count_watch(day, [(r.platform, r.seller, "held") for r in records])

        watch = Watch(cast("Controls", SimpleNamespace(store=store)), watchlist, lambda: dt.datetime.now(dt.UTC))

        def watch_shares(i: int) -> None:
            watch.shares("platform" if i % 2 == 0 else "seller", 30)

        print("measuring ...", flush=True)
        figures = {
            "screen_inventory": timed(args.samples, screen),
            "keep_list": timed(args.samples, keep),
            "consignment_and_rules": timed(args.samples, rules),
            "watch_match": timed(args.samples, watch_match),
            "watch_screen": timed(args.samples, watch_screen),
            "watch_hold": timed(min(args.samples, 1000), watch_hold),
            "watch_shares": timed(20, watch_shares),
        }
        floor = crypto_floor()
        size = sum(p.stat().st_size for p in Path(folder).iterdir() if p.is_file())
        store.close()
    return {
        "records": args.records,
        "consignments": args.consignments,
        "fill_seconds": {k: round(v, 1) for k, v in filling.items()},
        "database_mb": round(size / 1e6, 1),
        "rules": [r.id for r in book.rules],
        "watchlist_entries": args.entries,
        "watchlist_load_s": round(watch_load_s, 2),
        "watch_hit_share": hit_share,
        "crypto_floor": floor,
        "per_message": figures,
        "share_of_crypto_floor": {
            name: round(f["mean_us"] / 1e6 / floor["seconds_per_message"], 4) for name, f in figures.items()
        },
    }


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.controls", description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=1_000_000, help="stored orders + payments + waybills")
    parser.add_argument("--consignments", type=int, default=1_000_000, help="stored monitoring consignments")
    parser.add_argument("--samples", type=int, default=5000, help="messages measured per operation")
    parser.add_argument("--entries", type=int, default=100_000, help="watch-list entries")
    args = parser.parse_args()
    result = run(args)
    print(
        f"\nstored: {result['records']:,} lists + {result['consignments']:,} consignments, "
        f"{result['database_mb']} MB (filled in {result['fill_seconds']['lists_s']} s + "
        f"{result['fill_seconds']['consignments_s']} s)"
    )
    floor = result["crypto_floor"]
    print(
        f"watch list: {result['watchlist_entries']:,} entries loaded in {result['watchlist_load_s']} s; "
        f"{result['watch_hit_share']:.0%} of the inventories hit; crypto floor (same run) "
        f"{floor['seconds_per_message'] * 1e6:.0f} us per message (RSA-2048 verify {floor['verify_ms']} ms + "
        f"sign {floor['sign_ms']} ms)"
    )
    print(f"{'per message':<26} {'mean us':>9} {'p50 us':>9} {'p99 us':>9} {'x floor':>8}")
    for name, figure in result["per_message"].items():
        share = result["share_of_crypto_floor"][name]
        print(f"{name:<26} {figure['mean_us']:>9} {figure['p50_us']:>9} {figure['p99_us']:>9} {share:>8}")
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"controls-{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%S}.json"
    out.write_text(json.dumps(result, indent=2))
    print(f"written to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
