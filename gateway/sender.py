"""``gateway send``: what a partner runs to test its connection: sign a file as the partner, POST it.

The key file decides the signature: RSA or EC keys sign XML-DSig RSA/ECDSA-SHA256, an SM2 key signs SM2-SM3 in
the CEB profile (what a CEB partner's signing device does)."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import hashlib
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
from lxml import etree

from gateway.errors import UnsupportedMessage
from gateway.formats.canonical import ENV_NS, format_datetime
from gateway.mapping.ceb import CEB_NS
from gateway.security.keyring import XmlSigner, load_any_signer
from gateway.security.verified import DS
from gateway.security.xml import parse_xml, to_bytes


def sign_document(
    data: bytes, signer: XmlSigner, *, fresh: bool = False, sender: str | None = None, receiver: str | None = None
) -> bytes:
    """Sign a document, replacing any signature it already has. ``fresh``: give it a new identity first, so an
    example file can be sent again and again (``refresh``); ``sender`` and ``receiver`` go with ``fresh``."""
    root = parse_xml(data)
    for old in root.findall(f"{{{DS}}}Signature"):
        root.remove(old)
    if fresh:
        refresh(root, sender=sender, receiver=receiver)
    elif receiver is not None:
        raise UnsupportedMessage("--to goes with --fresh (without it the file is sent as it is)")
    return to_bytes(signer.sign(root))


def refresh(root: etree._Element, *, sender: str | None = None, receiver: str | None = None) -> None:
    """A new identity for a document, by format:

    - canonical Envelope: new MessageID and CreationDateTime; Sender set to ``sender`` (the partner the
      document is sent as); Receiver set to ``receiver`` when given, else kept;
    - CEB message: a new ``guid`` (its message id). A CEB message names no sender or receiver: the gateway
      takes the sender from the URL and routes by its rules, so ``receiver`` is refused;
    - other formats: refused, naming the fields to edit by hand.
    """
    if root.tag == f"{{{ENV_NS}}}Envelope":
        refresh_envelope(root, sender=sender, receiver=receiver)
    elif etree.QName(root).namespace == CEB_NS:
        if receiver is not None:
            raise UnsupportedMessage(
                f"--to: a CEB message ({etree.QName(root).localname}) names no receiver; the gateway's routing "
                "rules decide where it goes"
            )
        root.set("guid", str(uuid.uuid4()).upper())
    else:
        raise UnsupportedMessage(
            f"--fresh works on canonical Envelopes and CEB messages; a {etree.QName(root).localname} document is "
            "sent as it is: give it a new message id and creation time in the file itself"
        )


def refresh_envelope(root: etree._Element, *, sender: str | None = None, receiver: str | None = None) -> None:
    header = f"{{{ENV_NS}}}Header/{{{ENV_NS}}}"
    message_id = root.find(header + "MessageID")
    created = root.find(header + "CreationDateTime")
    if message_id is None or created is None:
        raise UnsupportedMessage("--fresh needs a canonical Envelope with MessageID and CreationDateTime")
    message_id.text = f"{(message_id.text or 'MSG').strip()[:27]}-{uuid.uuid4().hex[:12]}"
    created.text = format_datetime(dt.datetime.now(dt.UTC))
    for name, value in (("Sender", sender), ("Receiver", receiver)):
        if value is None:
            continue
        element = root.find(header + name)
        if element is None:  # Receiver is optional (routing rules decide): it goes after Sender
            element = etree.Element(f"{{{ENV_NS}}}{name}")
            before = root.find(header + "Sender")
            element.tail = before.tail
            before.addnext(element)
        element.text = value


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


def sign_file(
    file: Path, key: Path, cert: Path, *, fresh: bool = False, sender: str | None = None, receiver: str | None = None
) -> bytes:
    signer = load_any_signer(key, cert)  # RSA, EC or SM2, by the key's type
    return sign_document(file.read_bytes(), signer, fresh=fresh, sender=sender, receiver=receiver)


async def send_file(
    file: Path,
    key: Path,
    cert: Path,
    url: str,
    *,
    fresh: bool = False,
    sender: str | None = None,
    receiver: str | None = None,
    images: Path | None = None,
) -> tuple[int, bytes]:
    if images is not None:
        body, parts = await asyncio.to_thread(
            sign_with_images, file, key, cert, images, fresh=fresh, sender=sender, receiver=receiver
        )
        return await post_multipart(url, body, parts)
    body = await asyncio.to_thread(sign_file, file, key, cert, fresh=fresh, sender=sender, receiver=receiver)
    return await post(url, body)


# Inspection results with images (docs/DESIGN.md 8) -------------------------------------------------------------

_W = "{urn:customs-gateway:wco:1}"
READ = 256 * 1024


def fill_images(root: etree._Element, folder: Path) -> list[tuple[str, str, Path]]:
    """Each ``InspectionResult/Image`` of ``root``: its file (``FileName`` in ``folder``), whose size and SHA-256
    are written into ``SizeMeasure`` and ``DigestValue`` (read in chunks: images may be large). Returns (ID,
    MediaType, path) per image, in order."""
    parts = []
    for image in root.iter(f"{_W}Image"):
        image_id, name = image.findtext(f"{_W}ID") or "", image.findtext(f"{_W}FileName") or ""
        if not name or Path(name).name != name:
            raise UnsupportedMessage(f"Image {image_id!r}: a FileName (no folder part) is needed to find its file")
        path = folder / name
        digest, size = hashlib.sha256(), 0
        with path.open("rb") as file:
            while chunk := file.read(READ):
                digest.update(chunk)
                size += len(chunk)
        for field, value in (("SizeMeasure", str(size)), ("DigestValue", base64.b64encode(digest.digest()).decode())):
            element = image.find(_W + field)
            if element is None:
                raise UnsupportedMessage(f"Image {image_id!r} has no {field} element to fill in")
            element.text = value
        parts.append((image_id, image.findtext(f"{_W}MediaType") or "application/octet-stream", path))
    return parts


def sign_with_images(
    file: Path, key: Path, cert: Path, folder: Path, **options: Any
) -> tuple[bytes, list[tuple[str, str, Path]]]:
    root = parse_xml(file.read_bytes())
    parts = fill_images(root, folder)
    return sign_document(to_bytes(root), load_any_signer(key, cert), **options), parts


async def post_multipart(
    url: str,
    body: bytes,
    parts: list[tuple[str, str, Path]],
    timeout: float = 600,  # noqa: ASYNC109 - aiohttp's timeout
) -> tuple[int, bytes]:
    """The signed message and its image files as one multipart/related body, the files streamed."""
    boundary = f"gw-{uuid.uuid4().hex}"

    async def stream() -> AsyncIterator[bytes]:
        yield f"--{boundary}\r\nContent-Type: application/xml\r\nContent-ID: <message>\r\n\r\n".encode() + body
        for image_id, media_type, path in parts:
            yield f"\r\n--{boundary}\r\nContent-Type: {media_type}\r\nContent-ID: <{image_id}>\r\n\r\n".encode()
            with path.open("rb") as file:
                while chunk := file.read(READ):
                    yield chunk
        yield f"\r\n--{boundary}--\r\n".encode()

    kind = f'multipart/related; type="application/xml"; start="<message>"; boundary="{boundary}"'
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            url, data=stream(), headers={"Content-Type": kind}, timeout=aiohttp.ClientTimeout(total=timeout)
        ) as response,
    ):
        return response.status, await response.read()


__all__ = [
    "fill_images",
    "post",
    "post_multipart",
    "refresh",
    "refresh_envelope",
    "send_file",
    "sign_document",
    "sign_file",
]
