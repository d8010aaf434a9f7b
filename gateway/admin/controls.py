"""Admin API of the controls (bearer token, like the rest of /v1/admin):

GET /v1/admin/consignments?commodity=&consignor=&destination=&channel=&days=&limit=
    integrated monitoring: the consignments of the last N days matching the filters, counted by channel
GET /v1/admin/alerts?state=&limit=
    risk alerts raised (newest last), with their receivers and state
GET /v1/admin/watchlist
    the watch list of non-compliant products in force: its folder and entries
GET /v1/admin/watchlist/holds?state=&limit=
    messages with watch-list hits, newest first: held (awaiting a decision), released, refused, alerted
POST /v1/admin/watchlist/holds/{message_id}/release, .../refuse   (JSON body, optional: {"note": "..."})
    an officer's decision on a held message, recorded with the actor (X-Gateway-Actor, else admin-api)
GET /v1/admin/watchlist/monitoring?by=platform|seller&days=&limit=
    per e-commerce platform (ebpCode) or seller, the riskiest first: consignments screened, and the share held,
    refused, alerted
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from gateway.admin.api import actor_of
from gateway.controls.model import Query
from gateway.controls.monitoring import CHANNELS, find
from gateway.runtime import RUNTIME


def _error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": code, "message": message}, status=status)


def _number(request: web.Request, name: str, default: float, low: float, high: float) -> float:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{name}: {raw[:40]!r} is not a number") from None
    if not low <= value <= high:
        raise ValueError(f"{name}: {value:g} is outside {low:g}..{high:g}")
    return value


async def consignments(request: web.Request) -> web.Response:
    controls = request.app[RUNTIME].controls
    if controls is None or not controls.settings.monitoring:
        return _error(409, "monitoring-off", "monitoring is off: set [controls] monitoring = true")
    channel = request.query.get("channel") or None
    if channel is not None and channel not in CHANNELS:
        return _error(400, "bad-request", f"channel: {channel[:40]!r} is unknown; allowed: {', '.join(CHANNELS)}")
    try:
        days = _number(request, "days", 30.0, 0.0, 3660.0)
        limit = int(_number(request, "limit", 100, 0, 10000))
    except ValueError as exc:
        return _error(400, "bad-request", str(exc))
    query = Query(
        commodity=request.query.get("commodity") or None,
        consignor=request.query.get("consignor") or None,
        destination=request.query.get("destination") or None,
        channel=channel,
        days=days,
        limit=limit,
    )
    return web.json_response(find(controls.store, query).as_json())


async def alerts(request: web.Request) -> web.Response:
    controls = request.app[RUNTIME].controls
    if controls is None:
        return _error(409, "controls-off", "the controls are off: see [controls] in gateway.toml")
    try:
        limit = int(_number(request, "limit", 100, 1, 10000))
    except ValueError as exc:
        return _error(400, "bad-request", str(exc))
    records = controls.store.alerts(state=request.query.get("state") or None, limit=limit)
    body: list[dict[str, Any]] = [
        {
            "id": r.id,
            "reference": r.reference,
            "rule": r.rule,
            "pattern": r.pattern,
            "state": r.state,
            "receivers": list(r.receivers),
            "consignments": r.consignments,
            "summary": r.summary,
            "fired_at": r.fired_at.isoformat(),
            "created": r.created.isoformat(),
        }
        for r in records
    ]
    return web.json_response({"alerts": body})


def _watch(request: web.Request) -> Any:
    controls = request.app[RUNTIME].controls
    return None if controls is None else controls.watch


WATCH_OFF = "the watch list is off: set [controls] watchlist_dir"
WATCH_STATES = ("pending", "dropped", "held", "releasing", "refusing", "released", "refused", "alerted")


async def watchlist(request: web.Request) -> web.Response:
    watch = _watch(request)
    if watch is None:
        return _error(409, "watchlist-off", WATCH_OFF)
    try:
        limit = int(_number(request, "limit", 1000, 0, 1_000_000))
    except ValueError as exc:
        return _error(400, "bad-request", str(exc))
    entries = watch.watchlist.entries
    return web.json_response(
        {
            "folder": str(watch.watchlist.folder),
            "total": len(entries),
            "entries": [e.as_json() for e in entries[:limit]],
        }
    )


async def holds(request: web.Request) -> web.Response:
    watch = _watch(request)
    if watch is None:
        return _error(409, "watchlist-off", WATCH_OFF)
    state = request.query.get("state") or None
    for one in (state or "").split(","):
        if one and one not in WATCH_STATES:
            return _error(400, "bad-request", f"state: {one[:40]!r} is unknown; allowed: {', '.join(WATCH_STATES)}")
    try:
        limit = int(_number(request, "limit", 100, 1, 10000))
    except ValueError as exc:
        return _error(400, "bad-request", str(exc))
    records = watch.store.watches(state=state, limit=limit)
    return web.json_response({"holds": [r.as_json() for r in records]})


async def _decide(request: web.Request, decision: str) -> web.Response:
    from gateway.controls.watching import DecisionRefused

    watch = _watch(request)
    if watch is None:
        return _error(409, "watchlist-off", WATCH_OFF)
    note: str | None = None
    if request.can_read_body:
        try:
            body = await request.json()
        except (ValueError, RecursionError):  # RecursionError: [[[[... nested a few thousand deep (was a 500)
            return _error(400, "bad-request", 'the body is not JSON: send {} or {"note": "..."}')
        raw = body.get("note") if isinstance(body, dict) else None
        if raw is not None and (not isinstance(raw, str) or len(raw) > 500):
            return _error(400, "bad-request", "note: a text of at most 500 characters")
        note = raw.strip() or None if isinstance(raw, str) else None
    try:
        record = await watch.decide(request.match_info["message_id"], decision, actor=actor_of(request), note=note)
    except DecisionRefused as refused:
        return _error(refused.status, refused.code, refused.message)
    return web.json_response(record.as_json())


async def release(request: web.Request) -> web.Response:
    return await _decide(request, "release")


async def refuse(request: web.Request) -> web.Response:
    return await _decide(request, "refuse")


async def watch_monitoring(request: web.Request) -> web.Response:
    watch = _watch(request)
    if watch is None:
        return _error(409, "watchlist-off", WATCH_OFF)
    by = request.query.get("by") or "platform"
    if by not in ("platform", "seller"):
        return _error(400, "bad-request", f"by: {by[:40]!r} is unknown; allowed: platform, seller")
    try:
        days = int(_number(request, "days", 30, 1, 3660))
        limit = int(_number(request, "limit", 50, 1, 1000))
    except ValueError as exc:
        return _error(400, "bad-request", str(exc))
    return web.json_response(watch.shares(by, days, limit=limit))


def add_routes(app: web.Application) -> None:
    app.router.add_get("/v1/admin/consignments", consignments)
    app.router.add_get("/v1/admin/alerts", alerts)
    app.router.add_get("/v1/admin/watchlist", watchlist)
    app.router.add_get("/v1/admin/watchlist/holds", holds)
    app.router.add_post("/v1/admin/watchlist/holds/{message_id}/release", release)
    app.router.add_post("/v1/admin/watchlist/holds/{message_id}/refuse", refuse)
    app.router.add_get("/v1/admin/watchlist/monitoring", watch_monitoring)
