"""Hostile XML at the partner inbox: each refused with its exact code, cheaply, nothing published, fetched."""

from __future__ import annotations

import gzip
import logging
import zlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from lxml import etree

from gateway.runtime import RUNTIME
from tests.helpers import FIXTURES, signed
from tests.security.conftest import MAX_BODY, SENDER, E, Gate, Reply, W, bounded_memory

ATTACKS = FIXTURES / "xmldsig" / "defusedxml-test-data"
XI = "http://www.w3.org/2001/XInclude"


@pytest.fixture
async def listener() -> AsyncIterator[tuple[str, list[str]]]:
    """An HTTP server that records every request: a parser that fetches anything shows up here."""
    hits: list[str] = []

    async def record(request: web.Request) -> web.Response:
        hits.append(request.path)
        return web.Response(text='<!ENTITY leak "FETCHED-OVER-HTTP">', content_type="application/xml-dtd")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", record)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield str(server.make_url("")).rstrip("/"), hits
    await server.close()


@pytest.fixture
def secret_file(tmp_path: Path) -> Path:
    path = tmp_path / "secret.txt"
    path.write_text("SECRET-FILE-CONTENT-4f1c")
    return path


def _encodings(text: str) -> list[tuple[str, bytes]]:
    """The same document as UTF-8 (the byte scan sees it) and as UTF-16/UTF-32 (only the parser can)."""
    return [
        ("utf-8", text.encode()),
        ("utf-16", text.encode("utf-16")),
        ("utf-16le-declared", ('<?xml version="1.0" encoding="UTF-16LE"?>' + text).encode("utf-16-le")),
        ("utf-32", ('<?xml version="1.0" encoding="UTF-32"?>' + text).encode("utf-32")),
    ]


def _bomb(levels: int = 10) -> str:
    entities = '<!ENTITY e0 "lollollollollollollollollollol">' + "".join(
        f'<!ENTITY e{i} "{f"&e{i - 1};" * 10}">' for i in range(1, levels)
    )
    return f"<!DOCTYPE Envelope [{entities}]><Envelope>&e{levels - 1};</Envelope>"


def _quadratic() -> str:
    return f'<!DOCTYPE Envelope [<!ENTITY a "{"B" * 100_000}">]><Envelope>{"&a;" * 20_000}</Envelope>'


async def _refused_cheaply(gate: Gate, body: bytes, status: int, code: str, *words: str) -> None:
    with bounded_memory():
        reply = await gate.post(body)
    await gate.assert_refused(reply, status, code, *words)


DEFUSEDXML = [
    "xmlbomb.xml",
    "xmlbomb2.xml",
    "quadratic.xml",
    "cyclic.xml",
    "dtd.xml",
    "external.xml",
    "external_file.xml",
]


async def test_defusedxml_vectors_are_malformed(gate: Gate, subtests: pytest.Subtests) -> None:
    for name in DEFUSEDXML:
        with subtests.test(name):
            await _refused_cheaply(gate, (ATTACKS / name).read_bytes(), 400, "malformed-xml", "document type")
    await gate.assert_unharmed()


async def test_entity_expansion_in_any_encoding_is_malformed(gate: Gate, subtests: pytest.Subtests) -> None:
    for attack, text in (("billion-laughs", _bomb()), ("quadratic", _quadratic())):
        for encoding, body in _encodings(text):
            with subtests.test(f"{attack} in {encoding}"):
                await _refused_cheaply(gate, body, 400, "malformed-xml")
    await gate.assert_unharmed()


async def test_external_entities_and_dtds_are_never_fetched(
    gate: Gate, listener: tuple[str, list[str]], secret_file: Path
) -> None:
    base, hits = listener
    documents = {
        "file entity": f'<!DOCTYPE Envelope [<!ENTITY x SYSTEM "file://{secret_file}">]><Envelope>&x;</Envelope>',
        "http entity": f'<!DOCTYPE Envelope [<!ENTITY x SYSTEM "{base}/entity">]><Envelope>&x;</Envelope>',
        "file parameter entity": (f'<!DOCTYPE Envelope [<!ENTITY % p SYSTEM "file://{secret_file}"> %p;]><Envelope/>'),
        "http parameter entity": f'<!DOCTYPE Envelope [<!ENTITY % p SYSTEM "{base}/pe.dtd"> %p;]>'
        "<Envelope>&leak;</Envelope>",
        "external DTD": f'<!DOCTYPE Envelope SYSTEM "{base}/external.dtd"><Envelope>&leak;</Envelope>',
        "public DTD": f'<!DOCTYPE Envelope PUBLIC "-//X//Y//EN" "{base}/public.dtd"><Envelope/>',
    }
    for what, text in documents.items():
        for encoding, body in _encodings(text):
            reply = await gate.post(body)
            assert (reply.status, reply.code) == (400, "malformed-xml"), (what, encoding, reply.body[:300])
            assert b"SECRET-FILE-CONTENT" not in reply.body
            assert b"FETCHED-OVER-HTTP" not in reply.body
            await gate.assert_refused(reply, 400, "malformed-xml", "document type")
    assert hits == [], f"the gateway fetched {hits}"
    await gate.assert_unharmed()


async def test_xinclude_in_a_signed_message_is_not_processed(gate: Gate, secret_file: Path) -> None:
    root = gate.message()
    include = etree.SubElement(root.find(f"{E}Body/{W}RiskAlert"), f"{{{XI}}}include", nsmap={"xi": XI})
    include.set("href", f"file://{secret_file}")
    include.set("parse", "text")
    reply = await gate.post(signed(gate.identity(), root))
    assert b"SECRET-FILE-CONTENT" not in reply.body
    # The element stays an element (nothing was included): the schema refuses it by name.
    await gate.assert_refused(reply, 422, "schema-invalid", "include")
    await gate.assert_unharmed()


async def test_schema_location_in_a_signed_message_is_never_followed(
    gate: Gate, listener: tuple[str, list[str]]
) -> None:
    base, hits = listener
    xsi = "http://www.w3.org/2001/XMLSchema-instance"
    root = gate.message()
    root.set(f"{{{xsi}}}schemaLocation", f"urn:customs-gateway:envelope:1 {base}/evil-envelope.xsd")
    root.find(f"{E}Body/{W}RiskAlert").set(f"{{{xsi}}}noNamespaceSchemaLocation", f"{base}/evil.xsd")
    reply = await gate.post(signed(gate.identity(), root))
    # xsi attributes are legal anywhere; the gateway validates with its own local schemas only.
    assert (reply.status, reply.code) == (202, "accepted"), reply.body[:500]
    assert hits == []


async def test_deep_nesting_is_malformed(gate: Gate, subtests: pytest.Subtests) -> None:
    # Just past [security] max_depth (our check), and far past libxml2's own limit of 256.
    for levels, words in ((65, "deeper than the limit of 64"), (100_000, "depth")):
        with subtests.test(f"{levels} levels"):
            body = b"<Envelope>" + b"<a>" * levels + b"</a>" * levels + b"</Envelope>"
            await _refused_cheaply(gate, body, 400, "malformed-xml", words)
    await gate.assert_unharmed()


async def test_huge_signed_attribute_within_the_limit_is_schema_invalid(gate: Gate) -> None:
    root = gate.message()
    root.find(f"{E}Body/{W}RiskAlert").set("note", "A" * (MAX_BODY - 10_000))
    body = signed(gate.identity(), root)
    assert len(body) < MAX_BODY
    with bounded_memory(python_bytes=16 * MAX_BODY):
        reply = await gate.post(body)
    await gate.assert_refused(reply, 422, "schema-invalid", "note")
    await gate.assert_unharmed()


@pytest.mark.parametrize("field", ["Description", "RiskArea"])
async def test_huge_signed_text_within_the_limit_is_schema_invalid(gate: Gate, field: str, caplog) -> None:
    caplog.set_level(logging.INFO)
    root = gate.message()
    element = root.find(f"{E}Body/{W}RiskAlert//{W}{field}")
    element.text = "x" * (MAX_BODY - 10_000)
    with bounded_memory(python_bytes=16 * MAX_BODY):
        reply = await gate.post(signed(gate.identity(), root))
    await gate.assert_refused(reply, 422, "schema-invalid", field)
    await _reason_is_bounded(gate, reply, caplog)
    await gate.assert_unharmed()


async def test_huge_unsigned_header_value_is_unsupported(gate: Gate, caplog) -> None:
    """Anyone can send this (it is refused before verification): the value quoted back must stay small."""
    caplog.set_level(logging.INFO)
    root = gate.message()
    root.find(f"{E}Header/{E}MessageType").text = "risk-alert" * (MAX_BODY // 12)
    with bounded_memory(python_bytes=16 * MAX_BODY):
        reply = await gate.post(etree.tostring(root))
    await gate.assert_refused(reply, 400, "unsupported-message", "MessageType")
    await _reason_is_bounded(gate, reply, caplog)
    await gate.assert_unharmed()


async def _reason_is_bounded(gate: Gate, reply, caplog) -> None:
    """The message quoting a huge value is bounded wherever it goes: receipt, log, store."""
    assert len(reply.description) <= 2048
    assert max(len(r.getMessage()) for r in caplog.records if r.name.startswith("gateway")) < 10_000
    runtime = gate.client.app[RUNTIME]
    (record,) = await runtime.store.find(status="rejected")
    assert len(record.reason or "") < 10_000


async def test_huge_values_beyond_the_limit_are_too_large(gate: Gate, subtests: pytest.Subtests) -> None:
    huge = "A" * (MAX_BODY + 1)
    for where, text in (("attribute", f'<Envelope a="{huge}"/>'), ("text", f"<Envelope>{huge}</Envelope>")):
        with subtests.test(where):
            await _refused_cheaply(gate, text.encode(), 413, "too-large", str(MAX_BODY))
    await gate.assert_unharmed()


async def test_invalid_utf8_is_malformed(gate: Gate) -> None:
    body = gate.valid().replace(b"<Description>", b"<Description>\xff\xfe\xc3(", 1)
    await _refused_cheaply(gate, body, 400, "malformed-xml", "encoding")
    await gate.assert_unharmed()


async def test_utf8_bom_is_accepted(gate: Gate) -> None:
    reply = await gate.post(b"\xef\xbb\xbf" + gate.valid())
    assert (reply.status, reply.code) == (202, "accepted"), reply.body[:500]


async def test_utf16_signed_message_without_doctype_is_accepted(gate: Gate) -> None:
    """UTF-16 is legal XML: refused only for what it carries, never for the encoding."""
    text = gate.valid().decode().replace("encoding='UTF-8'", "encoding='UTF-16'")
    assert "UTF-16" in text
    reply = await gate.post(text.encode("utf-16"))
    assert (reply.status, reply.code) == (202, "accepted"), reply.body[:500]


async def test_utf16_document_with_doctype_is_refused(gate: Gate) -> None:
    text = gate.valid().decode().replace("encoding='UTF-8'?>", "encoding='UTF-16'?><!DOCTYPE Envelope>")
    assert "<!DOCTYPE" in text
    await _refused_cheaply(gate, text.encode("utf-16"), 400, "malformed-xml", "document type")
    await gate.assert_unharmed()


WRONG_TYPES = [
    "application/json",
    "text/plain",
    "text/html",
    "multipart/form-data; boundary=x",
    "application/x-www-form-urlencoded",
    "image/png",
    "xml",
]
XML_TYPES = [
    "application/xml",
    "application/xml; charset=utf-8",
    "text/xml",
    "application/customs+xml",
    "application/octet-stream",
    None,
]


async def test_wrong_content_type_is_unsupported(gate: Gate, subtests: pytest.Subtests) -> None:
    for content_type in WRONG_TYPES:
        with subtests.test(content_type):
            reply = await gate.post(gate.valid(), headers={"Content-Type": content_type})
            await gate.assert_refused(reply, 400, "unsupported-message", content_type.split(";")[0], "application/xml")
    await gate.assert_unharmed()


async def test_xml_content_types_are_accepted(gate: Gate, subtests: pytest.Subtests) -> None:
    for content_type in XML_TYPES:
        with subtests.test(str(content_type)):
            if content_type is None:
                # aiohttp's client adds application/octet-stream to a bytes body: send a raw request instead.
                reply = await _raw_post(gate, gate.valid(), {})
            else:
                reply = await gate.post(gate.valid(), headers={"Content-Type": content_type})
            assert (reply.status, reply.code) == (202, "accepted"), reply.body[:300]


async def test_empty_body_is_malformed(gate: Gate) -> None:
    for body in (b"", b"   \r\n\t "):
        await _refused_cheaply(gate, body, 400, "malformed-xml", "empty")
    await gate.assert_unharmed()


def _bomb_stream(size: int, wbits: int) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, wbits)
    chunk = b"<Envelope>" + b" " * (2**20 - 10)
    parts = [compressor.compress(chunk)]
    blank = b" " * 2**20
    parts += [compressor.compress(blank) for _ in range(size // 2**20 - 1)]
    parts.append(compressor.flush())
    return b"".join(parts)


@pytest.mark.parametrize(("encoding", "wbits"), [("gzip", 31), ("deflate", 15)])
async def test_compression_bomb_is_too_large(gate: Gate, encoding: str, wbits: int) -> None:
    """The body reader inflates in bounded steps and counts inflated bytes (aiohttp's inflation is off)."""
    bomb = _bomb_stream(256 * 2**20, wbits)  # 256 MiB of XML in ~250 KB
    assert len(bomb) < MAX_BODY // 4
    with bounded_memory(python_bytes=8 * MAX_BODY, rss_bytes=64 * 2**20):
        reply = await gate.post(bomb, headers={"Content-Encoding": encoding})
    await gate.assert_refused(reply, 413, "too-large", "decompressed", str(MAX_BODY))
    await gate.assert_unharmed()


async def test_compressed_valid_message_is_accepted(gate: Gate) -> None:
    reply = await gate.post(gzip.compress(gate.valid()), headers={"Content-Encoding": "gzip"})
    assert (reply.status, reply.code) == (202, "accepted"), reply.body[:300]


async def test_other_content_encodings_are_unsupported(gate: Gate, subtests: pytest.Subtests) -> None:
    for encoding in ("br", "compress", "x-custom", "gzip, gzip", "zstd"):
        with subtests.test(encoding):
            headers = {"Content-Encoding": encoding, "Content-Type": "application/xml"}
            reply = await _raw_post(gate, b"\x1f\x8b garbage", headers)
            await gate.assert_refused(reply, 400, "unsupported-message", "Content-Encoding", "gzip")
    await gate.assert_unharmed()


async def test_corrupt_gzip_is_malformed(gate: Gate) -> None:
    packed = gzip.compress(gate.valid())
    for corrupt in (packed[:-8] + b"\x00" * 8, packed[:10] + b"\xff" * 50 + packed[60:], packed[:-100]):
        reply = await gate.post(corrupt, headers={"Content-Encoding": "gzip"})
        await gate.assert_refused(reply, 400, "malformed-xml", "gzip")
    await gate.assert_unharmed()


async def _raw_post(gate: Gate, body: bytes, headers: dict[str, str]) -> Reply:
    """POST exactly these headers (aiohttp's client would add or re-encode some)."""
    import asyncio

    host, port = gate.address
    reader, writer = await asyncio.open_connection(host, port)
    lines = [
        f"POST /v1/partners/{SENDER}/messages HTTP/1.1",
        f"Host: {host}:{port}",
        f"Content-Length: {len(body)}",
        "Connection: close",
        *(f"{k}: {v}" for k, v in headers.items()),
    ]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
    await writer.drain()
    raw = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    head, _, payload = raw.partition(b"\r\n\r\n")
    status = int(head.split()[1])
    fields = dict(line.split(": ", 1) for line in head.decode().split("\r\n")[1:])
    if fields.get("Transfer-Encoding") == "chunked":
        payload = _unchunk(payload)
    return gate.reply(status, fields.get("X-Gateway-Outcome", ""), payload)


def _unchunk(data: bytes) -> bytes:
    out = b""
    while data:
        size_line, _, rest = data.partition(b"\r\n")
        size = int(size_line, 16)
        if size == 0:
            break
        out += rest[:size]
        data = rest[size + 2 :]
    return out
