"""``POST /v1/as4``: the AS4 endpoint (gateway.as4.inbox does the work)."""

from __future__ import annotations

import logging

from aiohttp import hdrs, web

from gateway.as4.errors import InvalidHeader, Other, PolicyNoncompliance
from gateway.errors import Rejection, TooLarge
from gateway.ingress.handlers import read_body
from gateway.runtime import RUNTIME

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
    try:
        body = await read_body(request, runtime.settings.http.max_body_bytes, runtime.settings.http.body_timeout)
    except TooLarge as error:
        answer = inbox.refuse(PolicyNoncompliance(error.message))
    except Rejection as error:
        answer = inbox.refuse(InvalidHeader(error.message))
    else:
        try:
            answer = await inbox.receive(request.headers.get(hdrs.CONTENT_TYPE, ""), body)
        except Exception:  # an ebMS answer, never a 500: the cause is in the log
            log.exception("AS4 message could not be processed")
            answer = inbox.refuse(Other("the gateway could not process the message; send it again later"))
    runtime.metrics.ingress.labels(answer.partner or "unknown", "as4", answer.code).inc()
    headers = {"X-Gateway-Outcome": answer.code}
    if answer.gateway_id:
        headers["X-Gateway-Message-Id"] = answer.gateway_id
    return web.Response(status=200, body=answer.body, content_type=SOAP, charset="utf-8", headers=headers)


def add_routes(app: web.Application) -> None:
    app.router.add_post("/v1/as4", receive_as4)
