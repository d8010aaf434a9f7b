"""PostgreSQL store (asyncpg): the same Protocol as SQLite, for several gateway instances sharing one broker
and one database.

``[store] url = "postgresql://user@host:5432/db"``. Query parameters asyncpg does not know become server
settings, so ``?search_path=gateway`` keeps the tables in their own schema. Instances may race on anything:
the (sender, message id) claim is one INSERT ... ON CONFLICT against a unique index, and the statements that
derive a message's status from its deliveries lock the message row first.

Cost per message (issue 15): every write is one round trip. The writes of every message (claim, accept,
start_delivery, record_delivery) are PL/pgSQL functions created by :meth:`PostgresStore.open`
(``gw_store_*_v1``): one call locks, writes and derives the status, each statement inside with a fresh
snapshot (READ COMMITTED), as the separate statements did before. Calls of one function queued while its
previous batch is on the wire go together as the next batch (``delivered_to``, a read, too): one pipelined
``fetchmany`` in one implicit transaction (one round trip, one commit), ordered by the rows they lock so that
batches of two instances never deadlock. A batch is atomic; when a statement of it fails, nothing of it was
kept and each call runs again alone, so it fails alone. The other writes are one statement each (a CTE writes
the event), and connections go back to the pool without asyncpg's reset query (the store keeps no session
state: no session locks, LISTEN, cursors or SET). Each kind of batch keeps one connection of the pool.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import Awaitable, Callable, Sequence
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
)
from gateway.store.rows import (
    DELIVERY_COLUMNS,
    EVENT_COLUMNS,
    MESSAGE_COLUMNS,
    MIGRATE_FOLLOW_UPS,
    PRECEDENCE,
    REFERENCE_INDEX,
    config_event_record,
    config_json,
    delivery_detail,
    delivery_record,
    event_record,
    message_filter,
    message_record,
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

# A message's status from its deliveries' (rows.overall_status in SQL, the precedence written from rows.PRECEDENCE),
# or the fallback when no delivery has one of these statuses.
_OVERALL = (  # noqa: S608 - fixed fragments and the Status names
    "SELECT p.s FROM unnest(ARRAY[{}]) WITH ORDINALITY AS p (s, n) "
    "WHERE p.s IN (SELECT d.status FROM deliveries d WHERE d.message_id = p_id) ORDER BY p.n LIMIT 1"
).format(", ".join(f"'{s}'" for s in PRECEDENCE))

# The per-message writes, one round trip each (see the module docstring). Parameters are prefixed p_ so that
# they never shadow a column. A change of behaviour gets a new name (_v2): instances of two versions may share
# the database during an upgrade, each calling its own.
FUNCTIONS = f"""
CREATE OR REPLACE FUNCTION gw_store_claim_v1(
    p_id TEXT, p_sender TEXT, p_sender_message_id TEXT, p_type TEXT, p_digest TEXT, p_now TIMESTAMPTZ,
    p_key TEXT, p_reference TEXT, p_follows TEXT, p_event TEXT
) RETURNS SETOF messages LANGUAGE plpgsql AS $$
DECLARE
    r messages%ROWTYPE;
BEGIN
    LOOP
        INSERT INTO messages (id, sender, sender_message_id, message_type, digest, status, created, updated,
                              unique_key, reference, follows)
        VALUES (p_id, p_sender, p_sender_message_id, p_type, p_digest, 'received', p_now, p_now,
                p_key, p_reference, p_follows)
        ON CONFLICT (sender, unique_key) WHERE status <> 'rejected' DO NOTHING
        RETURNING * INTO r;
        IF FOUND THEN
            INSERT INTO events (message_id, at, status, actor, reason)
            VALUES (p_id, p_now, 'received', p_sender, p_event);
            RETURN NEXT r;
            RETURN;
        END IF;
        SELECT * INTO r FROM messages m
        WHERE m.sender = p_sender AND m.unique_key = p_key AND m.status <> 'rejected';
        IF FOUND THEN
            RETURN NEXT r;
            RETURN;
        END IF;
        -- The holder was released between the two statements: insert again.
    END LOOP;
END $$;

CREATE OR REPLACE FUNCTION gw_store_accept_v1(
    p_id TEXT, p_receivers TEXT[], p_receipt BYTEA, p_canonical BYTEA, p_now TIMESTAMPTZ, p_actor TEXT,
    p_event TEXT
) RETURNS INTEGER LANGUAGE plpgsql AS $$
DECLARE
    overall TEXT;
BEGIN
    -- Locked first, so that the statements below (each with a fresh snapshot) see every delivery recorded
    -- before: a worker may record its delivery as soon as the broker confirms, before this runs.
    PERFORM 1 FROM messages m WHERE m.id = p_id FOR UPDATE;
    INSERT INTO deliveries (message_id, receiver, status, updated)
    SELECT p_id, r, 'accepted', p_now FROM unnest(p_receivers) AS r
    ON CONFLICT (message_id, receiver) DO NOTHING;
    overall := ({_OVERALL});
    UPDATE messages m SET status = coalesce(overall, 'accepted'), receivers = array_to_string(p_receivers, ','),
        receipt = p_receipt, canonical = p_canonical, updated = p_now
    WHERE m.id = p_id;
    INSERT INTO events (message_id, at, status, actor, reason) VALUES (p_id, p_now, 'accepted', p_actor, p_event);
    RETURN 1;
END $$;

CREATE OR REPLACE FUNCTION gw_store_record_delivery_v1(
    p_id TEXT, p_receiver TEXT, p_status TEXT, p_attempt INTEGER, p_reason TEXT, p_next TIMESTAMPTZ,
    p_now TIMESTAMPTZ, p_actor TEXT, p_event TEXT
) RETURNS INTEGER LANGUAGE plpgsql AS $$
DECLARE
    overall TEXT;
BEGIN
    PERFORM 1 FROM messages m WHERE m.id = p_id FOR UPDATE;  -- as in gw_store_accept_v1
    INSERT INTO deliveries (message_id, receiver, status, attempts, reason, next_attempt, updated)
    VALUES (p_id, p_receiver, p_status, p_attempt, p_reason, p_next, p_now)
    ON CONFLICT (message_id, receiver) DO UPDATE SET
        status = excluded.status, attempts = excluded.attempts, reason = excluded.reason,
        next_attempt = excluded.next_attempt, updated = excluded.updated;
    overall := ({_OVERALL});
    UPDATE messages m SET status = coalesce(overall, p_status), reason = p_reason, updated = p_now WHERE m.id = p_id;
    INSERT INTO events (message_id, at, status, actor, receiver, reason)
    VALUES (p_id, p_now, p_status, p_actor, p_receiver, p_event);
    RETURN 1;
END $$;

-- Store.start_delivery: "delivering" unless already delivered to the receiver, decided under the message's lock.
CREATE OR REPLACE FUNCTION gw_store_start_delivery_v1(
    p_id TEXT, p_receiver TEXT, p_attempt INTEGER, p_now TIMESTAMPTZ, p_actor TEXT, p_event TEXT
) RETURNS BOOLEAN LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM messages m WHERE m.id = p_id FOR UPDATE;
    IF EXISTS (SELECT 1 FROM deliveries d WHERE d.message_id = p_id AND d.receiver = p_receiver
               AND d.status = 'delivered') THEN
        RETURN FALSE;
    END IF;
    PERFORM gw_store_record_delivery_v1(p_id, p_receiver, 'delivering', p_attempt, NULL, NULL, p_now, p_actor,
                                        p_event);
    RETURN TRUE;
END $$;

-- base.take_from_bucket's arithmetic in SQL (tests/store/test_postgres_batches.py compares them), so that a take
-- is one round trip: the row exists (full) before it is locked, so two instances taking the first tokens
-- serialise too.
CREATE OR REPLACE FUNCTION gw_store_take_tokens_v1(
    p_partner TEXT, p_want INTEGER, p_rate DOUBLE PRECISION, p_burst INTEGER, p_now DOUBLE PRECISION,
    OUT granted INTEGER, OUT left_tokens DOUBLE PRECISION
) LANGUAGE plpgsql AS $$
DECLARE
    b quota_buckets%ROWTYPE;
    v_level DOUBLE PRECISION;
BEGIN
    INSERT INTO quota_buckets (partner, tokens, at) VALUES (p_partner, p_burst, p_now) ON CONFLICT (partner) DO NOTHING;
    SELECT * INTO b FROM quota_buckets q WHERE q.partner = p_partner FOR UPDATE;
    v_level := least(p_burst::DOUBLE PRECISION, b.tokens + greatest(0.0, p_now - b.at) * p_rate);
    granted := greatest(0, least(p_want, trunc(v_level)::INTEGER));
    left_tokens := v_level - granted;
    UPDATE quota_buckets q SET tokens = left_tokens, at = greatest(p_now, b.at) WHERE q.partner = p_partner;
END $$;
"""  # noqa: S608 - fixed fragments (_OVERALL); the values are the functions' parameters

_CLAIM = f"SELECT {MESSAGE_COLUMNS} FROM gw_store_claim_v1($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"  # noqa: S608
_ACCEPT = "SELECT gw_store_accept_v1($1, $2, $3, $4, $5, $6, $7)"
_RECORD_DELIVERY = "SELECT gw_store_record_delivery_v1($1, $2, $3, $4, $5, $6, $7, $8, $9)"
_START_DELIVERY = "SELECT gw_store_start_delivery_v1($1, $2, $3, $4, $5, $6)"
_TAKE_TOKENS = "SELECT granted, left_tokens FROM gw_store_take_tokens_v1($1, $2, $3, $4, $5)"
# One row for every call, as a batch needs (NULL when there is no delivery yet).
_DELIVERED = "SELECT (SELECT status FROM deliveries WHERE message_id = $1 AND receiver = $2)"

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


async def _keep_session(db: asyncpg.Connection) -> None:
    """The pool's reset: nothing to undo (asyncpg still rolls back a transaction left open). The default runs
    a query per release (advisory unlock, CLOSE ALL, UNLISTEN, RESET ALL), a round trip per store call."""


def _usable(db: asyncpg.Connection) -> bool:
    try:
        return not db.is_closed()
    except asyncpg.InterfaceError:  # the pool took it back when it was closed
        return False


class _Call:
    __slots__ = ("args", "done", "order")

    def __init__(self, order: Any, args: Sequence[Any], done: asyncio.Future[asyncpg.Record]) -> None:
        self.order, self.args, self.done = order, args, done


class _Batch:
    """The calls of one statement that returns one row per call, sent in batches (see the module docstring).

    A call waits for the batch on the wire, if any, then goes with every call queued meanwhile: at one call at a
    time nothing waits longer than a turn of the loop, and under load a batch holds what arrived during one round
    trip. A caller's outcome is as if it ran alone: its row once committed, or ``Unavailable`` with nothing of
    it kept. A caller cancelled before its batch is sent is left out; once sent, its call may be committed."""

    LARGEST = 256  # calls in one batch at most: a flood makes several transactions, not one that holds every lock

    def __init__(self, store: PostgresStore, query: str) -> None:
        self.store, self.query = store, query
        self._queued: list[_Call] = []
        self._sender: asyncio.Task[None] | None = None
        self._db: asyncpg.Connection | None = None

    async def call(self, order: Any, *args: Any) -> asyncpg.Record:
        loop = asyncio.get_running_loop()
        done: asyncio.Future[asyncpg.Record] = loop.create_future()
        self._queued.append(_Call(order, args, done))
        if self._sender is None:
            self._sender = loop.create_task(self._send())
        return await done

    async def drained(self) -> None:
        """Wait until every queued call has its outcome (the store closes after)."""
        while self._sender is not None:
            await asyncio.shield(self._sender)

    async def _send(self) -> None:
        try:
            while self._queued:
                calls, self._queued = self._queued[: self.LARGEST], self._queued[self.LARGEST :]
                calls = [c for c in calls if not c.done.cancelled()]
                if calls:
                    # One order for every instance: two batches lock the rows they share in the same order.
                    calls.sort(key=lambda c: c.order)
                    await self._one_batch(calls)
        finally:
            self._sender = None
            for call in self._queued:  # only when this task itself was cancelled (loop closing)
                if not call.done.done():
                    call.done.set_exception(Unavailable("the message store is closing"))
            self._queued = []

    async def _on_connection(self, fn: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
        """``fn`` on this batch's own connection, taken from the pool once and kept (an acquire and a release
        per call cost as much CPU as the call). Given back when it failed, or closed, and taken again."""
        db = self._db
        if db is not None and not _usable(db):  # the server ended it (restart, idle timeout, terminated)
            self._db = None
            await self.store._give_back(db)
            db = None
        if db is None:
            db = self._db = await self.store._acquire()
        try:
            return await fn(db)
        except asyncpg.PostgresError:  # the statement failed; the connection is fine (unless the server closed it)
            raise
        except BaseException:
            self._db = None
            await self.store._give_back(db)
            raise

    async def let_go(self) -> None:
        """Give the connection back to the pool (the store closes)."""
        db, self._db = self._db, None
        if db is not None:
            await self.store._give_back(db)

    async def _one_batch(self, calls: list[_Call]) -> None:
        try:
            if len(calls) == 1:
                rows = [await self._on_connection(lambda db: db.fetchrow(self.query, *calls[0].args))]
            else:
                rows = await self._on_connection(lambda db: db.fetchmany(self.query, [c.args for c in calls]))
        except (asyncpg.PostgresError, ValueError) as exc:
            if len(calls) == 1:
                self._fail(calls, Unavailable(f"the message store failed: {exc}"), exc)
                return
            # A statement failed (a foreign key, a deadlock with another instance...) or one call's values could
            # not be sent (asyncpg's DataError is a ValueError): the batch was rolled back as a whole, so each
            # call runs again alone and gets its own outcome.
            for call in calls:
                await self._alone(call)
            return
        except Unavailable as error:  # the store is closed, or no connection could be had: nothing was sent
            self._fail(calls, error)
            return
        except _DB_ERRORS as exc:  # the connection failed: whether anything was kept is unknown, as for one call
            self._fail(calls, Unavailable(f"the message store failed: {exc}"), exc)
            return
        except BaseException as exc:  # a bug, or the loop is closing: no caller is left waiting
            self._fail(calls, Unavailable(f"the message store failed: {exc!r}"), exc)
            raise
        for call, row in zip(calls, rows, strict=True):
            if not call.done.done():
                call.done.set_result(row)

    async def _alone(self, call: _Call) -> None:
        try:
            row = await self._on_connection(lambda db: db.fetchrow(self.query, *call.args))
        except Unavailable as error:
            self._fail([call], error)
        except BaseException as exc:  # its own statement or values failed, the connection, a bug, the loop closing
            self._fail([call], Unavailable(f"the message store failed: {exc}"), exc)
            if not isinstance(exc, Exception):
                raise
        else:
            if not call.done.done():
                call.done.set_result(row)

    @staticmethod
    def _fail(calls: list[_Call], error: Unavailable, cause: BaseException | None = None) -> None:
        if cause is not None:
            error.__cause__ = cause
        for call in calls:
            if not call.done.done():
                call.done.set_exception(error)


class PostgresStore:
    POOL_SIZE = 10
    TIMEOUT = 10.0  # seconds for connecting, for a free connection and for one statement

    def __init__(self, url: str) -> None:
        self.url = url
        self._pool: asyncpg.Pool | None = None
        self._claims = _Batch(self, _CLAIM)
        self._accepts = _Batch(self, _ACCEPT)
        self._deliveries = _Batch(self, _RECORD_DELIVERY)
        self._starts = _Batch(self, _START_DELIVERY)
        self._delivered = _Batch(self, _DELIVERED)  # a read (a redelivery's check): batched too

    async def open(self) -> None:
        try:
            pool = await asyncpg.create_pool(
                self.url,
                min_size=1,
                max_size=self.POOL_SIZE,
                timeout=self.TIMEOUT,
                command_timeout=self.TIMEOUT,
                reset=_keep_session,
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
                await db.execute(FUNCTIONS)
        except _DB_ERRORS as exc:
            await pool.close()
            raise Unavailable(f"cannot create the store's tables at {safe_url(self.url)}: {exc}") from exc
        self._pool = pool

    async def close(self) -> None:
        if self._pool is not None:
            batches = (self._claims, self._accepts, self._starts, self._deliveries, self._delivered)
            for batch in batches:  # finish what is queued
                await batch.drained()
            for batch in batches:
                await batch.let_go()
            pool, self._pool = self._pool, None
            await pool.close()

    async def _run(self, fn: Callable[[asyncpg.Connection], Awaitable[T]], *, tx: bool = True) -> T:
        """``fn`` on a pooled connection, in a transaction unless ``tx`` is false; the database's errors become
        ``Unavailable``."""
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

    async def _acquire(self) -> asyncpg.Connection:
        """A connection of the pool, kept by a batch until :meth:`_give_back`."""
        if self._pool is None:
            raise Unavailable("the store is not open")
        try:
            db: asyncpg.Connection = await self._pool.acquire(timeout=self.TIMEOUT)
        except _DB_ERRORS as exc:
            raise Unavailable(f"the message store failed: {exc}") from exc
        return db

    async def _give_back(self, db: asyncpg.Connection) -> None:
        if self._pool is not None:
            with contextlib.suppress(*_DB_ERRORS):  # a broken connection is closed by the pool and replaced
                await self._pool.release(db, timeout=self.TIMEOUT)

    async def _execute(self, query: str, *args: Any) -> None:
        """One statement, its own transaction (a CTE writes the row and its event together)."""
        await self._run(lambda db: db.execute(query, *args), tx=False)

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
        row = await self._claims.call(
            (sender, unique),
            message_id,
            sender,
            sender_message_id,
            message_type,
            digest,
            _now(),
            unique,
            reference,
            follows,
            received_text(message_type, unique, follows),
        )
        return _record(row)

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
        await self._execute(
            "WITH m AS (UPDATE messages SET digest = $1, updated = $2 WHERE id = $3) "
            "INSERT INTO events (message_id, at, status, actor, receiver, reason) "
            "VALUES ($3, $2, 'received', 'gateway', NULL, $4)",
            digest,
            _now(),
            message_id,
            "received again after an unfinished attempt",
        )

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
        routed = f"routed to {', '.join(receivers)}"
        event = f"{reason}; {routed}" if reason else routed
        await self._accepts.call(message_id, message_id, list(receivers), receipt, canonical, _now(), actor, event)

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
        await self._execute(
            "WITH m AS (UPDATE messages SET status = $7, receivers = $1, receipt = $2, canonical = $3, "
            "reason = $4, updated = $5 WHERE id = $6) "
            "INSERT INTO events (message_id, at, status, actor, receiver, reason) "
            "VALUES ($6, $5, $7, 'gateway', NULL, $4)",
            ",".join(receivers),
            receipt,
            canonical,
            reason,
            _now(),
            message_id,
            str(status),
        )

    async def release(self, message_id: str, reason: str) -> None:
        await self._execute(
            "WITH m AS (UPDATE messages SET status = 'rejected', code = 'unavailable', reason = $1, updated = $2 "
            "WHERE id = $3) INSERT INTO events (message_id, at, status, actor, receiver, reason) "
            "VALUES ($3, $2, 'rejected', 'gateway', NULL, $4)",
            reason,
            _now(),
            message_id,
            f"unavailable: {reason}",
        )

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
        await self._execute(
            "WITH m AS (INSERT INTO messages (id, sender, sender_message_id, message_type, status, code, reason, "
            "created, updated) VALUES ($1, $2, $3, $4, 'rejected', $5, $6, $7, $7) "
            "ON CONFLICT (id) DO UPDATE SET status = 'rejected', code = excluded.code, "
            "reason = excluded.reason, updated = excluded.updated) "
            "INSERT INTO events (message_id, at, status, actor, receiver, reason) "
            "VALUES ($1, $7, 'rejected', $8, NULL, $9)",
            message_id,
            sender,
            sender_message_id,
            message_type,
            code,
            reason,
            _now(),
            actor,
            f"{code}: {reason}",
        )

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
        await self._deliveries.call(
            (message_id, receiver),
            message_id,
            receiver,
            str(status),
            attempt,
            reason,
            next_attempt,
            _now(),
            actor,
            delivery_detail(attempt, reason, next_attempt),
        )

    async def start_delivery(self, message_id: str, receiver: str, *, attempt: int) -> bool:
        row = await self._starts.call(
            (message_id, receiver),
            message_id,
            receiver,
            attempt,
            _now(),
            "gateway",
            delivery_detail(attempt, None, None),
        )
        return bool(row[0])

    async def delivered_to(self, message_id: str, receiver: str) -> bool:
        row = await self._delivered.call((message_id, receiver), message_id, receiver)
        return bool(row[0] == Status.DELIVERED)

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
        row = await self._run(
            lambda db: db.fetchrow(_TAKE_TOKENS, partner, want, float(rate), burst, float(now)), tx=False
        )
        return Tokens(int(row[0]), float(row[1]))
