"""Consistent (and deliberately inconsistent) canonical order / payment / logistics / inventory sets.

Built from the project's examples (examples/order.xml ...), so they are what the canonical schema accepts;
each set gets its own order number, transaction id and waybill number.
"""

from __future__ import annotations

import copy
import datetime as dt
import functools
import uuid
from dataclasses import dataclass, field

from lxml import etree

from gateway.formats.canonical import CanonicalAdapter
from tests.helpers import ENV, EXAMPLES

W = "{urn:customs-gateway:wco:1}"
E = f"{{{ENV}}}"
KINDS = ("order", "payment", "logistics", "inventory")


@functools.cache
def _example(kind: str) -> etree._Element:
    return etree.fromstring((EXAMPLES / f"{kind}.xml").read_bytes())


def _set(root: etree._Element, path: str, value: str) -> None:
    for element in root.iterfind(path.replace("w:", W)):
        element.text = value


@dataclass
class CbecSet:
    """One purchase: its keys, and changes that make one list disagree (``tweaks[kind]``: (path, value))."""

    sender: str = "cn-nsw"
    order_id: str = field(default_factory=lambda: f"ORD-{uuid.uuid4().hex[:12]}")
    platform: str = "1105910159"
    provider: str = "1101110323"
    transaction: str = field(default_factory=lambda: f"P{uuid.uuid4().hex[:14]}")
    carrier: str = "1101180326"
    waybill: str = field(default_factory=lambda: f"LN{uuid.uuid4().hex[:13]}")
    tweaks: dict[str, list[tuple[str, str]]] = field(default_factory=dict)

    def envelope(
        self, kind: str, *, message_id: str | None = None, created: dt.datetime | None = None
    ) -> etree._Element:
        root = copy.deepcopy(_example(kind))
        header = root.find(E + "Header")
        assert header is not None
        header.find(E + "MessageID").text = message_id or f"{kind[:3].upper()}-{uuid.uuid4().hex[:20]}"
        header.find(E + "Sender").text = self.sender
        when = created or dt.datetime.now(dt.UTC)
        header.find(E + "CreationDateTime").text = when.strftime("%Y-%m-%dT%H:%M:%SZ")
        _set(root, ".//w:OrderID", self.order_id)
        _set(root, ".//w:Platform/w:ID", self.platform)
        _set(root, ".//w:PaymentProvider/w:ID", self.provider)
        _set(root, ".//w:PaymentTransactionID", self.transaction)
        _set(root, ".//w:Carrier/w:ID", self.carrier)
        _set(root, ".//w:WaybillID", self.waybill)
        for path, value in self.tweaks.get(kind, []):
            found = root.findall(path.replace("w:", W))
            assert found, f"{kind}: no {path}"
            for element in found:
                element.text = value
        CanonicalAdapter().validate(root)
        return root

    def all(self) -> dict[str, etree._Element]:
        return {kind: self.envelope(kind) for kind in KINDS}


def body(envelope: etree._Element) -> etree._Element:
    b = envelope.find(E + "Body")
    assert b is not None
    return b[0]
