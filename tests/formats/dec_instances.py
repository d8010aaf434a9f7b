"""DEC-DMS declarations generated from HMRC's schema, to prove the canonical form carries every path of it.

:func:`schema_paths` walks ``WCO_DEC_2_DMS.xsd`` (through xmlschema) and lists every element path and every
attribute path (``.../@listID``) the schema allows below ``Declaration``. :func:`instances` writes declarations
from the same walk: one with every element and attribute present and every repeatable element repeated, one
with only what is required, two with every element that has children and alternate halves of the optional
leaves and attributes, two with every element and alternate halves of the attributes, then seeded draws,
until every optional path has been seen both present and absent under a present parent. Values are taken
from candidates by the simple type's own validator (patterns, enumerations, lengths, digits), rotated per
instance and per path so that values differ from path to path; enumerated codes are used in turn.
Date-times alternate formatCode 304 (with Z, +hh and -hh zones) and 102.
"""

from __future__ import annotations

import functools
import random
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import xmlschema
from lxml import etree

from gateway.formats.schemas import SCHEMAS_DIR
from gateway.mapping import wco_dms as dms

STRING_CANDIDATES = ("V{n}", "GB", "GBP", "A{n}", "{n}", "en", "urn:x:{n}", "1", "9", "X", "true", "false")
NUMBER_CANDIDATES = ("{n}", "0", "1", "12.5", "3.125", "7")
DATES = ("20260127101500Z", "20260127", "20260301235959+01", "20261231", "20260615080000-05")


@functools.cache
def dec_schema() -> xmlschema.XMLSchema:
    return xmlschema.XMLSchema(str(SCHEMAS_DIR / "wco-dms" / "dms.xsd"), allow="local")


def _declaration() -> Any:
    return dec_schema().maps.elements[dms.DEC + "Declaration"]


def _children(element: Any) -> list[Any]:
    kind = element.type
    if not kind.is_complex() or kind.has_simple_content() or kind.content is None:
        return []
    return list(kind.content.iter_elements())


def _attributes(element: Any) -> list[Any]:
    return [a for name, a in getattr(element.type, "attributes", {}).items() if name]


def _local(name: str) -> str:
    return name.rpartition("}")[2]


@functools.cache
def schema_paths() -> tuple[frozenset[str], frozenset[str]]:
    """Every element path and every attribute path below Declaration."""
    elements: set[str] = set()
    attributes: set[str] = set()

    def walk(element: Any, path: str) -> None:
        elements.add(path)
        attributes.update(f"{path}/@{_local(a.name)}" for a in _attributes(element))
        for child in _children(element):
            walk(child, f"{path}/{_local(child.name)}")

    walk(_declaration(), "Declaration")
    return frozenset(elements), frozenset(attributes)


@dataclass
class Draw:
    """How one instance chooses: everything, only what is required, or a seeded draw."""

    mode: str  # full, minimal, even/odd (alternate leaves), attributes-even/-odd (alternate attributes), random
    seed: int = 0
    rng: random.Random = field(init=False)
    counter: int = 0
    codes: dict[str, int] = field(default_factory=dict)
    present: set[str] = field(default_factory=set)  # optional paths written
    absent: set[str] = field(default_factory=set)  # optional paths left out under a written parent

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    def include(self, path: str, container: bool = False) -> bool:
        if self.mode in ("even", "odd"):
            chosen = container or (zlib.crc32(path.encode()) % 2 == (self.mode == "odd"))
        elif self.mode in ("attributes-even", "attributes-odd"):
            chosen = "/@" not in path or (zlib.crc32(path.encode()) % 2 == (self.mode == "attributes-odd"))
        else:
            # Containers more often than not, so that deep optional paths get a present parent.
            chosen = self.mode == "full" or (self.mode == "random" and self.rng.random() < (0.7 if container else 0.5))
        (self.present if chosen else self.absent).add(path)
        return chosen

    def repeats(self, maximum: int | None) -> int:
        if maximum is not None and maximum < 2:
            return 1
        return 2 if self.mode == "full" else self.rng.choice((1, 2))


def _value(simple: Any, path: str, draw: Draw) -> str:
    """A valid value of ``simple`` for ``path``: enumerated codes in turn, otherwise a rotated candidate."""
    draw.counter += 1
    enumeration = getattr(simple, "enumeration", None)
    if enumeration:
        turn = draw.codes.get(path, draw.seed)
        draw.codes[path] = turn + 1
        return str(enumeration[turn % len(enumeration)])
    numeric = simple.is_derived(dec_schema().maps.types["{http://www.w3.org/2001/XMLSchema}decimal"])
    candidates = NUMBER_CANDIDATES if numeric else STRING_CANDIDATES
    start = draw.counter + draw.seed
    for i in range(len(candidates)):
        value = candidates[(start + i) % len(candidates)].format(n=draw.counter % 997 + 1)
        if simple.is_valid(value):
            return value
    raise AssertionError(f"{path}: no candidate value is valid for {simple}")


def _write(element: Any, parent: etree._Element, path: str, draw: Draw) -> None:
    node = etree.SubElement(parent, element.name)
    for attribute in _attributes(element):
        name = _local(attribute.name)
        if attribute.use == "required" or draw.include(f"{path}/@{name}"):
            node.set(name, _value(attribute.type, f"{path}/@{name}", draw))
    if path.endswith("/DateTimeString"):
        draw.counter += 1
        text = DATES[(draw.counter + draw.seed) % len(DATES)]
        node.set("formatCode", "102" if len(text) == 8 else "304")
        node.text = text
        return
    children = _children(element)
    if not children:
        node.text = _value(element.type.content if element.type.is_complex() else element.type, path, draw)
        return
    for child in children:
        child_path = f"{path}/{_local(child.name)}"
        if child.min_occurs == 0 and not draw.include(child_path, container=bool(_children(child))):
            continue
        for _ in range(max(child.min_occurs, draw.repeats(child.max_occurs))):
            _write(child, node, child_path, draw)


def instance(draw: Draw) -> etree._Element:
    """A DocumentMetaData wrapper holding one generated DEC Declaration."""
    root = etree.Element(dms.MD + "MetaData", nsmap={"md": dms.MD_NS})
    for name, value in (("WCODataModelVersionCode", "3.6"), ("WCOTypeName", "DEC")):
        etree.SubElement(root, dms.MD + name).text = value
    _write(_declaration(), root, "Declaration", draw)
    return root


def instances(limit: int = 40) -> Iterator[tuple[Draw, etree._Element]]:
    """Full, minimal, then seeded draws until every optional path was present and absent (or ``limit``)."""
    present: set[str] = set()
    absent: set[str] = set()
    optional = optional_paths()
    fixed = [Draw("full"), Draw("minimal"), Draw("even", 1), Draw("odd", 2)]
    fixed += [Draw("attributes-even", 3), Draw("attributes-odd", 4)]
    draws = fixed + [Draw("random", seed) for seed in range(5, limit)]
    for draw in draws:
        root = instance(draw)
        present |= draw.present
        absent |= draw.absent
        yield draw, root
        if optional <= present and optional <= absent:
            return


def optional_paths() -> frozenset[str]:
    """The element and attribute paths a declaration may leave out."""
    out: set[str] = set()

    def walk(element: Any, path: str) -> None:
        out.update(f"{path}/@{_local(a.name)}" for a in _attributes(element) if a.use != "required")
        for child in _children(element):
            child_path = f"{path}/{_local(child.name)}"
            if child.min_occurs == 0:
                out.add(child_path)
            walk(child, child_path)

    walk(_declaration(), "Declaration")
    return frozenset(out)
