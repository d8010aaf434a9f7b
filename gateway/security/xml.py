"""The one safe XML parser. Every byte that arrives from outside goes through :func:`parse_xml`.

No DTD (refused outright, internal subset included), no entity expansion, no network, no XInclude, a depth
limit, and libxml2's own size limits (``huge_tree`` stays off). Refusing a DOCTYPE before parsing makes entity
bombs cost a byte scan, not an expansion. The scan cannot see a DOCTYPE in UTF-16/UTF-32 (or UTF-7) input;
such a document is parsed without loading or expanding anything (libxml2 also stops entity amplification on
its own) and refused by the doctype check after parsing. XInclude is never processed: nothing calls
``xinclude()``, so an ``xi:include`` stays an ordinary element that the schemas refuse.
Attack tests: tests/security/test_xml_attacks.py.
"""

from __future__ import annotations

import threading

from lxml import etree

from gateway.errors import MalformedXml
from gateway.text import shorten

_local = threading.local()


def _parser() -> etree.XMLParser:
    # lxml parsers are not thread-safe: one per thread.
    parser: etree.XMLParser | None = getattr(_local, "parser", None)
    if parser is None:
        parser = etree.XMLParser(
            resolve_entities=False,
            no_network=True,
            load_dtd=False,
            dtd_validation=False,
            huge_tree=False,
            remove_blank_text=False,
        )
        _local.parser = parser
    return parser


_FORBIDDEN = (b"<!DOCTYPE", b"<!ENTITY")


def parse_xml(data: bytes, *, max_depth: int = 64) -> etree._Element:
    """Parse untrusted bytes into an element tree or raise :class:`MalformedXml` naming the problem."""
    if not data or not data.strip():
        raise MalformedXml("the request body is empty; expected an XML document")
    for marker in _FORBIDDEN:
        if marker in data:
            raise MalformedXml(f"document type declarations are not accepted ({marker.decode()} found)")
    try:
        root = etree.fromstring(data, _parser())
    except etree.XMLSyntaxError as exc:
        # libxml2 quotes names from the input (up to 50,000 characters): keep the message short.
        raise MalformedXml(f"not well-formed XML: {shorten(exc.msg, 300)} (line {exc.lineno})") from None
    except (etree.LxmlError, ValueError) as exc:  # e.g. unicode strings with an encoding declaration
        raise MalformedXml(f"not well-formed XML: {shorten(str(exc), 300)}") from None
    tree = root.getroottree()
    if tree.docinfo.doctype or tree.docinfo.internalDTD is not None:
        # Reached only by encodings the byte scan cannot see (UTF-16 and friends).
        raise MalformedXml("document type declarations are not accepted")
    _check_depth(root, max_depth)
    return root


def _deeper_than(max_depth: int) -> etree.XPath:
    """Is there an element at depth max_depth + 1 (the root is depth 1)? Asked of libxml2's XPath, in C: the walk
    in Python cost more than parsing the document. Compiled once per thread and limit, like the parsers."""
    cache: dict[int, etree.XPath] | None = getattr(_local, "depth", None)
    if cache is None:
        cache = _local.depth = {}
    xpath = cache.get(max_depth)
    if xpath is None:
        xpath = cache[max_depth] = etree.XPath("boolean(" + "/".join(["*"] * max_depth) + ")")
    return xpath


LIBXML2_MAX_DEPTH = 256  # libxml2 refuses deeper documents itself unless huge_tree is on (it never is here)


def _check_depth(root: etree._Element, max_depth: int) -> None:
    if max_depth < LIBXML2_MAX_DEPTH and _deeper_than(max_depth)(root):
        raise MalformedXml(f"elements are nested deeper than the limit of {max_depth}")


def qname_local(element: etree._Element) -> str:
    name: str = etree.QName(element).localname
    return name


def to_bytes(root: etree._Element) -> bytes:
    data: bytes = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
    return data
