"""Every CEB message the gateway maps, by root element, and the lookups: the kind of a CEB message, of a CEB
receipt, of a canonical payload.

The families are listed imports first within each, so the first kind of a message type or payload is the
import message (a bare ``order`` is a CEB311, an empty ``Inventory`` a CEB621).
"""

from __future__ import annotations

from collections.abc import Mapping

from lxml import etree

from gateway.errors import MappingFailed, UnsupportedMessage
from gateway.mapping.ceb import (
    cargo_reports,
    inventories,
    inventory_requests,
    orders,
    payments,
    summaries,
    tax,
    warehouse_entries,
    waybills,
)
from gateway.mapping.ceb.codes import CEB_NS
from gateway.mapping.ceb.kind import Kind
from gateway.mapping.records import W

_FAMILIES = (
    orders, payments, waybills, inventories, inventory_requests, warehouse_entries, cargo_reports, summaries, tax
)  # fmt: skip
KINDS: Mapping[str, Kind] = {kind.root: kind for family in _FAMILIES for kind in family.KINDS}
RECEIPTS: Mapping[str, Kind] = {kind.receipt: kind for kind in KINDS.values() if kind.receipt}


def kind_of(root: etree._Element) -> Kind:
    """The kind of a CEB message from its root element, or ``UnsupportedMessage`` naming what is supported."""
    qname = etree.QName(root)
    kind = KINDS.get(qname.localname) if qname.namespace == CEB_NS else None
    if kind is None:
        raise UnsupportedMessage(
            f"root element {qname.localname!r} in namespace {qname.namespace!r} is not a CEB message "
            f"the gateway maps; supported: {', '.join(KINDS)} in {CEB_NS}",
            pointer="/",
        )
    return kind


def receipt_kind_of(root: etree._Element) -> Kind | None:
    """The kind a CEB receipt (CEB312 ...) answers, or None when ``root`` is no receipt the gateway maps."""
    qname = etree.QName(root)
    return RECEIPTS.get(qname.localname) if qname.namespace == CEB_NS else None


def kind_for(payload: etree._Element, pointer: str) -> Kind:
    """The CEB message for a canonical payload: by payload element, its records' element (an Inventory holds
    ClearanceList or ExportClearanceList records) and the records' TypeCode (IM / EX) where they have one."""
    name = etree.QName(payload).localname
    records = [r for r in payload if isinstance(r.tag, str)]
    directions = {(r.findtext(W + "TypeCode") or "").strip() for r in records} - {""}
    record_names = {etree.QName(r).localname for r in records}
    if len(directions) > 1 or len(record_names) > 1:
        raise MappingFailed(
            f"{pointer}: one CEB message carries one kind of record, imports or exports, not both "
            f"({', '.join(sorted(record_names))}; TypeCode {sorted(directions)})",
            pointer=pointer,
        )
    for kind in KINDS.values():
        if (
            kind.payload == name
            and (not record_names or kind.canonical_record in record_names)
            and (not directions or kind.direction in directions)
        ):
            return kind
    raise MappingFailed(
        f"{pointer}: the ceb format has no message for a wco:{name} payload of {', '.join(sorted(record_names))} "
        f"with TypeCode {sorted(directions)}; supported: "
        f"{', '.join(f'{k.payload}/{k.canonical_record}/{k.direction} -> {k.root}' for k in KINDS.values())}",
        pointer=pointer,
    )
