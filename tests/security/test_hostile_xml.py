"""Odd but parseable-looking XML at the partner inbox, beyond test_xml_attacks.py: byte order marks and encodings,
numeric character references to characters XML forbids, xml:base, processing instructions, content after the
root, nesting just under the depth limit. Each gets its code and a description naming what is wrong (with the
line where libxml2 gives one), never a 500, and nothing refused is published."""

from __future__ import annotations

import codecs
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from lxml import etree

from tests.helpers import signed
from tests.security.conftest import E, Gate, W


def _reencode(codec: str, bom: bytes, name: str) -> Callable[[bytes], bytes]:
    def change(valid: bytes) -> bytes:
        text = valid.decode().replace("encoding='UTF-8'", f"encoding='{name}'", 1)
        assert name in text
        return bom + text.encode(codec)

    return change


def _replace(old: bytes, new: bytes) -> Callable[[bytes], bytes]:
    def change(valid: bytes) -> bytes:
        assert old in valid
        return valid.replace(old, new, 1)

    return change


@dataclass(frozen=True)
class Case:
    name: str
    change: Callable[[bytes], bytes]  # applied to a valid signed message
    status: int
    code: str
    words: tuple[str, ...] = ()


CASES = [
    Case("UTF-32 with its BOM", _reencode("utf-32-le", codecs.BOM_UTF32_LE, "UTF-32"), 202, "accepted"),
    # libxml2 follows the BOM over the declaration; the signed content is the same characters.
    Case("UTF-8 BOM, declaration says UTF-16", lambda v: codecs.BOM_UTF8 + _utf16_decl(v), 202, "accepted"),
    Case("two UTF-8 BOMs", lambda v: codecs.BOM_UTF8 * 2 + v, 400, "malformed-xml", ("line 1",)),
    Case(
        "unknown declared encoding",
        _replace(b"encoding='UTF-8'", b"encoding='x-bogus'"),
        400,
        "malformed-xml",
        ("x-bogus",),
    ),
    Case("EBCDIC declared", _replace(b"encoding='UTF-8'", b"encoding='cp500'"), 400, "malformed-xml", ("cp500",)),
    Case(
        "&#0; in text",
        _replace(b"<MessageType>", b"<MessageType>&#0;"),
        400,
        "malformed-xml",
        ("invalid xmlChar value 0", "line"),
    ),
    Case(
        "&#x1; in text",
        _replace(b"<MessageType>", b"<MessageType>&#x1;"),
        400,
        "malformed-xml",
        ("invalid xmlChar value 1",),
    ),
    Case("&#xFFFE; in text", _replace(b"<MessageType>", b"<MessageType>&#xFFFE;"), 400, "malformed-xml", ("65534",)),
    Case(
        "&#xD800; (a surrogate) in text",
        _replace(b"<MessageType>", b"<MessageType>&#xD800;"),
        400,
        "malformed-xml",
        ("55296",),
    ),
    Case(
        "&#x110000; beyond Unicode",
        _replace(b"<MessageType>", b"<MessageType>&#x110000;"),
        400,
        "malformed-xml",
        ("out of bounds",),
    ),
    Case(
        "&#99999999999;",
        _replace(b"<MessageType>", b"<MessageType>&#99999999999;"),
        400,
        "malformed-xml",
        ("out of bounds",),
    ),
    Case(
        "&#x1; in an attribute",
        _replace(b"<Header>", b"<Header a='&#x1;'>"),
        400,
        "malformed-xml",
        ("invalid xmlChar value 1",),
    ),
    Case(
        "raw U+0001 in text",
        _replace(b"<MessageType>", b"<MessageType>\x01"),
        400,
        "malformed-xml",
        ("invalid Char value 1",),
    ),
    Case(
        "raw U+000B in the MessageID",
        _replace(b"<MessageID>", b"<MessageID>\x0b"),
        400,
        "malformed-xml",
        ("invalid Char value 11",),
    ),
    Case("an element after the root", lambda v: v + b"<x/>", 400, "malformed-xml", ("Extra content",)),
    Case("a NUL byte after the root", lambda v: v + b"\x00", 400, "malformed-xml", ("Extra content",)),
    Case(
        "xml:base added after signing",
        _replace(b"<Body>", b"<Body xml:base='file:///etc/'>"),
        401,
        "signature-invalid",
        ("digest",),
    ),
    Case(
        "xml-stylesheet PI before the root (never fetched)",
        _replace(b"?>", b"?><?xml-stylesheet href='http://127.0.0.1:9/x.xsl'?>"),
        202,
        "accepted",
    ),
]


def _utf16_decl(valid: bytes) -> bytes:
    return valid.replace(b"encoding='UTF-8'", b"encoding='UTF-16'", 1)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
async def test_odd_xml_gets_its_code_naming_what_is_wrong(gate: Gate, case: Case) -> None:
    reply = await gate.post(case.change(gate.valid()))
    if case.status == 202:
        assert (reply.status, reply.code) == (202, "accepted"), reply.body[:500]
        return
    await gate.assert_refused(reply, case.status, case.code, *case.words)


def _nest(root: etree._Element, levels: int) -> etree._Element:
    element = root.find(f"{E}Body/{W}RiskAlert")
    assert element is not None
    for _ in range(levels):
        element = etree.SubElement(element, f"{W}Nested")
    return root


async def test_signed_nesting_just_under_the_depth_limit_is_schema_invalid(gate: Gate) -> None:
    """Envelope/Body/RiskAlert are 3 levels; 60 more make 63 of the 64 allowed: parsed, verified, then refused by
    the schema naming the element, not by a recursion limit or a 500."""
    reply = await gate.post(signed(gate.identity(), _nest(gate.message(), 60)))
    await gate.assert_refused(reply, 422, "schema-invalid", "Nested")
    await gate.assert_unharmed()


async def test_signed_xml_base_is_schema_invalid_and_never_resolved(gate: Gate) -> None:
    root = gate.message()
    body = root.find(f"{E}Body")
    assert body is not None
    body.set("{http://www.w3.org/XML/1998/namespace}base", "http://127.0.0.1:9/evil/")
    reply = await gate.post(signed(gate.identity(), root))
    await gate.assert_refused(reply, 422, "schema-invalid", "base")


@pytest.mark.parametrize("created", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"])
async def test_a_creation_time_outside_what_utc_can_write_is_schema_invalid(gate: Gate, created: str) -> None:
    """Year 1 at +14:00 is before 0001-01-01 UTC: converting it for the replay window's message overflowed (a 500)."""
    root = gate.message()
    header = root.find(f"{E}Header/{E}CreationDateTime")
    assert header is not None
    header.text = created
    reply = await gate.post(signed(gate.identity(), root))
    await gate.assert_refused(reply, 422, "schema-invalid", "CreationDateTime", created)
    await gate.assert_unharmed()
