"""A flat CEB record (a head, a goods line, a receipt record): read as field name -> text, written in the
order of its XSD sequence."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from lxml import etree

from gateway.mapping.ceb.codes import C


def fields_of(element: etree._Element) -> dict[str, str]:
    """A flat CEB record: field name -> stripped text."""
    # Children of a schema-valid CEB record are all in the CEB namespace: cut the "{ns}" prefix off the tag.
    return {
        c.tag[len(C) :] if c.tag.startswith(C) else c.tag: (c.text or "").strip()
        for c in element
        if isinstance(c.tag, str)
    }


def write(
    target: etree._Element,
    sequence: Sequence[tuple[str, bool]],
    values: Mapping[str, str],
    defaults: Mapping[str, str] | None = None,
) -> list[str]:
    """Append the fields of ``sequence`` that have a value (or, when required, a default) to ``target`` in
    that order; return the required fields left without one."""
    missing = []
    for name, required in sequence:
        value = values.get(name) or (defaults.get(name) if required and defaults else None)
        if value:
            etree.SubElement(target, C + name).text = value
        elif required:
            missing.append(name)
    return missing
