"""Admin API (bearer token): partners, messages, status history, operator retry."""

from __future__ import annotations

import datetime as dt
import hmac
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from gateway.ingress.handlers import RUNTIME
from gateway.operations import partner_view, retry_message
from gateway.store.base import MessageRecord

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": code, "message": message}, status=status)


@web.middleware
async def require_token(request: web.Request, handler: Handler) -> web.StreamResponse:
    if not request.path.startswith("/v1/admin/"):
        return await handler(request)
    expected = request.app[RUNTIME].token
    given = request.headers.get("Authorization", "")
    scheme, _, token = given.partition(" ")
    # compare_digest: the time taken does not reveal how much of the token matched.
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), expected.encode()):
        return web.json_response(
            {"error": "unauthorized", "message": "a valid 'Authorization: Bearer <admin token>' header is required"},
            status=401,
            headers={"WWW-Authenticate": 'Bearer realm="gateway-admin"'},
        )
    return await handler(request)


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value else None


def message_json(record: MessageRecord) -> dict[str, Any]:
    return {
        "id": record.id,
        "sender": record.sender,
        "sender_message_id": record.sender_message_id,
        "type": record.message_type,
        "status": record.status.value,
        "receivers": list(record.receivers),
        "code": record.code,
        "reason": record.reason,
        "created": _iso(record.created),
        "updated": _iso(record.updated),
    }


async def list_partners(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    return web.json_response({"partners": [partner_view(p) for p in runtime.registry.values()]})


async def show_partner(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    partner = runtime.registry.get(request.match_info["partner_id"])
    if partner is None:
        return _error(404, "unknown-partner", f"no partner {request.match_info['partner_id']!r}")
    return web.json_response(partner_view(partner))


async def list_messages(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    try:
        limit = min(int(request.query.get("limit", "100")), 1000)
    except ValueError:
        return _error(400, "bad-request", f"limit must be a whole number, got {request.query.get('limit')!r}")
    records = await runtime.store.find(
        status=request.query.get("status") or None,
        partner=request.query.get("partner") or None,
        message_type=request.query.get("type") or None,
        limit=limit,
    )
    return web.json_response({"messages": [message_json(r) for r in records]})


async def show_message(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    message_id = request.match_info["message_id"]
    record = await runtime.store.get(message_id)
    if record is None:
        return _error(404, "unknown-message", f"no message {message_id!r}")
    deliveries = await runtime.store.deliveries(message_id)
    events = await runtime.store.events(message_id)
    return web.json_response(
        {
            **message_json(record),
            "deliveries": [
                {
                    "receiver": d.receiver,
                    "status": d.status.value,
                    "attempts": d.attempts,
                    "reason": d.reason,
                    "next_attempt": _iso(d.next_attempt),
                    "updated": _iso(d.updated),
                }
                for d in deliveries
            ],
            "history": [
                {"at": _iso(e.at), "status": e.status, "actor": e.actor, "receiver": e.receiver, "reason": e.reason}
                for e in events
            ],
        }
    )


async def retry(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    message_id = request.match_info["message_id"]
    reason = request.query.get("reason") or "retry requested by an operator"
    result = await retry_message(runtime, message_id, actor="admin-api", reason=reason)
    status = 202 if result.ok else (404 if result.code == "unknown-message" else 409)
    return web.json_response(
        {"id": message_id, "retried": list(result.receivers), "code": result.code, "message": result.message},
        status=status,
    )


def add_routes(app: web.Application) -> None:
    app.router.add_get("/v1/admin/partners", list_partners)
    app.router.add_get("/v1/admin/partners/{partner_id}", show_partner)
    app.router.add_get("/v1/admin/messages", list_messages)
    app.router.add_get("/v1/admin/messages/{message_id}", show_message)
    app.router.add_post("/v1/admin/messages/{message_id}/retry", retry)
