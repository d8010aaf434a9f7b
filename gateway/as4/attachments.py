"""An inspection result's images as AS4 attachments, on the receiving side: the MIME parts are read in order,
the small ones (the SOAP envelope, the business document) into memory, and each image is handed on while it
streams (to :mod:`gateway.images.intake`, which stages it and checks it against the inspection result's
DigestValue, SizeMeasure and MediaType), decrypted on the way and bound to the digest the WS-Security signature
gives it.

Why one digest check serves both signatures: an image goes uncompressed, and the SwA
Attachment-Content-Signature-Transform takes a binary attachment's octets as they are, so the SHA-256 reference
of the AS4 signature must be the DigestValue of the signed inspection result; the intake compares the two before
it reads the part (:attr:`SignedImage.signed_sha256`) and the staged bytes' SHA-256 with them after.

The parts are read through a small protocol (the HTTP layer wraps aiohttp's multipart reader in it); nothing here
imports aiohttp.
"""

from __future__ import annotations

import base64
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from gateway.as4 import constants as c
from gateway.as4 import mime
from gateway.as4.encryption import StreamOpen
from gateway.as4.errors import (
    DecompressionFailure,
    ExternalPayloadError,
    FailedAuthentication,
    InvalidHeader,
    PolicyNoncompliance,
)
from gateway.as4.message import Head, declared_parts
from gateway.as4.wss import hasher
from gateway.images.manifest import MEDIA_TYPES

_BINARY = frozenset({"", "binary", "8bit", "7bit"})
INFLATE = 256 * 1024  # most bytes a compressed image gives out per read


class MimePart(Protocol):
    """One MIME part, read in chunks (``b""`` at its end); raises a gateway Rejection when cut short."""

    content_id: str | None  # without the angle brackets
    media_type: str | None  # its Content-Type, without parameters
    transfer_encoding: str  # lower case, "" when absent

    async def read_chunk(self) -> bytes: ...


class MimeParts(Protocol):
    """The parts of a multipart/related body in order; None after the last."""

    async def next_part(self) -> MimePart | None: ...


def streamed(properties: Mapping[str, str]) -> bool:
    """An image attachment (PartProperties MimeType PNG, JPEG or TIFF; as it is, or gzip-compressed as an access
    point whose P-Mode compresses every payload sends it): read while it streams."""
    return properties.get("MimeType") in MEDIA_TYPES and properties.get("CompressionType", c.GZIP) == c.GZIP


@dataclass(frozen=True)
class Opening:
    """What is read before the business document is passed on: the envelope and the parts read whole, the
    image attachments still to come, and the first of them (opened, not read)."""

    parts: mime.Mime
    pending: frozenset[str]
    first: MimePart | None
    read: int = 0  # how many parts came before ``first``


async def _read_whole(part: MimePart, room: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while chunk := await part.read_chunk():
        size += len(chunk)
        if size > room:
            raise PolicyNoncompliance(
                "the SOAP envelope and the attachments other than images exceed the body limit "
                f"(part Content-ID {str(part.content_id)[:100]!r})"
            )
        chunks.append(chunk)
    return b"".join(chunks)


async def read_opening(
    start: str | None, source: MimeParts, *, max_bytes: int, max_depth: int, declared_length: int | None = None
) -> Opening:
    """Read parts until the SOAP envelope (the ``start`` part, else the first) has been read and the next part is
    an image it declares (or the body ends). Everything read whole counts against ``max_bytes``, and so does the
    whole body (its ``declared_length``) of a message that declares no image."""
    soap: bytes | None = None
    pending: frozenset[str] = frozenset()
    attachments: dict[str, mime.Part] = {}
    room, count = max_bytes, 0
    while (part := await source.next_part()) is not None:
        count += 1
        if count > mime.MAX_PARTS:
            raise InvalidHeader(f"the message has more than {mime.MAX_PARTS} MIME parts")
        cid = part.content_id or ""
        if soap is not None and cid in pending:
            return Opening(mime.Mime(soap, attachments), pending, part, count - 1)
        data = mime.decode(part.transfer_encoding, await _read_whole(part, room))
        room -= len(data)
        if soap is None and (not start or cid == start):
            if part.media_type != mime.SOAP_TYPE:
                raise InvalidHeader(f"the root MIME part is {str(part.media_type)[:100]!r}, not {mime.SOAP_TYPE}")
            soap = data
            pending = frozenset(k for k, v in declared_parts(soap, max_depth).items() if streamed(v))
            if not pending and declared_length is not None and declared_length > max_bytes:
                raise PolicyNoncompliance(
                    f"the body of {declared_length} bytes exceeds the limit of {max_bytes} bytes (only image "
                    "attachments may go beyond it)"
                )
            continue
        if not cid:
            raise ExternalPayloadError("an attachment has no Content-ID")
        if cid in attachments:
            raise ExternalPayloadError(f"two attachments have the Content-ID {cid[:100]!r}")
        attachments[cid] = mime.Part(cid, part.media_type or "text/plain", data)
    if soap is None:
        raise InvalidHeader(f"no MIME part is the SOAP envelope (start {str(start)[:100]!r})")
    return Opening(mime.Mime(soap, attachments), pending, None, count)


@dataclass(frozen=True)
class Signed:
    """What the AS4 signature says of one image attachment's bytes as sent (decrypted, still compressed)."""

    method: str
    digest: str  # base64
    compressed: bool

    @property
    def image_sha256(self) -> str | None:
        """The image's own SHA-256 (hex) when the signed bytes are the image's (not compressed), else None."""
        return None if self.compressed else base64.b64decode(self.digest).hex()


def signed_digests(head: Head, pending: frozenset[str]) -> dict[str, Signed]:
    """The signature's digest of each image attachment. An uncompressed image must be signed with SHA-256: its
    bytes are checked against that one digest, the image's own (in the inspection result); a compressed one is
    hashed while read, with the method it was signed with."""
    digests: dict[str, Signed] = {}
    for cid in sorted(pending):
        reference = head.signed[cid]
        compressed = "CompressionType" in head.part_properties.get(cid, {})
        if not compressed and reference.digest_method != c.SHA256:
            raise PolicyNoncompliance(
                f"image attachment cid:{cid[:100]} is signed with {reference.digest_method!r}; allowed: {c.SHA256}"
            )
        digests[cid] = Signed(reference.digest_method, reference.digest_value, compressed)
    return digests


class SignedImage:
    """One image attachment as the intake reads it: decrypted while read (the GCM tag checked before its end is
    reported), inflated while read when it came gzip-compressed (its signed digest, over the compressed bytes,
    checked at its end), its media type the image's, its signed image digest for the intake to compare."""

    def __init__(
        self, part: MimePart, cid: str, media_type: str | None, signed: Signed, stream: StreamOpen | None
    ) -> None:
        self._part = part
        self._stream = stream
        self._ended = False
        self._signed = signed
        self._hash = hasher(signed.method) if signed.compressed else None
        self._inflater = zlib.decompressobj(zlib.MAX_WBITS | 16) if signed.compressed else None
        self.content_id: str | None = cid
        self.media_type: str | None = media_type
        self.signed_sha256: str | None = signed.image_sha256

    async def _sent(self) -> bytes:
        """The next bytes as signed (decrypted), b"" at the end."""
        if self._stream is None:
            return await self._part.read_chunk()
        while not self._ended:
            chunk = await self._part.read_chunk()
            if not chunk:
                self._ended = True
                return self._stream.finish()  # FailedDecryption unless the tag authenticates all of it
            if plain := self._stream.update(chunk):
                return plain
        return b""

    async def read_chunk(self) -> bytes:
        inflater = self._inflater
        if inflater is None:
            return await self._sent()
        try:
            while True:
                # At most INFLATE bytes out per call (the rest of the input waits): a bomb stays a trickle.
                if inflater.unconsumed_tail and (out := inflater.decompress(inflater.unconsumed_tail, INFLATE)):
                    return out
                data = await self._sent()
                if not data:
                    return self._finish(inflater)
                assert self._hash is not None
                self._hash.update(data)
                if out := inflater.decompress(data, INFLATE):
                    return out
        except zlib.error as exc:
            error = exc
        # Decrypted bytes are unauthenticated until the tag at the end: an altered ciphertext is a failed
        # decryption, not bad gzip, so read on to the tag (FailedDecryption) before saying the gzip is bad.
        while await self._sent():
            pass
        raise DecompressionFailure(f"image attachment cid:{self.content_id} is not valid gzip: {error}")

    def _finish(self, inflater: zlib._Decompress) -> bytes:
        if not inflater.eof or inflater.unused_data:
            raise DecompressionFailure(f"image attachment cid:{self.content_id} is not one whole gzip stream")
        assert self._hash is not None
        if base64.b64encode(self._hash.digest()).decode() != self._signed.digest:
            raise FailedAuthentication(f"the attachment 'cid:{self.content_id}' does not match its signed digest")
        return b""


class SignedImages:
    """The image attachments after the opening, as :class:`gateway.images.intake.PartSource`: each one declared
    in eb:PayloadInfo, signed and (where required) encrypted, none twice, none missing at the end."""

    def __init__(self, opening: Opening, head: Head, source: MimeParts) -> None:
        self._next = opening.first
        self._source = source
        self.parts_before = opening.read  # the envelope and the business document: the first image is part 3
        self._pending = opening.pending
        self._declared = set(head.part_properties)
        self._digests = signed_digests(head, opening.pending)
        self._head = head
        self._seen: set[str] = set()

    async def next_part(self) -> SignedImage | None:
        part, self._next = self._next or await self._source.next_part(), None
        if part is None:
            missing = sorted(self._pending - self._seen)
            if missing:
                raise ExternalPayloadError(f"the payload 'cid:{missing[0][:100]}' is declared but not attached")
            return None
        cid = part.content_id or ""
        if cid not in self._pending:
            if cid in self._declared:
                raise InvalidHeader(f"attachment {cid[:100]!r} comes after the images; send the images last")
            raise ExternalPayloadError(f"attachment {cid[:100]!r} is not declared in eb:PayloadInfo")
        if cid in self._seen:
            raise ExternalPayloadError(f"two attachments have the Content-ID {cid[:100]!r}")
        if part.transfer_encoding not in _BINARY:
            raise InvalidHeader(f"image attachment {cid[:100]!r} is {part.transfer_encoding[:40]!r}; send it binary")
        self._seen.add(cid)
        decrypted = self._head.decrypted
        stream = decrypted.streams.get(cid)
        signed = self._digests[cid]
        if signed.compressed:  # the part's own type is application/gzip: the image's is in PartProperties
            media_type = self._head.part_properties[cid].get("MimeType")
        else:
            media_type = decrypted.mime_types.get(cid) if stream is not None else part.media_type
        return SignedImage(part, cid, media_type, signed, stream)
