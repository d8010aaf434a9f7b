"""SOAP with Attachments: MIME multipart/related in and out (the standard library's ``email`` package)."""

from __future__ import annotations

import email.parser
import email.policy
import uuid
from dataclasses import dataclass
from email.message import MIMEPart

from gateway.as4.errors import ExternalPayloadError, InvalidHeader

MAX_PARTS = 32
SOAP_TYPE = "application/soap+xml"


@dataclass(frozen=True)
class Part:
    content_id: str
    content_type: str
    data: bytes


@dataclass(frozen=True)
class Mime:
    soap: bytes
    parts: dict[str, Part]  # by Content-ID, without the angle brackets


def _content_id(part: MIMEPart) -> str:
    value = part.get("Content-ID")
    return str(value).strip().removeprefix("<").removesuffix(">") if value else ""


def parse(content_type: str, body: bytes) -> Mime:
    """The SOAP part and the attachments by Content-ID; a bare SOAP envelope has no attachments."""
    kind = content_type.split(";")[0].strip().lower()
    if kind == SOAP_TYPE:
        return Mime(body, {})
    if kind != "multipart/related":
        raise InvalidHeader(f"Content-Type {kind[:100]!r} is not accepted; send multipart/related or {SOAP_TYPE}")
    parser = email.parser.BytesParser(policy=email.policy.HTTP)
    head = b"Content-Type: " + content_type.encode("latin-1", "replace") + b"\r\n\r\n"
    message = parser.parsebytes(head + body)
    if not message.is_multipart():
        raise InvalidHeader("the multipart/related body has no parts (boundary missing or wrong)")
    parts = list(message.iter_parts())
    if not parts:
        raise InvalidHeader("the multipart/related body has no parts")
    if len(parts) > MAX_PARTS:
        raise InvalidHeader(f"the message has {len(parts)} MIME parts; at most {MAX_PARTS} are accepted")
    start = message.get_param("start")
    start_id = str(start).strip("<>") if isinstance(start, str) else None
    soap_part = next((p for p in parts if start_id and _content_id(p) == start_id), parts[0])
    if soap_part.get_content_type() != SOAP_TYPE:
        raise InvalidHeader(f"the root MIME part is {soap_part.get_content_type()!r}, not {SOAP_TYPE}")
    attachments: dict[str, Part] = {}
    for part in parts:
        if part is soap_part:
            continue
        cid = _content_id(part)
        if not cid:
            raise ExternalPayloadError("an attachment has no Content-ID")
        if cid in attachments:
            raise ExternalPayloadError(f"two attachments have the Content-ID {cid[:100]!r}")
        data = part.get_payload(decode=True)
        attachments[cid] = Part(cid, part.get_content_type(), data if isinstance(data, bytes) else b"")
    soap = soap_part.get_payload(decode=True)
    return Mime(soap if isinstance(soap, bytes) else b"", attachments)


def build(soap: bytes, parts: list[Part]) -> tuple[str, bytes]:
    """(Content-Type header, body): the envelope first, then each attachment in binary encoding."""
    boundary = f"MIMEBoundary_{uuid.uuid4().hex}"
    root_id = f"root.{uuid.uuid4().hex}@gateway"
    chunks = [
        f"--{boundary}\r\nContent-Type: {SOAP_TYPE}; charset=UTF-8\r\nContent-Transfer-Encoding: binary\r\n"
        f"Content-ID: <{root_id}>\r\n\r\n".encode(),
        soap,
        b"\r\n",
    ]
    for part in parts:
        chunks += [
            f"--{boundary}\r\nContent-Type: {part.content_type}\r\nContent-Transfer-Encoding: binary\r\n"
            f"Content-ID: <{part.content_id}>\r\n\r\n".encode(),
            part.data,
            b"\r\n",
        ]
    chunks.append(f"--{boundary}--\r\n".encode())
    content_type = f'multipart/related; boundary="{boundary}"; type="{SOAP_TYPE}"; start="<{root_id}>"'
    return content_type, b"".join(chunks)
