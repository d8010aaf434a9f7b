"""Admin API (bearer token): partners (list, show, create/update, delete, suspend/resume, certificate
rollover, conformance test, reload), messages, status history, operator retry, configuration audit log,
traffic counts."""

from __future__ import annotations

import datetime as dt
import hmac
import json
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from gateway.activity import MAX_MINUTES, history
from gateway.admin import ping as connectivity
from gateway.admin.inspection import inspection_view
from gateway.admin.messages import retry_message
from gateway.admin.partners import Change
from gateway.admin.views import ConfigEventView, EvidenceView, MessageDetail, MessageView, PartnerView, TrafficView
from gateway.conformance import Conditions, run_conformance, samples_folder
from gateway.errors import ConfigError, GatewayError
from gateway.images.magic import sniff
from gateway.images.thumbnail import NoPreview, thumbnail
from gateway.runtime import RUNTIME

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": code, "message": message}, status=status)


# ``X-Gateway-Actor``: who an authenticated admin client acts for, recorded as the actor of what it changes
# (``gateway partners ... --api`` sends ``cli:<user>``). "<channel>:<name>", so it cannot pass for the gateway's
# own actors (``admin-api``, ``signal``, ``file-watch``, ``announcement``).
ACTOR_HEADER = "X-Gateway-Actor"
ACTOR = re.compile(r"[a-z][a-z0-9-]{0,15}:[A-Za-z0-9._@$\\-]{1,64}")
ADMIN_API = "admin-api"
ACTOR_KEY = web.RequestKey("actor", str)


def actor_of(request: web.Request) -> str:
    """The actor to record: ``X-Gateway-Actor`` (checked by ``require_token``), else ``admin-api``."""
    actor: str = request.get(ACTOR_KEY, ADMIN_API)
    return actor


_SHA256 = re.compile(r"[0-9a-f]{64}")


@web.middleware
async def require_token(request: web.Request, handler: Handler) -> web.StreamResponse:
    if not request.path.startswith("/v1/admin/"):
        return await handler(request)
    expected = request.app[RUNTIME].token
    given = request.headers.get("Authorization", "")
    scheme, _, token = given.partition(" ")
    # aiohttp hands undecodable header bytes over as surrogates: encode them back rather than fail with a 500.
    supplied = token.strip().encode("utf-8", "surrogateescape")
    # compare_digest: the time taken does not reveal how much of the token matched.
    if scheme.lower() != "bearer" or not hmac.compare_digest(supplied, expected.encode()):
        return web.json_response(
            {"error": "unauthorized", "message": "a valid 'Authorization: Bearer <admin token>' header is required"},
            status=401,
            headers={"WWW-Authenticate": 'Bearer realm="gateway-admin"'},
        )
    actor = request.headers.get(ACTOR_HEADER)
    if actor is not None:
        if not ACTOR.fullmatch(actor):
            return _error(
                400,
                "actor-invalid",
                f"{ACTOR_HEADER}: {actor[:100]!r} is not '<channel>:<name>' (e.g. 'cli:alice'; channel a-z 0-9 -, "
                "name A-Z a-z 0-9 . _ @ $ \\ -, at most 64)",
            )
        request[ACTOR_KEY] = actor
    return await handler(request)


async def list_partners(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    horizon = runtime.settings.admin.certificate_warning_days
    return web.json_response(
        {
            "partners": [PartnerView.of(p, horizon_days=horizon).as_json() for p in runtime.registry.values()],
            "certificate_warning_days": horizon,
        }
    )


def _unknown_partner(request: web.Request) -> web.Response:
    return _error(404, "unknown-partner", f"no partner {request.match_info['partner_id']!r}")


def _limit(request: web.Request) -> int | web.Response:
    """The ``limit`` query parameter (100 when absent, at most 1000), or the 400 answer when it is not a whole
    number of at least 1. A negative limit would mean "no limit" to SQLite (and overflow it when huge)."""
    raw = request.query.get("limit", "100")
    try:
        limit = int(raw)
    except ValueError:
        return _error(400, "bad-request", f"limit must be a whole number, got {raw[:40]!r}")
    if limit < 1:
        return _error(400, "bad-request", f"limit must be at least 1, got {raw[:40]}")
    return min(limit, 1000)


async def show_partner(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    partner = runtime.registry.get(request.match_info["partner_id"])
    if partner is None:
        return _unknown_partner(request)
    horizon = runtime.settings.admin.certificate_warning_days
    return web.json_response(PartnerView.of(partner, horizon_days=horizon).as_json())


async def list_messages(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    limit = _limit(request)
    if isinstance(limit, web.Response):
        return limit
    records = await runtime.store.find(
        status=request.query.get("status") or None,
        partner=request.query.get("partner") or None,
        message_type=request.query.get("type") or None,
        limit=limit,
    )
    return web.json_response({"messages": [MessageView.of(r).as_json() for r in records]})


async def show_message(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    message_id = request.match_info["message_id"]
    record = await runtime.store.get(message_id)
    if record is None:
        return _error(404, "unknown-message", f"no message {message_id!r}")
    deliveries = await runtime.store.deliveries(message_id)
    events = await runtime.store.events(message_id)
    return web.json_response(MessageDetail.of(record, deliveries, events).as_json())


async def show_evidence(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    message_id = request.match_info["message_id"]
    kept = await runtime.store.evidence(message_id)
    return web.json_response({"message_id": message_id, "evidence": [EvidenceView.of(e).as_json() for e in kept]})


async def show_inspection(request: web.Request) -> web.Response:
    """An inspection result's fields and its images (digest, size, media type) for the console."""
    runtime = request.app[RUNTIME]
    message_id = request.match_info["message_id"]
    canonical = await runtime.store.canonical(message_id)
    view = inspection_view(canonical) if canonical is not None else None
    if view is None:
        return _error(404, "no-inspection-result", f"message {message_id!r} is not a stored inspection result")
    return web.json_response({"message_id": message_id, **view})


async def show_image(request: web.Request) -> web.StreamResponse:
    """A stored image: the original bytes (streamed), or ``?preview=N`` a PNG of at most N pixels a side."""
    runtime = request.app[RUNTIME]
    digest = request.match_info["sha256"]
    if not _SHA256.fullmatch(digest):
        return _error(400, "bad-request", "the image is named by its SHA-256 digest: 64 lower-case hex digits")
    size = await runtime.images.size(digest)
    if size is None:
        return _error(404, "unknown-image", f"no image sha256:{digest} in the store (never stored, or removed)")
    preview = request.query.get("preview")
    if preview is not None:
        # isdigit() alone takes "²", which int() refuses (that was a 500): ASCII digits only.
        if not (preview.isascii() and preview.isdigit()) or not 16 <= int(preview) <= 4096:
            return _error(400, "bad-request", "preview: a size in pixels from 16 to 4096")
        try:
            png = await thumbnail(runtime.images, digest, int(preview))
        except NoPreview as exc:
            return _error(422, "no-preview", str(exc))
        return web.Response(body=png, content_type="image/png", headers={"Cache-Control": "private, max-age=3600"})
    response = web.StreamResponse(
        headers={"Cache-Control": "private, max-age=3600", "X-Content-Type-Options": "nosniff"}
    )
    response.content_length = size
    first = True
    async for chunk in runtime.images.read(digest):
        if first:
            response.content_type = sniff(chunk) or "application/octet-stream"
            await response.prepare(request)
            first = False
        await response.write(chunk)
    await response.write_eof()
    return response


async def retry(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    message_id = request.match_info["message_id"]
    reason = request.query.get("reason") or "retry requested by an operator"
    result = await retry_message(runtime.store, runtime.broker(), message_id, actor=actor_of(request), reason=reason)
    status = 202 if result.ok else {"unknown-message": 404, "unavailable": 503}.get(result.code, 409)
    return web.json_response(
        {"id": message_id, "retried": list(result.receivers), "code": result.code, "message": result.message},
        status=status,
    )


def _refused(exc: GatewayError) -> web.Response:
    """A refused change: what is wrong, in the gateway's words; the running configuration is unchanged."""
    status = 422 if isinstance(exc, ConfigError) else exc.http_status
    return _error(status, exc.code, exc.message)


def _changed(change: Change, status: int = 200) -> web.Response:
    return web.json_response(
        {
            "partner": change.partner,
            "action": change.action,
            "detail": change.detail,
            "reloaded": change.changes.describe() if change.changes is not None else None,
            "before": change.before,
            "after": change.after,
        },
        status=status,
    )


async def _json_body(request: web.Request) -> Any:
    try:
        return await request.json(loads=json.loads)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"the body is not valid JSON: {exc}") from None
    except RecursionError:  # json.loads recurses per level: [[[[... a few thousand deep was a 500
        raise ConfigError("the body is not valid JSON: arrays or objects are nested too deeply") from None


async def put_partner(request: web.Request) -> web.Response:
    admin = request.app[RUNTIME].partner_admin(actor_of(request))
    try:
        change = await admin.put(request.match_info["partner_id"], await _json_body(request))
    except GatewayError as exc:
        return _refused(exc)
    return _changed(change, 201 if change.action == "create" else 200)


async def delete_partner(request: web.Request) -> web.Response:
    admin = request.app[RUNTIME].partner_admin(actor_of(request))
    try:
        return _changed(await admin.remove(request.match_info["partner_id"]))
    except GatewayError as exc:
        return _refused(exc)


def _suspender(suspended: bool) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handler(request: web.Request) -> web.Response:
        admin = request.app[RUNTIME].partner_admin(actor_of(request))
        try:
            return _changed(await admin.set_suspended(request.match_info["partner_id"], suspended))
        except GatewayError as exc:
            return _refused(exc)

    return handler


async def add_certificate(request: web.Request) -> web.Response:
    """Certificate rollover: ``{"certificate": "<PEM>", "drop_expired": false}``."""
    admin = request.app[RUNTIME].partner_admin(actor_of(request))
    try:
        body = await _json_body(request)
        pem = body.get("certificate") if isinstance(body, dict) else None
        if not isinstance(pem, str) or not pem.strip():
            raise ConfigError("certificate: required, the PEM text of the next certificate")
        change = await admin.rotate_certificate(
            request.match_info["partner_id"],
            pem.encode("ascii", "replace"),
            drop_expired=bool(body.get("drop_expired")),
        )
    except GatewayError as exc:
        return _refused(exc)
    return _changed(change)


async def reload_partners(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    try:
        changes = await runtime.reload(actor=actor_of(request), trigger=ADMIN_API)
    except GatewayError as exc:
        return _refused(exc)
    return web.json_response(
        {
            "reloaded": changes.describe(),
            "added": list(changes.added),
            "removed": list(changes.removed),
            "changed": list(changes.changed),
            "partners": sorted(runtime.registry),
        }
    )


async def test_partner(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    partner = runtime.registry.get(request.match_info["partner_id"])
    if partner is None:
        return _unknown_partner(request)
    try:
        conditions = Conditions.of(runtime.settings, runtime.registry, runtime.adapters)
        report = run_conformance(conditions, partner, samples_folder(partner, runtime.settings.partners_dir))
    except GatewayError as exc:
        return _refused(exc)
    return web.json_response({**report.as_json(), "text": report.render()})


async def config_events(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    limit = _limit(request)
    if isinstance(limit, web.Response):
        return limit
    events = await runtime.store.config_events(partner=request.query.get("partner") or None, limit=limit)
    return web.json_response({"events": [ConfigEventView.of(e).as_json() for e in events]})


async def traffic_counts(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    await runtime.refresh_queue_depths()
    return web.json_response(TrafficView.of(runtime.metrics).as_json())


async def traffic_history(request: web.Request) -> web.Response:
    """Received and delivered per partner and minute over the last ``minutes`` (default 60), with latency."""
    raw = request.query.get("minutes", "60")
    try:
        minutes = int(raw)
    except ValueError:
        minutes = 0
    if not 1 <= minutes <= MAX_MINUTES:
        return _error(400, "bad-request", f"minutes must be a whole number from 1 to {MAX_MINUTES}, got {raw!r}")
    return web.json_response(await history(request.app[RUNTIME].store, minutes=minutes))


async def ping_partner(request: web.Request) -> web.Response:
    """Connectivity check: 200 with what happened (``ok`` false when the partner's endpoint failed)."""
    runtime = request.app[RUNTIME]
    partner = runtime.registry.get(request.match_info["partner_id"])
    if partner is None:
        return _unknown_partner(request)
    try:
        result = await connectivity.ping_partner(
            partner,
            adapter=runtime.adapters[partner.format],
            keyring=runtime.keyring,
            participant_id=runtime.settings.gateway.id,
            default_timeout=runtime.settings.delivery.timeout,
        )
    except GatewayError as exc:
        return _refused(exc)
    log.info("connectivity check of %s (%s): %s", partner.id, result.url, result.message)
    return web.json_response({**result.as_json(), "text": result.render()})


async def gateway_keys(request: web.Request) -> web.Response:
    """The gateway's certificates, current and next, as PEM with validity. Public at ``/v1/keys`` (partners
    fetch the next certificate before its first use); ``/v1/admin/keys`` adds the files they come from."""
    runtime = request.app[RUNTIME]
    admin = request.path.startswith("/v1/admin/")
    now = dt.datetime.now(dt.UTC)
    return web.json_response(
        {
            "gateway": runtime.settings.gateway.id,
            "time": now.isoformat(),
            "keys": runtime.keyring.published(now=now, files=admin),
        }
    )


def add_routes(app: web.Application) -> None:
    app.router.add_get("/v1/admin/partners", list_partners)
    app.router.add_post("/v1/admin/partners/reload", reload_partners)
    app.router.add_get("/v1/admin/partners/{partner_id}", show_partner)
    app.router.add_put("/v1/admin/partners/{partner_id}", put_partner)
    app.router.add_delete("/v1/admin/partners/{partner_id}", delete_partner)
    app.router.add_post("/v1/admin/partners/{partner_id}/suspend", _suspender(True))
    app.router.add_post("/v1/admin/partners/{partner_id}/resume", _suspender(False))
    app.router.add_post("/v1/admin/partners/{partner_id}/certificates", add_certificate)
    app.router.add_post("/v1/admin/partners/{partner_id}/test", test_partner)
    app.router.add_post("/v1/admin/partners/{partner_id}/ping", ping_partner)
    app.router.add_get("/v1/admin/keys", gateway_keys)
    app.router.add_get("/v1/keys", gateway_keys)  # public: certificates only (outside /v1/admin/, no token)
    app.router.add_get("/v1/admin/config-events", config_events)
    app.router.add_get("/v1/admin/traffic", traffic_counts)
    app.router.add_get("/v1/admin/traffic/history", traffic_history)
    app.router.add_get("/v1/admin/messages", list_messages)
    app.router.add_get("/v1/admin/messages/{message_id}", show_message)
    app.router.add_get("/v1/admin/messages/{message_id}/evidence", show_evidence)
    app.router.add_post("/v1/admin/messages/{message_id}/retry", retry)
    app.router.add_get("/v1/admin/messages/{message_id}/inspection", show_inspection)
    app.router.add_get("/v1/admin/images/{sha256}", show_image)
