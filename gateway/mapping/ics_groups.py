"""ICS data groups <-> canonical elements, driven by :class:`Group` tables (:mod:`gateway.mapping.ics_ens`).

An occurrence of a group becomes one canonical element (or fills its parent's); its flat fields go where
its field table says (:mod:`gateway.mapping.records` codecs). ICS -> canonical builds elements in ICS order
and reuses the groups on the way (the caller puts them in schema order); canonical -> ICS takes what it maps
from a working copy, so what is left is what ICS cannot carry.
"""

from __future__ import annotations

from dataclasses import dataclass

from lxml import etree

from gateway.errors import MappingFailed
from gateway.mapping.records import Fields, Loss, Table, W, take_attribute, take_text
from gateway.mapping.records import from_canonical as record_from_canonical


@dataclass(frozen=True)
class Lang:
    """A text and the ICS field with its language code <-> canonical text with ``languageID``."""

    language: str

    def fill(self, element: etree._Element, value: str, record: Fields, pointer: str) -> None:
        element.text = value
        if record.get(self.language):
            element.set("languageID", record[self.language])

    def take(self, element: etree._Element, source: str, pointer: str) -> dict[str, str]:
        return {source: take_text(element), self.language: take_attribute(element, "languageID")}


def sequence(spec: str) -> tuple[str, ...]:
    return tuple(spec.split())


@dataclass(frozen=True)
class Group:
    """One ICS data group and the canonical element each of its occurrences becomes."""

    source: str  # the ICS element, e.g. "GOOITEGDS"
    target: str  # canonical path below the parent group's element; "" = the parent's element itself
    sequence: tuple[str, ...]  # the group's fields in ICS order
    table: Table  # fields -> canonical paths below ``target``
    language: str | None = None  # NAD LNG field -> languageID of the target element
    numbered: bool = False  # canonical SequenceNumeric = position
    groups: tuple[Group, ...] = ()
    many: bool = False


# --- ICS -> canonical --------------------------------------------------------------------------------


def fields_of(element: etree._Element) -> dict[str, str]:
    """The plain fields of an ICS group occurrence (its children without children of their own)."""
    return {c.tag: (c.text or "").strip() for c in element if isinstance(c.tag, str) and not len(c)}


def make(parent: etree._Element, path: str) -> etree._Element:
    """A new element at ``path``; the groups on the way are reused (elements are put in order afterwards)."""
    *groups, leaf = path.split("/")
    for name in groups:
        found = parent.find(W + name)
        parent = found if found is not None else etree.SubElement(parent, W + name)
    return etree.SubElement(parent, W + leaf)


def to_canonical(group: Group, source: etree._Element, target: etree._Element, pointer: str) -> list[Loss]:
    """Fill ``target`` from the groups below ``source``; returns the ICS values the canonical form lacks."""
    losses: list[Loss] = []
    for child in group.groups:
        found = source.findall(child.source)
        for number, occurrence in enumerate(found, 1):
            where = f"{pointer}/{child.source}" + (f"[{number}]" if len(found) > 1 else "")
            element = target if not child.target else make(target, child.target)
            losses.extend(_fill(child, occurrence, element, where, number))
            losses.extend(to_canonical(child, occurrence, element, where))
    return losses


def _fill(group: Group, occurrence: etree._Element, element: etree._Element, where: str, number: int) -> list[Loss]:
    record = fields_of(occurrence)
    used: set[str] = set()
    for spec in group.table.fields:
        value = record.get(spec.source, "")
        if not value:
            continue
        used.add(spec.source)
        if isinstance(spec.codec, Lang):
            used.add(spec.codec.language)
        leaf = element if not spec.target else make(element, spec.target)
        spec.codec.fill(leaf, value, record, f"{where}/{spec.source}")
    if group.language and record.get(group.language):
        element.set("languageID", record[group.language])
        used.add(group.language)
    if group.numbered:
        etree.SubElement(element, W + "SequenceNumeric").text = str(number)
    return [Loss(f"{where}/{name}", value) for name, value in record.items() if value and name not in used]


# --- canonical -> ICS --------------------------------------------------------------------------------


def from_canonical(group: Group, work: etree._Element, out: etree._Element, pointer: str) -> None:
    """Append to ``out`` the ICS groups of the canonical ``work`` copy, taking what they carry from it."""
    for child in group.groups:
        path = "/".join(W + name for name in child.target.split("/")) if child.target else None
        found = work.findall(path) if path else [work]
        for number, occurrence in enumerate(found, 1):
            where = f"{pointer}/{child.target}" if child.target else pointer
            where += f"[{number}]" if len(found) > 1 else ""
            values = _values(child, occurrence, where, number)
            if not any(values.values()) and not _has_groups(child, occurrence):
                continue
            element = etree.SubElement(out, child.source)
            for name in child.sequence:
                if values.get(name):
                    etree.SubElement(element, name).text = values[name]
            from_canonical(child, occurrence, element, where)


def _has_groups(group: Group, occurrence: etree._Element) -> bool:
    return any(
        occurrence.find("/".join(W + n for n in g.target.split("/"))) is not None for g in group.groups if g.target
    )


def _values(group: Group, occurrence: etree._Element, where: str, number: int) -> dict[str, str]:
    if group.numbered:
        given = occurrence.find(W + "SequenceNumeric")
        text = take_text(given) if given is not None else ""
        if text != str(number):
            raise MappingFailed(
                f"{where}/SequenceNumeric: ICS numbers its {group.source} groups by position; {text!r} is not {number}",
                pointer=f"{where}/SequenceNumeric",
            )
    values = record_from_canonical(occurrence, group.table, where)
    if group.language:
        values[group.language] = take_attribute(occurrence, "languageID")
    return values
