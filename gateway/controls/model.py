"""What the controls hold: consignments (monitoring), waiting inventories (three-list matching), risk alerts.

Plain frozen values, shared by the monitoring, the rules, the service and the stores (``store_sqlite``,
``store_postgres``), so that none of them imports another to name its data.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from gateway.controls.facts import InventoryFacts, Money, plain
from gateway.formats.base import ReceiptError
from gateway.store.base import Status

DAY = 86400.0
Counts = dict[tuple[str, str], int]  # (destination, channel) -> consignments
SEP = "\x1f"  # joins key parts: never in an XML text value


def day_of(at: float) -> int:
    return int(at // DAY)


# Monitoring ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Item:
    seq: int
    hs: str
    description: str
    brand: str | None  # "" = declared without brand; None = not stated
    quantity: Decimal | None
    unit_value: Money | None


@dataclass(frozen=True)
class Consignment:
    at: dt.datetime  # the record's IssueDateTime
    channel: str
    source: str  # the message type it came from: inventory | declaration
    reference: str  # waybill number, declaration number (MRN) or the declarant's reference
    consignor: str
    consignor_id: str | None
    export_country: str | None
    destination: str | None
    items: tuple[Item, ...]
    message_id: str = ""  # gateway message id
    sender: str = ""

    @property
    def consignor_key(self) -> str:
        return self.consignor_id or self.consignor.casefold()


@dataclass(frozen=True)
class Query:
    """All filters are optional and combine (AND). ``commodity``: HS code prefix (digits) or words of the
    description; ``consignor``: its id, or words of its name; ``destination``: ISO country code."""

    commodity: str | None = None
    consignor: str | None = None
    destination: str | None = None
    channel: str | None = None
    days: float = 30.0
    until: dt.datetime | None = None
    limit: int = 100

    def window(self, now: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
        until = self.until or now
        return until - dt.timedelta(days=self.days), until


@dataclass(frozen=True)
class StoredConsignment:
    id: int
    at: dt.datetime
    channel: str
    source: str
    reference: str
    consignor: str
    consignor_id: str | None
    export_country: str | None
    destination: str | None
    message_id: str
    sender: str
    items: tuple[Item, ...] = ()

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "at": self.at.isoformat(),
            "channel": self.channel,
            "source": self.source,
            "reference": self.reference,
            "consignor": self.consignor,
            "consignor_id": self.consignor_id,
            "export_country": self.export_country,
            "destination": self.destination,
            "message_id": self.message_id,
            "sender": self.sender,
            "items": [
                {
                    "hs": i.hs,
                    "description": i.description,
                    "brand": i.brand,
                    "quantity": None if i.quantity is None else plain(i.quantity),
                    "unit_value": None if i.unit_value is None else str(i.unit_value),
                }
                for i in self.items
            ],
        }


def dimensions(consignment: Consignment) -> list[tuple[str, str]]:
    """What the sliding-window rules group by: every consignment counts once under ``all``, once per HS
    heading (4 digits) and subheading (6 digits) it declares, and once under its consignor."""
    dims = [("all", "*"), ("consignor", consignment.consignor_key)]
    hs = {item.hs for item in consignment.items if item.hs}
    dims += sorted({("hs4", code[:4]) for code in hs if len(code) >= 4})
    dims += sorted({("hs6", code[:6]) for code in hs if len(code) >= 6})
    return dims


# Three-list matching and alerts -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Hold:
    """Ingress records the message ``status`` with this reason and answers 202 (``X-Gateway-Outcome``
    ``outcome``); ``errors``: what the receipt says why (a watch-list hold's receipt carries the code held)."""

    reason: str
    status: Status = Status.WAITING
    outcome: str = "waiting"
    errors: tuple[ReceiptError, ...] = ()


@dataclass(frozen=True)
class Waiting:
    message_id: str
    sender: str
    sender_message_id: str
    message_type: str
    receivers: tuple[str, ...]
    state: str
    inventories: tuple[InventoryFacts, ...]
    canonical: bytes
    created: dt.datetime
    deadline: dt.datetime


@dataclass(frozen=True)
class AlertRecord:
    id: str
    reference: str
    rule: str
    pattern: str
    fired_at: dt.datetime
    created: dt.datetime
    state: str
    receivers: tuple[str, ...]
    consignments: int
    summary: str
    envelope: bytes
    signed: bytes


def waiting_keys(inventory: InventoryFacts) -> list[tuple[str, str]]:
    """The keys whose arrival may complete an inventory: its order number (orders and payments name it, and
    so do waybills) and its waybill."""
    return [("order", inventory.order_id), ("waybill", f"{inventory.carrier}{SEP}{inventory.waybill}")]


# The watch list of non-compliant products ---------------------------------------------------------------------


@dataclass(frozen=True)
class WatchRecord:
    """A message with watch-list hits: held for a decision (``pending`` until its answer is recorded, then
    ``held``; ``dropped`` when that answer was never recorded; ``releasing`` / ``refusing`` while a decision is
    carried out; ``released`` / ``refused``), or
    ``alerted`` (forwarded, the hit recorded)."""

    message_id: str
    sender: str
    sender_message_id: str
    message_type: str
    receivers: tuple[str, ...]
    state: str
    hits: tuple[dict[str, Any], ...]
    reason: str
    records: tuple[tuple[str, str, str], ...]  # (platform, seller, "held"|"alerted"|"clear") per consignment
    day: int
    canonical: bytes
    created: dt.datetime
    updated: dt.datetime
    decided_by: str | None = None
    note: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "message_id": self.message_id,
            "sender": self.sender,
            "sender_message_id": self.sender_message_id,
            "type": self.message_type,
            "receivers": list(self.receivers),
            "state": self.state,
            "reason": self.reason,
            "hits": list(self.hits),
            "platforms": sorted({p for p, _, _ in self.records if p}),
            "sellers": sorted({s for _, s, _ in self.records if s}),
            "created": self.created.isoformat(),
            "updated": self.updated.isoformat(),
            "decided_by": self.decided_by,
            "note": self.note,
        }
