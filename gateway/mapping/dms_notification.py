"""HMRC CDS RES-DMS notifications <-> canonical ``wco:Notification`` (message type ``notification``).

Every RES ``Response`` that is not a receipt (FunctionCode 01 accepted, 05 control, 06 documents required, 07
amended, 08 release, 09 cleared, 10 invalidated, 11 amendment accepted, 13 customs debt, 14, 15, 16 exited,
17, 18 ...; 02 and 03 are receipts, :mod:`gateway.mapping.dms_receipt`) is a canonical ``Notification``:
the canonical schema's ``Notification`` is generated from the RES schema (``schemas/canonical/
notification.xsd``), element for element at the same cardinalities, so every value a valid RES Response
holds has its place. Two differences: date-times are canonical ``xs:dateTime`` values (RES: a
``DateTimeString`` formatCode 304; another format is ``mapping-failed`` naming it), and a whole DEC
declaration inside the Response becomes ``OriginalDeclaration``, a canonical declaration
(:func:`gateway.mapping.wco_dms.declaration_to_canonical`, with its own ``mapping-failed`` for what the
canonical declaration lacks).
"""

from __future__ import annotations

import copy
import functools

from lxml import etree

from gateway.formats.schemas import SCHEMAS_DIR, check_canonical_payload
from gateway.mapping import wco_dms as dms
from gateway.mapping.records import Loss, W

ORIGINAL = "OriginalDeclaration"


@functools.cache
def date_times() -> frozenset[str]:
    """Local names of the Notification's date-time elements (canonical ``DateTimeType``), from the schema."""
    schema = etree.parse(str(SCHEMAS_DIR / "canonical" / "notification.xsd"))
    xs = "{http://www.w3.org/2001/XMLSchema}"
    return frozenset(e.get("name") for e in schema.iter(xs + "element") if e.get("type") == "DateTimeType")


def notification_to_canonical(response: etree._Element, pointer: str) -> tuple[etree._Element, list[Loss]]:
    """The ``wco:Notification`` of a RES-DMS Response, and every value it cannot carry."""
    losses: list[Loss] = []
    payload = _convert(response, W + "Notification", dms.RES, W, pointer, losses, to_canonical=True)
    payload = _renamespaced(payload)
    return payload, losses


def notification_from_canonical(payload: etree._Element, pointer: str) -> tuple[etree._Element, list[Loss]]:
    """The RES-DMS Response of a ``wco:Notification``, and every canonical value it cannot carry."""
    losses: list[Loss] = []
    response = _convert(payload, dms.RES + "Response", W, dms.RES, pointer, losses, to_canonical=False)
    return response, losses


def _convert(
    source: etree._Element,
    tag: str,
    inside: str,
    outside: str,
    pointer: str,
    losses: list[Loss],
    *,
    to_canonical: bool,
) -> etree._Element:
    out = etree.Element(tag)
    for name, value in source.attrib.items():
        out.set(name, value)
    children = [c for c in source if isinstance(c.tag, str)]
    if not children and source.text and source.text.strip():
        out.text = source.text.strip()
    seen: dict[str, int] = {}
    for child in children:
        qname = etree.QName(child)
        seen[qname.localname] = seen.get(qname.localname, 0) + 1
        path = f"{pointer}/{qname.localname}" + (f"[{seen[qname.localname]}]" if seen[qname.localname] > 1 else "")
        if to_canonical and child.tag == dms.DEC + "Declaration":
            declaration, lost = dms.declaration_to_canonical(child, path)
            check_canonical_payload(declaration, f"DEC declaration at {path}")  # names where it is
            declaration.tag = W + ORIGINAL
            losses.extend(lost)
            out.append(declaration)
        elif not to_canonical and child.tag == W + ORIGINAL:
            canonical = etree.Element(W + "Declaration")
            canonical.extend(_copies(child))
            declaration, lost = dms.declaration_from_canonical(canonical, path)
            losses.extend(lost)
            out.append(declaration)
        elif qname.namespace != inside[1:-1]:
            losses.append(Loss(path, (child.text or "").strip() or etree.tostring(child, encoding="unicode")[:200]))
        elif qname.localname in date_times():
            if to_canonical:
                etree.SubElement(out, outside + qname.localname).text = dms.from_304(child, path)
            else:
                dms.date_time_string(out, outside + qname.localname, dms.RES_DS_NS, (child.text or "").strip(), path)
        else:
            out.append(
                _convert(child, outside + qname.localname, inside, outside, path, losses, to_canonical=to_canonical)
            )
    return out


def _copies(element: etree._Element) -> list[etree._Element]:
    return [copy.deepcopy(c) for c in element if isinstance(c.tag, str)]


def _renamespaced(payload: etree._Element) -> etree._Element:
    """The payload with the canonical namespace as its default (as every canonical payload is written)."""
    root = etree.Element(payload.tag, nsmap={None: W[1:-1]})
    for name, value in payload.attrib.items():
        root.set(name, value)
    root.text = payload.text
    root.extend(list(payload))
    return root
