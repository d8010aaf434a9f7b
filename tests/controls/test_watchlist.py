"""The watch list: regulators' files (CSV and JSON) loaded or refused with the file, line and field named; the
three ways an item matches (GTIN exact, brand + model normalised, HS code + keywords); the store's watch
records and counts on SQLite and PostgreSQL, and a decision taken once across instances."""

from __future__ import annotations

import datetime as dt
import threading
from pathlib import Path

import pytest

from gateway.controls.model import WatchRecord
from gateway.controls.store_postgres import PostgresControlsStore
from gateway.controls.store_sql import SqlControlsStore
from gateway.controls.store_sqlite import SqliteControlsStore
from gateway.controls.watchlist import Goods, Index, Screened, WatchList, gtin14, load_dir, parse_file, screened
from gateway.errors import ConfigError
from tests.controls.cbec import CbecSet
from tests.helpers import ROOT
from tests.store.support import pg_schema


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def goods(**values: object) -> Screened:
    item = Goods(
        seq=1,
        gtin=values.get("gtin"),  # type: ignore[arg-type]
        brand=values.get("brand"),  # type: ignore[arg-type]
        model=values.get("model"),  # type: ignore[arg-type]
        hs=str(values.get("hs", "")),
        text=str(values.get("text", "")),
    )
    return Screened(1, "ref", "P1", "S1", "Seller", (item,), "/Envelope/Body/Inventory/ClearanceList[1]")


def test_the_examples_load_from_csv_and_json():
    entries = load_dir(ROOT / "watchlist")
    assert {e.id for e in entries} >= {"SAMR-2026-0412", "A12/00345/26"}
    by_id = {e.id: e for e in entries}
    assert by_id["SAMR-2026-0413"].gtin == "04006381333931"  # GTIN-13 kept as 14 digits
    assert by_id["SAMR-2026-0419"].keywords == ("skin whitening cream", "mercury")
    assert by_id["SAMR-2026-0419"].action == "alert"
    assert by_id["A12/00391/26"].keywords == ("hair straightener", "直发器")


@pytest.mark.parametrize(
    ("name", "text", "said"),
    [
        ("a.csv", "brand,model,gtin\nX,,4006381333932\n", "a.csv:2: gtin '4006381333932' is not a GTIN"),
        ("a.csv", "brand,hazard\nX,fire\n", "a.csv:2: nothing to match on"),
        ("a.csv", "colour,size\nred,2\n", "a.csv: line 1: no known column"),
        ("a.csv", "gtin,action\n4006381333931,destroy\n", "a.csv:2: action 'destroy' is not one of hold, alert"),
        ("a.csv", "hs,keywords\n95AB,toy\n", "a.csv:2: hs '95AB' is not an HS code"),
        ("a.json", '[{"gtin": "4006381333931"}, "x"]', "a.json[1]: an entry is an object"),
        ("a.json", '{"entries": [', "a.json: line 1: not JSON"),
        ("a.json", '{"items": []}', "a.json: expected a list of entries"),
    ],
)
def test_a_bad_file_is_refused_naming_file_line_and_field(tmp_path, name, text, said):
    with pytest.raises(ConfigError) as refused:
        parse_file(write(tmp_path, name, text))
    assert said in refused.value.message


def test_an_id_used_twice_is_refused_naming_both_places(tmp_path):
    write(tmp_path, "a.csv", "id,gtin\nN1,4006381333931\n")
    write(tmp_path, "b.json", '[{"id": "N1", "gtin": "4006381333931"}]')
    with pytest.raises(ConfigError, match=r"b.json\[0\]: id 'N1' is used already at a.csv:2"):
        load_dir(tmp_path)


def test_gtin_check_digits():
    assert gtin14("4006381333931") == "04006381333931"
    assert gtin14("96385074") == "00000096385074"  # GTIN-8
    assert gtin14("4006381333932") is None
    assert gtin14("ABC") is None


def test_matching_by_gtin_brand_model_and_hs_keywords(tmp_path):
    write(
        tmp_path,
        "list.csv",
        "id,brand,model,gtin,hs,keywords,action\n"
        "G,,,4006381333931,,,hold\n"
        "B,Brikko,BK-7701,,,,hold\n"
        "S,Brikko,A1,,,,hold\n"
        "K,,,,3304,skin whitening cream;汞,alert\n",
    )
    index = Index.of(load_dir(tmp_path))

    def hit(**values: object) -> list[tuple[str, str]]:
        return [(h.entry.id, h.by) for h in index.match([goods(**values)])]

    assert hit(gtin="04006381333931") == [("G", "gtin")]
    assert hit(brand="BRIKKO", model="bk 7701") == [("B", "brand-model")]
    full_width = "\uff22\uff52\uff49\uff4b\uff4b\uff4f"  # "Brikko" in full-width letters
    assert hit(brand=full_width, text="积木 BK7701 套装") == [("B", "brand-model")]  # in the text
    assert hit(brand="Other", model="BK-7701") == []  # the model alone is not enough
    assert hit(brand="Brikko", model="BK-7702") == []
    assert hit(brand="Brikko", text="a1b2 set") == []  # a short model only as the declared model
    assert hit(brand="Brikko", model="A-1") == [("S", "brand-model")]
    assert hit(hs="3304990000", text="Skin-whitening cream 50ml") == [("K", "hs-keywords")]
    assert hit(hs="3304990000", text="美白霜 含汞") == [("K", "hs-keywords")]  # no spaces in Chinese
    assert hit(hs="3305000000", text="skin whitening cream") == []  # other HS heading
    assert hit(hs="3304990000", text="skin whitening creamy") == []  # whole words in Latin script


def test_canonical_records_give_platform_seller_and_goods():
    envelope = CbecSet(
        platform="EBP-1",
        tweaks={"inventory": [(".//w:GoodsItem/w:Specification", "品牌:Brikko；型号:BK-7701")]},  # noqa: RUF001
    ).envelope("inventory")
    (record,) = screened(envelope, "inventory")
    assert (record.platform, record.seller) == ("EBP-1", "1105910160")
    assert [(g.brand, g.model, g.hs) for g in record.goods] == [
        ("Brikko", "BK-7701", "0402290000"),
        ("Brikko", "BK-7701", "9619001100"),
    ]


def test_a_bad_change_keeps_the_entries_in_force(tmp_path):
    write(tmp_path, "a.csv", "gtin\n4006381333931\n")
    watchlist = WatchList.load(tmp_path)
    assert len(watchlist.entries) == 1
    write(tmp_path, "b.csv", "gtin\n4006381333932\n")
    assert watchlist.maybe_reload() is False
    assert len(watchlist.entries) == 1
    write(tmp_path, "b.csv", "gtin\n96385074\n")
    assert watchlist.maybe_reload() is True
    assert len(watchlist.entries) == 2


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path):
    if request.param == "sqlite":
        s: SqlControlsStore = SqliteControlsStore(tmp_path / "c.db")
        s.open()
        yield s
        s.close()
        return
    with pg_schema() as url:
        s = PostgresControlsStore(url)
        s.open()
        yield s
        s.close()


def record(message_id: str, state: str = "held") -> WatchRecord:
    now = dt.datetime.now(dt.UTC)
    return WatchRecord(
        message_id=message_id,
        sender="cn-nsw",
        sender_message_id="s1",
        message_type="inventory",
        receivers=("cn-clearance",),
        state=state,
        hits=({"entry": "B", "by": "brand-model", "item": 1, "pointer": "/x", "action": "hold"},),
        reason="held",
        records=(("P1", "S1", "held"), ("P1", "S2", "clear")),
        day=20000,
        canonical=b"<x/>",
        created=now,
        updated=now,
    )


def test_watch_records_and_counts(store):
    store.add_watch(record("m1", "pending"))
    store.add_watch(record("m1"))  # a resend taking over an unfinished claim: screened again
    store.add_watch(record("m1", "alerted"))  # once held, it stays
    assert store.watch("m1").state == "held"
    assert store.watch("m1").records == (("P1", "S1", "held"), ("P1", "S2", "clear"))
    assert store.set_watch_state("m1", "releasing", expect=("held",), decided_by="console:a", note="ok")
    assert not store.set_watch_state("m1", "refusing", expect=("held",))
    assert (store.watch("m1").decided_by, store.watch("m1").note) == ("console:a", "ok")
    store.add_watch(record("m2", "alerted"))
    assert [r.message_id for r in store.watches(state="alerted")] == ["m2"]
    assert {r.message_id for r in store.watches(state="releasing,alerted")} == {"m1", "m2"}
    store.count_watch(20000, [("P1", "S1", "held"), ("P1", "S2", "clear")])
    store.count_watch(20000, [("P1", "S1", "refused")])
    store.count_watch(20001, [("P1", "S1", "alerted")])
    assert store.watch_counts("platform", 20000, 20001) == [
        ("P1", 20000, {"total": 2, "held": 1, "alerted": 0, "released": 0, "refused": 1}),
        ("P1", 20001, {"total": 1, "held": 0, "alerted": 1, "released": 0, "refused": 0}),
    ]
    assert [(k, d) for k, d, _ in store.watch_counts("seller", 20000, 20000)] == [("S1", 20000), ("S2", 20000)]


def test_four_postgresql_stores_racing_one_decision_take_it_once():
    """The decision is taken in the exclusive transaction (advisory lock): across instances a held message is
    released or refused by exactly one of them."""
    with pg_schema() as url:
        stores = [PostgresControlsStore(url) for _ in range(4)]
        for s in stores:
            s.open()
        try:
            stores[0].add_watch(record("m1"))
            start = threading.Barrier(len(stores))
            taken: list[int] = []

            def race(n: int, s: PostgresControlsStore) -> None:
                start.wait()
                with s.transaction():
                    current = s.watch("m1")
                    if current is not None and current.state == "held":
                        s.set_watch_state("m1", "releasing" if n % 2 else "refusing", decided_by=f"t:{n}")
                        taken.append(n)

            threads = [threading.Thread(target=race, args=(n, s)) for n, s in enumerate(stores)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(60)
            assert len(taken) == 1, taken
            assert stores[3].watch("m1").decided_by == f"t:{taken[0]}"
        finally:
            for s in stores:
                s.close()


def test_the_held_receipt_in_every_format_is_valid_and_carries_the_held_code():
    """What a held sender gets back: canonical FunctionCode held, RES FunctionCode 05 (DMSCTL) with the held
    errors, ICS a SuccessResponse saying held; each valid against its format's schema (CEB: the flow tests)."""
    from gateway.formats.base import Receipt, ReceiptError
    from gateway.formats.canonical import CanonicalAdapter
    from gateway.formats.ics_ens import IcsEnsAdapter
    from gateway.formats.wco_dms import WcoDmsAdapter
    from gateway.mapping import ics_receipt

    note = ReceiptError("held", "watch-list entry B (Brikko BK-7701) matched goods item 1 by brand-model", "/x")
    receipt = Receipt(
        accepted=True,
        held=True,
        issued=dt.datetime(2026, 12, 3, 8, 0, tzinfo=dt.UTC),
        gateway_message_id="0f9c7a52-6a4e-4f55-9d2e-1c8b7e5a3d21",
        sender="gw-test",
        receiver="cn-nsw",
        referenced_message_id="ABCDE",
        referenced_message_type="declaration",
        errors=(note,),
    )
    w = "{urn:customs-gateway:wco:1}"
    canonical = CanonicalAdapter()
    document = canonical.render_receipt(receipt)
    canonical.validate(document)
    assert document.findtext(f".//{w}Receipt/{w}FunctionCode") == "held"
    assert document.findtext(f".//{w}Receipt/{w}Error/{w}ValidationCode") == "held"

    dms = WcoDmsAdapter()
    document = dms.render_receipt(receipt)
    dms.validate(document)
    res = "{urn:wco:datamodel:WCO:RES-DMS:2}"
    assert document.findtext(f"{res}Response/{res}FunctionCode") == "05"
    assert document.findtext(f"{res}Response/{res}Error/{res}ValidationCode") == "held"

    ics = IcsEnsAdapter()
    document = ics.render_receipt(receipt)
    ics.validate(document)
    message = document.findtext(f"{{{ics_receipt.SUCCESS_NS}}}Message")
    assert message.startswith("held as gateway message 0f9c7a52")
    assert "Brikko BK-7701" in message


def test_prune_drops_old_watch_counts_and_decided_records_but_keeps_what_is_held(store):
    old = record("old-held")
    store.add_watch(old)
    store.add_watch(record("old-released", "released"))
    store.add_watch(record("old-alerted", "alerted"))
    store.count_watch(20000, [("P1", "S1", "held")])
    store.count_watch(20400, [("P1", "S1", "clear")])
    later = dt.datetime.now(dt.UTC).timestamp() + 10
    removed = store.prune(lists_before=0, consignments_before=later)
    assert removed["watch_holds"] == 2
    assert [r.message_id for r in store.watches()] == ["old-held"]
    assert store.watch_counts("platform", 0, 10**6) == []
