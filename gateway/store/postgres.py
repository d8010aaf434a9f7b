"""PostgreSQL store (asyncpg): the same Protocol as SQLite, for several gateway instances sharing one broker
and one database.

``[store] url = "postgresql://user@host:5432/db"``. Query parameters asyncpg does not know become server
settings, so ``?search_path=gateway`` keeps the tables in their own schema. Instances may race on anything:
the (sender, message id) claim is one INSERT ... ON CONFLICT against a unique index, and the statements that
derive a message's status from its deliveries lock the message row first.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import asyncpg
from yarl import URL

from gateway.errors import Unavailable
from gateway.store.base import (
    Activity,
    ActivityRow,
    ConfigEvent,
    DeliveryRecord,
    Event,
    Evidence,
    MessageRecord,
    Status,
    Tokens,
    take_from_bucket,
)
from gateway.store.rows import (
    DELIVERY_COLUMNS,
    EVENT_COLUMNS,
    MESSAGE_COLUMNS,
    MIGRATE_FOLLOW_UPS,
    REFERENCE_INDEX,
    config_event_record,
    config_json,
    delivery_detail,
    delivery_record,
    event_record,
    message_filter,
    message_record,
    overall_status,
    received_text,
)

T = TypeVar("T")

# Held while the schema is created, so instances starting together do not race on CREATE ... IF NOT EXISTS.
_SCHEMA_LOCK = 0x6777_5354  # "gwST"

SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    id TEXT PRIMARY KEY,
    sender TEXT NOT NULL,
    sender_message_id TEXT,
    message_type TEXT,
    digest TEXT,
    status TEXT NOT NULL,
    receivers TEXT NOT NULL DEFAULT '',
    code TEXT,
    reason TEXT,
    receipt BYTEA,
    canonical BYTEA,
    created TIMESTAMPTZ NOT NULL,
    updated TIMESTAMPTZ NOT NULL
);
-- (sender, unique_key) is unique forever among messages that were not rejected (rows.MIGRATE_FOLLOW_UPS,
-- run by open() under the schema lock, adds the key, reference and follows columns and that index).
ALTER TABLE messages ADD COLUMN IF NOT EXISTS unique_key TEXT;
ALTER TABLE messages ADD COLUMN IF NOT EXISTS reference TEXT;
ALTER TABLE messages ADD COLUMN IF NOT EXISTS follows TEXT;
CREATE INDEX IF NOT EXISTS messages_status ON messages (status, updated);
CREATE INDEX IF NOT EXISTS messages_created ON messages (created);
CREATE TABLE IF NOT EXISTS deliveries (
    message_id TEXT NOT NULL REFERENCES messages (id),
    receiver TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    reason TEXT,
    next_attempt TIMESTAMPTZ,
    updated TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (message_id, receiver)
);
CREATE TABLE IF NOT EXISTS events (
    seq BIGSERIAL PRIMARY KEY,
    message_id TEXT NOT NULL,
    at TIMESTAMPTZ NOT NULL,
    status TEXT NOT NULL,
    actor TEXT NOT NULL,
    receiver TEXT,
    reason TEXT
);
CREATE INDEX IF NOT EXISTS events_message ON events (message_id, seq);
CREATE INDEX IF NOT EXISTS deliveries_status ON deliveries (status, updated);
CREATE TABLE IF NOT EXISTS config_events (
    seq BIGSERIAL PRIMARY KEY,
    at TIMESTAMPTZ NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    partner TEXT,
    detail TEXT,
    before JSONB,
    after JSONB
);
CREATE INDEX IF NOT EXISTS config_events_partner ON config_events (partner, seq);
CREATE TABLE IF NOT EXISTS evidence (
    seq BIGSERIAL PRIMARY KEY,
    message_id TEXT NOT NULL,
    partner TEXT NOT NULL,
    kind TEXT NOT NULL,
    reference TEXT NOT NULL,
    at TIMESTAMPTZ NOT NULL,
    document BYTEA NOT NULL,
    UNIQUE (partner, kind, reference)
);
CREATE INDEX IF NOT EXISTS evidence_message ON evidence (message_id, seq);
CREATE TABLE IF NOT EXISTS quota_buckets (
    partner TEXT PRIMARY KEY,
    tokens DOUBLE PRECISION NOT NULL,
    at DOUBLE PRECISION NOT NULL
);
"""

# rows.CONFIG_EVENT_COLUMNS, with the JSONB columns read as JSON text.
_CONFIG_COLUMNS = "seq, at, actor, action, partner, detail, before::text, after::text"

# Everything asyncpg and the network can raise while talking to the database. Translated here, once.
_DB_ERRORS = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, asyncio.TimeoutError)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _time(value: dt.datetime) -> dt.datetime:
    """``timestamptz`` columns arrive as aware datetimes."""
    return value


def _record(row: asyncpg.Record) -> MessageRecord:
    return message_record(row, _time)


def safe_url(url: str) -> str:
    """The URL without its password, for messages and logs."""
    parsed = URL(url)
    return str(parsed.with_password("***")) if parsed.password else url


class PostgresStore:
    POOL_SIZE = 10
    TIMEOUT = 10.0  # seconds for connecting, for a free connection and for one statement

    def __init__(self, url: str) -> None:
        self.url = url
        self._pool: asyncpg.Pool | None = None

    async def open(self) -> None:
        try:
            pool = await asyncpg.create_pool(
                self.url,
                min_size=1,
                max_size=self.POOL_SIZE,
                timeout=self.TIMEOUT,
                command_timeout=self.TIMEOUT,
            )
        except (*_DB_ERRORS, ValueError) as exc:
            raise Unavailable(f"cannot open the message store at {safe_url(self.url)}: {exc}") from exc
        try:
            async with pool.acquire() as db, db.transaction():
                await db.execute("SELECT pg_advisory_xact_lock($1)", _SCHEMA_LOCK)
                await db.execute(SCHEMA)
                old = await db.fetchval("SELECT to_regclass('messages_sender_key')")
                fresh = await db.fetchval("SELECT to_regclass('messages_unique_key')") is None
                if old is not None or fresh:
                    for statement in MIGRATE_FOLLOW_UPS:
                        await db.execute(statement)
                await db.execute(REFERENCE_INDEX)
        except _DB_ERRORS as exc:
            await pool.close()
            raise Unavailable(f"cannot create the store's tables at {safe_url(self.url)}: {exc}") from exc
        self._pool = pool

    async def close(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()

    async def _run(self, fn: Callable[[asyncpg.Connection], Awaitable[T]], *, tx: bool = True) -> T:
        if self._pool is None:
            raise Unavailable("the store is not open")
        try:
            async with self._pool.acquire(timeout=self.TIMEOUT) as db:
                if not tx:
                    return await fn(db)
                async with db.transaction():
                    return await fn(db)
        except _DB_ERRORS as exc:
            raise Unavailable(f"the message store failed: {exc}") from exc

    @staticmethod
    async def _event(
        db: asyncpg.Connection,
        message_id: str,
        status: str,
        actor: str,
        reason: str | None,
        receiver: str | None = None,
        at: dt.datetime | None = None,
    ) -> None:
        await db.execute(
            "INSERT INTO events (message_id, at, status, actor, receiver, reason) VALUES ($1, $2, $3, $4, $5, $6)",
            message_id,
            at or _now(),
            status,
            actor,
            receiver,
            reason,
        )

    @staticmethod
    async def _lock(db: asyncpg.Connection, message_id: str) -> None:
        """Serialise the changes to one message (its status is derived from all its deliveries)."""
        await db.execute("SELECT 1 FROM messages WHERE id = $1 FOR UPDATE", message_id)

    async def ping(self) -> None:
        await self._run(lambda db: db.fetchval("SELECT 1"), tx=False)

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
        unique = sender_message_id if key is None else key

        async def fn(db: asyncpg.Connection) -> MessageRecord:
            now = _now()
            while True:
                row = await db.fetchrow(
                    "INSERT INTO messages (id, sender, sender_message_id, message_type, digest, status, "  # noqa: S608
                    "created, updated, unique_key, reference, follows) "
                    "VALUES ($1, $2, $3, $4, $5, 'received', $6, $6, $7, $8, $9) "
                    "ON CONFLICT (sender, unique_key) WHERE status <> 'rejected' DO NOTHING "
                    f"RETURNING {MESSAGE_COLUMNS}",
                    message_id,
                    sender,
                    sender_message_id,
                    message_type,
                    digest,
                    now,
                    unique,
                    reference,
                    follows,
                )
                if row is not None:
                    await self._event(
                        db,
                        message_id,
                        str(Status.RECEIVED),
                        sender,
                        received_text(message_type, unique, follows),
                        at=now,
                    )
                    return _record(row)
                held = await db.fetchrow(
                    f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE sender = $1 AND unique_key = $2 "  # noqa: S608
                    "AND status <> 'rejected'",
                    sender,
                    unique,
                )
                if held is not None:
                    return _record(held)
                # The holder was released between the two statements: try the insert again.

        return await self._run(fn)

    async def opened(self, sender: str, reference: str) -> MessageRecord | None:
        row = await self._run(
            lambda db: db.fetchrow(
                f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE sender = $1 AND reference = $2 "  # noqa: S608
                "AND status <> 'rejected' ORDER BY created LIMIT 1",
                sender,
                reference,
            ),
            tx=False,
        )
        return None if row is None else _record(row)

    async def retake(self, message_id: str, digest: str) -> None:
        async def fn(db: asyncpg.Connection) -> None:
            await db.execute("UPDATE messages SET digest = $1, updated = $2 WHERE id = $3", digest, _now(), message_id)
            await self._event(
                db, message_id, str(Status.RECEIVED), "gateway", "received again after an unfinished attempt"
            )

        await self._run(fn)

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
        async def fn(db: asyncpg.Connection) -> None:
            now = _now()
            await self._lock(db, message_id)
            await db.executemany(
                "INSERT INTO deliveries (message_id, receiver, status, updated) "
                "VALUES ($1, $2, 'accepted', $3) ON CONFLICT (message_id, receiver) DO NOTHING",
                [(message_id, r, now) for r in receivers],
            )
            # A worker may consume the message as soon as the broker confirms it and record its delivery
            # before this runs: the message then shows its deliveries' state, not "accepted" over "delivered".
            overall = overall_status(await self._statuses(db, message_id)) or Status.ACCEPTED
            await db.execute(
                "UPDATE messages SET status = $1, receivers = $2, receipt = $3, canonical = $4, updated = $5 "
                "WHERE id = $6",
                str(overall),
                ",".join(receivers),
                receipt,
                canonical,
                now,
                message_id,
            )
            routed = f"routed to {', '.join(receivers)}"
            await self._event(
                db, message_id, str(Status.ACCEPTED), actor, f"{reason}; {routed}" if reason else routed, at=now
            )

        await self._run(fn)

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
        async def fn(db: asyncpg.Connection) -> None:
            now = _now()
            await db.execute(
                "UPDATE messages SET status = $7, receivers = $1, receipt = $2, canonical = $3, "
                "reason = $4, updated = $5 WHERE id = $6",
                ",".join(receivers),
                receipt,
                canonical,
                reason,
                now,
                message_id,
                str(status),
            )
            await self._event(db, message_id, str(status), "gateway", reason, at=now)

        await self._run(fn)

    async def release(self, message_id: str, reason: str) -> None:
        async def fn(db: asyncpg.Connection) -> None:
            now = _now()
            await db.execute(
                "UPDATE messages SET status = 'rejected', code = 'unavailable', reason = $1, updated = $2 "
                "WHERE id = $3",
                reason,
                now,
                message_id,
            )
            await self._event(db, message_id, str(Status.REJECTED), "gateway", f"unavailable: {reason}", at=now)

        await self._run(fn)

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
    ) -> None:
        async def fn(db: asyncpg.Connection) -> None:
            now = _now()
            await db.execute(
                "INSERT INTO messages (id, sender, sender_message_id, message_type, status, code, reason, "
                "created, updated) VALUES ($1, $2, $3, $4, 'rejected', $5, $6, $7, $7) "
                "ON CONFLICT (id) DO UPDATE SET status = 'rejected', code = excluded.code, "
                "reason = excluded.reason, updated = excluded.updated",
                message_id,
                sender,
                sender_message_id,
                message_type,
                code,
                reason,
                now,
            )
            await self._event(db, message_id, str(Status.REJECTED), actor, f"{code}: {reason}", at=now)

        await self._run(fn)

    @staticmethod
    async def _statuses(db: asyncpg.Connection, message_id: str) -> set[Status]:
        rows = await db.fetch("SELECT status FROM deliveries WHERE message_id = $1", message_id)
        return {Status(r["status"]) for r in rows}

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
    ) -> None:
        async def fn(db: asyncpg.Connection) -> None:
            now = _now()
            await self._lock(db, message_id)
            await db.execute(
                "INSERT INTO deliveries (message_id, receiver, status, attempts, reason, next_attempt, "
                "updated) VALUES ($1, $2, $3, $4, $5, $6, $7) "
                "ON CONFLICT (message_id, receiver) DO UPDATE SET "
                "status = excluded.status, attempts = excluded.attempts, reason = excluded.reason, "
                "next_attempt = excluded.next_attempt, updated = excluded.updated",
                message_id,
                receiver,
                str(status),
                attempt,
                reason,
                next_attempt,
                now,
            )
            overall = overall_status(await self._statuses(db, message_id)) or status
            await db.execute(
                "UPDATE messages SET status = $1, reason = $2, updated = $3 WHERE id = $4",
                str(overall),
                reason,
                now,
                message_id,
            )
            detail = delivery_detail(attempt, reason, next_attempt)
            await self._event(db, message_id, str(status), actor, detail, receiver=receiver, at=now)

        await self._run(fn)

    async def delivered_to(self, message_id: str, receiver: str) -> bool:
        async def fn(db: asyncpg.Connection) -> bool:
            status = await db.fetchval(
                "SELECT status FROM deliveries WHERE message_id = $1 AND receiver = $2", message_id, receiver
            )
            return bool(status == Status.DELIVERED)

        return await self._run(fn, tx=False)

    async def get(self, message_id: str) -> MessageRecord | None:
        async def fn(db: asyncpg.Connection) -> MessageRecord | None:
            row = await db.fetchrow(f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE id = $1", message_id)  # noqa: S608
            return None if row is None else _record(row)

        return await self._run(fn, tx=False)

    async def deliveries(self, message_id: str) -> list[DeliveryRecord]:
        async def fn(db: asyncpg.Connection) -> list[DeliveryRecord]:
            rows = await db.fetch(
                f"SELECT {DELIVERY_COLUMNS} FROM deliveries WHERE message_id = $1 ORDER BY receiver",  # noqa: S608 - a fixed column list
                message_id,
            )
            return [delivery_record(r, _time) for r in rows]

        return await self._run(fn, tx=False)

    async def events(self, message_id: str) -> list[Event]:
        async def fn(db: asyncpg.Connection) -> list[Event]:
            rows = await db.fetch(
                f"SELECT {EVENT_COLUMNS} FROM events WHERE message_id = $1 ORDER BY seq",  # noqa: S608 - a fixed column list
                message_id,
            )
            return [event_record(r, _time) for r in rows]

        return await self._run(fn, tx=False)

    async def canonical(self, message_id: str) -> bytes | None:
        async def fn(db: asyncpg.Connection) -> bytes | None:
            value: bytes | None = await db.fetchval("SELECT canonical FROM messages WHERE id = $1", message_id)
            return value

        return await self._run(fn, tx=False)

    async def find(
        self,
        *,
        status: str | None = None,
        partner: str | None = None,
        message_type: str | None = None,
        limit: int = 100,
    ) -> list[MessageRecord]:
        args: list[Any] = []

        def arg(value: Any) -> str:
            args.append(value)
            return f"${len(args)}"

        where = message_filter(status, partner, message_type, arg)
        query = f"SELECT {MESSAGE_COLUMNS} FROM messages {where} ORDER BY created DESC LIMIT {arg(limit)}"  # noqa: S608

        async def fn(db: asyncpg.Connection) -> list[MessageRecord]:
            return [_record(r) for r in await db.fetch(query, *args)]

        return await self._run(fn, tx=False)

    async def activity(self, since: dt.datetime, bucket_seconds: int) -> Activity:
        async def fn(db: asyncpg.Connection) -> Activity:
            received = await db.fetch(
                "SELECT sender, floor(extract(epoch FROM created - $1) / $2)::int AS bucket, count(*) "
                "FROM messages WHERE created >= $1 GROUP BY sender, bucket",
                since,
                bucket_seconds,
            )
            delivered = await db.fetch(
                "SELECT d.receiver, floor(extract(epoch FROM d.updated - $1) / $2)::int AS bucket, count(*), "
                "sum(extract(epoch FROM d.updated - m.created)), max(extract(epoch FROM d.updated - m.created)) "
                "FROM deliveries d JOIN messages m ON m.id = d.message_id "
                "WHERE d.status = 'delivered' AND d.updated >= $1 GROUP BY d.receiver, bucket",
                since,
                bucket_seconds,
            )
            return Activity(
                tuple(ActivityRow(r[0], int(r[1]), int(r[2])) for r in received),
                tuple(ActivityRow(r[0], int(r[1]), int(r[2]), float(r[3]), float(r[4])) for r in delivered),
            )

        return await self._run(fn, tx=False)

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
        async def fn(db: asyncpg.Connection) -> None:
            await db.execute(
                "INSERT INTO config_events (at, actor, action, partner, detail, before, after) "
                "VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7::jsonb)",
                _now(),
                actor,
                action,
                partner,
                detail,
                config_json(before),
                config_json(after),
            )

        await self._run(fn)

    async def config_events(self, *, partner: str | None = None, limit: int = 100) -> list[ConfigEvent]:
        async def fn(db: asyncpg.Connection) -> list[ConfigEvent]:
            where, args = ("WHERE partner = $1", [partner]) if partner else ("", [])
            rows = await db.fetch(
                f"SELECT {_CONFIG_COLUMNS} FROM config_events {where} "  # noqa: S608 - fixed fragments; values are parameters
                f"ORDER BY seq DESC LIMIT ${len(args) + 1}",
                *args,
                limit,
            )
            return [config_event_record(r, _time) for r in rows]

        return await self._run(fn, tx=False)

    async def record_evidence(self, message_id: str, partner: str, kind: str, reference: str, document: bytes) -> None:
        async def fn(db: asyncpg.Connection) -> None:
            await db.execute(
                "INSERT INTO evidence (message_id, partner, kind, reference, at, document) "
                "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (partner, kind, reference) DO NOTHING",
                message_id,
                partner,
                kind,
                reference,
                _now(),
                document,
            )

        await self._run(fn)

    async def evidence(self, message_id: str) -> list[Evidence]:
        async def fn(db: asyncpg.Connection) -> list[Evidence]:
            rows = await db.fetch(
                "SELECT message_id, partner, kind, reference, at, document FROM evidence "
                "WHERE message_id = $1 ORDER BY seq",
                message_id,
            )
            return [Evidence(r[0], r[1], r[2], r[3], r[4], bytes(r[5])) for r in rows]

        return await self._run(fn, tx=False)

    async def find_evidence(self, partner: str, kind: str, reference: str) -> Evidence | None:
        async def fn(db: asyncpg.Connection) -> Evidence | None:
            r = await db.fetchrow(
                "SELECT message_id, partner, kind, reference, at, document FROM evidence "
                "WHERE partner = $1 AND kind = $2 AND reference = $3",
                partner,
                kind,
                reference,
            )
            return Evidence(r[0], r[1], r[2], r[3], r[4], bytes(r[5])) if r else None

        return await self._run(fn, tx=False)

    async def take_tokens(self, partner: str, want: int, *, rate: float, burst: int, now: float) -> Tokens:
        async def fn(db: asyncpg.Connection) -> Tokens:
            # The row exists (full) before it is locked, so two instances taking the first tokens serialise too.
            await db.execute(
                "INSERT INTO quota_buckets (partner, tokens, at) VALUES ($1, $2, $3) ON CONFLICT (partner) DO NOTHING",
                partner,
                float(burst),
                now,
            )
            row = await db.fetchrow("SELECT tokens, at FROM quota_buckets WHERE partner = $1 FOR UPDATE", partner)
            at = float(row[1])
            taken = take_from_bucket(float(row[0]), at, now=now, want=want, rate=rate, burst=burst)
            await db.execute(
                "UPDATE quota_buckets SET tokens = $2, at = $3 WHERE partner = $1", partner, taken.left, max(now, at)
            )
            return taken

        return await self._run(fn)
