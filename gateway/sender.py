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
) -> tuple[int, bytes]:
    body = await asyncio.to_thread(sign_file, file, key, cert, fresh=fresh, sender=sender, receiver=receiver)
    return await post(url, body)


__all__ = ["post", "refresh", "refresh_envelope", "send_file", "sign_document", "sign_file"]
