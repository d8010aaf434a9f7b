"""SOAP with Attachments: MIME multipart/related in and out (the standard library's ``email`` package)."""

from __future__ import annotations

import base64
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from email.message import Message

from gateway.as4.errors import ExternalPayloadError, InvalidHeader
from gateway.images.store import closing

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


def start_of(content_type: str) -> str | None:
    """The ``start`` parameter of a multipart/related Content-Type (the root part's Content-ID), if any."""
    return _params(content_type)[1].get("start", "").strip().strip("<>") or None


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
    return decode(headers.get("content-transfer-encoding", "binary"), data)


def decode(encoding: str, data: bytes) -> bytes:
    """A part's content from its Content-Transfer-Encoding (binary, 8bit, 7bit or base64)."""
    encoding = encoding.strip().lower() or "binary"
    if encoding in ("binary", "8bit", "7bit"):
        return data
    if encoding == "base64":
        try:
            return base64.b64decode(b"".join(data.split()), validate=True)
        except ValueError:
            raise InvalidHeader("a base64 MIME part is not valid base64") from None
    raise InvalidHeader(f"Content-Transfer-Encoding {encoding[:50]!r}; allowed: binary, 8bit, 7bit, base64")


def _root_head(boundary: str, root_id: str) -> bytes:
    return (
        f"--{boundary}\r\nContent-Type: {SOAP_TYPE}; charset=UTF-8\r\nContent-Transfer-Encoding: binary\r\n"
        f"Content-ID: <{root_id}>\r\n\r\n"
    ).encode()


def _part_head(boundary: str, content_id: str, content_type: str) -> bytes:
    return (
        f"--{boundary}\r\nContent-Type: {content_type}\r\nContent-Transfer-Encoding: binary\r\n"
        f"Content-ID: <{content_id}>\r\n\r\n"
    ).encode()


def _content_type(boundary: str, root_id: str) -> str:
    return f'multipart/related; boundary="{boundary}"; type="{SOAP_TYPE}"; start="<{root_id}>"'


def _ids() -> tuple[str, str]:
    return f"MIMEBoundary_{uuid.uuid4().hex}", f"root.{uuid.uuid4().hex}@gateway"


def build(soap: bytes, parts: list[Part]) -> tuple[str, bytes]:
    """(Content-Type header, body): the envelope first, then each attachment in binary encoding."""
    boundary, root_id = _ids()
    chunks = [_root_head(boundary, root_id), soap, b"\r\n"]
    for part in parts:
        chunks += [_part_head(boundary, part.content_id, part.content_type), part.data, b"\r\n"]
    chunks.append(f"--{boundary}--\r\n".encode())
    return _content_type(boundary, root_id), b"".join(chunks)


@dataclass(frozen=True)
class StreamedPart:
    """An attachment sent while it is read (an image from the store): its exact length is known beforehand."""

    content_id: str
    content_type: str
    length: int
    chunks: AsyncIterator[bytes] = field(repr=False)


@dataclass(frozen=True)
class Streamed:
    content_type: str
    length: int  # the whole body's, for the Content-Length header
    body: AsyncIterator[bytes] = field(repr=False)


def build_streamed(soap: bytes, parts: list[Part], streamed: list[StreamedPart]) -> Streamed:
    """As :func:`build`, with ``streamed`` attachments after the in-memory ones, each read only while it is sent;
    a part that yields another number of bytes than its ``length`` stops the body (the receiver would read a
    different message)."""
    boundary, root_id = _ids()
    first = [_root_head(boundary, root_id), soap, b"\r\n"]
    for part in parts:
        first += [_part_head(boundary, part.content_id, part.content_type), part.data, b"\r\n"]
    opening = b"".join(first)
    close = f"--{boundary}--\r\n".encode()
    length = (
        len(opening)
        + sum(len(_part_head(boundary, p.content_id, p.content_type)) + p.length + 2 for p in streamed)
        + len(close)
    )

    async def body() -> AsyncIterator[bytes]:
        yield opening
        for part in streamed:
            yield _part_head(boundary, part.content_id, part.content_type)
            sent = 0
            async with closing(part.chunks):
                async for chunk in part.chunks:
                    sent += len(chunk)
                    if sent > part.length:
                        break
                    yield chunk
            if sent != part.length:
                raise ValueError(f"attachment {part.content_id!r} does not have the {part.length} bytes announced")
            yield b"\r\n"
        yield close

    return Streamed(_content_type(boundary, root_id), length, body())
