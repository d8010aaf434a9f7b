"""``multipart/related`` (RFC 2387) as the gateway delivers an inspection result: the signed message first
(Content-ID ``<message>``, the ``start`` part), then each image the message names, streamed from the store.

The whole body's length is known before the first byte (the signed sizes), so it goes out with a
Content-Length; each image is hashed on its way out, and a store that returns other bytes than the signed
message says stops the delivery (the receiver would refuse it anyway: it checks the digests too).
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import AsyncIterator

from gateway.images.manifest import MESSAGE_PART, ImageRef
from gateway.images.store import ImageStore, closing

MULTIPART_RELATED = "multipart/related"


class ImageCorrupt(Exception):
    """The store's bytes of an image are not the ones the signed message names."""


def new_boundary() -> str:
    return f"gw-{uuid.uuid4().hex}"


def content_type(boundary: str) -> str:
    return f'{MULTIPART_RELATED}; type="application/xml"; start="<{MESSAGE_PART}>"; boundary="{boundary}"'


def _message_head(boundary: str) -> bytes:
    return (
        f"--{boundary}\r\nContent-Type: application/xml; charset=utf-8\r\nContent-ID: <{MESSAGE_PART}>\r\n\r\n"
    ).encode()


def _image_head(boundary: str, image: ImageRef) -> bytes:
    return (
        f"\r\n--{boundary}\r\nContent-Type: {image.media_type}\r\nContent-ID: <{image.id}>\r\n"
        f"Content-Transfer-Encoding: binary\r\nContent-Length: {image.size}\r\n\r\n"
    ).encode()


def _close(boundary: str) -> bytes:
    return f"\r\n--{boundary}--\r\n".encode()


def body_length(message: bytes, images: tuple[ImageRef, ...], boundary: str) -> int:
    return (
        len(_message_head(boundary))
        + len(message)
        + sum(len(_image_head(boundary, i)) + i.size for i in images)
        + len(_close(boundary))
    )


async def stream(
    message: bytes, images: tuple[ImageRef, ...], store: ImageStore, boundary: str
) -> AsyncIterator[bytes]:
    """The body, chunk by chunk: never more than one store chunk of an image in memory."""
    yield _message_head(boundary) + message
    for image in images:
        yield _image_head(boundary, image)
        async with closing(read_checked(store, image)) as chunks:
            async for chunk in chunks:
                yield chunk
    yield _close(boundary)


async def read_checked(store: ImageStore, image: ImageRef) -> AsyncIterator[bytes]:
    """The image's bytes from the store, hashed on the way: ImageCorrupt after the last chunk if they are not
    the ones the signed message names (one pass, nothing held; the receiver would refuse them anyway)."""
    digest, size = hashlib.sha256(), 0
    async with closing(store.read(image.sha256)) as chunks:
        async for chunk in chunks:
            digest.update(chunk)
            size += len(chunk)
            yield chunk
    if size != image.size or digest.hexdigest() != image.sha256:
        raise ImageCorrupt(f"the stored bytes of image {image.id!r} (sha256:{image.sha256}) do not match it")
