"""``gateway send``: what a partner runs to test its connection: sign a file as the partner, POST it.

The key file decides the signature: RSA or EC keys sign XML-DSig RSA/ECDSA-SHA256, an SM2 key signs SM2-SM3 in
the CEB profile (what a CEB partner's signing device does)."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from pathlib import Path

import aiohttp
from lxml import etree

from gateway.errors import UnsupportedMessage
from gateway.formats.canonical import ENV_NS, format_datetime
from gateway.security.keyring import XmlSigner, load_any_signer
from gateway.security.signatures import DS
from gateway.security.xml import parse_xml, to_bytes


def sign_document(data: bytes, signer: XmlSigner, *, fresh: bool = False) -> bytes:
    """Sign a document, replacing any signature it already has. ``fresh``: a canonical envelope gets a new
    MessageID and CreationDateTime first (so an example file can be sent again and again)."""
    root = parse_xml(data)
    for old in root.findall(f"{{{DS}}}Signature"):
        root.remove(old)
    if fresh:
        refresh_envelope(root)
    return to_bytes(signer.sign(root))


def refresh_envelope(root: etree._Element) -> None:
    header = f"{{{ENV_NS}}}Header/{{{ENV_NS}}}"
    message_id = root.find(header + "MessageID")
    created = root.find(header + "CreationDateTime")
    if message_id is None or created is None:
        raise UnsupportedMessage("--fresh needs a canonical Envelope with MessageID and CreationDateTime")
    message_id.text = f"{(message_id.text or 'MSG').strip()[:27]}-{uuid.uuid4().hex[:12]}"
    created.text = format_datetime(dt.datetime.now(dt.UTC))


async def post(url: str, body: bytes, timeout: float = 30) -> tuple[int, bytes]:  # noqa: ASYNC109 - aiohttp's timeout
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            url,
            data=body,
            headers={"Content-Type": "application/xml"},
            timeout=aiohttp.ClientTimeout(total=timeout),
        ) as response,
    ):
        return response.status, await response.read()


async def send_file(file: Path, key: Path, cert: Path, url: str, *, fresh: bool = False) -> tuple[int, bytes]:
    signer = load_any_signer(key, cert)  # RSA, EC or SM2, by the key's type
    return await post(url, sign_document(await asyncio.to_thread(file.read_bytes), signer, fresh=fresh))


__all__ = ["post", "refresh_envelope", "send_file", "sign_document"]
