"""CEB receipts from a partner (CEB312, 622 ...) <-> canonical receipts, record by record.

A CEB receipt echoes the keys of each record it answers (its kind's ``receipt_fields``) and gives the record's
own status (returnStatus, returnTime, returnInfo). Both directions use one table per kind: the echoed keys as
the record's own table maps them, then the status.
"""

from __future__ import annotations

from pathlib import Path

from lxml import etree

from gateway.mapping.ceb.codes import RETURN_TIME, C
from gateway.mapping.ceb.flat import fields_of
from gateway.mapping.ceb.kind import Kind
from gateway.mapping.ceb.reading import under
from gateway.mapping.ceb.registry import KINDS
from gateway.mapping.records import Field, Table, W, from_canonical, to_canonical, working_copy
from gateway.mapping.structure import sort_children, structure

_WCO_XSD = Path(__file__).resolve().parents[3] / "schemas" / "canonical" / "wco.xsd"
RECEIPT_STATUS = Table((
    Field("returnStatus", "ProcessingStatusCode"),
    Field("returnTime", "StatusDateTime", RETURN_TIME),
    Field("returnInfo", "StatusDescription"),
))  # fmt: skip
# The statuses of CEB receipts that refuse the record (besides negative ones, processing errors): 4 发送海关失败
# (not delivered to customs), 100 海关退单 (returned by customs). Spec tables 3-7, 3-15, 3-19, 3-33 ...
REFUSED = frozenset({"4", "100"})


def receipt_table(kind: Kind) -> Table:
    """The fields of a CEB receipt record: the keys it echoes (as the record's table maps them) and its status."""
    keys = {*kind.receipt_keys, "guid"}
    return Table((*(f for f in kind.head_table.fields if f.source in keys), *RECEIPT_STATUS.fields))


def answered_record(reference: etree._Element, pointer: str) -> tuple[str, tuple[tuple[str, str], ...]] | None:
    """A canonical Receipt/ReferencedRecord as the CEB message and receipt keys that record was sent with
    (``("CEB621Message", (("guid", ...), ("copNo", ...)))``, with returnStatus/Time/Info when the record
    carries its own status), or None for a record no CEB message carries."""
    name = (reference.findtext(W + "RecordName") or "").strip()
    direction = (reference.findtext(W + "TypeCode") or "IM").strip()
    kind = next((k for k in KINDS.values() if (k.canonical_record, k.direction) == (name, direction)), None)
    if kind is None or kind.receipt is None:
        return None
    values = from_canonical(working_copy(reference), receipt_table(kind), pointer)
    names = (*kind.receipt_keys, *(f.source for f in RECEIPT_STATUS.fields))
    return kind.root, tuple((k, values[k]) for k in names if values.get(k))


def receipt_to_canonical(root: etree._Element, kind: Kind) -> etree._Element:
    """A CEB receipt (CEB312 ... answering ``kind``) as a canonical Receipt payload: one ReferencedRecord per
    answered record with its keys and its own status, an Error per refused record; rejected if any is."""
    assert kind.receipt is not None
    assert kind.receipt_record is not None
    payload = etree.Element(W + "Receipt", nsmap={None: W[1:-1]})
    answers = root.findall(C + kind.receipt_record)
    fields = [fields_of(answer) for answer in answers]
    refused = [
        n
        for n, f in enumerate(fields, 1)
        if f.get("returnStatus", "").startswith("-") or f.get("returnStatus") in REFUSED
    ]
    etree.SubElement(payload, W + "FunctionCode").text = "rejected" if refused else "accepted"
    issued = etree.SubElement(payload, W + "IssueDateTime")
    latest = max(fields, key=lambda f: f.get("returnTime", ""))
    RETURN_TIME.fill(issued, latest.get("returnTime", ""), latest, f"/{kind.receipt}/{kind.receipt_record}/returnTime")
    table = receipt_table(kind)
    for number, values in enumerate(fields, 1):
        where = (
            f"/{kind.receipt}/{kind.receipt_record}[{number}]"
            if len(fields) > 1
            else f"/{kind.receipt}/{kind.receipt_record}"
        )
        record = etree.SubElement(payload, W + "ReferencedRecord")
        etree.SubElement(record, W + "RecordName").text = kind.canonical_record
        etree.SubElement(record, W + "TypeCode").text = kind.direction
        to_canonical(values, table, record, under(where))
    for number in refused:
        values = fields[number - 1]
        error = etree.SubElement(payload, W + "Error")
        etree.SubElement(error, W + "ValidationCode").text = values.get("returnStatus", "")
        etree.SubElement(error, W + "Pointer").text = f"/{kind.receipt}/{kind.receipt_record}[{number}]"
        etree.SubElement(error, W + "Description").text = values.get("returnInfo", "")
    sort_children(payload, structure(_WCO_XSD, "Receipt"), "Receipt")  # the tables' order is the records'
    return payload
