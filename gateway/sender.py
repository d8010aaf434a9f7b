"""``gateway send``: what a partner runs to test its connection: sign a file as the partner, POST it."""

from __future__ import annotations

from pathlib import Path

import aiohttp
from lxml import etree

from gateway.security.certificates import load_certificate, load_private_key
from gateway.security.signatures import DS, Signer
from gateway.security.xml import parse_xml, to_bytes


def sign_document(data: bytes, signer: Signer) -> bytes:
    """Sign a document, replacing any signature it already has."""
    root = parse_xml(data)
    for old in root.findall(f"{{{DS}}}Signature"):
        root.remove(old)
    return to_bytes(signer.sign(root))


async def post(url: str, body: bytes, timeout: float = 30) -> tuple[int, bytes]:
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


async def send_file(file: Path, key: Path, cert: Path, url: str) -> tuple[int, bytes]:
    signer = Signer(load_private_key(key), load_certificate(cert).certificate)
    return await post(url, sign_document(file.read_bytes(), signer))


__all__ = ["etree", "post", "send_file", "sign_document"]
