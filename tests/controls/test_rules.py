"""Risk rules: files validated at load (errors name file and key), reloaded without restart, and each rule
type evaluated over a real controls store."""

from __future__ import annotations

import datetime as dt
import os
import textwrap
from decimal import Decimal
from pathlib import Path

import pytest

from gateway.controls.facts import Money
from gateway.controls.model import Consignment, Item
from gateway.controls.patterns import flags
from gateway.controls.rule_files import BrandRule, WatchEntry, load_dir, load_file
from gateway.controls.rules import RuleBook
from gateway.controls.service import stored
from gateway.controls.store_sqlite import SqliteControlsStore as ControlsStore
from gateway.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
T0 = dt.datetime(2026, 10, 1, tzinfo=dt.UTC)


@pytest.fixture
def store(tmp_path):
    s = ControlsStore(tmp_path / "controls.db")
    s.open()
    yield s
    s.close()


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text))
    return path


def consignment(
    *,
    day: float = 0,
    channel: str = "cbec",
    hs: str = "9503001000",
    description: str = "plastic toy",
    brand: str | None = None,
    value: str | None = "20",
    currency: str = "EUR",
    destination: str = "NL",
    consignor: str = "Shenzhen Toys Co",
    reference: str = "REF",
) -> Consignment:
    return Consignment(
        at=T0 + dt.timedelta(days=day),
        channel=channel,
        source="inventory" if channel == "cbec" else "declaration",
        reference=reference,
        consignor=consignor,
        consignor_id=None,
        export_country="CN",
        destination=destination,
        items=(Item(1, hs, description, brand, Decimal(1), Money(Decimal(value), currency) if value else None),),
    )


def run(book: RuleBook, store: ControlsStore, c: Consignment):
    return book.evaluate(stored(c, store.add_consignment(c)), store)


# Loading ---------------------------------------------------------------------------------------------------


def test_the_shipped_rule_files_load():
    rules = load_dir(ROOT / "rules")
    assert {r.type for r in rules} == {
        "brand-misdeclaration",
        "destination-concentration",
        "channel-preference",
    }


@pytest.mark.parametrize(
    ("text", "words"),
    [
        (
            "[[rule]]\nid = 'a'\ntype = 'brand-misdeclaration'\n[[rule.watch]]\nbrand = 'X'\nhs = ['9503']\n"
            "min_value_ratio = 1.5\n",
            ["rule[0] (id 'a').watch[0].min_value_ratio", "1.5"],
        ),
        (
            "[[rule]]\nid = 'b'\ntype = 'destination-concentration'\n",
            ["rule[0] (id 'b').threshold", "Field required"],
        ),
        (
            "[[rule]]\nid = 'c'\ntype = 'channel-preference'\nwindow = 'a fortnight'\n",
            ["rule[0] (id 'c').window", "a fortnight", "30d"],
        ),
        (
            "[[rule]]\nid = 'd'\ntype = 'no-such-rule'\n",
            ["rule[0] (id 'd')", "no-such-rule", "brand-misdeclaration"],
        ),
        (
            "[[rule]]\nid = 'e'\ntype = 'channel-preference'\nchanels = ['post']\n",
            ["rule[0] (id 'e').chanels", "Extra inputs are not permitted"],
        ),
        (
            "[[rule]]\nid = 'f'\ntype = 'brand-misdeclaration'\n[[rule.watch]]\nbrand = 'X'\n",
            ["rule[0] (id 'f').watch[0]", "needs hs, keywords or aliases"],
        ),
        ("[[rule]\nid = 'g'\n", ["not valid TOML"]),
        (
            "[[rule]]\nid = 'h'\ntype = 'channel-preference'\nchannels = ['pigeon']\n",
            ["rule[0] (id 'h').channels[0]", "pigeon"],
        ),
    ],
)
def test_a_bad_rule_file_is_refused_naming_file_and_key(tmp_path, text, words):
    path = write(tmp_path, "bad.toml", text)
    with pytest.raises(ConfigError) as caught:
        load_file(path)
    message = caught.value.message
    assert message.startswith(f"{path}: ")
    for word in words:
        assert word in message


def test_a_rule_id_used_twice_names_both_files(tmp_path):
    rule = "[[rule]]\nid = 'same'\ntype = 'destination-concentration'\nthreshold = 0.5\n"
    write(tmp_path, "a.toml", rule)
    write(tmp_path, "b.toml", rule)
    with pytest.raises(ConfigError, match=r"b\.toml: rule id 'same' is already used in .*a\.toml"):
        load_dir(tmp_path)


def test_rules_are_reloaded_when_a_file_changes_and_a_bad_change_keeps_the_old_set(tmp_path):
    path = write(tmp_path, "r.toml", "[[rule]]\nid = 'one'\ntype = 'destination-concentration'\nthreshold = 0.5\n")
    book = RuleBook.load(tmp_path)
    assert [r.id for r in book.rules] == ["one"]
    assert book.maybe_reload() is False  # nothing changed

    path.write_text("[[rule]]\nid = 'two'\ntype = 'destination-concentration'\nthreshold = 0.6\n")
    os.utime(path, ns=(1, 1))  # a different mtime even within the same clock tick
    assert book.maybe_reload() is True
    assert [(r.id, r.threshold) for r in book.rules] == [("two", 0.6)]

    path.write_text("[[rule]]\nid = 'two'\ntype = 'destination-concentration'\nthreshold = 7\n")
    os.utime(path, ns=(2, 2))
    assert book.maybe_reload() is False  # refused: the running rules stay
    assert [(r.id, r.threshold) for r in book.rules] == [("two", 0.6)]

    write(tmp_path, "more.toml", "[[rule]]\nid = 'three'\ntype = 'channel-preference'\n")
    path.write_text("[[rule]]\nid = 'two'\ntype = 'destination-concentration'\nthreshold = 0.7\n")
    os.utime(path, ns=(3, 3))
    assert book.maybe_reload() is True
    assert sorted(r.id for r in book.rules) == ["three", "two"]


# (a) brand misdeclaration ---------------------------------------------------------------------------------

BRIKKO = WatchEntry(
    brand="Brikko",
    aliases=["布力科"],
    hs=["9503"],
    keywords=["building brick", "minifigure", "积木"],
    reference_unit_value={"EUR": Decimal(24)},
    min_value_ratio=0.3,
)


@pytest.mark.parametrize(
    ("description", "hs", "brand", "value", "expected"),
    [
        ("building brick set with minifigures", "9503001000", "", "20", ["declared without a brand"]),
        ("building brick set", "9503001000", "Blokko", "20", ["under the brand 'Blokko'"]),
        ("building brick set", "9503001000", None, "20", ["without stating a brand"]),
        ("Brikko compatible bricks", "9503001000", "generic-ish", "20", ["its name in the description"]),
        ("building brick set", "9503001000", "Brikko", "24", []),  # the genuine article
        (
            "building brick set",
            "9503001000",
            "Brikko",
            "2.40",
            ["unit value 2.4 EUR is 10% of the reference"],
        ),
        ("building brick set", "9503001000", "", "2.40", ["without a brand", "unit value"]),
        ("building brick set", "3926909000", "", "2.40", []),  # not under the watched HS codes
        ("teddy bear", "9503004100", "", "2.40", []),  # a toy, but not this product
        ("积木 玩具", "9503001000", "", "20", ["declared without a brand"]),
    ],
)
def test_brand_flags(description, hs, brand, value, expected):
    reasons = flags(BRIKKO, description, hs, brand, Money(Decimal(value), "EUR"))
    assert len(reasons) == len(expected), reasons
    for reason, words in zip(reasons, expected, strict=True):
        assert words in reason


def test_brand_rule_fires_once_enough_consignments_are_flagged_and_names_them(store):
    rule = BrandRule(id="b", type="brand-misdeclaration", watch=[BRIKKO], min_consignments=3)
    book = RuleBook(None, [rule])
    bad = {"description": "building brick set, brand: no brand", "brand": "", "value": "2.40"}
    assert run(book, store, consignment(day=0, **bad)) == []
    assert run(book, store, consignment(day=1, description="teddy", brand="")) == []  # not flagged
    assert run(book, store, consignment(day=2, **bad, destination="DE")) == []
    (finding,) = run(book, store, consignment(day=3, **bad, channel="express", destination="DE"))
    assert finding.pattern == "brand:Brikko"
    assert len(finding.consignments) == 3
    codes = [code for code, _ in finding.indicators]
    assert codes[:2] == ["FALSE-BRAND-DECLARATION", "LOW-UNIT-VALUE"]
    assert "DESTINATION-CONCENTRATION" in codes
    assert "CHANNEL-PREFERENCE" in codes
    assert finding.commodity.brand == "Brikko"
    assert finding.commodity.hs == "9503001000"
    assert finding.commodity.unit_value == Money(Decimal("2.400"), "EUR")
    assert set(finding.destinations) == {"NL", "DE"}
    assert finding.channels == ("cbec", "express")


def test_brand_rule_counts_only_its_window(store):
    rule = BrandRule(id="b", type="brand-misdeclaration", watch=[BRIKKO], min_consignments=2, window=86400 * 5)
    book = RuleBook(None, [rule])
    bad = {"description": "minifigure", "brand": "", "value": "2"}
    assert run(book, store, consignment(day=0, **bad)) == []
    assert run(book, store, consignment(day=10, **bad)) == []  # the first is out of the 5-day window
    assert len(run(book, store, consignment(day=11, **bad))) == 1


# (b) destination concentration ----------------------------------------------------------------------------


def concentration(**kw):
    from gateway.controls.rule_files import ConcentrationRule

    return ConcentrationRule(
        id="c",
        type="destination-concentration",
        **{"hs": ["9503"], "top": 2, "threshold": 0.8, "min_consignments": 10, **kw},
    )


def test_destination_concentration_fires_above_the_threshold_only(store):
    book = RuleBook(None, [concentration()])
    countries = ["NL", "DE", "FR", "IT", "ES"]
    for n in range(10):  # spread evenly: 40% to any two countries
        assert run(book, store, consignment(day=n / 10, destination=countries[n % 5])) == []
    findings = []
    for n in range(30):  # then concentrated on NL and PL
        findings += run(book, store, consignment(day=1 + n / 10, destination="PL" if n % 2 else "NL"))
    first = findings[0]
    assert first.pattern == "hs6:950300>NL+PL"
    assert first.rule.id == "c"
    ((indicator, *_),) = [first.indicators]
    assert indicator[0] == "DESTINATION-CONCENTRATION"
    assert "threshold 80%" in indicator[1]
    assert {d for d in first.destinations} == {"NL", "PL"}
    assert all(c.destination in ("NL", "PL") for c in first.consignments)


def test_destination_concentration_needs_the_minimum_volume_and_its_hs(store):
    book = RuleBook(None, [concentration(min_consignments=50)])
    assert all(run(book, store, consignment(day=n / 10)) == [] for n in range(20))
    book = RuleBook(None, [concentration(min_consignments=5)])
    assert all(run(book, store, consignment(day=n / 10, hs="6109100000")) == [] for n in range(20))


def test_destination_concentration_by_consignor(store):
    book = RuleBook(None, [concentration(group_by="consignor", hs=[], top=1, min_consignments=5)])
    found = []
    for n in range(6):
        found += run(book, store, consignment(day=n / 10, consignor="Only To NL Ltd", destination="NL"))
    assert found
    assert found[0].pattern == "consignor:only to nl ltd>NL"


# (c) channel preference -----------------------------------------------------------------------------------


def channel_rule(**kw):
    from gateway.controls.rule_files import ChannelRule

    return ChannelRule(
        id="ch",
        type="channel-preference",
        **{"hs": ["9503"], "min_consignments": 10, "factor": 2.0, "min_share": 0.6, **kw},
    )


def background(store: ControlsStore, count: int, express_every: int) -> None:
    """Other goods: one in ``express_every`` by express, the rest by cargo."""
    for n in range(count):
        store.add_consignment(
            consignment(day=n / count, hs="8471300000", channel="express" if n % express_every == 0 else "cargo")
        )


def test_channel_preference_fires_far_above_the_rest_of_traffic(store):
    background(store, 40, express_every=4)  # 25% express/cbec elsewhere
    book = RuleBook(None, [channel_rule()])
    found = []
    for n in range(12):
        found += run(book, store, consignment(day=n / 12, channel=("express", "cbec", "post")[n % 3]))
    # 2/3 of the toys use express or cbec, against 25% elsewhere: 67% >= 2 x 25% and >= 60%
    assert found
    assert found[0].pattern == "hs6:950300:cbec+express"
    assert "against 25%" in found[0].indicators[0][1]
    assert {c.channel for c in found[0].consignments} <= {"express", "cbec"}


def test_channel_preference_stays_quiet_near_the_baseline(store):
    background(store, 40, express_every=2)  # 50% elsewhere
    book = RuleBook(None, [channel_rule()])
    assert all(
        run(book, store, consignment(day=n / 12, channel=("express", "cbec", "post")[n % 3])) == [] for n in range(12)
    )


def test_channel_preference_with_a_fixed_baseline(store):
    book = RuleBook(None, [channel_rule(baseline=0.2, min_share=0.5, min_consignments=4)])
    found = []
    for n in range(4):
        found += run(book, store, consignment(day=n / 4, channel="express"))
    assert found
    assert "against 20% in the configured baseline" in found[0].indicators[0][1]
