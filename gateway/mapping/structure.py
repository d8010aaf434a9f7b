"""What a schema allows where: element paths, their children in schema order and their attributes.

Formats that share the WCO Data Model's names with the canonical payloads (the HMRC DEC-DMS declaration) map
path for path: what both schemas have at the same path is carried as it is. Mappings that build canonical
elements in the partner's order (EU ICS groups) put them in schema order afterwards (:func:`sort_children`).
Both read the structure here, taken once from the local schema files.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

from lxml import etree

XS = "{http://www.w3.org/2001/XMLSchema}"
_GROUPS = (XS + "sequence", XS + "choice", XS + "all")


@dataclass(frozen=True)
class Node:
    """One element declaration reached by a path of element names."""

    children: tuple[str, ...]  # child element names in schema order (choices in document order)
    attributes: frozenset[str]

    @functools.cached_property
    def order(self) -> dict[str, int]:
        return {name: i for i, name in enumerate(self.children)}

    @property
    def leaf(self) -> bool:
        return not self.children


Structure = dict[str, Node]  # "Declaration/GoodsShipment/Consignee" -> Node


@functools.cache
def structure(schema: Path, element: str) -> Structure:
    """Every path below the global ``element`` of ``schema`` (types of other files count as leaves)."""
    root = etree.parse(str(schema), etree.XMLParser(no_network=True, resolve_entities=False)).getroot()
    types = {t.get("name"): t for t in root.findall(XS + "complexType")}
    top = next(e for e in root.findall(XS + "element") if e.get("name") == element)
    out: Structure = {}
    _walk(top, element, types, out)
    return out


def _walk(declaration: etree._Element, path: str, types: dict[str, etree._Element], out: Structure) -> None:
    body = declaration.find(XS + "complexType")
    if body is None:
        body = types.get((declaration.get("type") or "").rpartition(":")[2])
    children: list[etree._Element] = []
    attributes: set[str] = set()
    if body is not None:
        _collect(body, children, attributes, types)
    names = tuple(dict.fromkeys(c.get("name") or "" for c in children))
    out[path] = Node(names, frozenset(attributes))
    for child in children:
        child_path = f"{path}/{child.get('name')}"
        if child_path not in out:
            _walk(child, child_path, types, out)


def _collect(
    node: etree._Element,
    children: list[etree._Element],
    attributes: set[str],
    types: dict[str, etree._Element],
) -> None:
    for item in node:
        if item.tag == XS + "element":
            children.append(item)
        elif item.tag == XS + "attribute":
            attributes.add(item.get("name") or "")
        elif item.tag in _GROUPS or item.tag in (XS + "simpleContent", XS + "complexContent"):
            _collect(item, children, attributes, types)
        elif item.tag in (XS + "extension", XS + "restriction"):
            base = types.get((item.get("base") or "").rpartition(":")[2])
            if base is not None and item.getparent().tag == XS + "complexContent":
                _collect(base, children, attributes, types)
            _collect(item, children, attributes, types)


def sort_children(element: etree._Element, shape: Structure, path: str) -> None:
    """Put the children of ``element`` (at ``path``) and below in schema order; stable for repeats."""
    node = shape.get(path)
    if node is None:
        return
    order, last = node.order, len(node.order)
    children = [(etree.QName(c).localname, c) for c in element if isinstance(c.tag, str)]
    children.sort(key=lambda named: order.get(named[0], last))
    element[:] = [c for _, c in children]
    for name, child in children:
        if len(child):
            sort_children(child, shape, f"{path}/{name}")
