"""What the SQLite and PostgreSQL stores share: the column lists they select, how a row becomes a record,
which status a message shows when its receivers disagree, and the texts of the events they write.

A row is anything indexable by position in the order of the column lists (a ``sqlite3`` tuple, an
``asyncpg.Record``); ``to_time`` turns the stored time (epoch seconds in SQLite, ``timestamptz`` in
PostgreSQL) into an aware datetime.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from gateway.store.base import ConfigEvent, DeliveryRecord, Event, MessageRecord, Status

ToTime = Callable[[Any], dt.datetime]

MESSAGE_COLUMNS = (
    "id, sender, sender_message_id, message_type, digest, status, receivers, code, reason, created, updated, receipt, "
    "unique_key, reference, follows"
)
DELIVERY_COLUMNS = "receiver, status, attempts, reason, next_attempt, updated"
EVENT_COLUMNS = "message_id, at, status, actor, receiver, reason"
CONFIG_EVENT_COLUMNS = "seq, at, actor, action, partner, detail, before, after"

# When receivers disagree, the message shows the least finished one.
PRECEDENCE = (Status.FAILED, Status.RETRYING, Status.DELIVERING, Status.ACCEPTED, Status.DELIVERED)


def overall_status(statuses: Iterable[Status]) -> Status | None:
    """The status a message shows for its deliveries' statuses (None when it has no delivery yet)."""
    present = set(statuses)
    return next((s for s in PRECEDENCE if s in present), None)


def message_record(row: Sequence[Any], to_time: ToTime) -> MessageRecord:
    return MessageRecord(
        id=row[0],
        sender=row[1],
        sender_message_id=row[2],
        message_type=row[3],
        digest=row[4],
        status=Status(row[5]),
        receivers=tuple(r for r in row[6].split(",") if r),
        code=row[7],
        reason=row[8],
        created=to_time(row[9]),
        updated=to_time(row[10]),
        receipt=row[11],
        key=row[12],
        reference=row[13],
        follows=row[14],
    )


def delivery_record(row: Sequence[Any], to_time: ToTime) -> DeliveryRecord:
    next_attempt = None if row[4] is None else to_time(row[4])
    return DeliveryRecord(row[0], Status(row[1]), row[2], row[3], next_attempt, to_time(row[5]))


def event_record(row: Sequence[Any], to_time: ToTime) -> Event:
    return Event(row[0], to_time(row[1]), row[2], row[3], row[4], row[5])


def config_event_record(row: Sequence[Any], to_time: ToTime) -> ConfigEvent:
    """``before`` and ``after`` are read as JSON text."""
    before = None if row[6] is None else json.loads(row[6])
    after = None if row[7] is None else json.loads(row[7])
    return ConfigEvent(row[0], to_time(row[1]), row[2], row[3], row[4], row[5], before, after)


def config_json(value: dict[str, Any] | None) -> str | None:
    """A partner file's contents as stored in the configuration audit log."""
    return None if value is None else json.dumps(value, sort_keys=True)


def message_filter(status: str | None, partner: str | None, message_type: str | None, arg: Callable[[Any], str]) -> str:
    """The WHERE clause of a message search (empty without criteria); ``arg`` records a value and returns
    its placeholder (``?`` or ``$n``)."""
    clauses: list[str] = []
    if status:
        clauses.append(f"status = {arg(status)}")
    if partner:
        clauses.append(f"(sender = {arg(partner)} OR ',' || receivers || ',' LIKE {arg(f'%,{partner},%')})")
    if message_type:
        clauses.append(f"message_type = {arg(message_type)}")
    return ("WHERE " + " AND ".join(clauses)) if clauses else ""


def delivery_detail(attempt: int, reason: str | None, next_attempt: dt.datetime | None) -> str:
    """The event text of a delivery attempt."""
    detail = f"attempt {attempt}" + (f": {reason}" if reason else "")
    if next_attempt is not None:
        detail += f"; next attempt at {next_attempt.isoformat(timespec='seconds')}"
    return detail


# Uniqueness moved from (sender, sender_message_id) to (sender, unique_key), the format adapter's key
# (docs/DESIGN.md 8, "Follow-ups"): rows written before keep their message id as key and as reference.
MIGRATE_FOLLOW_UPS = (
    "UPDATE messages SET unique_key = sender_message_id, reference = sender_message_id "
    "WHERE unique_key IS NULL AND sender_message_id IS NOT NULL AND status <> 'rejected'",
    "CREATE UNIQUE INDEX IF NOT EXISTS messages_unique_key ON messages (sender, unique_key) WHERE status <> 'rejected'",
    "DROP INDEX IF EXISTS messages_sender_key",
)
FOLLOW_UP_COLUMNS = ("unique_key", "reference", "follows")
REFERENCE_INDEX = (
    "CREATE INDEX IF NOT EXISTS messages_reference ON messages (sender, reference) WHERE reference IS NOT NULL"
)


def received_text(message_type: str, key: str, follows: str | None) -> str:
    """The ``received`` event's text: what arrived, and what it follows."""
    return f"{message_type} {key}" + (f", following {follows}" if follows else "")
