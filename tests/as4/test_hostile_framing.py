"""Hostile framing at ``POST /v1/as4``, as raw bytes: a boundary, a Content-ID or a Content-Type that is not UTF-8,
SOAP with a forbidden character reference or a DOCTYPE, an empty body. Each is answered with its ebMS error
naming what is wrong, never by the catch-all ("the gateway could not process the message", which hides a crash)
and never forwarded. test_ingress.py holds the signature, party and encryption attacks; test_framing.py no
boundary, nesting, long header lines, parts cut short or not base64."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re

import pytest

from gateway.runtime import RUNTIME

SOAP = (
    b'<?xml version="1.0"?><S12:Envelope xmlns:S12="http://www.w3.org/2003/05/soap-envelope">'
    b"<S12:Header/><S12:Body/></S12:Envelope>"
)
SOAP_PART = b"Content-Type: application/soap+xml\r\n"


def multipart(*parts: tuple[bytes, bytes], boundary: bytes = b"BND") -> bytes:
    body = b"".join(b"--" + boundary + b"\r\n" + headers + b"\r\n" + data + b"\r\n" for headers, data in parts)
    return body + b"--" + boundary + b"--\r\n"


MP = b'multipart/related; boundary=BND; type="application/soap+xml"'
CASES = {
    "boundary not UTF-8": (b"multipart/related; boundary=\xff\xfe", b"x", ("multipart/related",)),
    "Content-ID not UTF-8": (
        MP,
        multipart((SOAP_PART + b"Content-ID: <a\xff>\r\n", SOAP), (b"Content-ID: <b\xff\xfe>\r\n", b"x")),
        ("Messaging",),
    ),
    "Content-Type not UTF-8": (b"application/soap+xml\xff; charset=\xfe", SOAP, ("Content-Type",)),
    "&#x1; in the SOAP body": (
        b"application/soap+xml",
        SOAP.replace(b"<S12:Body/>", b"<S12:Body>&#x1;</S12:Body>"),
        ("xmlChar value 1",),
    ),
    "DOCTYPE": (b"application/soap+xml", b'<!DOCTYPE x [<!ENTITY a "b">]>' + SOAP[21:], ("document type",)),
    "empty body": (b"application/soap+xml", b"", ("empty",)),
}


@pytest.mark.parametrize("case", list(CASES))
async def test_hostile_framing_gets_an_ebms_error_naming_it(gateway, case, caplog):
    _, client, inbox = gateway
    content_type, body, words = CASES[case]
    host, port = client.server.host, client.server.port
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(
        b"POST /v1/as4 HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: " + content_type + b"\r\n"
        b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
    )
    with contextlib.suppress(ConnectionError):
        await writer.drain()
    with caplog.at_level(logging.ERROR, logger="gateway.ingress.as4"):
        raw = await asyncio.wait_for(reader.read(), 30)
    writer.close()
    assert raw.startswith(b"HTTP/1.1 200"), raw[:300]
    outcome = re.search(rb"X-Gateway-Outcome: (\S+)", raw)
    assert outcome is not None, raw[:300]
    assert outcome.group(1) == b"EBMS:0009", raw[-600:]
    detail = raw.split(b"\r\n\r\n", 1)[1].decode("utf-8")
    for word in words:
        assert word.lower() in detail.lower(), (word, detail[-600:])
    assert "could not be processed" not in caplog.text  # the catch-all for crashes was not needed
    assert await client.app[RUNTIME].store.find(partner="peer-ap") == []
    assert inbox.received == []
