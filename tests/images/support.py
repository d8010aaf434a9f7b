"""Inspection results with images for tests and benches: images of any size made on the fly (never held whole),
signed messages naming them, multipart/related bodies streamed to the gateway, and a receiving partner that
checks every part against the gateway's signed message while it streams in."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field

from aiohttp import BodyPartReader, web
from cryptography import x509
from lxml import etree
from signxml import XMLVerifier

from tests.helpers import Identity, envelope, signed

W = "urn:customs-gateway:wco:1"
_W = f"{{{W}}}"
MAGIC = {"image/png": b"\x89PNG\r\n\x1a\n", "image/jpeg": b"\xff\xd8\xff\xe0", "image/tiff": b"II*\x00"}
BLOCK = 1024 * 1024


@dataclass(frozen=True)
class FakeImage:
    """An image of ``size`` bytes that starts with its format's magic number; its bytes come from a seed, block
    by block, so a 40 MB image costs one block of memory."""

    id: str
    media_type: str = "image/png"
    size: int = 100_000
    seed: bytes = field(default_factory=lambda: uuid.uuid4().bytes)
    type_code: str = "xray"
    bytes_as: str | None = None  # the format whose magic number the bytes really start with (a liar's image)
    content: bytes | None = None  # a real image's bytes instead of made-up ones (size must be its length)

    def blocks(self) -> Iterator[bytes]:
        if self.content is not None:
            yield self.content
            return
        block = (hashlib.sha256(self.seed).digest() * (BLOCK // 32))[:BLOCK]
        magic = MAGIC[self.bytes_as or self.media_type]
        sent = 0
        while sent < self.size:
            piece = block[: min(BLOCK, self.size - sent)]
            if sent == 0:
                piece = magic + piece[len(magic) :]
            sent += len(piece)
            yield piece

    def data(self) -> bytes:
        return b"".join(self.blocks())

    @property
    def sha256(self) -> bytes:
        digest = hashlib.sha256()
        for block in self.blocks():
            digest.update(block)
        return digest.digest()


def inspection_envelope(
    sender: str, receiver: str | None, images: list[FakeImage], *, message_id: str | None = None
) -> etree._Element:
    """The example inspection result with fresh header values and ``images`` in place of its own."""
    root = envelope(sender, receiver, message_type="inspection-result", example="inspection-result.xml")
    if message_id:
        header_id = root.find("{urn:customs-gateway:envelope:1}Header/{urn:customs-gateway:envelope:1}MessageID")
        assert header_id is not None
        header_id.text = message_id
    result = root.find(f".//{_W}InspectionResult")
    assert result is not None
    for old in result.findall(f"{_W}Image"):
        result.remove(old)
    finding = result.find(f"{_W}Finding")
    if finding is not None:
        for ref in finding.findall(f"{_W}ImageID"):
            finding.remove(ref)
        for image in images:
            etree.SubElement(finding, f"{_W}ImageID").text = image.id
    for image in images:
        element = etree.SubElement(result, f"{_W}Image")
        for name, value in (
            ("ID", image.id),
            ("TypeCode", image.type_code),
            ("MediaType", image.media_type),
            ("SizeMeasure", str(image.size)),
            ("DigestAlgorithm", "http://www.w3.org/2001/04/xmlenc#sha256"),
            ("DigestValue", base64.b64encode(image.sha256).decode()),
        ):
            etree.SubElement(element, _W + name).text = value
    return root


@dataclass
class Part:
    """One part of a multipart/related body as a test sends it (``chunks`` may lie about the image)."""

    headers: dict[str, str]
    chunks: list[bytes] | FakeImage


def real_image(image_id: str, media_type: str, content: bytes, type_code: str = "xray") -> FakeImage:
    return FakeImage(image_id, media_type, len(content), type_code=type_code, content=content)


def image_part(image: FakeImage, **headers: str) -> Part:
    return Part({"Content-Type": image.media_type, "Content-ID": f"<{image.id}>", **headers}, image)


def multipart_body(message: bytes, parts: list[Part], boundary: str, *, close: bool = True) -> AsyncIterator[bytes]:
    async def body() -> AsyncIterator[bytes]:
        yield (f"--{boundary}\r\nContent-Type: application/xml\r\nContent-ID: <message>\r\n\r\n".encode() + message)
        for part in parts:
            head = "".join(f"{k}: {v}\r\n" for k, v in part.headers.items())
            yield f"\r\n--{boundary}\r\n{head}\r\n".encode()
            for chunk in part.chunks.blocks() if isinstance(part.chunks, FakeImage) else part.chunks:
                yield chunk
                await asyncio.sleep(0)
        if close:
            yield f"\r\n--{boundary}--\r\n".encode()

    return body()


def content_type(boundary: str) -> str:
    return f'multipart/related; type="application/xml"; start="<message>"; boundary="{boundary}"'


def signed_inspection(sender: Identity, receiver: str, images: list[FakeImage]) -> bytes:
    return signed(sender, inspection_envelope(sender.id, receiver, images))


@dataclass
class Received:
    headers: dict[str, str]
    message: bytes
    images: dict[str, tuple[str, int, str]]  # Content-ID -> (Content-Type, size, sha256 hex)
    verified: dict[str, bool]  # Content-ID -> digest and size agree with the gateway's signed message


@dataclass
class ImageInbox:
    """A receiving partner: streams each multipart/related delivery, hashing every part (nothing kept but the
    digests), and checks them against the signed message (signature verified with the gateway's certificate)."""

    gateway_cert: x509.Certificate
    received: list[Received] = field(default_factory=list)
    status: int = 200
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    url: str = ""

    async def handle(self, request: web.Request) -> web.Response:
        if self.status >= 300:
            await request.read() if request.content_length and request.content_length < 1_000_000 else None
            return web.Response(status=self.status, text="simulated failure")
        reader = await request.multipart()
        first = await reader.next()
        assert isinstance(first, BodyPartReader)
        message = bytes(await first.read())
        verified = XMLVerifier().verify(message, x509_cert=self.gateway_cert).signed_xml
        signed_images = {
            i.findtext(f"{_W}ID"): (
                i.findtext(f"{_W}MediaType"),
                int(i.findtext(f"{_W}SizeMeasure") or 0),
                base64.b64decode(i.findtext(f"{_W}DigestValue") or "").hex(),
            )
            for i in verified.iter(f"{_W}Image")
        }
        images: dict[str, tuple[str, int, str]] = {}
        while (part := await reader.next()) is not None:
            assert isinstance(part, BodyPartReader)
            digest, size = hashlib.sha256(), 0
            while chunk := await part.read_chunk(256 * 1024):
                digest.update(chunk)
                size += len(chunk)
            cid = part.headers["Content-ID"].strip("<>")
            images[cid] = (part.headers["Content-Type"], size, digest.hexdigest())
        ok = {cid: images.get(cid) == want for cid, want in signed_images.items()}
        self.received.append(Received(dict(request.headers), bytes(message), images, ok))
        self.arrived.set()
        if not all(ok.values()) or set(images) != set(signed_images):
            return web.Response(status=422, text=f"digest check failed: {ok}")
        return web.Response(status=200, text="ok")

    async def wait_for(self, count: int, timeout: float = 30.0) -> None:  # noqa: ASYNC109 - bounds every test wait
        async def enough() -> None:
            while len(self.received) < count:
                self.arrived.clear()
                await self.arrived.wait()

        await asyncio.wait_for(enough(), timeout)
