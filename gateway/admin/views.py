"""Typed views of what the admin API and the command line show: partners, messages, traffic.

Each view is a frozen value built from the model; ``as_json()`` is what the API answers (the same keys as
the v1 admin API).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from gateway.metrics import Metrics
from gateway.partners.files import spec_data
from gateway.partners.model import Partner
from gateway.store.base import ConfigEvent, DeliveryRecord, Event, Evidence, MessageRecord


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value else None


def _json(view: object) -> dict[str, Any]:
    """Tuples as lists: JSON arrays."""
    data = dataclasses.asdict(view)  # type: ignore[call-overload]
    return {k: list(v) if isinstance(v, tuple) else v for k, v in data.items()}


@dataclass(frozen=True)
class CertificateView:
    file: str
    subject: str
    sha256: str
    not_before: str
    not_after: str
    days_left: float
    valid_now: bool
    expiring: bool


@dataclass(frozen=True)
class PartnerView:
    id: str
    name: str
    role: str
    country: str
    format: str
    sends: tuple[str, ...]
    receives: tuple[str, ...]
    suspended: bool
    status: str  # active, suspended, certificate-invalid, certificate-expiring
    delivery: str | None
    certificates: tuple[CertificateView, ...]
    spec: dict[str, Any]  # the partner file's own fields: GET, edit, PUT back

    @classmethod
    def of(cls, partner: Partner, now: dt.datetime | None = None, horizon_days: float = 30) -> PartnerView:
        now = now or dt.datetime.now(dt.UTC)
        spec = partner.spec
        last = max((c.days_left(now) for c in partner.certificates), default=0.0)
        if spec.suspended:
            status = "suspended"
        elif not any(c.valid_at(now) for c in partner.certificates):
            status = "certificate-invalid"
        elif last < horizon_days:
            status = "certificate-expiring"
        else:
            status = "active"
        return cls(
            id=spec.id,
            name=spec.name,
            role=spec.role,
            country=spec.country,
            format=spec.format,
            sends=tuple(spec.sends),
            receives=tuple(spec.receives),
            suspended=spec.suspended,
            status=status,
            delivery=str(spec.delivery.url) if spec.delivery else None,
            certificates=tuple(
                CertificateView(
                    file=cert.path.name,
                    subject=cert.subject,
                    sha256=cert.fingerprint,
                    not_before=cert.not_before.isoformat(),
                    not_after=cert.not_after.isoformat(),
                    days_left=round(cert.days_left(now), 1),
                    valid_now=cert.valid_at(now),
                    expiring=cert.days_left(now) < horizon_days,
                )
                for cert in partner.certificates
            ),
            spec=spec_data(spec),
        )

    def as_json(self) -> dict[str, Any]:
        return _json(self)


@dataclass(frozen=True)
class DeliveryView:
    receiver: str
    status: str
    attempts: int
    reason: str | None
    next_attempt: str | None
    updated: str | None

    @classmethod
    def of(cls, record: DeliveryRecord) -> DeliveryView:
        return cls(
            receiver=record.receiver,
            status=record.status.value,
            attempts=record.attempts,
            reason=record.reason,
            next_attempt=_iso(record.next_attempt),
            updated=_iso(record.updated),
        )


@dataclass(frozen=True)
class EventView:
    at: str | None
    status: str
    actor: str
    receiver: str | None
    reason: str | None

    @classmethod
    def of(cls, event: Event) -> EventView:
        return cls(_iso(event.at), event.status, event.actor, event.receiver, event.reason)


@dataclass(frozen=True)
class MessageView:
    id: str
    sender: str
    sender_message_id: str | None
    type: str | None
    status: str
    receivers: tuple[str, ...]
    code: str | None
    reason: str | None
    created: str | None
    updated: str | None

    @classmethod
    def of(cls, record: MessageRecord) -> MessageView:
        return cls(
            id=record.id,
            sender=record.sender,
            sender_message_id=record.sender_message_id,
            type=record.message_type,
            status=record.status.value,
            receivers=record.receivers,
            code=record.code,
            reason=record.reason,
            created=_iso(record.created),
            updated=_iso(record.updated),
        )

    def as_json(self) -> dict[str, Any]:
        return _json(self)


@dataclass(frozen=True)
class MessageDetail:
    """One message with its deliveries and its status history."""

    message: MessageView
    deliveries: tuple[DeliveryView, ...]
    history: tuple[EventView, ...]

    @classmethod
    def of(cls, record: MessageRecord, deliveries: Iterable[DeliveryRecord], events: Iterable[Event]) -> MessageDetail:
        return cls(
            MessageView.of(record),
            tuple(DeliveryView.of(d) for d in deliveries),
            tuple(EventView.of(e) for e in events),
        )

    def as_json(self) -> dict[str, Any]:
        return {
            **self.message.as_json(),
            "deliveries": [dataclasses.asdict(d) for d in self.deliveries],
            "history": [dataclasses.asdict(e) for e in self.history],
        }


@dataclass(frozen=True)
class EvidenceView:
    """A document kept as evidence with a message (e.g. an AS4 receipt), as text."""

    partner: str
    kind: str
    reference: str
    at: str
    document: str

    @classmethod
    def of(cls, evidence: Evidence) -> EvidenceView:
        return cls(
            evidence.partner,
            evidence.kind,
            evidence.reference,
            evidence.at.isoformat(),
            evidence.document.decode("utf-8", "replace"),
        )

    def as_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class ConfigEventView:
    seq: int
    at: str | None
    actor: str
    action: str
    partner: str | None
    detail: str | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None

    @classmethod
    def of(cls, event: ConfigEvent) -> ConfigEventView:
        return cls(
            event.seq, _iso(event.at), event.actor, event.action, event.partner, event.detail, event.before, event.after
        )

    def as_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Count:
    labels: dict[str, str]
    count: float


@dataclass(frozen=True)
class SenderLoad:
    """One sending partner under its quota (issue 17): accepted, refused over quota, shed, in flight now."""

    partner: str
    accepted: float = 0
    rate_limited: float = 0  # 429: over rate and burst, or over max_in_flight
    shed: float = 0  # 503: the gateway was behind and the partner among its heaviest senders
    in_flight: float = 0

    @staticmethod
    def of(
        ingress: tuple[Count, ...], refused: tuple[Count, ...], in_flight: tuple[Count, ...]
    ) -> tuple[SenderLoad, ...]:
        rows: dict[str, dict[str, float]] = {}

        def add(partner: str, field: str, value: float) -> None:
            row = rows.setdefault(partner, {})
            row[field] = row.get(field, 0) + value

        for c in ingress:
            if c.labels["outcome"] == "accepted":
                add(c.labels["partner"], "accepted", c.count)
        for c in refused:
            add(c.labels["partner"], "shed" if c.labels["reason"] == "shed" else "rate_limited", c.count)
        for c in in_flight:
            add(c.labels["partner"], "in_flight", c.count)
        return tuple(SenderLoad(partner, **rows[partner]) for partner in sorted(rows) if partner != "unknown")


@dataclass(frozen=True)
class TrafficView:
    """Counts since this process started (the same numbers /metrics exposes), for the console."""

    time: str
    ingress: tuple[Count, ...]
    deliveries: tuple[Count, ...]
    queues: tuple[Count, ...]
    senders: tuple[SenderLoad, ...] = ()

    @classmethod
    def of(cls, metrics: Metrics) -> TrafficView:
        def counts(metric: Any) -> tuple[Count, ...]:
            return tuple(Count(labels, value) for labels, value in metrics.samples(metric))

        now = dt.datetime.now(dt.UTC).isoformat()
        ingress = counts(metrics.ingress)
        return cls(
            now,
            ingress,
            counts(metrics.deliveries),
            counts(metrics.queue_depth),
            SenderLoad.of(ingress, counts(metrics.ingress_refused), counts(metrics.ingress_in_flight)),
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "time": self.time,
            "ingress": [
                {
                    "partner": c.labels["partner"],
                    "type": c.labels["type"],
                    "outcome": c.labels["outcome"],
                    "count": c.count,
                }
                for c in self.ingress
            ],
            "deliveries": [
                {"receiver": c.labels["receiver"], "outcome": c.labels["outcome"], "count": c.count}
                for c in self.deliveries
            ],
            "queues": [
                {"receiver": c.labels["receiver"], "queue": c.labels["queue"], "depth": c.count} for c in self.queues
            ],
            "senders": [dataclasses.asdict(s) for s in self.senders],
        }
