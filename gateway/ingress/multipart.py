"""``multipart/related`` at the partner inbox (docs/DESIGN.md 8): the signed message first, then one part per
image. aiohttp's multipart reader is wrapped here, once, into the :class:`gateway.images.intake.PartSource` the
pipeline reads; its errors become ``400 malformed-multipart`` naming the part."""

from __future__ import annotations

import asyncio

from aiohttp import BodyPartReader, MultipartReader, hdrs, web
from aiohttp.http_exceptions import HttpProcessingError

from gateway.config import HttpSection, ImagesSection
from gateway.errors import MalformedMultipart, TooLarge, UnsupportedMessage
from gateway.text import quoted

MULTIPART_RELATED = "multipart/related"
READ = 256 * 1024  # bytes of a part read at a time
_XML = frozenset({"application/xml", "text/xml"})
_ENCODINGS = frozenset({"", "binary", "8bit", "7bit"})
# LineTooLong (an HttpProcessingError): a "line" of a part's headers or of the epilogue beyond aiohttp's limit.
_ERRORS = (
    ValueError,
    AssertionError,
    ConnectionResetError,
    OSError,
    asyncio.IncompleteReadError,
    HttpProcessingError,
)


def _content_id(part: BodyPartReader) -> str | None:
    value = part.headers.get("Content-ID", "").strip()
    return value[1:-1].strip() if value.startswith("<") and value.endswith(">") else (value or None)


def _media_type(part: BodyPartReader) -> str | None:
    return part.headers.get(hdrs.CONTENT_TYPE, "").split(";")[0].strip().lower() or None


class HttpPart:
    """One image part; ``read_chunk`` tells a part cut short (no closing boundary) from one that ended."""

    signed_sha256: str | None = None  # the HTTP inbox has no transport signature over the parts

    def __init__(self, reader: BodyPartReader, index: int, *, binary_only: bool = True) -> None:
        self._reader = reader
        self.index = index
        self.content_id = _content_id(reader)
        self.media_type = _media_type(reader)
        encoding = reader.headers.get(hdrs.CONTENT_TRANSFER_ENCODING, "").strip().lower()
        self.transfer_encoding = encoding
        if binary_only and encoding not in _ENCODINGS:
            raise MalformedMultipart(
                f"{self.name}: Content-Transfer-Encoding {encoding[:40]!r} is not accepted; send the image as binary",
                pointer=f"/parts/{index}",
            )

    @property
    def name(self) -> str:
        cid = f" (Content-ID <{self.content_id}>)" if self.content_id else " (no Content-ID)"
        return f"part {self.index}{cid}"

    async def read_chunk(self) -> bytes:
        try:
            chunk = await self._reader.read_chunk(READ)
        except _ERRORS as exc:
            raise MalformedMultipart(f"{self.name} is cut short: {exc}", pointer=f"/parts/{self.index}") from None
        if not chunk and not self._reader.at_eof():
            raise MalformedMultipart(
                f"{self.name} is cut short: the body ended before the part's closing boundary",
                pointer=f"/parts/{self.index}",
            )
        return chunk


class HttpParts:
    """The parts after the message part (gateway.images.intake.PartSource)."""

    def __init__(self, reader: MultipartReader, *, read: int = 1, binary_only: bool = True) -> None:
        self._reader = reader
        self._index = read  # parts read before (the message part)
        self.parts_before = read
        self._binary_only = binary_only  # AS4 decodes its small parts itself (base64 is allowed there)
        self._current: BodyPartReader | None = None

    async def next_part(self) -> HttpPart | None:
        if self._current is not None and not self._current.at_eof():
            await self._current.release()  # what the pipeline did not read of the last part
        try:
            part = await self._reader.next()
        except _ERRORS as exc:
            raise MalformedMultipart(
                f"part {self._index + 1} cannot be read: {exc}", pointer=f"/parts/{self._index + 1}"
            ) from None
        if part is None:
            if not self._reader.at_eof():
                raise MalformedMultipart("the body ended without the closing boundary", pointer="/parts")
            return None
        self._index += 1
        if not isinstance(part, BodyPartReader):
            raise MalformedMultipart(f"part {self._index} is itself multipart", pointer=f"/parts/{self._index}")
        self._current = part
        return HttpPart(part, self._index, binary_only=self._binary_only)


def body_limit(http: HttpSection, images: ImagesSection) -> int:
    """The most a multipart/related body may announce: the message and every image it may carry, with their part
    headers."""
    return http.max_body_bytes + images.max_images * (images.max_image_bytes + 4096)


async def open_parts(request: web.Request, http: HttpSection, images: ImagesSection) -> tuple[bytes, HttpParts]:
    """The signed message (part 1, XML, at most ``max_body_bytes``) and the source of the parts after it."""
    coding = request.headers.get(hdrs.CONTENT_ENCODING, "identity").strip().lower()
    if coding != "identity":
        raise UnsupportedMessage(
            f"Content-Encoding {coding[:100]!r} is not accepted for multipart/related; send it uncompressed",
            pointer="/headers/Content-Encoding",
        )
    most = body_limit(http, images)
    if request.content_length is not None and request.content_length > most:
        raise TooLarge(f"the body of {request.content_length} bytes exceeds the limit of {most} bytes")
    try:
        reader = await request.multipart()
    except _ERRORS as exc:
        declared = quoted(request.headers.get(hdrs.CONTENT_TYPE, ""), 160)
        raise MalformedMultipart(
            f"the multipart/related body cannot be read (Content-Type {declared}): {exc}",
            pointer="/headers/Content-Type",
        ) from None
    try:
        async with asyncio.timeout(http.body_timeout):
            first = await reader.next()
            if not isinstance(first, BodyPartReader):
                raise MalformedMultipart("the body has no parts: the signed message must be part 1", pointer="/parts/1")
            kind = _media_type(first)
            if kind is not None and kind not in _XML and not kind.endswith("+xml"):
                raise MalformedMultipart(
                    f"part 1 must be the signed message (application/xml), not {kind[:100]!r}", pointer="/parts/1"
                )
            chunks: list[bytes] = []
            size = 0
            while chunk := await first.read_chunk(READ):
                size += len(chunk)
                if size > http.max_body_bytes:
                    raise TooLarge(f"part 1 (the message) exceeds the limit of {http.max_body_bytes} bytes")
                chunks.append(chunk)
            if not first.at_eof():
                raise MalformedMultipart("part 1 (the message) is cut short", pointer="/parts/1")
    except TimeoutError:
        raise MalformedMultipart(
            f"part 1 (the message) was not received within {http.body_timeout:g} s", pointer="/parts/1"
        ) from None
    except _ERRORS as exc:
        raise MalformedMultipart(f"part 1 (the message) cannot be read: {exc}", pointer="/parts/1") from None
    return b"".join(chunks), HttpParts(reader)
