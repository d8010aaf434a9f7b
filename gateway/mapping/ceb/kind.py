"""One CEB message and how it maps (:class:`Kind`), made from its table entry by :func:`message`.

A message family module (``orders``, ``payments`` ...) describes each CEB message by its root, the canonical
record it carries, its parts (:class:`Part`: the head and the goods lines, each an element, its CEB field
sequence and its field table) and its receipt's field sequence; everything else follows from CEB's conventions:
the import messages are in the import XSD and the export messages in the export XSD, a message's receipt is the
next number (CEB311 -> CEB312), a receipt record is ``<record>Return``, the canonical payload is named after the
message type.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.mapping.records import Table

IMPORT, EXPORT = "ceb_import_business_202205.xsd", "ceb_export_business_202205.xsd"
MAX_RECORDS, MAX_LINES = 100, 99  # maxOccurs of the records and goods lines in the GACC XSD
_STATUS = ("returnStatus", "returnTime", "returnInfo")

FieldSequence = tuple[tuple[str, bool], ...]


def sequence(spec: str) -> FieldSequence:
    """``"guid appType note?"`` -> (("guid", True), ("appType", True), ("note", False))."""
    return tuple((name.rstrip("?"), not name.endswith("?")) for name in spec.split())


@dataclass(frozen=True)
class Part:
    """One flat CEB element of a message (its head, its goods lines): the element's name, its fields as in the
    GACC XSD (``"guid appType note?"``, ``?`` marks an optional field; a test keeps them equal to the XSD) and
    the table that maps them (:mod:`gateway.mapping.records`)."""

    element: str
    fields: str
    table: Table


@dataclass(frozen=True)
class Kind:
    """One CEB business message and how it maps."""

    root: str  # CEB311Message
    schema: str  # the GACC XSD file under schemas/ceb
    message_type: str  # order
    record: str  # Order: the CEB element wrapping one record
    head: str  # OrderHead (the record itself when flat: CEB623 InvtCancel)
    head_fields: FieldSequence  # CEB sequence: (name, required)
    head_table: Table
    lines: str | None  # OrderList
    line_fields: FieldSequence
    line_table: Table | None
    payload: str  # canonical payload element: Order
    canonical_record: str  # ElectronicOrder
    direction: str  # IM or EX: the canonical TypeCode this message carries
    receipt: str | None  # CEB312Message; None: the format has no receipt for it (answered with CEB900)
    receipt_record: str | None  # OrderReturn
    receipt_fields: FieldSequence
    time_field: str  # when the sender made the record (returnTime in the customs' messages)
    transfer: bool  # the message carries a BaseTransfer (the customs' messages do not)
    max_records: int | None  # None: unbounded
    canonical_line: str  # the canonical element of one line (EnteredWaybill for a CEB711)
    max_lines: int | None  # lines per record; None: unbounded (CEB711 DeliveryList)
    lines_required: bool  # False: a record may have no lines (CEB507 ArrivalList)
    key: tuple[str, ...]  # the business key a record opens or follows: its name, then the fields it joins
    follows: bool  # always follows its key (a cancellation, a status), never opens it

    @property
    def receipt_keys(self) -> tuple[str, ...]:
        """The head fields its receipt echoes back to identify a record."""
        return tuple(n for n, _ in self.receipt_fields if n not in _STATUS)


def message(
    root: str,
    message_type: str,
    canonical_record: str,
    record: str,
    head: Part,
    lines: Part | None = None,
    *,
    direction: str,
    receipt: str | None,
    receipt_record: str | None = None,
    key: tuple[str, ...] = (),
    follows: bool = False,
    time_field: str = "appTime",
    transfer: bool = True,
    max_records: int | None = MAX_RECORDS,
    canonical_line: str = "GoodsItem",
    max_lines: int | None = MAX_LINES,
    lines_required: bool = True,
) -> Kind:
    """The :class:`Kind` of one CEB message from its table entry. ``receipt``: the receipt record's field
    sequence, None when CEB has no receipt for the message (it is answered with CEB900)."""
    return Kind(
        root=root,
        schema=IMPORT if direction == "IM" else EXPORT,
        message_type=message_type,
        record=record,
        head=head.element,
        head_fields=sequence(head.fields),
        head_table=head.table,
        lines=lines.element if lines else None,
        line_fields=sequence(lines.fields) if lines else (),
        line_table=lines.table if lines else None,
        payload="".join(word.capitalize() for word in message_type.split("-")),  # as the canonical format
        canonical_record=canonical_record,
        direction=direction,
        receipt=None if receipt is None else f"CEB{int(root[3:6]) + 1}Message",
        receipt_record=None if receipt is None else receipt_record or f"{record}Return",
        receipt_fields=() if receipt is None else sequence(receipt),
        time_field=time_field,
        transfer=transfer,
        max_records=max_records,
        canonical_line=canonical_line,
        max_lines=max_lines,
        lines_required=lines_required,
        key=key,
        follows=follows,
    )
