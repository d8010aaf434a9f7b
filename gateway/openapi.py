"""The OpenAPI 3.1 description of the gateway's HTTP API: the partner inbox, AS4, health and metrics, and the
admin API. Served at ``GET /v1/openapi.json`` (public: it holds no data) and kept as ``docs/openapi.json``
(``python -m gateway.openapi > docs/openapi.json``; a test checks the file is current and that every route of
the application is described here, and nothing else).
"""

from __future__ import annotations

import json
import sys
from typing import Any

from gateway import __version__

JSON = "application/json"
XML = "application/xml"

REJECTIONS = {
    400: "malformed-xml, unsupported-message, malformed-multipart (a part cut short or unreadable)",
    401: "signature-invalid, certificate-untrusted, certificate-expired",
    403: "not-permitted",
    404: "unknown-partner",
    409: "replayed",
    413: "too-large (the body, an image, or the number of images over the partner's limit)",
    422: "schema-invalid, mapping-failed, no-route, matching-failed, matching-incomplete, image-invalid (an image "
    "part whose digest, size or magic bytes disagree with the signed message, a part it does not name, or an "
    "image it names that was not sent)",
    429: "rate-limited (over the partner's quota, rate and burst or requests in flight, decided before the body is "
    "read: nothing accepted; send again after Retry-After seconds)",
    503: "unavailable (nothing accepted: send again; Retry-After 5, or 2 when the gateway is overloaded and sheds "
    "its heaviest senders), partner-suspended (the sender is suspended for now: send again after it is resumed; "
    "Retry-After 300)",
}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": schema}}}


def _error(description: str) -> dict[str, Any]:
    return _json(description, _ref("Error"))


def _param(
    name: str, where: str = "path", description: str = "", schema: dict[str, Any] | None = None
) -> dict[str, Any]:
    return {
        "name": name,
        "in": where,
        "required": where == "path",
        "description": description,
        "schema": schema or {"type": "string"},
    }


PARTNER = _param("partner_id", description="the partner's participant id (its partner file's id)")
MESSAGE = _param("message_id", description="the gateway message id (a uuid)")
LIMIT = _param(
    "limit",
    "query",
    "at most this many (default 100; more than 1000 is taken as 1000; not a whole number of at least 1: 400)",
    {"type": "integer", "minimum": 1},
)
# A partner id that no partner file can have ([a-z0-9-]{2,64}): refused naming it rather than looked up.
BAD_ID = _error("config-invalid: the id is not 2-64 characters of a-z 0-9 -")


def _admin(
    summary: str,
    responses: dict[int, Any],
    *,
    parameters: list[dict[str, Any]] | None = None,
    body: dict[str, Any] | None = None,
) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "tags": ["admin"],
        "summary": summary,
        "security": [{"adminToken": []}],
        "responses": {str(k): v for k, v in {**responses, 401: _error("no or a wrong admin token")}.items()},
    }
    if parameters:
        operation["parameters"] = parameters
    if body is not None:
        operation["requestBody"] = {"required": True, "content": {JSON: {"schema": body}}}
    return operation


def _public(tag: str, summary: str, responses: dict[int, Any], **extra: Any) -> dict[str, Any]:
    return {
        "tags": [tag],
        "summary": summary,
        "security": [],
        "responses": {str(k): v for k, v in responses.items()},
        **extra,
    }


def _obj(**properties: Any) -> dict[str, Any]:
    return {"type": "object", "properties": properties}


STRING = {"type": "string"}
NULLABLE_STRING = {"type": ["string", "null"]}
TIME = {"type": "string", "format": "date-time"}
NULLABLE_TIME = {"type": ["string", "null"], "format": "date-time"}
STRINGS = {"type": "array", "items": STRING}
ANY_OBJECT = {"type": "object", "additionalProperties": True}

SCHEMAS: dict[str, Any] = {
    "Error": {
        **_obj(error=STRING, message=STRING),
        "required": ["error", "message"],
        "description": "A refused admin request: a specific code and a message naming the field and value",
    },
    "Certificate": _obj(
        file=STRING,
        subject=STRING,
        sha256=STRING,
        not_before=TIME,
        not_after=TIME,
        days_left={"type": "number"},
        valid_now={"type": "boolean"},
        expiring={"type": "boolean"},
    ),
    "Partner": _obj(
        id=STRING,
        name=STRING,
        role=STRING,
        country=STRING,
        format=STRING,
        sends=STRINGS,
        receives=STRINGS,
        suspended={"type": "boolean"},
        status={"enum": ["active", "suspended", "certificate-expiring", "certificate-invalid"]},
        delivery=NULLABLE_STRING,
        certificates={"type": "array", "items": _ref("Certificate")},
        spec={**ANY_OBJECT, "description": "the partner file's own fields: GET, edit, PUT back"},
    ),
    "Partners": _obj(
        partners={"type": "array", "items": _ref("Partner")}, certificate_warning_days={"type": "integer"}
    ),
    "PartnerFile": {
        **ANY_OBJECT,
        "description": "the partner file's fields as JSON (docs/DESIGN.md 3.3); certificates: PEM texts or paths "
        "inside the partners folder",
    },
    "Change": _obj(
        partner=STRING,
        action=STRING,
        detail=STRING,
        reloaded=NULLABLE_STRING,
        before={"type": ["object", "null"]},
        after={"type": ["object", "null"]},
    ),
    "Reload": _obj(reloaded=STRING, added=STRINGS, removed=STRINGS, changed=STRINGS, partners=STRINGS),
    "CertificateRollover": {
        **_obj(certificate={"type": "string", "description": "PEM"}, drop_expired={"type": "boolean"}),
        "required": ["certificate"],
    },
    "Conformance": _obj(
        partner=STRING,
        format=STRING,
        samples_dir=STRING,
        passed={"type": "boolean"},
        samples={"type": "array", "items": ANY_OBJECT},
        text=STRING,
    ),
    "Ping": _obj(
        partner=STRING,
        url=STRING,
        ok={"type": "boolean"},
        outcome={"enum": ["answered", "dns", "connect", "tls", "timeout", "disconnected", "url", "http-error"]},
        status={"type": ["integer", "null"]},
        seconds={"type": "number"},
        answer=STRING,
        message=STRING,
        test_id=STRING,
        sent=STRING,
        text=STRING,
    ),
    "Keys": _obj(gateway=STRING, time=TIME, keys={"type": "array", "items": ANY_OBJECT}),
    "ConfigEvents": _obj(
        events={
            "type": "array",
            "items": _obj(
                seq={"type": "integer"},
                at=TIME,
                actor=STRING,
                action=STRING,
                partner=NULLABLE_STRING,
                detail=NULLABLE_STRING,
                before={"type": ["object", "null"]},
                after={"type": ["object", "null"]},
            ),
        }
    ),
    "Traffic": _obj(
        time=TIME,
        ingress={"type": "array", "items": _obj(partner=STRING, type=STRING, outcome=STRING, count={"type": "number"})},
        deliveries={"type": "array", "items": _obj(receiver=STRING, outcome=STRING, count={"type": "number"})},
        queues={
            "type": "array",
            "items": _obj(receiver=STRING, queue={"enum": ["deliver", "urgent", "dead"]}, depth={"type": "number"}),
        },
    ),
    "TrafficHistory": _obj(
        since=TIME,
        until=TIME,
        bucket_seconds={"type": "integer"},
        buckets={"type": "integer"},
        received={
            "type": "array",
            "items": _obj(
                partner=STRING, total={"type": "integer"}, counts={"type": "array", "items": {"type": "integer"}}
            ),
        },
        delivered={
            "type": "array",
            "items": _obj(
                partner=STRING,
                total={"type": "integer"},
                counts={"type": "array", "items": {"type": "integer"}},
                latency_avg={"type": "array", "items": {"type": ["number", "null"]}},
                latency_max={"type": "array", "items": {"type": ["number", "null"]}},
            ),
        },
    ),
    "Message": _obj(
        id=STRING,
        sender=STRING,
        sender_message_id=NULLABLE_STRING,
        type=NULLABLE_STRING,
        status={
            "enum": [
                "received",
                "waiting",
                "held",
                "accepted",
                "delivering",
                "retrying",
                "delivered",
                "failed",
                "rejected",
            ]
        },
        receivers=STRINGS,
        code=NULLABLE_STRING,
        reason=NULLABLE_STRING,
        created=TIME,
        updated=TIME,
    ),
    "Messages": _obj(messages={"type": "array", "items": _ref("Message")}),
    "MessageDetail": {
        "allOf": [
            _ref("Message"),
            _obj(
                deliveries={
                    "type": "array",
                    "items": _obj(
                        receiver=STRING,
                        status=STRING,
                        attempts={"type": "integer"},
                        reason=NULLABLE_STRING,
                        next_attempt=NULLABLE_TIME,
                        updated=TIME,
                    ),
                },
                history={
                    "type": "array",
                    "items": _obj(
                        at=TIME, status=STRING, actor=STRING, receiver=NULLABLE_STRING, reason=NULLABLE_STRING
                    ),
                },
            ),
        ]
    },
    "Retry": _obj(id=STRING, retried=STRINGS, code=STRING, message=STRING),
    "Evidence": _obj(
        message_id=STRING,
        evidence={
            "type": "array",
            "items": _obj(partner=STRING, kind=STRING, reference=STRING, at=TIME, document=STRING),
        },
    ),
    "Consignments": _obj(
        query=ANY_OBJECT,
        total={"type": "integer"},
        by_channel=ANY_OBJECT,
        consignments={"type": "array", "items": ANY_OBJECT},
    ),
    "Alerts": _obj(alerts={"type": "array", "items": ANY_OBJECT}),
    "WatchList": _obj(folder=STRING, total={"type": "integer"}, entries={"type": "array", "items": ANY_OBJECT}),
    "WatchHold": _obj(
        message_id=STRING,
        sender=STRING,
        sender_message_id=STRING,
        type=STRING,
        receivers=STRINGS,
        state={
            "type": "string",
            "enum": ["pending", "dropped", "held", "releasing", "refusing", "released", "refused", "alerted"],
        },
        reason=STRING,
        hits={"type": "array", "items": ANY_OBJECT},
        platforms=STRINGS,
        sellers=STRINGS,
        created=TIME,
        updated=TIME,
        decided_by=NULLABLE_STRING,
        note=NULLABLE_STRING,
    ),
    "WatchHolds": _obj(holds={"type": "array", "items": _ref("WatchHold")}),
    "WatchMonitoring": _obj(
        by={"type": "string", "enum": ["platform", "seller"]},
        days={"type": "integer"},
        since=STRING,
        until=TIME,
        groups={
            "type": "array",
            "description": "per platform (ebpCode) or seller: total, held, alerted, released, refused, their "
            "shares (held_share, refused_share, alerted_share) and the same per day (days)",
            "items": ANY_OBJECT,
        },
    ),
}

RECEIPT_HEADERS = {
    "X-Gateway-Message-Id": {"description": "the gateway message id", "schema": STRING},
    "X-Gateway-Outcome": {"description": "accepted, duplicate, waiting, held or the rejection code", "schema": STRING},
}


def _receipt(description: str, *, retry_after: bool = False) -> dict[str, Any]:
    headers = dict(RECEIPT_HEADERS)
    if retry_after:
        headers["Retry-After"] = {"description": "seconds to wait before sending again", "schema": {"type": "integer"}}
    return {"description": description, "headers": headers, "content": {XML: {"schema": STRING}}}


def _paths() -> dict[str, Any]:
    partner_ops = [PARTNER]
    return {
        "/v1/partners/{partner_id}/messages": {
            "post": _public(
                "partners",
                "Send a signed message (the partner's own format); the answer is a signed receipt",
                {
                    202: _receipt(
                        "accepted (or waiting for its matching lists, or held on the watch list of non-compliant "
                        "goods): the signed receipt"
                    ),
                    200: _receipt("a duplicate of an accepted message: the original receipt"),
                    **{
                        status: _receipt(
                            f"refused: {codes}; the signed rejection receipt names field and reason",
                            retry_after=status in (429, 503),
                        )
                        for status, codes in REJECTIONS.items()
                    },
                },
                parameters=partner_ops,
                requestBody={
                    "required": True,
                    "content": {
                        XML: {"schema": STRING},
                        "text/xml": {"schema": STRING},
                        "multipart/related": {
                            "schema": STRING,
                            "description": "an inspection-result with its images: the signed XML first "
                            "(Content-ID <message>), then one part per InspectionResult/Image, its Content-ID the "
                            "Image/ID, its Content-Type the Image/MediaType (docs/DESIGN.md 8)",
                        },
                    },
                },
            )
        },
        "/v1/as4": {
            "post": _public(
                "partners",
                "AS4 (ebMS 3) user message, multipart/related SOAP 1.2 with the payload (an inspection result's "
                "images as further attachments, read as they stream: docs/AS4.md); answered by an ebMS receipt or "
                "error signal (HTTP 200; 404 when [as4] is not configured; 429 / 503 with Retry-After and a SOAP "
                "Fault when the partner is over its quota or the gateway sheds load, which the sender retries)",
                {
                    200: {"description": "ebMS signal", "content": {"application/soap+xml": {"schema": STRING}}},
                    404: _error("AS4 is not configured"),
                    429: {
                        "description": "over the partner's quota (rate-limited): send again after Retry-After",
                        "headers": {"Retry-After": {"schema": {"type": "integer"}}},
                        "content": {"application/soap+xml": {"schema": STRING}},
                    },
                    503: {
                        "description": "the gateway is overloaded (unavailable): send again after Retry-After",
                        "headers": {"Retry-After": {"schema": {"type": "integer"}}},
                        "content": {"application/soap+xml": {"schema": STRING}},
                    },
                },
                requestBody={
                    "required": True,
                    "content": {"multipart/related": {"schema": STRING}, "application/soap+xml": {"schema": STRING}},
                },
            )
        },
        "/v1/keys": {
            "get": _public(
                "partners",
                "The gateway's certificates, current and next (PEM, validity)",
                {200: _json("keys", _ref("Keys"))},
            )
        },
        "/v1/openapi.json": {"get": _public("service", "This document", {200: _json("OpenAPI 3.1", ANY_OBJECT)})},
        "/health": {"get": _public("service", "The process is up", {200: _json("up", _obj(status=STRING, time=TIME))})},
        "/ready": {
            "get": _public(
                "service",
                "Broker and store reachable",
                {
                    200: _json("ready", _obj(ready={"type": "boolean"}, checks=ANY_OBJECT)),
                    503: _json("not ready", _obj(ready={"type": "boolean"}, checks=ANY_OBJECT)),
                },
            )
        },
        "/metrics": {
            "get": _public(
                "service",
                "Prometheus metrics (text exposition format)",
                {200: {"description": "metrics", "content": {"text/plain": {"schema": STRING}}}},
            )
        },
        "/v1/admin/partners": {
            "get": _admin("List partners with status and certificates", {200: _json("partners", _ref("Partners"))})
        },
        "/v1/admin/partners/reload": {
            "post": _admin(
                "Read the partner files again",
                {200: _json("reloaded", _ref("Reload")), 422: _error("refused: the running configuration stays")},
            )
        },
        "/v1/admin/partners/{partner_id}": {
            "get": _admin(
                "One partner",
                {200: _json("the partner", _ref("Partner")), 404: _error("unknown-partner")},
                parameters=partner_ops,
            ),
            "put": _admin(
                "Create or replace a partner (written as its partner file, made live at once)",
                {
                    200: _json("updated", _ref("Change")),
                    201: _json("created", _ref("Change")),
                    422: _error("config-invalid, with the field and value"),
                },
                parameters=partner_ops,
                body=_ref("PartnerFile"),
            ),
            "delete": _admin(
                "Remove a partner (what is still queued for it is dead-lettered)",
                {200: _json("removed", _ref("Change")), 404: _error("unknown-partner"), 422: BAD_ID},
                parameters=partner_ops,
            ),
        },
        "/v1/admin/partners/{partner_id}/suspend": {
            "post": _admin(
                "Suspend: its messages are answered 503 partner-suspended; what is routed to it is held in its queue",
                {200: _json("suspended", _ref("Change")), 404: _error("unknown-partner"), 422: BAD_ID},
                parameters=partner_ops,
            )
        },
        "/v1/admin/partners/{partner_id}/resume": {
            "post": _admin(
                "Resume: what was held is delivered",
                {200: _json("resumed", _ref("Change")), 404: _error("unknown-partner"), 422: BAD_ID},
                parameters=partner_ops,
            )
        },
        "/v1/admin/partners/{partner_id}/certificates": {
            "post": _admin(
                "Certificate rollover: trust the next certificate beside the current ones",
                {200: _json("added", _ref("Change")), 404: _error("unknown-partner"), 422: _error("config-invalid")},
                parameters=partner_ops,
                body=_ref("CertificateRollover"),
            )
        },
        "/v1/admin/partners/{partner_id}/test": {
            "post": _admin(
                "Conformance report of the partner's samples (nothing stored or sent)",
                {
                    200: _json("report", _ref("Conformance")),
                    404: _error("unknown-partner"),
                    422: _error("config-invalid: the partner has no samples_dir, or its samples cannot be read"),
                },
                parameters=partner_ops,
            )
        },
        "/v1/admin/partners/{partner_id}/ping": {
            "post": _admin(
                "Connectivity check: POST a signed test receipt to the partner's endpoint",
                {
                    200: _json("what happened (ok false when the partner failed)", _ref("Ping")),
                    404: _error("unknown-partner"),
                    422: _error("no delivery url"),
                },
                parameters=partner_ops,
            )
        },
        "/v1/admin/keys": {
            "get": _admin("The gateway's certificates with their files", {200: _json("keys", _ref("Keys"))})
        },
        "/v1/admin/config-events": {
            "get": _admin(
                "The configuration audit log, newest first",
                {200: _json("events", _ref("ConfigEvents")), 400: _error("bad-request")},
                parameters=[_param("partner", "query"), LIMIT],
            )
        },
        "/v1/admin/traffic": {
            "get": _admin(
                "Live counts since the process started, and queue depths", {200: _json("counts", _ref("Traffic"))}
            )
        },
        "/v1/admin/traffic/history": {
            "get": _admin(
                "Received per sender, delivered per receiver and delivery latency, per minute over a window",
                {200: _json("series", _ref("TrafficHistory")), 400: _error("bad-request: minutes out of range")},
                parameters=[
                    _param(
                        "minutes",
                        "query",
                        "the window (default 60, 1 to 1440)",
                        {"type": "integer", "minimum": 1, "maximum": 1440},
                    )
                ],
            )
        },
        "/v1/admin/messages": {
            "get": _admin(
                "Find messages, newest first",
                {200: _json("messages", _ref("Messages")), 400: _error("bad-request")},
                parameters=[_param("status", "query"), _param("partner", "query"), _param("type", "query"), LIMIT],
            )
        },
        "/v1/admin/messages/{message_id}": {
            "get": _admin(
                "A message with its deliveries and status history",
                {200: _json("the message", _ref("MessageDetail")), 404: _error("unknown-message")},
                parameters=[MESSAGE],
            )
        },
        "/v1/admin/messages/{message_id}/retry": {
            "post": _admin(
                "Queue a failed message again for the receivers it failed for (taken out of their dead-letter queues)",
                {
                    202: _json("requeued", _ref("Retry")),
                    404: _json("unknown-message", _ref("Retry")),
                    409: _json("not-failed", _ref("Retry")),
                    503: _json("unavailable: the broker could not take it; retry later", _ref("Retry")),
                },
                parameters=[MESSAGE, _param("reason", "query", "why, kept in the status history")],
            )
        },
        "/v1/admin/messages/{message_id}/evidence": {
            "get": _admin(
                "AS4 evidence kept for a message (receipts, signals)",
                {200: _json("evidence", _ref("Evidence"))},
                parameters=[MESSAGE],
            )
        },
        "/v1/admin/messages/{message_id}/inspection": {
            "get": _admin(
                "An inspection result's fields and its images (id, type, media type, size, sha256) for the console",
                {
                    200: _json("the inspection result", {"type": "object"}),
                    404: _error("no-inspection-result: not a stored inspection result"),
                },
                parameters=[MESSAGE],
            )
        },
        "/v1/admin/images/{sha256}": {
            "get": _admin(
                "A stored image by its SHA-256: the original bytes, or with ?preview=N a PNG at most N pixels a side",
                {
                    200: {
                        "description": "the image (image/png, image/jpeg or image/tiff; a preview is image/png)",
                        "content": {"image/*": {"schema": {"type": "string", "format": "binary"}}},
                    },
                    400: _error("bad-request: not a digest, or a preview size outside 16..4096"),
                    404: _error("unknown-image: not in the store (never stored, or removed by retention)"),
                    422: _error("no-preview: the image cannot be decoded, or has too many pixels for a preview"),
                },
                parameters=[
                    _param("sha256", description="the image's SHA-256, 64 lower-case hex digits"),
                    _param("preview", "query", "a PNG preview at most this many pixels a side", {"type": "integer"}),
                ],
            )
        },
        "/v1/admin/consignments": {
            "get": _admin(
                "Integrated monitoring: consignments by commodity, consignor, destination, channel",
                {
                    200: _json("consignments", _ref("Consignments")),
                    400: _error("bad-request"),
                    409: _error("monitoring-off"),
                },
                parameters=[_param(n, "query") for n in ("commodity", "consignor", "destination", "channel", "days")]
                + [LIMIT],
            )
        },
        "/v1/admin/alerts": {
            "get": _admin(
                "Risk alerts raised by the rules",
                {200: _json("alerts", _ref("Alerts")), 400: _error("bad-request"), 409: _error("controls-off")},
                parameters=[_param("state", "query"), LIMIT],
            )
        },
        "/v1/admin/watchlist": {
            "get": _admin(
                "The watch list of non-compliant products in force (entries from the regulators' files)",
                {200: _json("watch list", _ref("WatchList")), 400: _error("bad-request"), 409: _error("watchlist-off")},
                parameters=[LIMIT],
            )
        },
        "/v1/admin/watchlist/holds": {
            "get": _admin(
                "Messages with watch-list hits, newest first (held, released, refused, alerted)",
                {200: _json("holds", _ref("WatchHolds")), 400: _error("bad-request"), 409: _error("watchlist-off")},
                parameters=[_param("state", "query", "one state or several joined by commas"), LIMIT],
            )
        },
        "/v1/admin/watchlist/holds/{message_id}/release": {"post": _decision("release")},
        "/v1/admin/watchlist/holds/{message_id}/refuse": {"post": _decision("refuse")},
        "/v1/admin/watchlist/monitoring": {
            "get": _admin(
                "Per e-commerce platform (ebpCode) or seller: consignments screened, share held, refused, alerted",
                {
                    200: _json("shares", _ref("WatchMonitoring")),
                    400: _error("bad-request"),
                    409: _error("watchlist-off"),
                },
                parameters=[
                    _param("by", "query", "platform (default) or seller"),
                    _param("days", "query", "the last N days (default 30)", {"type": "integer", "minimum": 1}),
                    _param("limit", "query", "the N riskiest (default 50, at most 1000)", {"type": "integer"}),
                ],
            )
        },
    }


def _decision(decision: str) -> dict[str, Any]:
    done = (
        "released: published to its receivers (after three-list matching when on)"
        if decision == "release"
        else ("refused: recorded rejected non-compliant; the sender gets the rejection receipt")
    )
    operation = _admin(
        f"An officer's decision on a message held on the watch list: {decision} (recorded with the actor)",
        {
            200: _json(done, _ref("WatchHold")),
            400: _error("bad-request"),
            404: _error("not-found"),
            409: _error("not-held (decided already, or the watch list is off: watchlist-off)"),
        },
        parameters=[MESSAGE],
        body=_obj(note={"type": "string", "maxLength": 500, "description": "why, kept with the decision"}),
    )
    operation["requestBody"]["required"] = False
    return operation


def document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Customs exchange gateway",
            "version": __version__,
            "description": "Partners send signed messages in their own format and get signed receipts; the admin API "
            "(bearer token) manages partners and messages. Contract: docs/DESIGN.md 3.4 and 8; docs/ADMIN.md.",
        },
        "servers": [{"url": "/"}],
        "tags": [
            {"name": "partners", "description": "what partners call"},
            {"name": "service", "description": "health, readiness, metrics, this document"},
            {"name": "admin", "description": "the admin API: Authorization: Bearer <admin token>"},
        ],
        "paths": _paths(),
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {
                "adminToken": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "the file named by [admin] token_file",
                }
            },
        },
    }


def render() -> str:
    return json.dumps(document(), indent=2, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    sys.stdout.write(render())
