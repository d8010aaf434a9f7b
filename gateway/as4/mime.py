"""SOAP with Attachments: MIME multipart/related in and out (the standard library's ``email`` package)."""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass
from email.message import Message

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


def _params(content_type: str) -> tuple[str, dict[str, str]]:
    """The media type and parameters of a Content-Type value (the standard library's parameter parsing)."""
    header = Message()
    header["Content-Type"] = content_type
    params = {k.lower(): v for k, v in header.get_params(failobj=[], header="Content-Type")[1:] if isinstance(v, str)}
    return header.get_content_type(), params


def _headers(block: bytes) -> dict[str, str]:
    headers: dict[str, str] = {}
    name = ""
    for line in block.decode("latin-1").split("\r\n"):
        if line[:1] in (" ", "\t") and name:  # a folded header line continues the previous one
            headers[name] += " " + line.strip()
            continue
        name, sep, value = line.partition(":")
        if not sep:
            raise InvalidHeader(f"a MIME part header line is not 'Name: value': {line[:100]!r}")
        name = name.strip().lower()
        headers[name] = value.strip()
    return headers


def _split(body: bytes, boundary: str) -> list[tuple[dict[str, str], bytes]]:
    """RFC 2046 multipart: the parts between ``--boundary`` delimiter lines (preamble and epilogue dropped)."""
    delimiter = b"--" + boundary.encode("latin-1")
    chunks = (b"\r\n" + body).split(b"\r\n" + delimiter)
    if len(chunks) < 3 or not chunks[-1].startswith(b"--"):
        raise InvalidHeader("the multipart/related body is not closed by its boundary (truncated or wrong boundary)")
    parts = []
    for chunk in chunks[1:-1]:
        chunk = chunk.split(b"\r\n", 1)[1] if b"\r\n" in chunk else b""  # rest of the delimiter line
        head, sep, data = chunk.partition(b"\r\n\r\n")
        if not sep:
            head, data = (b"", chunk[2:]) if chunk.startswith(b"\r\n") else (chunk, b"")
        parts.append((_headers(head) if head else {}, data))
    return parts


def parse(content_type: str, body: bytes) -> Mime:
    """The SOAP part and the attachments by Content-ID; a bare SOAP envelope has no attachments."""
    kind, params = _params(content_type)
    if kind == SOAP_TYPE:
        return Mime(body, {})
    if kind != "multipart/related":
        raise InvalidHeader(f"Content-Type {kind[:100]!r} is not accepted; send multipart/related or {SOAP_TYPE}")
    boundary = params.get("boundary")
    if not boundary:
        raise InvalidHeader("the multipart/related Content-Type has no boundary parameter")
    parts = _split(body, boundary)
    if not parts:
        raise InvalidHeader("the multipart/related body has no parts")
    if len(parts) > MAX_PARTS:
        raise InvalidHeader(f"the message has {len(parts)} MIME parts; at most {MAX_PARTS} are accepted")
    start_id = params.get("start", "").strip().strip("<>") or None
    decoded = [(_cid(h), _params(h.get("content-type", "text/plain"))[0], _decode(h, d)) for h, d in parts]
    soap_index = next((i for i, p in enumerate(decoded) if start_id and p[0] == start_id), 0)
    if decoded[soap_index][1] != SOAP_TYPE:
        raise InvalidHeader(f"the root MIME part is {decoded[soap_index][1][:100]!r}, not {SOAP_TYPE}")
    attachments: dict[str, Part] = {}
    for i, (cid, kind_, data) in enumerate(decoded):
        if i == soap_index:
            continue
        if not cid:
            raise ExternalPayloadError("an attachment has no Content-ID")
        if cid in attachments:
            raise ExternalPayloadError(f"two attachments have the Content-ID {cid[:100]!r}")
        attachments[cid] = Part(cid, kind_, data)
    return Mime(decoded[soap_index][2], attachments)


def _cid(headers: dict[str, str]) -> str:
    return headers.get("content-id", "").strip().removeprefix("<").removesuffix(">")


def _decode(headers: dict[str, str], data: bytes) -> bytes:
    encoding = headers.get("content-transfer-encoding", "binary").strip().lower()
    if encoding in ("binary", "8bit", "7bit"):
        return data
    if encoding == "base64":
        try:
            return base64.b64decode(b"".join(data.split()), validate=True)
        except ValueError:
            raise InvalidHeader("a base64 MIME part is not valid base64") from None
    raise InvalidHeader(f"Content-Transfer-Encoding {encoding[:50]!r}; allowed: binary, 8bit, 7bit, base64")


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
