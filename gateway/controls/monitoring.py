"""Integrated monitoring: e-commerce, postal, express and cargo consignments in one view.

Every accepted inventory (each ClearanceList) and declaration becomes a :class:`Consignment`: when, which
channel, who sent the goods, from where to where, and its goods items (HS code, description, declared brand,
unit value). One query (:func:`find`) answers "all consignments of commodity X / consignor Y / to country Z in
the last N days, by channel", from the command line (``gateway consignments``) and the admin API
(``GET /v1/admin/consignments``).

The channel is not a WCO element (see ``ChannelCodeType`` in the canonical schema); it is derived:

    Inventory                          cbec (cross-border e-commerce clearance list)
    Declaration from a partner listed  that partner's channel, ``[controls] sender_channels``
      in sender_channels               (e.g. an express operator's entry summaries: express)
    Declaration, transport mode 5      post (UN/ECE Rec. 19 "postal consignment": WCO DM postal declarations)
    Declaration with specific          express (EU ICS/UCC indicator A, "postal and express consignments",
      circumstance A                   as an ICS ENS CC315A carries it; postal ones are mode 5)
    any other Declaration              cargo

Where a declaration does not name its destination country (an import or entry summary declaration often
names only the goods location or the office of first entry), it is taken from those, then from the sending
partner's country; the exportation country from the exporter's or consignor's address or the itinerary.

Brands are not a field of the canonical goods items: the declared brand is read from the text where
traders declare it, the specification (CEB ``gmodel``: 品牌、规格、型号) or the description, as
``品牌:X`` / ``brand: X``; "无品牌", "no brand", "generic", "unbranded" ... mean declared without a brand.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from lxml import etree

from gateway.controls.facts import Money, W, payload
from gateway.controls.model import Consignment, Item, Query, StoredConsignment
from gateway.formats.canonical import parse_datetime

if TYPE_CHECKING:
    from gateway.controls.store import ControlsStore

CHANNELS = ("post", "express", "cbec", "cargo")
POSTAL_MODE = "5"
EXPRESS_CIRCUMSTANCE = "A"  # EU specific circumstance indicator A: postal and express consignments

# Chinese declarations separate with full-width punctuation (U+FF1A colon, U+FF1B semicolon, U+FF0C comma).
_BRAND = re.compile(r"(?:品牌|商标|brand(?:\s*name)?|trademark)\s*[:：=]\s*([^;；|,，\n]+)", re.IGNORECASE)  # noqa: RUF001
UNBRANDED = frozenset(
    {
        "无",
        "无品牌",
        "无牌",
        "没有",
        "none",
        "no",
        "no brand",
        "no-brand",
        "nobrand",
        "generic",
        "unbranded",
        "n/a",
        "na",
        "-",
        "/",
    }
)


def declared_brand(*texts: str | None) -> str | None:
    """The brand a trader declared in free text: the name, ``""`` for "declared without brand", None if the
    text does not say."""
    for text in texts:
        if not text:
            continue
        found = _BRAND.search(text)
        if found:
            value = found.group(1).strip()
            return "" if value.casefold() in UNBRANDED else value
        lowered = text.casefold()
        if "无品牌" in text or "no brand" in lowered or "unbranded" in lowered:
            return ""
    return None


def _text(element: etree._Element | None, path: str) -> str | None:
    if element is None:
        return None
    found = element.find(path.replace("w:", W))
    if found is None or found.text is None:
        return None
    return found.text.strip() or None


def _amount(element: etree._Element, path: str) -> Money | None:
    found = element.find(path.replace("w:", W))
    text = (found.text or "").strip() if found is not None else ""
    if found is None or not text:
        return None
    try:
        return Money(Decimal(text), found.get("currencyID", ""))
    except InvalidOperation:
        return None


def _quantity(element: etree._Element, path: str) -> Decimal | None:
    value = _text(element, path)
    try:
        return Decimal(value) if value else None
    except InvalidOperation:
        return None


def _when(element: etree._Element, fallback: dt.datetime) -> dt.datetime:
    return parse_datetime(_text(element, "w:IssueDateTime")) or fallback


def consignments_of(
    envelope: etree._Element,
    message_type: str,
    *,
    sender: str,
    message_id: str,
    own_country: str | None,
    sender_channels: Mapping[str, str],
    now: dt.datetime,
    sender_country: str | None = None,
) -> list[Consignment]:
    """The consignments an accepted canonical message declares (none for other message types)."""
    body = payload(envelope)
    if body is None:
        return []
    if message_type == "inventory":
        return [
            _from_inventory(record, sender, message_id, own_country, now)
            for record in body.iterfind(W + "ClearanceList")
            if _text(record, "w:FunctionCode") != "3"
        ]
    if message_type == "declaration" and _text(body, "w:FunctionCode") != "3":
        consignment = _from_declaration(body, sender, message_id, sender_channels, sender_country, now)
        return [consignment] if consignment.items else []  # e.g. a cancellation: no goods to watch
    return []


def _from_inventory(
    record: etree._Element, sender: str, message_id: str, own_country: str | None, now: dt.datetime
) -> Consignment:
    exporting = _text(record, "w:TypeCode") == "EX"
    consignee_country = _text(record, "w:Consignee/w:Address/w:CountryCode")
    items = []
    for item in record.iterfind(W + "GoodsItem"):
        description = _text(item, "w:Description") or _text(item, "w:ItemName") or ""
        specification = _text(item, "w:Specification")
        items.append(
            Item(
                seq=int(_text(item, "w:SequenceNumeric") or 0),
                hs=_text(item, "w:Classification/w:ID") or "",
                description=" ".join(t for t in (description, specification) if t),
                brand=declared_brand(specification, description, _text(item, "w:ItemDescription")),
                quantity=_quantity(item, "w:Quantity"),
                unit_value=_amount(item, "w:UnitPriceAmount"),
            )
        )
    return Consignment(
        at=_when(record, now),
        channel="cbec",
        source="inventory",
        reference=_text(record, "w:WaybillID") or _text(record, "w:FunctionalReferenceID") or "",
        consignor=_text(record, "w:Seller/w:Name") or "",
        consignor_id=_text(record, "w:Seller/w:ID"),
        export_country=_text(record, "w:ExportCountryCode"),
        destination=consignee_country or (None if exporting else own_country),
        items=tuple(items),
        message_id=message_id,
        sender=sender,
    )


def _channel(body: etree._Element, sender: str, sender_channels: Mapping[str, str]) -> str:
    if sender in sender_channels:
        return sender_channels[sender]
    if _text(body, "w:BorderTransportMeans/w:ModeCode") == POSTAL_MODE:
        return "post"
    if _text(body, "w:SpecificCircumstancesCodeCode") == EXPRESS_CIRCUMSTANCE:
        return "express"
    return "cargo"


def _first(*values: str | None) -> str | None:
    return next((v for v in values if v), None)


def _office_country(body: etree._Element) -> str | None:
    """EU customs office numbers begin with the ISO country code (GB000060, NL000396 ...)."""
    office = _text(body, "w:FirstEntryOffice/w:ID") or ""
    return office[:2] if len(office) >= 2 and office[:2].isalpha() and office[:2].isupper() else None


def _from_declaration(
    body: etree._Element,
    sender: str,
    message_id: str,
    sender_channels: Mapping[str, str],
    sender_country: str | None,
    now: dt.datetime,
) -> Consignment:
    shipment = body.find(W + "GoodsShipment")
    party = next(
        (
            p
            for p in (body.find(W + "Exporter"), _find(shipment, "Consignor"), body.find(W + "Declarant"))
            if p is not None
        ),
        None,
    )
    items = []
    for item in shipment.iterfind(W + "GovernmentAgencyGoodsItem") if shipment is not None else ():
        description = _text(item, "w:Commodity/w:Description") or ""
        quantity = _quantity(item, "w:Commodity/w:GoodsMeasure/w:TariffQuantity")
        value = (
            _amount(item, "w:CustomsValueAmount")
            or _amount(item, "w:Commodity/w:InvoiceLine/w:ItemChargeAmount")
            or _amount(item, "w:StatisticalValueAmount")
        )
        unit_value = None
        if value is not None and quantity:
            unit_value = Money((value.value / quantity).quantize(Decimal("0.001")), value.currency)
        items.append(
            Item(
                seq=int(_text(item, "w:SequenceNumeric") or 0),
                hs=_text(item, "w:Commodity/w:Classification/w:ID") or "",
                description=description,
                brand=declared_brand(description),
                quantity=quantity,
                unit_value=unit_value,
            )
        )
    entering = (_text(body, "w:TypeCode") or "").startswith(("IM", "ENS"))
    destination = _first(
        _text(shipment, "w:Destination/w:CountryCode"),
        _text(shipment, "w:Consignee/w:Address/w:CountryCode"),
        _text(shipment, "w:Importer/w:Address/w:CountryCode"),
        *(
            (
                _text(shipment, "w:Consignment/w:GoodsLocation/w:Address/w:CountryCode"),
                _office_country(body),
                sender_country,
            )
            if entering
            else ()
        ),
    )
    export_country = _first(
        _text(shipment, "w:ExportCountry/w:ID"),
        _text(body, "w:Exporter/w:Address/w:CountryCode"),
        _text(shipment, "w:Consignor/w:Address/w:CountryCode"),
        _text(body, "w:Consignment/w:Itinerary/w:RoutingCountryCode"),
    )
    return Consignment(
        at=_when(body, now),
        channel=_channel(body, sender, sender_channels),
        source="declaration",
        reference=_text(body, "w:ID") or _text(body, "w:FunctionalReferenceID") or "",
        consignor=_text(party, "w:Name") or "",
        consignor_id=_text(party, "w:ID"),
        export_country=export_country,
        destination=destination,
        items=tuple(items),
        message_id=message_id,
        sender=sender,
    )


def _find(element: etree._Element | None, name: str) -> etree._Element | None:
    return None if element is None else element.find(W + name)


# The query --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Report:
    query: Query
    since: dt.datetime
    until: dt.datetime
    by_channel: dict[str, int] = field(default_factory=dict)
    consignments: tuple[StoredConsignment, ...] = ()

    @property
    def total(self) -> int:
        return sum(self.by_channel.values())

    def as_json(self) -> dict[str, Any]:
        q = self.query
        return {
            "query": {
                "commodity": q.commodity,
                "consignor": q.consignor,
                "destination": q.destination,
                "channel": q.channel,
                "days": q.days,
                "since": self.since.isoformat(),
                "until": self.until.isoformat(),
            },
            "total": self.total,
            "by_channel": self.by_channel,
            "consignments": [c.as_json() for c in self.consignments],
        }

    def render(self) -> str:
        q = self.query
        filters = ", ".join(
            f"{name} {value}"
            for name, value in (
                ("commodity", q.commodity),
                ("consignor", q.consignor),
                ("destination", q.destination),
                ("channel", q.channel),
            )
            if value
        )
        lines = [
            f"consignments {self.since:%Y-%m-%d %H:%M} .. {self.until:%Y-%m-%d %H:%M} UTC"
            + (f" ({filters})" if filters else "")
            + f": {self.total}",
            "by channel: " + (", ".join(f"{c} {n}" for c, n in self.by_channel.items()) or "none"),
        ]
        if self.consignments:
            lines.append(f"{'WHEN':<17} {'CHANNEL':<8} {'ROUTE':<7} {'HS':<10} {'CONSIGNOR':<30} REFERENCE")
        for c in self.consignments:
            hs = ",".join(sorted({i.hs for i in c.items if i.hs}))[:10]
            route = f"{c.export_country or '??'}>{c.destination or '??'}"
            when = f"{c.at:%Y-%m-%d %H:%M}"
            lines.append(f"{when} {c.channel:<8} {route:<7} {hs:<10} {c.consignor[:30]:<30} {c.reference}")
        if len(self.consignments) < self.total:
            lines.append(f"(first {len(self.consignments)} of {self.total}; --limit shows more)")
        return "\n".join(lines)


def find(store: ControlsStore, query: Query, now: dt.datetime | None = None) -> Report:
    """Answer a monitoring query from the controls store."""
    since, until = query.window(now or dt.datetime.now(dt.UTC))
    by_channel, rows = store.query_consignments(query, since, until)
    ordered = {c: by_channel[c] for c in CHANNELS if c in by_channel}
    return Report(query, since, until, ordered, tuple(rows))
