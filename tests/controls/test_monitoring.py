"""Integrated monitoring: consignments from inventories and declarations (channels, brands, routes), the
query by commodity / consignor / destination and days, the canonical alert built from a finding."""

from __future__ import annotations

import copy
import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest
from lxml import etree

from gateway.controls import alerts
from gateway.controls.facts import Money
from gateway.controls.model import Query
from gateway.controls.monitoring import consignments_of, declared_brand, find
from gateway.controls.rule_files import BrandRule, WatchEntry
from gateway.controls.rules import RuleBook
from gateway.controls.service import stored
from gateway.controls.store_sqlite import SqliteControlsStore as ControlsStore
from gateway.formats.canonical import CanonicalAdapter
from gateway.partners.model import Partner, PartnerFile
from tests.helpers import EXAMPLES, FIXTURES

W = "{urn:customs-gateway:wco:1}"
NOW = dt.datetime(2026, 11, 27, 12, tzinfo=dt.UTC)


def example(name: str) -> etree._Element:
    return etree.fromstring((EXAMPLES / f"{name}.xml").read_bytes())


def of(root: etree._Element, message_type: str, sender: str = "cn-nsw", channels=None):
    return consignments_of(
        root,
        message_type,
        sender=sender,
        message_id="gw-1",
        own_country="CN",
        sender_channels=channels or {},
        now=NOW,
    )


@pytest.fixture
def store(tmp_path):
    s = ControlsStore(tmp_path / "c.db")
    s.open()
    yield s
    s.close()


@pytest.mark.parametrize(
    ("texts", "brand"),
    [
        (["品牌:小米;型号:X1"], "小米"),
        (["品牌\uff1a无品牌;规格:1kg"], ""),  # full-width colon
        (["Plush toys, Brand: generic"], ""),
        (["sets, brand name = Brikko, 1200 pcs"], "Brikko"),
        (["unbranded construction toys"], ""),
        (["44mm"], None),
        ([None, "model 3; 商标: Toyvana"], "Toyvana"),
    ],
)
def test_declared_brand(texts, brand):
    assert declared_brand(*texts) == brand


def test_an_import_inventory_is_a_cbec_consignment_to_this_country():
    (c,) = of(example("inventory"), "inventory")
    assert (c.channel, c.source, c.export_country, c.destination) == ("cbec", "inventory", "JP", "CN")
    assert c.consignor == "跨境电商\uff08北京\uff09有限公司"
    assert c.consignor_id == "1105910160"
    assert c.reference == "LN2026112700042"
    assert c.at == dt.datetime(2026, 11, 27, 10, tzinfo=dt.UTC)  # 18:00+08:00
    assert [(i.hs, i.unit_value) for i in c.items] == [
        ("0402290000", Money(Decimal("150"), "CNY")),
        ("9619001100", Money(Decimal("80.5"), "CNY")),
    ]


def test_declarations_by_channel():
    root = example("declaration")
    (cargo,) = of(root, "declaration")
    assert (cargo.channel, cargo.export_country, cargo.destination) == ("cargo", "CN", "NL")
    assert cargo.consignor == "Shenzhen Toy Manufacturing Co., Ltd."
    assert cargo.items[0].unit_value == Money(Decimal("3.000"), "USD")  # 12600 USD / 4200 units
    postal = copy.deepcopy(root)
    postal.find(f".//{W}BorderTransportMeans/{W}ModeCode").text = "5"
    assert of(postal, "declaration")[0].channel == "post"
    assert of(root, "declaration", sender="cn-express", channels={"cn-express": "express"})[0].channel == "express"
    assert of(root, "order") == []
    assert of(root, "risk-alert") == []


def test_the_monitoring_query(store):
    inventory = example("inventory")
    declaration = example("declaration")
    for c in of(inventory, "inventory") + of(declaration, "declaration"):
        store.add_consignment(c)
    old = copy.deepcopy(declaration)
    old.find(
        f"{W}Body/{W}Declaration/{W}IssueDateTime".replace(W + "Body", "{urn:customs-gateway:envelope:1}Body")
    ).text = "2026-09-01T00:00:00Z"
    store.add_consignment(of(old, "declaration")[0])

    everything = find(store, Query(days=30), now=NOW)
    assert everything.by_channel == {"cbec": 1, "cargo": 1}
    assert everything.total == 2
    assert find(store, Query(days=100), now=NOW).total == 3
    toys = find(store, Query(commodity="9503", days=30), now=NOW)
    assert toys.total == 1
    assert toys.consignments[0].destination == "NL"
    assert find(store, Query(commodity="9503.00", days=30), now=NOW).total == 1
    assert find(store, Query(commodity="plush", days=30), now=NOW).total == 1
    assert find(store, Query(commodity="100%_", days=30), now=NOW).total == 0  # LIKE wildcards are literal
    assert find(store, Query(consignor="Shenzhen Toy", days=30), now=NOW).total == 1
    assert find(store, Query(consignor="91440300MA5XXXXX0T", days=30), now=NOW).total == 1
    assert find(store, Query(destination="cn", days=30), now=NOW).by_channel == {"cbec": 1}
    assert find(store, Query(channel="post", days=30), now=NOW).total == 0
    text = toys.render()
    assert "by channel: cargo 1" in text
    assert "CN>NL" in text
    assert "9503003500" in text
    assert toys.as_json()["consignments"][0]["items"][0]["unit_value"] == "3 USD"


def partner(pid: str, role: str, country: str, receives: list[str], delivery: bool = True) -> Partner:
    spec = PartnerFile(
        id=pid,
        name=pid,
        role=role,
        country=country,
        certificates=["x.crt"],
        receives=receives,
        delivery={"url": "http://127.0.0.1:9/inbox"} if delivery else None,
    )
    return Partner(spec, Path(f"partners/{pid}.toml"), ())


def test_alert_receivers_are_the_destinations_administrations_and_the_single_window():
    partners = {
        p.id: p
        for p in [
            partner("nl-customs", "customs", "NL", ["risk-alert"]),
            partner("de-customs", "customs", "DE", ["declaration"]),  # does not take alerts
            partner("fr-customs", "customs", "FR", ["risk-alert"]),  # not concerned
            partner("pl-customs", "customs", "PL", ["risk-alert"], delivery=False),
            partner("cn-nsw", "single-window", "CN", ["risk-alert"]),
            partner("gw-test", "customs", "NL", ["risk-alert"]),  # the gateway itself
        ]
    }
    assert alerts.receivers(partners, ["NL", "DE", "PL"], participant_id="gw-test") == ("cn-nsw", "nl-customs")


def test_a_suspended_administration_still_gets_its_alert_held_until_it_is_resumed():
    """Like every message routed to a suspended receiver, the alert is queued and held (delivery.worker)."""
    suspended = partner("nl-customs", "customs", "NL", ["risk-alert"])
    suspended = Partner(suspended.spec.model_copy(update={"suspended": True}), suspended.path, ())
    assert alerts.receivers({"nl-customs": suspended}, ["NL"], participant_id="gw-test") == ("nl-customs",)


def test_a_finding_becomes_a_schema_valid_signed_ready_alert(store):
    entry = WatchEntry(brand="Brikko", hs=["9503"], keywords=["brick"], reference_unit_value={"EUR": Decimal(24)})
    book = RuleBook(None, [BrandRule(id="toys", type="brand-misdeclaration", watch=[entry], description="d" * 600)])
    declaration = example("declaration")
    commodity = declaration.find(f".//{W}GovernmentAgencyGoodsItem/{W}Commodity/{W}Description")
    commodity.text = "Plastic construction brick sets, brand: none " + "x" * 600
    (c,) = of(declaration, "declaration")
    (finding,) = book.evaluate(stored(c, store.add_consignment(c)), store)
    issued = dt.datetime(2026, 11, 27, 10, tzinfo=dt.UTC)
    envelope = alerts.envelope(
        finding,
        message_id="m-1",
        alert_reference=alerts.reference(issued),
        participant_id="a-gateway-id-longer-than-17",
        issued=issued,
        authority_name="General Administration of Customs of the People's Republic of China (GACC)",
        country="CN",
    )
    CanonicalAdapter().validate(envelope)  # lengths cut to the schema, ID left out when too long
    alert = envelope.find(f".//{W}RiskAlert")
    assert alert.find(f"{W}IssuingAuthority/{W}ID") is None
    assert len(alert.findtext(f"{W}IssuingAuthority/{W}Name")) == 70
    assert len(alert.findtext(f"{W}FunctionalReferenceID")) <= 35
    assert alert.findtext(f"{W}Commodity/{W}UnitValue") == "3"
    assert [r.findtext(f"{W}DestinationCountryCode") for r in alert.iterfind(f"{W}Route")] == ["NL"]
    assert alert.findtext(f"{W}Validity/{W}EndDateTime") == "2027-02-25T10:00:00Z"


def test_postal_and_express_declarations_of_other_formats_join_the_same_view(store):
    """A WCO DM postal declaration (HMRC CDS, transport mode 5) and an ICS ENS CC315A for an express
    consignment (specific circumstance indicator A), through their own adapters, next to a CBEC inventory."""
    from gateway.formats import default_adapters

    adapters = default_adapters()
    postal = etree.fromstring((FIXTURES / "wco-dec-dms/samples/declarations/TT_IM067a__TT_IM067a.xml").read_bytes())
    ens = etree.fromstring((FIXTURES / "ics-ens/ens_store/examples/CC315A_reduced.xml").read_bytes())
    header = ens.find("HEAHEA")
    header.find("TraModAtBorHEA76").text = "4"
    indicator = etree.Element("SpeCirIndHEA1")
    indicator.text = "A"
    header.find("ComRefNumHEA").addprevious(indicator)
    ens.find("CUSOFFFENT730/RefNumCUSOFFFENT731").text = "GB000060"  # Dover: the office of first entry
    found = []
    for fmt, document, sender_country in (("wco-dms", postal, "GB"), ("ics-ens", ens, "GB")):
        adapter = adapters[fmt]
        adapter.validate(document)
        info = adapter.identify(document)
        canonical = adapter.to_canonical(document, info, "gb-customs")
        CanonicalAdapter().validate(canonical)
        found += consignments_of(
            canonical,
            info.message_type,
            sender="gb-customs",
            message_id="m",
            own_country="CN",
            sender_channels={},
            now=NOW,
            sender_country=sender_country,
        )
    found += of(example("inventory"), "inventory")
    assert [(c.channel, c.destination) for c in found] == [("post", "GB"), ("express", "GB"), ("cbec", "CN")]
    for c in found:
        store.add_consignment(c)
    report = find(store, Query(days=365 * 30), now=NOW)
    assert report.by_channel == {"post": 1, "express": 1, "cbec": 1}
    assert find(store, Query(destination="GB", days=365 * 30), now=NOW).by_channel == {
        "post": 1,
        "express": 1,
    }
