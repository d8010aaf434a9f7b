"""Hostile MIME framing at ``POST /v1/as4``, now that multipart/related is read part by part (docs/AS4.md,
"Images"): sent as raw bytes, each gets a signed ebMS error naming what is wrong (HTTP 200), never a 500 or an
unsigned answer, and nothing reaches the pipeline."""

from __future__ import annotations

import asyncio
import contextlib

import pytest
from lxml import etree

from gateway.runtime import RUNTIME

SOAP = b"Content-Type: application/soap+xml\r\nContent-ID: <root@peer>\r\n"
ENVELOPE = b'<S12:Envelope xmlns:S12="http://www.w3.org/2003/05/soap-envelope"><S12:Header/><S12:Body/></S12:Envelope>'
MESSAGING = ENVELOPE.replace(
    b"<S12:Header/>",
    b'<S12:Header><eb:Messaging xmlns:eb="http://docs.oasis-open.org/ebxml-msg/ebms/v3.0/ns/core/200704/"/>'
    b"</S12:Header>",
)
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16


def _mp(*parts: tuple[bytes, bytes], close: bool = True) -> bytes:
    body = b"".join(b"--BND\r\n" + head + b"\r\n" + data + b"\r\n" for head, data in parts)
    return body + (b"--BND--\r\n" if close else b"")


MP = b"multipart/related; boundary=BND"
CASES: dict[str, tuple[bytes, bytes, str, str]] = {  # content type, body, ebMS code, words of the detail
    "no boundary": (b"multipart/related", _mp((SOAP, ENVELOPE)), "EBMS:0009", "boundary"),
    "not closed": (MP, _mp((SOAP, ENVELOPE), close=False), "EBMS:0009", "closing boundary"),
    "nested multipart": (
        MP,
        _mp((b"Content-Type: multipart/mixed; boundary=IN\r\n", b"--IN\r\n\r\nx\r\n--IN--")),
        "EBMS:0009",
        "multipart",
    ),
    "40 parts": (
        MP,
        _mp((SOAP, MESSAGING), *[(b"Content-Type: text/plain\r\nContent-ID: <p%d>\r\n" % n, b"x") for n in range(39)]),
        "EBMS:0009",
        "MIME parts",
    ),
    "a 200 KB header line": (MP, _mp((b"X-Long: " + b"a" * 200_000 + b"\r\n" + SOAP, ENVELOPE)), "EBMS:0009", ""),
    "no SOAP part": (MP, _mp((b"Content-Type: image/png\r\nContent-ID: <x>\r\n", PNG)), "EBMS:0009", "root"),
    "base64 that is not base64": (
        MP,
        _mp((SOAP + b"Content-Transfer-Encoding: base64\r\n", b"!!!not base64!!!")),
        "EBMS:0009",
        "base64",
    ),
}


async def post_raw(client, content_type: bytes, body: bytes) -> tuple[int, bytes, bytes]:
    url = client.make_url("/v1/as4")
    reader, writer = await asyncio.open_connection(url.host, url.port)
    writer.write(
        b"POST /v1/as4 HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: " + content_type + b"\r\n"
        b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
    )
    with contextlib.suppress(ConnectionError):
        await writer.drain()
    raw = await asyncio.wait_for(reader.read(), 30)
    writer.close()
    head, _, answer = raw.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), head, answer


@pytest.mark.parametrize("case", list(CASES))
async def test_hostile_framing_gets_a_signed_ebms_error(gateway, case):
    _, client, inbox = gateway
    content_type, body, code, words = CASES[case]
    status, _, answer = await post_raw(client, content_type, body)
    assert status == 200, answer[:500]
    error = etree.fromstring(answer).find(".//{*}SignalMessage/{*}Error")
    assert error is not None, answer[:500]
    detail = error.findtext("{*}ErrorDetail") or ""
    assert error.get("errorCode") == code, detail
    assert words in detail
    assert etree.fromstring(answer).find(".//{*}Signature/{*}SignatureValue") is not None  # signed by the gateway
    assert await client.app[RUNTIME].store.find(partner="peer-ap") == []
    assert inbox.received == []
