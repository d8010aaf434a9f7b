"""HTTP transport (``[delivery] transport = "http"``): POST the signed document to the receiver's inbox.
aiohttp errors are translated here, once."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping

import aiohttp

from gateway.delivery.transport import Outbound, stored_images
from gateway.errors import PermanentDeliveryError, TransientDeliveryError
from gateway.images import multipart
from gateway.images.store import ImageStore, closing
from gateway.partners.model import HttpDelivery
from gateway.text import shorten

# What a request through aiohttp's client can raise, all translated to TransientDeliveryError below
# (tests/test_errors.py checks that every exception class of aiohttp's client is among them).
CLIENT_ERRORS: tuple[type[BaseException], ...] = (aiohttp.ClientError, OSError)  # OSError: TimeoutError too

# Answers worth trying again: the receiver is busy, timing out or broken for now.
RETRYABLE = frozenset({408, 425, 429})


def is_retryable(status: int) -> bool:
    """A non-2xx answer a later attempt may get past (5xx, 408, 425, 429); any other is final."""
    return status >= 500 or status in RETRYABLE


class HttpTransport:
    name = "http"

    def __init__(self, session: aiohttp.ClientSession, default_timeout: float) -> None:
        self.session = session
        self.default_timeout = default_timeout

    @classmethod
    def open(cls, default_timeout: float) -> HttpTransport:
        """A transport with its own client session (closed by :meth:`close`)."""
        return cls(aiohttp.ClientSession(), default_timeout)

    async def close(self) -> None:
        await self.session.close()

    async def send(self, outbound: Outbound) -> str:
        delivery = outbound.partner.spec.delivery
        if not isinstance(delivery, HttpDelivery):
            raise PermanentDeliveryError(f"receiver {outbound.partner.id} has no HTTP [delivery] url")
        message = outbound.message
        url = str(delivery.url)
        headers = {
            "X-Gateway-Message-Id": message.message_id,
            "X-Sender": message.sender,
            "X-Sender-Message-Id": message.sender_message_id,
            "X-Message-Type": message.message_type,
        }
        if outbound.images:
            status = await self.post_images(url, outbound, headers, await stored_images(outbound), delivery.timeout)
            return f"HTTP {status} from {url} (multipart/related with {len(outbound.images)} images)"
        status = await self.post(url, outbound.body, headers, delivery.timeout)
        return f"HTTP {status} from {url}"

    async def post_images(
        self,
        url: str,
        outbound: Outbound,
        headers: Mapping[str, str],
        store: ImageStore,
        timeout: float | None = None,  # noqa: ASYNC109 - the partner's own aiohttp request timeout, handed on
    ) -> int:
        """The signed document and its images as one multipart/related body, streamed from the store."""
        boundary = multipart.new_boundary()
        length = multipart.body_length(outbound.body, outbound.images, boundary)
        # A whole image at this pace: tens of MB need more than a small message's timeout.
        seconds = (timeout or self.default_timeout) + length / 1_000_000
        async with closing(multipart.stream(outbound.body, outbound.images, store, boundary)) as body:
            return await self.post(
                url,
                body,
                {**headers, "Content-Type": multipart.content_type(boundary), "Content-Length": str(length)},
                seconds,
            )

    async def post(
        self,
        url: str,
        body: bytes | AsyncIterator[bytes],
        headers: Mapping[str, str],
        timeout: float | None = None,  # noqa: ASYNC109 - the partner's own aiohttp request timeout, handed on
    ) -> int:
        seconds = timeout or self.default_timeout
        try:
            async with self.session.post(
                url,
                data=body,
                headers={"Content-Type": "application/xml; charset=utf-8", **headers},
                timeout=aiohttp.ClientTimeout(total=seconds),
                allow_redirects=False,
            ) as response:
                text = (await response.content.read(2048)).decode("utf-8", "replace")
                status = response.status
        except TimeoutError as exc:  # aiohttp's ServerTimeoutError and ConnectionTimeoutError are TimeoutErrors
            raise TransientDeliveryError(f"{url} did not answer within {seconds:g} s") from exc
        except CLIENT_ERRORS as exc:
            raise TransientDeliveryError(f"{url} unreachable: {type(exc).__name__}: {exc}") from exc
        if 200 <= status < 300:
            return status
        detail = f"{url} answered HTTP {status}: {shorten(text, 300, collapse=True)}"
        if is_retryable(status):
            raise TransientDeliveryError(detail)
        raise PermanentDeliveryError(detail)
