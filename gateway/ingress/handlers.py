"""The partner inbox: ``POST /v1/partners/{id}/messages``, bytes in, signed receipt out (gateway.ingress.pipeline)."""

from __future__ import annotations

import asyncio
import contextlib
import time
import zlib

from aiohttp import hdrs, web
from aiohttp.web_urldispatcher import _default_expect_handler

from gateway.errors import MalformedXml, Overloaded, RateLimited, Rejection, TooLarge, UnsupportedMessage
from gateway.ingress.multipart import MULTIPART_RELATED, body_limit, open_parts
from gateway.ingress.pipeline import Answer
from gateway.runtime import RUNTIME
from gateway.security.tls import check_client_certificate

# What a partner may POST. aiohttp's client labels a bytes body application/octet-stream, so that passes too;
# everything else (form posts, JSON, multipart, text) is a client mistake answered before the body is read.
_XML_TYPES = frozenset({"application/xml", "text/xml", "application/octet-stream"})
# Compressed bodies: aiohttp's own inflation is turned off (app.py) and done here, in bounded steps, so a
# compression bomb stops at max_body_bytes of *inflated* XML whatever the aiohttp version. Other codings
# (br, zstd, compress, stacked codings) are refused with a signed receipt before the body is read.
_ENCODINGS = frozenset({"identity", "gzip", "x-gzip", "deflate"})


def peer_certificate(request: web.Request) -> bytes | None:
    """The DER of the TLS client certificate of ``request``, if it was made over TLS with one."""
    transport = request.transport
    ssl_object = transport.get_extra_info("ssl_object") if transport is not None else None
    if ssl_object is None:
        return None
    der: bytes | None = ssl_object.getpeercert(binary_form=True)
    return der


class _Inflater:
    """Streaming gzip/deflate decoding that never yields more than ``limit`` bytes in total."""

    def __init__(self, coding: str, limit: int) -> None:
        self.coding = coding
        self.limit = limit
        self.size = 0
        self._zlib: zlib._Decompress | None = None

    def feed(self, chunk: bytes) -> bytes:
        if self._zlib is None:
            if self.coding == "deflate" and chunk and chunk[0] & 0x0F != 8:
                wbits = -zlib.MAX_WBITS  # raw deflate without the zlib header: common in the wild
            else:
                wbits = zlib.MAX_WBITS | (16 if self.coding != "deflate" else 0)
            self._zlib = zlib.decompressobj(wbits)
        try:
            # At most one byte past the limit: enough to know it is too large, never a bomb's worth.
            data = self._zlib.decompress(chunk, self.limit - self.size + 1)
        except zlib.error as exc:
            raise MalformedXml(f"the {self.coding} body could not be decompressed: {exc}") from None
        self.size += len(data)
        if self.size > self.limit:
            raise TooLarge(f"the decompressed body exceeds the limit of {self.limit} bytes")
        return data

    def finish(self) -> None:
        if self._zlib is None or not self._zlib.eof:
            raise MalformedXml(f"the {self.coding} body is truncated: the compressed stream does not end")


async def read_body(
    request: web.Request,
    max_bytes: int,
    timeout: float,  # noqa: ASYNC109 - a slow body is a MalformedXml answer, not a cancellation
) -> bytes:
    """The whole body, or TooLarge before reading past the limit, or MalformedXml when it trickles too slowly.

    Content-Length is checked before anything is read; the running count covers chunked and compressed bodies
    (the limit applies to the compressed and to the decompressed size).
    """
    declared = request.content_length
    if declared is not None and declared > max_bytes:
        raise TooLarge(f"the body of {declared} bytes exceeds the limit of {max_bytes} bytes")
    coding = request.headers.get(hdrs.CONTENT_ENCODING, "identity").strip().lower()
    inflater = _Inflater(coding, max_bytes) if coding != "identity" else None
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(timeout):
            async for chunk in request.content.iter_chunked(65536):
                size += len(chunk)
                if size > max_bytes:
                    raise TooLarge(f"the body exceeds the limit of {max_bytes} bytes")
                chunks.append(inflater.feed(chunk) if inflater else chunk)
    except TimeoutError:
        raise MalformedXml(f"the body was not received within {timeout:g} s") from None
    except ConnectionResetError:  # the sender hung up half-way: a rejection to record, not a server error
        expected = f" of {declared}" if declared is not None else ""
        raise MalformedXml(f"the connection closed after {size}{expected} bytes of the body") from None
    if inflater:
        inflater.finish()
    return b"".join(chunks)


def _check_headers(request: web.Request) -> None:
    """Content-Type must name XML (or nothing), or multipart/related (a message with images); Content-Encoding
    must be one aiohttp inflates with a bound."""
    kind = request.headers.get(hdrs.CONTENT_TYPE, "").split(";")[0].strip().lower()
    if kind == MULTIPART_RELATED:
        return
    if kind and kind not in _XML_TYPES and not (kind.startswith("application/") and kind.endswith("+xml")):
        raise UnsupportedMessage(
            f"Content-Type {kind[:100]!r} is not accepted; send application/xml (or text/xml)",
            pointer="/headers/Content-Type",
        )
    coding = request.headers.get(hdrs.CONTENT_ENCODING, "identity").strip().lower()
    if coding not in _ENCODINGS:
        raise UnsupportedMessage(
            f"Content-Encoding {coding[:100]!r} is not accepted; allowed: {', '.join(sorted(_ENCODINGS))}",
            pointer="/headers/Content-Encoding",
        )


async def expect_continue(request: web.Request) -> None:
    """``Expect: 100-continue``: never invite a body that will be refused unread (the handler answers 413). A
    multipart/related body may carry images beyond max_body_bytes: its limit is the message's and the images'
    (inviting only up to max_body_bytes left such a sender waiting until the body timeout, then a 400)."""
    settings = request.app[RUNTIME].settings
    limit = settings.http.max_body_bytes
    if request.content_type == MULTIPART_RELATED:
        limit = body_limit(settings.http, settings.images)
    declared = request.content_length
    if declared is not None and declared > limit:
        return
    await _default_expect_handler(request)


async def receive_message(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    partner_id = request.match_info["partner_id"]
    started = time.perf_counter()
    partner = runtime.ingress.partners().get(partner_id)
    async with contextlib.AsyncExitStack() as in_flight:
        unread = False
        try:
            # Mutual TLS: a client certificate must be the URL partner's (pinned, or issued by its CAs).
            client_certificate = peer_certificate(request)
            if client_certificate is not None:
                check_client_certificate(partner, client_certificate, runtime.ingress.clock())
            _check_headers(request)
            if partner is not None:  # quotas and shedding, before the body is read (gateway.ingress.admission)
                await in_flight.enter_async_context(runtime.admission.enter(partner))
            if request.content_type == MULTIPART_RELATED:
                # Images follow the message: a refusal may leave parts unread, so the connection closes after it.
                unread = True
                body, parts = await open_parts(request, runtime.settings.http, runtime.settings.images)
            else:
                body = await read_body(
                    request, runtime.settings.http.max_body_bytes, runtime.settings.http.body_timeout
                )
                parts = None
        except Rejection as error:
            unread = True
            answer = await runtime.ingress.refuse_unread(partner_id, error)
            if isinstance(error, RateLimited | Overloaded) and runtime.settings.fairness.refusal_delay:
                # A client that ignores Retry-After must not turn refusals into a busy loop: answer after a pause
                # (it costs an open connection, no CPU).
                await asyncio.sleep(min(float(error.retry_after), runtime.settings.fairness.refusal_delay))
        else:
            urgent = partner is not None and runtime.admission.urgent(partner, body)
            async with runtime.admission.slot(partner_id, urgent):
                answer = await runtime.ingress.receive(partner_id, body, parts)
            unread = unread and answer.status >= 300
    runtime.metrics.ingress.labels(answer.partner or "unknown", answer.message_type or "unknown", answer.code).inc()
    runtime.metrics.ingress_seconds.labels(answer.code).observe(time.perf_counter() - started)
    response = _response(answer)
    if unread:
        # The rest of the body is not wanted (too large, too slow, wrong type, over quota): answer with
        # Connection: close. aiohttp then discards what is still in flight for at most its lingering time (10 s),
        # so that the client can read this answer instead of a connection reset, and closes.
        response.force_close()
    return response


# Seconds a client should wait before sending again, for the answers that say "not now" (RFC 9110 10.2.3).
RETRY_AFTER = {"partner-suspended": "300", "unavailable": "5", "rate-limited": "1"}


def _response(answer: Answer) -> web.Response:
    headers = {"X-Gateway-Message-Id": answer.message_id, "X-Gateway-Outcome": answer.code}
    if answer.follows:  # a follow-up: the gateway message id of what it follows (docs/DESIGN.md 8)
        headers["X-Gateway-Follows"] = answer.follows
    if answer.retry_after is not None:  # rate-limited: when the next token comes; shed: soon
        headers["Retry-After"] = str(answer.retry_after)
    elif answer.code in RETRY_AFTER:
        headers["Retry-After"] = RETRY_AFTER[answer.code]
    return web.Response(
        status=answer.status, body=answer.body, content_type="application/xml", charset="utf-8", headers=headers
    )


def add_routes(app: web.Application) -> None:
    app.router.add_post("/v1/partners/{partner_id}/messages", receive_message, expect_handler=expect_continue)
