"""How a rendered, signed document reaches a receiver: one :class:`Transport` per partner ``[delivery] transport``.

The delivery worker renders and signs the receiver's document, then hands an :class:`Outbound` to the
transport the receiver's partner file names (``transport = "http"`` today). A transport raises
``TransientDeliveryError`` (retry with backoff) or ``PermanentDeliveryError`` (dead-letter now) and translates
its library's errors itself; on success it returns a short note for the status history.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from gateway.broker.routed import RoutedMessage
from gateway.errors import PermanentDeliveryError
from gateway.images.manifest import ImageRef
from gateway.images.store import ImageStore
from gateway.partners.model import Partner


@dataclass(frozen=True, kw_only=True)
class Outbound:
    """One document for one receiver: the signed bytes, the routed message it came from, its partner."""

    partner: Partner  # the receiver; ``partner.spec.delivery`` holds the transport's settings
    body: bytes  # the receiver's signed document in its own format
    message: RoutedMessage  # ids and type (transports put them in their own headers)
    images: tuple[ImageRef, ...] = ()  # an inspection result's images, streamed after the document
    image_store: ImageStore | None = None  # where they are (gateway.images)


async def stored_images(outbound: Outbound) -> ImageStore:
    """The store holding every image of ``outbound`` at its signed size (checked before a byte is sent), or
    PermanentDeliveryError naming the first one retention removed."""
    store = outbound.image_store
    if store is None:
        raise PermanentDeliveryError("this gateway has no image store open: the images cannot be delivered")
    for image in outbound.images:
        if await store.size(image.sha256) != image.size:
            raise PermanentDeliveryError(
                f"image {image.id!r} (sha256:{image.sha256}) of message {outbound.message.message_id} is no "
                "longer in the image store (removed by retention?)"
            )
    return store


class Transport(Protocol):
    """One way of delivering (HTTP POST, AS4 push, ...). Built once per runtime; closed with it."""

    name: str  # the partner files' ``[delivery] transport`` value it serves

    async def send(self, outbound: Outbound) -> str:
        """Deliver, or raise Transient/PermanentDeliveryError; returns e.g. ``"HTTP 200 from URL"``."""
        ...

    async def close(self) -> None: ...


class Transports:
    """The transports of one runtime, by name; the worker picks by the receiver's partner file."""

    def __init__(self, transports: Mapping[str, Transport]) -> None:
        self._by_name = dict(transports)

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def names(self) -> tuple[str, ...]:
        return tuple(sorted(self._by_name))

    def for_partner(self, partner: Partner) -> Transport:
        delivery = partner.spec.delivery
        if delivery is None:
            raise PermanentDeliveryError(f"receiver {partner.id} is no longer configured for delivery")
        transport = self._by_name.get(delivery.transport)
        if transport is None:
            raise PermanentDeliveryError(
                f"receiver {partner.id}: [delivery] transport {delivery.transport!r} is not available on this "
                f"gateway; available: {', '.join(self.names())}"
            )
        return transport

    async def close(self) -> None:
        for transport in self._by_name.values():
            await transport.close()
