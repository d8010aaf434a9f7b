"""Admin API of the controls (bearer token, like the rest of /v1/admin):

GET /v1/admin/consignments?commodity=&consignor=&destination=&channel=&days=&limit=
    integrated monitoring: the consignments of the last N days matching the filters, counted by channel
GET /v1/admin/alerts?state=&limit=
    risk alerts raised (newest last), with their receivers and state
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

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


def add_routes(app: web.Application) -> None:
    app.router.add_get("/v1/admin/consignments", consignments)
    app.router.add_get("/v1/admin/alerts", alerts)
