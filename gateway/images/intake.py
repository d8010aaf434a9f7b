"""Images in at ingress: the parts of a ``multipart/related`` message checked against its signed manifest while
they stream into the store's staging area (nothing held whole in memory, nothing stored for good until the
message is accepted).

The HTTP layer hands in the parts as a :class:`PartSource` (no aiohttp here); each refusal names the part:
``413 too-large`` (over the partner's limits), ``422 image-invalid`` (a part the message does not name, twice the
same, a media type or first bytes that disagree, a size or SHA-256 digest that differs from the signed one, an
image named but not sent) and ``400 malformed-multipart`` (a part cut short: raised by the source).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from gateway.errors import ImageInvalid, MalformedMultipart, TooLarge
from gateway.images.magic import MAGIC_BYTES, sniff
from gateway.images.manifest import ImageRef
from gateway.images.store import ImageStore, Staged

log = logging.getLogger(__name__)


class Part(Protocol):
    """One part of a multipart body, read in chunks (``b""`` at its end)."""

    content_id: str | None  # without the angle brackets
    media_type: str | None  # the part's Content-Type, without parameters
    # The SHA-256 (hex) a transport's own signature gives the part (an AS4 attachment reference), None without:
    # it must be the message's digest of the image, so the one check of the bytes serves both signatures.
    signed_sha256: str | None

    async def read_chunk(self) -> bytes: ...


class PartSource(Protocol):
    """The parts after the message part, in order; None after the last. Raises MalformedMultipart when the body
    is cut short or unreadable."""

    parts_before: int  # how many parts of the body came before these (the message; an AS4 envelope too): numbering

    async def next_part(self) -> Part | None: ...


@dataclass(frozen=True)
class Limits:
    max_image_bytes: int
    max_images: int
    part_timeout: float


@dataclass
class Intake:
    """The images of one message, staged: :meth:`commit` files them for the message, :meth:`discard` drops them."""

    store: ImageStore | None = None
    images: tuple[ImageRef, ...] = ()
    staged: list[Staged] = field(default_factory=list)

    async def commit(self, message_id: str) -> None:
        """Stored for good and kept for ``message_id`` (its retention counts from now)."""
        if self.store is None or not self.images:
            return
        store = self.store
        for staged in self.staged:
            await staged.commit()
        self.staged.clear()
        await store.keep(message_id, [image.sha256 for image in self.images])

    async def discard(self) -> None:
        staged, self.staged = self.staged, []
        for one in staged:
            try:
                await one.discard()
            except Exception:
                log.warning("could not discard a staged image", exc_info=True)


NO_IMAGES = Intake()


def _name(part: Part, index: int) -> str:
    cid = f" (Content-ID <{part.content_id}>)" if part.content_id else " (no Content-ID)"
    return f"part {index}{cid}"


def check_limits(images: Sequence[ImageRef], limits: Limits) -> None:
    """Before anything is read: how many images, and each one's signed size, against the partner's limits."""
    if len(images) > limits.max_images:
        raise TooLarge(
            f"the message names {len(images)} images; this partner may send at most {limits.max_images} per message",
            pointer="/Envelope/Body/InspectionResult/Image",
        )
    for index, image in enumerate(images, start=1):
        if image.size > limits.max_image_bytes:
            raise TooLarge(
                f"image {image.id!r} is {image.size} bytes (its SizeMeasure); this partner may send at most "
                f"{limits.max_image_bytes} bytes per image",
                pointer=f"/Envelope/Body/InspectionResult/Image[{index}]/SizeMeasure",
            )


async def take_in(images: tuple[ImageRef, ...], parts: PartSource | None, store: ImageStore, limits: Limits) -> Intake:
    """Stage every image the message names from ``parts``; refuse (and drop what was staged) on the first bad part."""
    if not images and parts is None:
        return NO_IMAGES
    check_limits(images, limits)
    intake = Intake(store, images)
    try:
        await _read_parts(images, parts, intake, limits)
    except BaseException:
        await intake.discard()
        raise
    return intake


async def _read_parts(images: tuple[ImageRef, ...], parts: PartSource | None, intake: Intake, limits: Limits) -> None:
    by_id = {image.id: image for image in images}
    received: set[str] = set()
    index = parts.parts_before if parts is not None else 1  # the message is part 1 (or 2 after an AS4 envelope)
    while parts is not None:
        async with asyncio.timeout(limits.part_timeout) as deadline:
            try:
                part = await parts.next_part()
                if part is None:
                    break
                index += 1
                name = _name(part, index)
                image = by_id.get(part.content_id or "")
                if image is None:
                    named = ", ".join(sorted(by_id)) or "none"
                    raise ImageInvalid(
                        f"{name} is not an image the message names (its Image IDs: {named})", pointer=f"/parts/{index}"
                    )
                if image.id in received:
                    raise ImageInvalid(f"{name}: image {image.id!r} was sent twice", pointer=f"/parts/{index}")
                received.add(image.id)
                await _stage(part, name, index, image, intake)
            except TimeoutError:
                if deadline.expired():
                    raise MalformedMultipart(
                        f"part {index} was not received within {limits.part_timeout:g} s", pointer=f"/parts/{index}"
                    ) from None
                raise
    missing = [image.id for image in images if image.id not in received]
    if missing:
        how = "" if parts is not None else " (send the message as multipart/related with one part per image)"
        raise ImageInvalid(
            f"the message names image(s) {', '.join(repr(m) for m in missing)} that were not sent{how}",
            pointer="/Envelope/Body/InspectionResult/Image",
        )


async def _stage(part: Part, name: str, index: int, image: ImageRef, intake: Intake) -> None:
    assert intake.store is not None
    pointer = f"/parts/{index}"
    if part.media_type and part.media_type != image.media_type:
        raise ImageInvalid(
            f"{name}: Content-Type {part.media_type[:100]!r} but the message says {image.media_type} for image "
            f"{image.id!r}",
            pointer=pointer,
        )
    if part.signed_sha256 is not None and part.signed_sha256 != image.sha256:
        raise ImageInvalid(
            f"{name}: the transport signature gives it the SHA-256 digest {part.signed_sha256}, but the message "
            f"says {image.sha256} for image {image.id!r}",
            pointer=pointer,
        )
    staged = await intake.store.stage()
    intake.staged.append(staged)
    head = b""
    while chunk := await part.read_chunk():
        if len(head) < MAGIC_BYTES:
            head += chunk[: MAGIC_BYTES - len(head)]
            if len(head) >= MAGIC_BYTES or staged.size + len(chunk) >= image.size:
                _check_magic(head, name, image, pointer)
        if staged.size + len(chunk) > image.size:
            raise ImageInvalid(
                f"{name}: longer than the {image.size} bytes the message says for image {image.id!r}", pointer=pointer
            )
        await staged.write(chunk)
    if staged.size < image.size:
        raise ImageInvalid(
            f"{name}: {staged.size} bytes, but the message says {image.size} for image {image.id!r}", pointer=pointer
        )
    if staged.size < MAGIC_BYTES:
        _check_magic(head, name, image, pointer)
    if staged.sha256 != image.sha256:
        raise ImageInvalid(
            f"{name}: SHA-256 digest mismatch for image {image.id!r}: received {staged.sha256}, the signed message "
            f"says {image.sha256}",
            pointer=pointer,
        )


def _check_magic(head: bytes, name: str, image: ImageRef, pointer: str) -> None:
    found = sniff(head)
    if found != image.media_type:
        what = found or f"none of PNG, JPEG, TIFF (first bytes {head[:8].hex()})"
        raise ImageInvalid(
            f"{name}: the message says {image.media_type} for image {image.id!r}, but its first bytes are {what}",
            pointer=pointer,
        )
