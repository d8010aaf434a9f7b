"""A generated month of mixed CBEC / postal / express / cargo traffic, with or without a planted pattern.

Deterministic (round-robin, no randomness). Clean traffic: toys (a quarter of it, genuine Brikko sets among
them), computers, clothing, shoes and household goods, spread evenly over eight destination countries and
over the channels in the same proportions for every commodity (40% express + CBEC). The planted pattern
(WCO's infringing-toys case): building-brick sets recognised as the protected Brikko product, declared
"no brand" at a tenth of the genuine value, consigned to NL, DE and PL only, by express and CBEC only.
"""

from __future__ import annotations

import copy
import datetime as dt
import functools
from collections.abc import Iterator
from dataclasses import dataclass

from lxml import etree

from gateway.formats.canonical import CanonicalAdapter
from tests.helpers import ENV, EXAMPLES

W = "{urn:customs-gateway:wco:1}"
E = f"{{{ENV}}}"
DESTINATIONS = ["NL", "DE", "PL", "FR", "IT", "ES", "US", "GB"]
# 20 slots: 5 express, 3 cbec (40%), 7 post, 5 cargo.
CHANNEL_CYCLE = [
    "post",
    "express",
    "cargo",
    "cbec",
    "post",
    "express",
    "post",
    "cargo",
    "express",
    "cbec",
    "post",
    "cargo",
    "express",
    "post",
    "cbec",
    "cargo",
    "post",
    "express",
    "cargo",
    "post",
]


@dataclass(frozen=True)
class Goods:
    hs: str
    description: str
    brand: str | None  # "" : declared without brand
    value: str  # EUR per unit


CLEAN_GOODS = [
    Goods("9503004100", "plush teddy bear 30 cm", "Cuddly", "6.50"),
    Goods("9503003500", "Brikko building brick set, castle", "Brikko", "27.00"),  # the genuine article
    Goods("8471300000", "laptop computer 14 inch", "Lenra", "420.00"),
    Goods("6109100000", "cotton T-shirt", "Basico", "3.20"),
    Goods("6404110000", "sports shoes", "Runna", "18.00"),
    Goods("3926909000", "plastic phone case", "Casy", "1.10"),
    Goods("6912004900", "ceramic mug", "Mugga", "2.30"),
    Goods("4202921900", "travel backpack", "Packo", "12.00"),
]
PLANTED = Goods("9503003500", "building brick set with minifigures, 1200 pcs", "", "2.40")


@dataclass(frozen=True)
class Shipment:
    at: dt.datetime
    channel: str
    destination: str
    goods: Goods
    consignor: str
    number: int

    @property
    def sender(self) -> str:
        return {"express": "cn-express", "cbec": "cn-nsw"}.get(self.channel, "cn-nsw")

    @property
    def message_type(self) -> str:
        return "inventory" if self.channel == "cbec" else "declaration"


def month(*, planted: bool, end: dt.datetime, days: int = 30) -> Iterator[Shipment]:
    """Shipments in time order over ``days`` days ending at ``end``: 6 clean ones a day (+ 3 planted)."""
    start = end - dt.timedelta(days=days)
    counters: dict[str, int] = {}
    n = 0
    for day in range(days):
        for slot in range(6):
            goods = CLEAN_GOODS[(day + slot) % len(CLEAN_GOODS)]
            k = counters[goods.hs] = counters.get(goods.hs, -1) + 1
            n += 1
            yield Shipment(
                at=start + dt.timedelta(days=day, hours=1 + 3 * slot),
                channel=CHANNEL_CYCLE[k % len(CHANNEL_CYCLE)],
                destination=DESTINATIONS[(k * 3) % len(DESTINATIONS)],
                goods=goods,
                consignor=f"Trader {k % 7} Co., Ltd.",
                number=n,
            )
            if planted and slot in (0, 2, 4):
                p = counters["planted"] = counters.get("planted", -1) + 1
                n += 1
                yield Shipment(
                    at=start + dt.timedelta(days=day, hours=2 + 3 * slot),
                    channel=("express", "cbec")[p % 2],
                    destination=("NL", "DE", "PL")[p % 3],
                    goods=PLANTED,
                    consignor=f"Bricks Trading {p % 4}",
                    number=n,
                )


@functools.cache
def _example(kind: str) -> etree._Element:
    return etree.fromstring((EXAMPLES / f"{kind}.xml").read_bytes())


def _put(parent: etree._Element, path: str, value: str) -> None:
    element = parent.find(path.replace("w:", W))
    assert element is not None, path
    element.text = value


def _header(root: etree._Element, shipment: Shipment, message_type: str) -> None:
    header = root.find(E + "Header")
    assert header is not None
    header.find(E + "MessageID").text = f"{message_type[:3].upper()}-{shipment.number:06d}"
    header.find(E + "Sender").text = shipment.sender
    header.find(E + "CreationDateTime").text = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    receiver = header.find(E + "Receiver")
    if receiver is not None:  # routed by the gateway's rules
        header.remove(receiver)


def _stamp(when: dt.datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def _spec(goods: Goods) -> str:
    brand = "无品牌" if goods.brand == "" else goods.brand
    return f"品牌:{brand};型号:std"


def envelope(shipment: Shipment) -> etree._Element:
    goods = shipment.goods
    if shipment.message_type == "inventory":
        root = copy.deepcopy(_example("inventory"))
        _header(root, shipment, "inventory")
        record = root.find(f"{E}Body/{W}Inventory/{W}ClearanceList")
        assert record is not None
        _put(record, "w:IssueDateTime", _stamp(shipment.at))
        _put(record, "w:TypeCode", "EX")
        _put(record, "w:OrderID", f"ORD-{shipment.number:06d}")
        _put(record, "w:WaybillID", f"WB{shipment.number:08d}")
        _put(record, "w:Seller/w:Name", shipment.consignor)
        _put(record, "w:ExportCountryCode", "CN")
        address = record.find(f"{W}Consignee/{W}Address")
        assert address is not None
        country = etree.Element(W + "CountryCode")
        country.text = shipment.destination
        address.insert(0, country)
        for element in record.iter(W + "FreightChargeAmount", W + "InsuranceAmount"):
            element.set("currencyID", "EUR")
        items = record.findall(W + "GoodsItem")
        for extra in items[1:]:
            record.remove(extra)
        item = items[0]
        _put(item, "w:ItemName", goods.description[:40])
        _put(item, "w:Description", goods.description)
        _put(item, "w:Specification", _spec(goods))
        _put(item, "w:Classification/w:ID", goods.hs)
        _put(item, "w:Quantity", "1")
        _put(item, "w:TariffQuantity", "1")
        for name in ("UnitPriceAmount", "ItemChargeAmount"):
            _put(item, f"w:{name}", goods.value)
            item.find(W + name).set("currencyID", "EUR")
    else:
        root = copy.deepcopy(_example("declaration"))
        _header(root, shipment, "declaration")
        body = root.find(f"{E}Body/{W}Declaration")
        assert body is not None
        _put(body, "w:FunctionalReferenceID", f"DEC{shipment.number:08d}")
        _put(body, "w:ID", f"MRN{shipment.number:010d}")
        _put(body, "w:IssueDateTime", _stamp(shipment.at))
        _put(body, "w:GoodsItemQuantity", "1")
        _put(
            body,
            "w:BorderTransportMeans/w:ModeCode",
            {"post": "5", "express": "4", "cargo": "1"}[shipment.channel],
        )
        _put(body, "w:Exporter/w:Name", shipment.consignor)
        shipment_element = body.find(W + "GoodsShipment")
        assert shipment_element is not None
        _put(shipment_element, "w:Destination/w:CountryCode", shipment.destination)
        _put(shipment_element, "w:Consignee/w:Address/w:CountryCode", shipment.destination)
        _put(shipment_element, "w:Importer/w:Address/w:CountryCode", shipment.destination)
        items = shipment_element.findall(W + "GovernmentAgencyGoodsItem")
        for extra in items[1:]:
            shipment_element.remove(extra)
        item = items[0]
        brand = "no brand" if goods.brand == "" else goods.brand
        _put(item, "w:CustomsValueAmount", goods.value)
        item.find(W + "CustomsValueAmount").set("currencyID", "EUR")
        _put(item, "w:Commodity/w:Description", f"{goods.description}, brand: {brand}")
        _put(item, "w:Commodity/w:Classification/w:ID", goods.hs)
        _put(item, "w:Commodity/w:GoodsMeasure/w:TariffQuantity", "1")
        _put(item, "w:Commodity/w:InvoiceLine/w:ItemChargeAmount", goods.value)
        item.find(f"{W}Commodity/{W}InvoiceLine/{W}ItemChargeAmount").set("currencyID", "EUR")
    CanonicalAdapter().validate(root)
    return root
