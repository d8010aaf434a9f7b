"""Canonical -> CEB: the CEB message of a canonical payload, and every canonical value it cannot carry.

Rendering refuses to drop data: what the CEB message has no field for is returned as a
:class:`~gateway.mapping.records.Loss` (the adapter makes them one ``mapping-failed`` naming each), and a field
the CEB message requires that the canonical record does not give is a ``mapping-failed`` naming it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from lxml import etree

from gateway.errors import MappingFailed
from gateway.mapping.ceb import flat
from gateway.mapping.ceb.codes import CEB_NS, C
from gateway.mapping.ceb.kind import Kind
from gateway.mapping.ceb.registry import kind_for
from gateway.mapping.records import Loss, Table, W, from_canonical, leftovers, raise_losses, working_copy

# What the spec prescribes for a required CEB field the canonical record may leave out.
DEFAULTS: Mapping[str, str] = {
    "currency": "142",  # "限定为人民币, 填写142" (tables 3-3, 3-9, 3-27, 3-31)
    "freight": "0",  # "无则填写0"
    "discount": "0",
    "taxTotal": "0",
}


@dataclass(frozen=True)
class Transfer:
    """The ``BaseTransfer`` the gateway writes into the CEB messages it sends: who transmits them."""

    cop_code: str = "GATEWAY"
    cop_name: str = "Customs exchange gateway"
    dxp_mode: str = "DXP"
    dxp_id: str = "GATEWAY"


@dataclass
class _Problems:
    """What rendering one message found: values CEB cannot carry, fields CEB needs that are not given."""

    losses: list[Loss] = field(default_factory=list)
    missing: list[tuple[str, str]] = field(default_factory=list)  # (canonical pointer, CEB field)


def from_canonical_payload(
    payload: etree._Element, guid: str, transfer: Transfer, pointer: str = "/Envelope/Body"
) -> tuple[etree._Element, list[Loss]]:
    """The CEB message of a canonical payload, and every canonical value it cannot carry.

    Raises ``MappingFailed`` for values that cannot be mapped (unknown codes, conflicting currencies) and for
    fields the CEB message needs but the canonical record lacks.
    """
    base = f"{pointer}/{etree.QName(payload).localname}"
    kind = kind_for(payload, base)
    root = etree.Element(C + kind.root, nsmap={"ceb": CEB_NS})
    root.set("guid", guid)
    root.set("version", "1.0")
    problems = _Problems()
    found = payload.findall(W + kind.canonical_record)
    limit = kind.max_records or len(found)
    problems.losses.extend(_beyond(found, limit, f"{base}/{kind.canonical_record}"))
    for index, record in enumerate(found[:limit], 1):
        where = _indexed(f"{base}/{kind.canonical_record}", index, len(found))
        _render_record(root, record, kind, where, problems)
    if problems.missing:
        shown = "; ".join(f"{at} (CEB {name})" for at, name in problems.missing[:10])
        raise MappingFailed(
            f"the {kind.root} needs what the canonical message does not give: {shown}",
            pointer=problems.missing[0][0],
        )
    if kind.transfer:
        _transfer(root, transfer)
    return root, problems.losses


def _render_record(root: etree._Element, record: etree._Element, kind: Kind, where: str, problems: _Problems) -> None:
    work = working_copy(record)
    items = work.findall(W + kind.canonical_line)
    for item in items:
        work.remove(item)
    head = from_canonical(work, kind.head_table, where)
    problems.losses.extend(leftovers(work, where))
    wrapper = etree.SubElement(root, C + kind.record)
    target = wrapper if kind.head == kind.record else etree.SubElement(wrapper, C + kind.head)
    _emit(target, kind.head_fields, head, kind.head_table, where, problems)
    if kind.lines is None or kind.line_table is None:
        problems.losses.extend(_beyond(items, 0, f"{where}/{kind.canonical_line}"))
        return
    if not items and kind.lines_required:
        problems.missing.append((f"{where}/{kind.canonical_line}", kind.lines))
    max_lines = kind.max_lines or len(items)
    problems.losses.extend(_beyond(items, max_lines, f"{where}/{kind.canonical_line}"))
    for number, item in enumerate(items[:max_lines], 1):
        at = _indexed(f"{where}/{kind.canonical_line}", number, len(items))
        line = from_canonical(item, kind.line_table, at)
        problems.losses.extend(leftovers(item, at))
        _emit(etree.SubElement(wrapper, C + kind.lines), kind.line_fields, line, kind.line_table, at, problems)


def _indexed(path: str, number: int, count: int) -> str:
    """``path[n]`` when the element repeats, as XPath writes it."""
    return f"{path}[{number}]" if count > 1 else path


def _beyond(elements: Sequence[etree._Element], limit: int, path: str) -> list[Loss]:
    """The repeated elements past what the CEB message can hold."""
    return [
        Loss(_indexed(path, n, len(elements)), f"({etree.QName(elements[n - 1]).localname})")
        for n in range(limit + 1, len(elements) + 1)
    ]


def _emit(
    target: etree._Element,
    sequence: Sequence[tuple[str, bool]],
    values: Mapping[str, str],
    table: Table,
    pointer: str,
    problems: _Problems,
) -> None:
    """Write a flat CEB record in its XSD order; note required fields neither given nor defaulted, and values
    this message has no field for (the export order shares the import order's table but has fewer fields)."""
    targets = {f.source: f.target for f in table.fields}
    for name in flat.write(target, sequence, values, DEFAULTS):
        source = targets.get(name)
        problems.missing.append((f"{pointer}/{source}" if source else pointer, name))
    carried = {name for name, _ in sequence}
    problems.losses.extend(
        Loss(f"{pointer}/{targets.get(name, name)}", value) for name, value in values.items() if name not in carried
    )


def _transfer(root: etree._Element, transfer: Transfer) -> None:
    element = etree.SubElement(root, C + "BaseTransfer")
    for name, value in (
        ("copCode", transfer.cop_code),
        ("copName", transfer.cop_name),
        ("dxpMode", transfer.dxp_mode),
        ("dxpId", transfer.dxp_id),
    ):
        etree.SubElement(element, C + name).text = value


def raise_if_lossy(losses: Sequence[Loss]) -> None:
    raise_losses(losses, "ceb")
