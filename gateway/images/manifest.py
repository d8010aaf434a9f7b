"""What a message says about its images: the manifest its signature covers (pure: lxml only)."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from lxml import etree

from gateway.errors import SchemaInvalid

WCO = "{urn:customs-gateway:wco:1}"
ENV = "{urn:customs-gateway:envelope:1}"
MEDIA_TYPES = ("image/png", "image/jpeg", "image/tiff")
# The start part of a multipart/related message: the signed XML (its Content-ID, RFC 2387 ``start``).
MESSAGE_PART = "message"


@dataclass(frozen=True)
class ImageRef:
    """One image as the signed message names it: the part's Content-ID, what it is, and how to check it."""

    id: str  # Image/ID = the multipart part's Content-ID (without <>)
    media_type: str
    size: int
    sha256: str  # hex, the store's address
    type_code: str = "other"  # xray | photo | other
    file_name: str | None = None

    @property
    def digest_b64(self) -> str:
        return base64.b64encode(bytes.fromhex(self.sha256)).decode()


def _digest_hex(value: str, pointer: str) -> str:
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 32:
        raise SchemaInvalid(f"DigestValue {value[:64]!r} is not a base64 SHA-256 digest", pointer=pointer)
    return raw.hex()


def _size(value: str, pointer: str) -> int:
    # ASCII digits: str.isdigit() takes "²", which int() refuses (a ValueError, a 500 before the schema check).
    if not (value.isascii() and value.isdigit()) or not 0 < int(value) <= 1 << 40:
        raise SchemaInvalid(f"SizeMeasure {value[:64]!r} is not a size in bytes (1 to 2^40)", pointer=pointer)
    return int(value)


def images_of(root: etree._Element) -> tuple[ImageRef, ...]:
    """The images a (verified, valid) canonical Envelope names: ``InspectionResult/Image``, in order.

    Any other message has none. Two images with one ID cannot be told apart on the wire: refused."""
    images: list[ImageRef] = []
    seen: set[str] = set()
    for index, image in enumerate(root.iterfind(f"{ENV}Body/{WCO}InspectionResult/{WCO}Image"), start=1):
        pointer = f"/Envelope/Body/InspectionResult/Image[{index}]"
        image_id = (image.findtext(f"{WCO}ID") or "").strip()
        if image_id in seen:
            raise SchemaInvalid(f"Image ID {image_id!r} is used twice; each image needs its own", pointer=pointer)
        seen.add(image_id)
        images.append(
            ImageRef(
                id=image_id,
                media_type=(image.findtext(f"{WCO}MediaType") or "").strip(),
                size=_size((image.findtext(f"{WCO}SizeMeasure") or "").strip(), pointer + "/SizeMeasure"),
                sha256=_digest_hex((image.findtext(f"{WCO}DigestValue") or "").strip(), pointer + "/DigestValue"),
                type_code=(image.findtext(f"{WCO}TypeCode") or "other").strip(),
                file_name=(image.findtext(f"{WCO}FileName") or "").strip() or None,
            )
        )
    return tuple(images)
