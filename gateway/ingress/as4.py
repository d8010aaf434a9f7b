"""``POST /v1/as4``: the AS4 endpoint (gateway.as4.inbox does the work)."""

from __future__ import annotations

import asyncio
import logging

from aiohttp import hdrs, web

from gateway.as4 import mime, signals
from gateway.as4.errors import InvalidHeader, Other, PolicyNoncompliance
from gateway.as4.inbox import As4Answer, As4Inbox
from gateway.config import HttpSection, ImagesSection
from gateway.errors import Overloaded, RateLimited, Rejection, TooLarge
from gateway.ingress.handlers import read_body
from gateway.ingress.multipart import MULTIPART_RELATED, HttpParts
from gateway.runtime import RUNTIME, Runtime

log = logging.getLogger(__name__)
SOAP = "application/soap+xml"


async def receive_as4(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    inbox = runtime.as4_inbox
    if inbox is None:
        return web.json_response(
            {"error": "not-found", "message": "AS4 is not configured on this gateway ([as4] in gateway.toml)"},
            status=404,
        )
    content_type = request.headers.get(hdrs.CONTENT_TYPE, "")
    if content_type.split(";")[0].strip().lower() == MULTIPART_RELATED:
        try:
            answer = await _receive_parts(request, inbox, runtime.settings.http, runtime.settings.images)
        except (RateLimited, Overloaded) as error:
            return await _not_now(runtime, error, unread=True)
        return _answer(runtime, answer)
    try:
        body = await read_body(request, runtime.settings.http.max_body_bytes, runtime.settings.http.body_timeout)
    except TooLarge as error:
        answer = inbox.refuse(PolicyNoncompliance(error.message))
    except Rejection as error:
        answer = inbox.refuse(InvalidHeader(error.message))
    else:
        try:
            answer = await inbox.receive(content_type, body)
        except (RateLimited, Overloaded) as error:
            return await _not_now(runtime, error, unread=False)
        except Exception:  # an ebMS answer, never a 500: the cause is in the log
            log.exception("AS4 message could not be processed")
            answer = inbox.refuse(Other("the gateway could not process the message; send it again later"))
    return _answer(runtime, answer)


async def _not_now(runtime: Runtime, error: RateLimited | Overloaded, *, unread: bool) -> web.Response:
    """Over the partner's quota, or shed (gateway.ingress.admission): not an ebMS error, which a sending MSH takes
    as the message's final failure, but HTTP 429 / 503 with Retry-After, which it retries like any transport
    failure. The body is a SOAP 1.2 Fault saying why; nothing was accepted, nothing is signed or stored."""
    if runtime.settings.fairness.refusal_delay:  # as for the partner inbox: no busy loop of refusals
        await asyncio.sleep(min(float(error.retry_after), runtime.settings.fairness.refusal_delay))
    runtime.metrics.ingress.labels("unknown", "as4", error.code).inc()
    response = web.Response(
        status=error.http_status,
        body=signals.fault(error.message),
        content_type=SOAP,
        charset="utf-8",
        headers={"X-Gateway-Outcome": error.code, "Retry-After": str(error.retry_after)},
    )
    if unread:  # images may still be on the wire: close rather than read them
        response.force_close()
    return response


async def _receive_parts(request: web.Request, inbox: As4Inbox, http: HttpSection, images: ImagesSection) -> As4Answer:
    """multipart/related read part by part (an inspection result's images stream into the image store)."""
    most = http.max_body_bytes + images.max_images * (images.max_image_bytes + 4096)
    if request.content_length is not None and request.content_length > most:
        return inbox.refuse(PolicyNoncompliance(f"the body of {request.content_length} bytes exceeds {most} bytes"))
    if request.headers.get(hdrs.CONTENT_ENCODING, "identity").strip().lower() != "identity":
        return inbox.refuse(InvalidHeader("a Content-Encoding is not accepted for multipart/related"))
    try:
        reader = await request.multipart()
    except (ValueError, AssertionError) as exc:
        return inbox.refuse(InvalidHeader(f"the multipart/related body cannot be read: {exc}"))
    try:
        return await inbox.receive_parts(
            mime.start_of(request.headers.get(hdrs.CONTENT_TYPE, "")),
            HttpParts(reader, read=0, binary_only=False),
            declared_length=request.content_length,
            timeout=http.body_timeout,
        )
    except (RateLimited, Overloaded):
        raise  # answered 429 / 503 by the route
    except Exception:  # an ebMS answer, never a 500: the cause is in the log
        log.exception("AS4 message could not be processed")
        return inbox.refuse(Other("the gateway could not process the message; send it again later"))


def _answer(runtime: Runtime, answer: As4Answer) -> web.Response:
    runtime.metrics.ingress.labels(answer.partner or "unknown", "as4", answer.code).inc()
    headers = {"X-Gateway-Outcome": answer.code}
    if answer.gateway_id:
        headers["X-Gateway-Message-Id"] = answer.gateway_id
    return web.Response(status=200, body=answer.body, content_type=SOAP, charset="utf-8", headers=headers)


def add_routes(app: web.Application) -> None:
    app.router.add_post("/v1/as4", receive_as4)
