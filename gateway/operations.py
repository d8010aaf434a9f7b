"""Operator actions shared by the admin API and the command line."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gateway.errors import Unavailable
from gateway.partners.model import Partner
from gateway.store.base import Status

if TYPE_CHECKING:
    from gateway.runtime import Runtime


def partner_view(partner: Partner, now: dt.datetime | None = None) -> dict[str, Any]:
    now = now or dt.datetime.now(dt.UTC)
    spec = partner.spec
    return {
        "id": spec.id,
        "name": spec.name,
        "role": spec.role,
        "country": spec.country,
        "format": spec.format,
        "sends": list(spec.sends),
        "receives": list(spec.receives),
        "suspended": spec.suspended,
        "delivery": str(spec.delivery.url) if spec.delivery else None,
        "certificates": [
            {
                "file": cert.path.name,
                "subject": cert.subject,
                "sha256": cert.fingerprint,
                "not_before": cert.not_before.isoformat(),
                "not_after": cert.not_after.isoformat(),
                "days_left": round(cert.days_left(now), 1),
                "valid_now": cert.valid_at(now),
            }
            for cert in partner.certificates
        ],
    }


@dataclass(frozen=True)
class RetryResult:
    ok: bool
    code: str
    message: str
    receivers: tuple[str, ...] = ()


async def retry_message(runtime: Runtime, message_id: str, *, actor: str, reason: str) -> RetryResult:
    """Publish a failed message again to the receivers it failed for (attempt count starts over)."""
    record = await runtime.store.get(message_id)
    if record is None:
        return RetryResult(False, "unknown-message", f"no message {message_id!r}")
    failed = tuple(d.receiver for d in await runtime.store.deliveries(message_id) if d.status == Status.FAILED)
    if not failed:
        return RetryResult(
            False, "not-failed", f"message {message_id} is {record.status.value}; only failed deliveries are retried"
        )
    body = await runtime.store.canonical(message_id)
    if body is None or runtime.publisher is None:
        return RetryResult(False, "unavailable", "the message content or the broker is not available")
    try:
        for receiver in failed:
            await runtime.store.record_delivery(
                message_id, receiver, Status.ACCEPTED, attempt=0, reason=reason, actor=actor
            )
            await runtime.publisher.publish(
                runtime.topology.routing_key(receiver, record.message_type or "unknown"),
                body,
                message_id=message_id,
                headers={
                    "gw-message-id": message_id,
                    "gw-sender": record.sender,
                    "gw-sender-message-id": record.sender_message_id or "",
                    "gw-message-type": record.message_type or "",
                    "gw-receiver": receiver,
                    "gw-attempt": 1,
                },
            )
    except Unavailable as exc:
        return RetryResult(False, "unavailable", exc.message)
    return RetryResult(True, "retried", f"requeued for {', '.join(failed)}", failed)
