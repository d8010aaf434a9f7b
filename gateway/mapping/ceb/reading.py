"""CEB -> canonical: the records of a CEB message, what they say about the message (when it was made, the
business key it opens or follows) and its canonical payload."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence

from lxml import etree

from gateway.errors import SchemaInvalid
from gateway.mapping.ceb.codes import CHINA, C
from gateway.mapping.ceb.flat import fields_of
from gateway.mapping.ceb.kind import Kind
from gateway.mapping.records import W, to_canonical


def records(root: etree._Element, kind: Kind) -> list[etree._Element]:
    found: list[etree._Element] = root.findall(C + kind.record)
    return found


def head_of(record: etree._Element, kind: Kind) -> etree._Element | None:
    """The head fields of a record: its head element, or the record itself when flat (CEB623 InvtCancel)."""
    return record if kind.head == kind.record else record.find(C + kind.head)


def heads(root: etree._Element, kind: Kind) -> list[dict[str, str]]:
    return [fields_of(head) for r in records(root, kind) if (head := head_of(r, kind)) is not None]


def business_key(kind: Kind, head: Mapping[str, str]) -> tuple[str | None, str | None]:
    """(the key this record opens, the key it follows): the same order / payment / waybill / clearance list /
    tax bill across its original, modifications and cancellation. An original opens its key; a modification
    (appType 2) and the messages that always follow (a cancellation, a status: ``Kind.follows``) follow it."""
    if not kind.key or not all(head.get(name) for name in kind.key[1:]):
        return None, None
    key = ":".join((kind.key[0], *(head[name] for name in kind.key[1:])))
    if kind.follows or head.get("appType") == "2":
        return None, key
    return key, None


def issued(heads: Sequence[Mapping[str, str]], time_field: str = "appTime") -> dt.datetime | None:
    """When the message was made: the latest appTime (or returnTime) of its records (China time), None if none
    is readable. Milliseconds of a returnTime are left out: the replay window counts in seconds."""
    times = []
    for head in heads:
        try:
            stamp = head.get(time_field, "")[:14]
            when = dt.datetime.strptime(stamp, "%Y%m%d%H%M%S").replace(tzinfo=CHINA)
        except ValueError:
            continue
        try:
            when.astimezone(dt.UTC)
        except OverflowError:  # before 0001-01-01 in UTC: no time to compare with the clock (was a 500 later)
            raise SchemaInvalid(
                f"{time_field} {stamp!r} (China time) is before the first day UTC can write (0001-01-01)",
                pointer=f"/{time_field}",
            ) from None
        times.append(when)
    return max(times) if times else None


def to_canonical_payload(root: etree._Element, kind: Kind) -> etree._Element:
    """The canonical payload (e.g. ``wco:Order``) of a valid CEB message."""
    payload = etree.Element(W + kind.payload, nsmap={None: W[1:-1]})
    for index, record in enumerate(records(root, kind), 1):
        base = f"/{kind.root}/{kind.record}[{index}]"
        out = etree.SubElement(payload, W + kind.canonical_record)
        head = head_of(record, kind)
        assert head is not None  # schema-valid
        where = base if kind.head == kind.record else f"{base}/{kind.head}"
        to_canonical(fields_of(head), kind.head_table, out, under(where))
        if kind.lines and kind.line_table:
            for number, line in enumerate(record.findall(C + kind.lines), 1):
                item = etree.SubElement(out, W + kind.canonical_line)
                to_canonical(fields_of(line), kind.line_table, item, under(f"{base}/{kind.lines}[{number}]"))
    return payload


def under(prefix: str) -> Callable[[str], str]:
    """The pointer of a CEB field of one head or line, for error messages."""
    return lambda name: f"{prefix}/{name}"
