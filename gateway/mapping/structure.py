"""What a schema allows where: element paths, their children in schema order and their attributes.

Formats that share the WCO Data Model's names with the canonical payloads (the HMRC DEC-DMS declaration) map
path for path: what both schemas have at the same path is carried as it is. Mappings that build canonical
elements in the partner's order (EU ICS groups) put them in schema order afterwards (:func:`sort_children`).
Both read the structure here, taken once from the local schema files (following their ``xs:include`` and
``xs:import``, so a type's attributes inherited from another file count too).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

from lxml import etree

XS_NS = "http://www.w3.org/2001/XMLSchema"
XS = f"{{{XS_NS}}}"
_GROUPS = (XS + "sequence", XS + "choice", XS + "all")
_CONTENT = (XS + "simpleContent", XS + "complexContent")
_DERIVED = (XS + "extension", XS + "restriction")


@dataclass(frozen=True)
class Node:
    """One element declaration reached by a path of element names."""

    children: tuple[str, ...]  # child element names in schema order (choices in document order)
    attributes: frozenset[str]
    type_name: str = ""  # the named type's local name ("" for an anonymous type)

    @functools.cached_property
    def order(self) -> dict[str, int]:
        return {name: i for i, name in enumerate(self.children)}

    @property
    def leaf(self) -> bool:
        return not self.children


Structure = dict[str, Node]  # "Declaration/GoodsShipment/Consignee" -> Node
_Types = dict[tuple[str, str], etree._Element]  # (namespace, name) -> xs:complexType or xs:simpleType


@functools.cache
def structure(schema: Path, element: str) -> Structure:
    """Every path below the global ``element`` of ``schema``."""
    types: _Types = {}
    elements: dict[str, etree._Element] = {}
    _load(schema.resolve(), types, elements, set())
    out: Structure = {}
    _walk(elements[element], element, types, out)
    return out


def _load(path: Path, types: _Types, elements: dict[str, etree._Element], seen: set[Path]) -> None:
    if path in seen:
        return
    seen.add(path)
    root = etree.parse(str(path), etree.XMLParser(no_network=True, resolve_entities=False)).getroot()
    namespace = root.get("targetNamespace") or ""
    for item in root:
        if item.tag in (XS + "complexType", XS + "simpleType"):
            types[(namespace, item.get("name") or "")] = item
        elif item.tag == XS + "element":
            elements.setdefault(item.get("name") or "", item)
        elif item.tag in (XS + "include", XS + "import") and item.get("schemaLocation"):
            _load((path.parent / (item.get("schemaLocation") or "")).resolve(), types, elements, seen)


def _resolve(node: etree._Element, reference: str | None, types: _Types) -> etree._Element | None:
    if not reference:
        return None
    prefix, _, name = reference.rpartition(":")
    return types.get((node.nsmap.get(prefix or None) or "", name))


def _walk(declaration: etree._Element, path: str, types: _Types, out: Structure) -> None:
    body = declaration.find(XS + "complexType")
    if body is None:
        body = _resolve(declaration, declaration.get("type"), types)
    children: list[etree._Element] = []
    attributes: set[str] = set()
    if body is not None:
        _collect(body, children, attributes, types)
    names = tuple(dict.fromkeys(c.get("name") or "" for c in children))
    type_name = (declaration.get("type") or "").rpartition(":")[2]
    out[path] = Node(names, frozenset(attributes), type_name)
    for child in children:
        child_path = f"{path}/{child.get('name')}"
        if child_path not in out:
            _walk(child, child_path, types, out)


def _collect(node: etree._Element, children: list[etree._Element], attributes: set[str], types: _Types) -> None:
    for item in node:
        if item.tag == XS + "element":
            children.append(item)
        elif item.tag == XS + "attribute":
            if item.get("use") == "prohibited":
                attributes.discard(item.get("name") or "")
            else:
                attributes.add(item.get("name") or "")
        elif item.tag in _GROUPS or item.tag in _CONTENT:
            _collect(item, children, attributes, types)
        elif item.tag in _DERIVED:
            base = _resolve(item, item.get("base"), types)
            if base is not None and base.tag == XS + "complexType":
                inherited: list[etree._Element] = []
                _collect(base, inherited, attributes, types)
                if item.getparent().tag == XS + "complexContent" and item.tag == XS + "extension":
                    children.extend(inherited)
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
