"""What the gateway asks of a store. SQLite implements it now; PostgreSQL joins behind the same Protocol."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol


class Status(StrEnum):
    RECEIVED = "received"
    ACCEPTED = "accepted"
    DELIVERING = "delivering"
    RETRYING = "retrying"
    DELIVERED = "delivered"
    FAILED = "failed"
    REJECTED = "rejected"
    WAITING = "waiting"  # accepted, held until its three lists match (gateway.controls)
    HELD = "held"  # accepted, held on the watch list of non-compliant goods until an officer decides


@dataclass(frozen=True)
class MessageRecord:
    id: str
    sender: str
    sender_message_id: str | None
    message_type: str | None
    digest: str | None
    status: Status
    receivers: tuple[str, ...]
    code: str | None
    reason: str | None
    created: dt.datetime
    updated: dt.datetime
    receipt: bytes | None = None
    key: str | None = None  # the sender's uniqueness key (the format adapter's Identity.key)
    reference: str | None = None  # the business reference it opens (a declaration's LRN)
    follows: str | None = None  # the gateway id of the message it follows (an amendment's declaration)


@dataclass(frozen=True)
class DeliveryRecord:
    receiver: str
    status: Status
    attempts: int
    reason: str | None
    next_attempt: dt.datetime | None
    updated: dt.datetime


@dataclass(frozen=True)
class Event:
    message_id: str
    at: dt.datetime
    status: str
    actor: str
    receiver: str | None
    reason: str | None


@dataclass(frozen=True)
class ConfigEvent:
    """One configuration change (or refused attempt): who, what, and the partner file before and after."""

    seq: int
    at: dt.datetime
    actor: str
    action: str  # create, update, delete, suspend, resume, rotate-cert, reload; "-refused" when refused
    partner: str | None
    detail: str | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None


@dataclass(frozen=True)
class Evidence:
    """Non-repudiation evidence kept with a message: e.g. the AS4 receipt the gateway signed for what it received
    (``as4-receipt-sent``) or the partner's signed receipt for what it delivered (``as4-receipt-received``)."""

    message_id: str
    partner: str
    kind: str
    reference: str  # the protocol's own id of what is evidenced (the AS4 eb:MessageId)
    at: dt.datetime
    document: bytes


@dataclass(frozen=True)
class ActivityRow:
    """One partner's count in one time bucket (``bucket``: whole buckets since the start of the window).

    For deliveries ``seconds_total`` and ``seconds_max`` are the time from receipt at ingress to delivery."""

    partner: str
    bucket: int
    count: int
    seconds_total: float = 0.0
    seconds_max: float = 0.0


@dataclass(frozen=True)
class Activity:
    received: tuple[ActivityRow, ...]  # messages received at ingress, by sender (rejected ones included)
    delivered: tuple[ActivityRow, ...]  # deliveries, by receiver, with their latency


@dataclass(frozen=True)
class Tokens:
    """What a take from a partner's shared token bucket gave: ``granted`` tokens, and ``left`` in the bucket."""

    granted: int
    left: float


def take_from_bucket(tokens: float, at: float, *, now: float, want: int, rate: float, burst: int) -> Tokens:
    """The token bucket's arithmetic, the same in every store: refill ``rate`` a second since ``at`` (never
    above ``burst``; a clock that went back refills nothing), then grant up to ``want`` whole tokens."""
    level = min(float(burst), tokens + max(0.0, now - at) * rate)
    granted = max(0, min(want, int(level)))
    return Tokens(granted, level - granted)


class Store(Protocol):
    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def ping(self) -> None:
        """Raise if the store cannot be used."""
        ...

    async def claim(
        self,
        message_id: str,
        sender: str,
        sender_message_id: str,
        message_type: str,
        digest: str,
        *,
        key: str | None = None,
        reference: str | None = None,
        follows: str | None = None,
    ) -> MessageRecord:
        """Record ``received`` under the unique (sender, key) pair (``key``: the adapter's uniqueness key, by
        default the sender's message id); or return the row that holds it. ``reference``: what the message opens;
        ``follows``: the gateway id of the message it follows."""
        ...

    async def opened(self, sender: str, reference: str) -> MessageRecord | None:
        """The first message not rejected of ``sender`` that opened ``reference`` (what a follow-up follows)."""
        ...

    async def retake(self, message_id: str, digest: str) -> None:
        """Take over a ``received`` claim left by a request that never finished (crash, broker down)."""
        ...

    async def accept(
        self,
        message_id: str,
        receivers: tuple[str, ...],
        receipt: bytes,
        canonical: bytes,
        *,
        actor: str = "gateway",
        reason: str | None = None,
    ) -> None:
        """Recorded ``accepted`` (routed); ``actor`` / ``reason``: who released a held message, and why."""
        ...

    async def release(self, message_id: str, reason: str) -> None:
        """Nothing was accepted (broker down): free the key so the partner can send again."""
        ...

    async def wait(
        self,
        message_id: str,
        receivers: tuple[str, ...],
        receipt: bytes,
        canonical: bytes,
        reason: str,
        *,
        status: Status = Status.WAITING,
    ) -> None:
        """Accepted but held (``waiting``, or ``held`` by the watch list): not routed until a control releases
        it (then :meth:`accept`) or rejects it (then :meth:`reject`)."""
        ...

    async def reject(
        self,
        message_id: str,
        sender: str,
        sender_message_id: str | None,
        message_type: str | None,
        code: str,
        reason: str,
        *,
        actor: str = "gateway",
    ) -> None: ...

    async def record_delivery(
        self,
        message_id: str,
        receiver: str,
        status: Status,
        *,
        attempt: int,
        reason: str | None = None,
        next_attempt: dt.datetime | None = None,
        actor: str = "gateway",
    ) -> None: ...

    async def start_delivery(self, message_id: str, receiver: str, *, attempt: int) -> bool:
        """Record ``delivering`` for this attempt, unless the message was delivered to ``receiver`` already
        (False: nothing written). The check and the write are one transaction (issue 15: one store call where
        ``delivered_to`` and ``record_delivery`` were two)."""
        ...

    async def delivered_to(self, message_id: str, receiver: str) -> bool: ...

    async def get(self, message_id: str) -> MessageRecord | None: ...

    async def deliveries(self, message_id: str) -> list[DeliveryRecord]: ...

    async def events(self, message_id: str) -> list[Event]: ...

    async def canonical(self, message_id: str) -> bytes | None: ...

    async def find(
        self,
        *,
        status: str | None = None,
        partner: str | None = None,
        message_type: str | None = None,
        limit: int = 100,
    ) -> list[MessageRecord]: ...

    async def activity(self, since: dt.datetime, bucket_seconds: int) -> Activity:
        """Counts per partner and time bucket from ``since`` on (the console's traffic chart)."""
        ...

    async def record_config_event(
        self,
        actor: str,
        action: str,
        partner: str | None,
        *,
        detail: str | None = None,
        before: dict[str, Any] | None = None,
        after: dict[str, Any] | None = None,
    ) -> None:
        """Append to the configuration audit log (before/after: JSON-able partner file contents)."""
        ...

    async def config_events(self, *, partner: str | None = None, limit: int = 100) -> list[ConfigEvent]:
        """The configuration audit log, newest first."""
        ...

    async def record_evidence(self, message_id: str, partner: str, kind: str, reference: str, document: bytes) -> None:
        """Keep ``document``; the first one for (partner, kind, reference) stays (a repeat is ignored)."""
        ...

    async def evidence(self, message_id: str) -> list[Evidence]:
        """What is kept for one gateway message, oldest first."""
        ...

    async def find_evidence(self, partner: str, kind: str, reference: str) -> Evidence | None:
        """The evidence of (partner, kind, reference): e.g. the receipt already given for an AS4 MessageId."""
        ...

    async def take_tokens(self, partner: str, want: int, *, rate: float, burst: int, now: float) -> Tokens:
        """Take up to ``want`` tokens from the partner's bucket, shared by every process using this store, in
        one transaction (``take_from_bucket``; PostgreSQL does the same arithmetic in SQL, in one round trip; a
        new bucket starts full). ``now``: epoch seconds."""
        ...
