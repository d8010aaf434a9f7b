"""HTTP transport: POST the signed document to the receiver's inbox. aiohttp errors are translated here."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import aiohttp

from gateway.errors import PermanentDeliveryError, TransientDeliveryError

# Answers worth trying again: the receiver is busy, timing out or broken for now.
_RETRYABLE = frozenset({408, 425, 429})


class HttpTransport:
    def __init__(self, session: aiohttp.ClientSession, default_timeout: float) -> None:
        self.session = session
        self.default_timeout = default_timeout

    async def deliver(
        self,
        url: str,
        body: bytes,
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
        except TimeoutError as exc:
            raise TransientDeliveryError(f"{url} did not answer within {seconds:g} s") from exc
        except (aiohttp.ClientError, asyncio.CancelledError, OSError) as exc:
            if isinstance(exc, asyncio.CancelledError):
                raise
            raise TransientDeliveryError(f"{url} unreachable: {type(exc).__name__}: {exc}") from exc
        if 200 <= status < 300:
            return status
        detail = f"{url} answered HTTP {status}: {' '.join(text.split())[:300]}"
        if status >= 500 or status in _RETRYABLE:
            raise TransientDeliveryError(detail)
        raise PermanentDeliveryError(detail)
