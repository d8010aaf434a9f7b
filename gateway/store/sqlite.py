"""SQLite store: one file, WAL, one connection on one dedicated thread (sqlite3 calls never block the loop)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import math
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

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
    CONFIG_EVENT_COLUMNS,
    DELIVERY_COLUMNS,
    EVENT_COLUMNS,
    FOLLOW_UP_COLUMNS,
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

# MESSAGE_COLUMNS with the receipt read from message_documents (rows from before it have theirs in messages).
_COLUMNS = MESSAGE_COLUMNS.replace(
    "receipt,", "COALESCE((SELECT d.receipt FROM message_documents d WHERE d.id = messages.id), messages.receipt),"
)

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
    receipt BLOB,
    canonical BLOB,
    created REAL NOT NULL,
    updated REAL NOT NULL
);
-- (sender, unique_key) is unique forever among messages that were not rejected: _migrate adds the columns
-- unique_key, reference, follows and the index (rows.MIGRATE_FOLLOW_UPS).
CREATE INDEX IF NOT EXISTS messages_status ON messages (status, updated);
-- The receipt and the canonical envelope of a message, written once (accept, wait) and read rarely: kept out
-- of the messages row, whose status changes with each delivery event (issue 15: a row of ~8 KB spills into
-- overflow pages, which SQLite writes again on every UPDATE of the row). Rows written before this table
-- existed keep theirs in messages.receipt and messages.canonical.
CREATE TABLE IF NOT EXISTS message_documents (
    id TEXT PRIMARY KEY,
    receipt BLOB,
    canonical BLOB
);
CREATE INDEX IF NOT EXISTS messages_created ON messages (created);
CREATE TABLE IF NOT EXISTS deliveries (
    message_id TEXT NOT NULL REFERENCES messages (id),
    receiver TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    reason TEXT,
    next_attempt REAL,
    updated REAL NOT NULL,
    PRIMARY KEY (message_id, receiver)
);
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id TEXT NOT NULL,
    at REAL NOT NULL,
    status TEXT NOT NULL,
    actor TEXT NOT NULL,
    receiver TEXT,
    reason TEXT
);
CREATE INDEX IF NOT EXISTS events_message ON events (message_id, seq);
CREATE INDEX IF NOT EXISTS deliveries_status ON deliveries (status, updated);
CREATE TABLE IF NOT EXISTS config_events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    at REAL NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    partner TEXT,
    detail TEXT,
    before TEXT,  -- JSON
    after TEXT    -- JSON
);
CREATE INDEX IF NOT EXISTS config_events_partner ON config_events (partner, seq);
CREATE TABLE IF NOT EXISTS evidence (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id TEXT NOT NULL,
    partner TEXT NOT NULL,
    kind TEXT NOT NULL,
    reference TEXT NOT NULL,
    at REAL NOT NULL,
    document BLOB NOT NULL,
    UNIQUE (partner, kind, reference)
);
CREATE INDEX IF NOT EXISTS evidence_message ON evidence (message_id, seq);
CREATE TABLE IF NOT EXISTS quota_buckets (
    partner TEXT PRIMARY KEY,
    tokens REAL NOT NULL,
    at REAL NOT NULL
);
"""


def _time(value: float) -> dt.datetime:
    """Times are stored as epoch seconds."""
    return dt.datetime.fromtimestamp(value, dt.UTC)


def _record(row: tuple[Any, ...]) -> MessageRecord:
    return message_record(row, _time)


def _failed(exc: sqlite3.Error) -> Unavailable:
    error = Unavailable(f"the message store failed: {exc}")
    error.__cause__ = exc
    return error


def _statuses(db: sqlite3.Connection, message_id: str) -> set[Status]:
    return {Status(s) for (s,) in db.execute("SELECT status FROM deliveries WHERE message_id = ?", (message_id,))}


class SqliteStore:
    """Calls run on the event loop's thread: a WAL commit with synchronous=NORMAL takes tens of microseconds,
    less than handing the call to a worker thread and back (measured: the hand-off cost more than the SQL).
    Between processes (``--workers``), writers wait for each other through SQLite's busy timeout.

    Group commit (issue 15): the COMMIT was the store's largest cost (7 % of the gateway's CPU in the bench,
    four per message). A write is queued and returns once committed; the writes queued during one turn of the
    event loop run at the next turn in one transaction, each in a savepoint of its own, so that one failing
    write is undone alone and fails alone. The write lock is held only while the group runs (one callback),
    never across a turn of the loop; reads see committed rows only. A caller's outcome is unchanged: its write
    is committed when its ``await`` returns, or it gets ``Unavailable`` and nothing of it was kept.

    Commit pace (off by default, ``COMMIT_PACE = 0``): a group starts ``COMMIT_PACE`` seconds after the previous
    one ended, at the earliest. A write
    after a quiet spell is committed at the next turn as before; under load the writes of those 2 ms share
    one commit (in the bench, one write in a turn was the rule: each COMMIT writes ~12 pages to the WAL and
    cost ~65 us, and the checkpoints that copy them back fsync). A write waits 2 ms at most for it.
    """

    BUSY_TIMEOUT = 5.0
    # Seconds from the end of one group commit to the start of the next, at least (see the class). Off: on the
    # quiet machine the 2 ms pace added ~4 ms to the median POST -> arrival at 70 % of the maximum rate (two writes
    # before the 202) without a CPU gain that showed outside the noise (issue 15, closing note of 2026-12-03).
    COMMIT_PACE = 0.0

    def __init__(self, path: Path) -> None:
        self.path = path
        self._db: sqlite3.Connection | None = None
        self._queued: list[tuple[Callable[[sqlite3.Connection], Any], asyncio.Future[Any]]] = []
        self._committed_at = -math.inf  # time.monotonic() at the end of the last group commit

    async def open(self) -> None:
        await self._run(self._open)

    def _open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, isolation_level=None, timeout=self.BUSY_TIMEOUT)
        db.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode: a commit survives a process crash; only an OS crash can lose the last commits.
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("PRAGMA foreign_keys=ON")
        db.executescript(SCHEMA)
        self._migrate(db)
        self._db = db

    @staticmethod
    def _migrate(db: sqlite3.Connection) -> None:
        """Follow-ups (docs/DESIGN.md 8): the uniqueness key, reference and follows columns, in one transaction
        (gateway processes starting together wait for each other's)."""
        db.execute("BEGIN IMMEDIATE")
        try:
            present = {row[1] for row in db.execute("PRAGMA table_info(messages)")}
            for column in FOLLOW_UP_COLUMNS:
                if column not in present:
                    db.execute(f"ALTER TABLE messages ADD COLUMN {column} TEXT")
            old = db.execute("SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = 'messages_sender_key'")
            if old.fetchone() is not None or not present.issuperset(FOLLOW_UP_COLUMNS):
                for statement in MIGRATE_FOLLOW_UPS:
                    db.execute(statement)
            db.execute(REFERENCE_INDEX)
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    async def close(self) -> None:
        if self._queued:  # writes already accepted for the next group: commit them first
            self._commit_group()
        if self._db is not None:
            self._db.close()
            self._db = None

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        try:
            return fn(*args)
        except sqlite3.Error as exc:
            raise Unavailable(f"the message store failed: {exc}") from exc

    @property
    def db(self) -> sqlite3.Connection:
        if self._db is None:
            raise Unavailable("the store is not open")
        return self._db

    def _tx(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """``fn`` in a transaction of its own, now (``self._run(self._tx, fn)``); the store's writes use
        :meth:`_write`."""
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        try:
            result = fn(db)
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
        return result

    async def _write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn`` in the next group transaction; returns its result once committed (see the class)."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[T] = loop.create_future()
        if not self._queued:
            wait = self._committed_at + self.COMMIT_PACE - time.monotonic()
            if wait > 0:
                loop.call_later(wait, self._commit_group)
            else:
                loop.call_soon(self._commit_group)
        self._queued.append((fn, done))
        return await done

    def _commit_group(self) -> None:
        try:
            self._commit_queued()
        finally:
            self._committed_at = time.monotonic()

    def _commit_queued(self) -> None:
        group, self._queued = self._queued, []
        group = [(fn, done) for fn, done in group if not done.cancelled()]  # a cancelled caller wrote nothing
        if not group:
            return
        try:
            outcomes = self._run_group(group)
        except BaseException as exc:  # nothing of the group was kept: every write of it fails
            failure = exc if isinstance(exc, Unavailable) else _failed(exc) if isinstance(exc, sqlite3.Error) else None
            for _, done in group:
                if not done.done():
                    done.set_exception(failure or Unavailable(f"the message store failed: {exc!r}"))
            if failure is None:
                raise
            return
        for (_, done), (error, result) in zip(group, outcomes, strict=True):
            if done.done():
                continue
            if error is None:
                done.set_result(result)
            else:
                done.set_exception(_failed(error) if isinstance(error, sqlite3.Error) else error)

    def _run_group(
        self, group: list[tuple[Callable[[sqlite3.Connection], Any], asyncio.Future[Any]]]
    ) -> list[tuple[Exception | None, Any]]:
        """One transaction, a savepoint per write: (error, result) of each; raises when nothing was kept."""
        db = self.db
        if len(group) == 1:  # alone: its own transaction, as _tx (no savepoint to pay for)
            try:
                return [(None, self._tx(group[0][0]))]
            except Exception as exc:  # rolled back by _tx; handed to its caller as in a group
                return [(exc, None)]
        db.execute("BEGIN IMMEDIATE")
        outcomes: list[tuple[Exception | None, Any]] = []
        try:
            for fn, _ in group:
                db.execute("SAVEPOINT one")
                try:
                    result = fn(db)
                except Exception as exc:  # this write alone is undone, and fails alone
                    db.execute("ROLLBACK TO one")
                    db.execute("RELEASE one")
                    outcomes.append((exc, None))
                else:
                    db.execute("RELEASE one")
                    outcomes.append((None, result))
            db.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(sqlite3.Error):  # SQLite may have rolled back already (e.g. disk full)
                db.execute("ROLLBACK")
            raise
        return outcomes

    @staticmethod
    def _event(
        db: sqlite3.Connection,
        message_id: str,
        status: str,
        actor: str,
        reason: str | None,
        receiver: str | None = None,
        now: float | None = None,
    ) -> None:
        db.execute(
            "INSERT INTO events (message_id, at, status, actor, receiver, reason) VALUES (?, ?, ?, ?, ?, ?)",
            (message_id, now or time.time(), status, actor, receiver, reason),
        )

    @staticmethod
    def _documents(db: sqlite3.Connection, message_id: str, receipt: bytes, canonical: bytes) -> None:
        db.execute(
            "INSERT INTO message_documents (id, receipt, canonical) VALUES (?, ?, ?) "
            "ON CONFLICT (id) DO UPDATE SET receipt = excluded.receipt, canonical = excluded.canonical",
            (message_id, receipt, canonical),
        )

    async def ping(self) -> None:
        await self._run(lambda: self.db.execute("SELECT 1").fetchone())

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

        def fn(db: sqlite3.Connection) -> MessageRecord:
            row = db.execute(
                f"SELECT {_COLUMNS} FROM messages "  # noqa: S608 - a fixed column list
                "WHERE sender = ? AND unique_key = ? AND status != 'rejected'",
                (sender, unique),
            ).fetchone()
            if row is not None:
                return _record(row)
            now = time.time()
            db.execute(
                "INSERT INTO messages (id, sender, sender_message_id, message_type, digest, status, created, updated,"
                " unique_key, reference, follows) VALUES (?, ?, ?, ?, ?, 'received', ?, ?, ?, ?, ?)",
                (message_id, sender, sender_message_id, message_type, digest, now, now, unique, reference, follows),
            )
            self._event(db, message_id, Status.RECEIVED, sender, received_text(message_type, unique, follows), now=now)
            return MessageRecord(
                message_id,
                sender,
                sender_message_id,
                message_type,
                digest,
                Status.RECEIVED,
                (),
                None,
                None,
                _time(now),
                _time(now),
                key=unique,
                reference=reference,
                follows=follows,
            )

        return await self._write(fn)

    async def opened(self, sender: str, reference: str) -> MessageRecord | None:
        row = await self._run(
            lambda: self.db.execute(
                f"SELECT {_COLUMNS} FROM messages "  # noqa: S608 - a fixed column list
                "WHERE sender = ? AND reference = ? AND status != 'rejected' ORDER BY created LIMIT 1",
                (sender, reference),
            ).fetchone()
        )
        return None if row is None else _record(row)

    async def retake(self, message_id: str, digest: str) -> None:
        def fn(db: sqlite3.Connection) -> None:
            db.execute("UPDATE messages SET digest = ?, updated = ? WHERE id = ?", (digest, time.time(), message_id))
            self._event(db, message_id, Status.RECEIVED, "gateway", "received again after an unfinished attempt")

        await self._write(fn)

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
        def fn(db: sqlite3.Connection) -> None:
            now = time.time()
            db.executemany(
                "INSERT OR IGNORE INTO deliveries (message_id, receiver, status, updated) VALUES (?, ?, 'accepted', ?)",
                [(message_id, r, now) for r in receivers],
            )
            # A worker may consume the message as soon as the broker confirms it and record its delivery
            # before this runs: the message then shows its deliveries' state, never "accepted" over
            # "delivered".
            overall = overall_status(_statuses(db, message_id)) or Status.ACCEPTED
            db.execute(
                "UPDATE messages SET status = ?, receivers = ?, updated = ? WHERE id = ?",
                (overall, ",".join(receivers), now, message_id),
            )
            self._documents(db, message_id, receipt, canonical)
            routed = f"routed to {', '.join(receivers)}"
            self._event(db, message_id, Status.ACCEPTED, actor, f"{reason}; {routed}" if reason else routed, now=now)

        await self._write(fn)

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
        def fn(db: sqlite3.Connection) -> None:
            db.execute(
                "UPDATE messages SET status = ?, receivers = ?, reason = ?, updated = ? WHERE id = ?",
                (str(status), ",".join(receivers), reason, time.time(), message_id),
            )
            self._documents(db, message_id, receipt, canonical)
            self._event(db, message_id, status, "gateway", reason)

        await self._write(fn)

    async def release(self, message_id: str, reason: str) -> None:
        def fn(db: sqlite3.Connection) -> None:
            db.execute(
                "UPDATE messages SET status = 'rejected', code = 'unavailable', reason = ?, updated = ? WHERE id = ?",
                (reason, time.time(), message_id),
            )
            self._event(db, message_id, Status.REJECTED, "gateway", f"unavailable: {reason}")

        await self._write(fn)

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
        def fn(db: sqlite3.Connection) -> None:
            now = time.time()
            db.execute(
                "INSERT INTO messages (id, sender, sender_message_id, message_type, status, code, reason, created, "
                "updated) VALUES (?, ?, ?, ?, 'rejected', ?, ?, ?, ?) "
                "ON CONFLICT (id) DO UPDATE SET status = 'rejected', code = excluded.code, reason = excluded.reason, "
                "updated = excluded.updated",
                (message_id, sender, sender_message_id, message_type, code, reason, now, now),
            )
            self._event(db, message_id, Status.REJECTED, actor, f"{code}: {reason}", now=now)

        await self._write(fn)

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
        await self._write(
            lambda db: self._delivery(db, message_id, receiver, status, attempt, reason, next_attempt, actor)
        )

    async def start_delivery(self, message_id: str, receiver: str, *, attempt: int) -> bool:
        def fn(db: sqlite3.Connection) -> bool:
            row = db.execute(
                "SELECT status FROM deliveries WHERE message_id = ? AND receiver = ?", (message_id, receiver)
            ).fetchone()
            if row is not None and row[0] == Status.DELIVERED:
                return False
            self._delivery(db, message_id, receiver, Status.DELIVERING, attempt, None, None, "gateway")
            return True

        return await self._write(fn)

    @classmethod
    def _delivery(
        cls,
        db: sqlite3.Connection,
        message_id: str,
        receiver: str,
        status: Status,
        attempt: int,
        reason: str | None,
        next_attempt: dt.datetime | None,
        actor: str,
    ) -> None:
        now = time.time()
        db.execute(
            "INSERT INTO deliveries (message_id, receiver, status, attempts, reason, next_attempt, updated) "
            "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (message_id, receiver) DO UPDATE SET "
            "status = excluded.status, attempts = excluded.attempts, reason = excluded.reason, "
            "next_attempt = excluded.next_attempt, updated = excluded.updated",
            (message_id, receiver, status, attempt, reason, next_attempt.timestamp() if next_attempt else None, now),
        )
        overall = overall_status(_statuses(db, message_id)) or status
        db.execute(
            "UPDATE messages SET status = ?, reason = ?, updated = ? WHERE id = ?", (overall, reason, now, message_id)
        )
        detail = delivery_detail(attempt, reason, next_attempt)
        cls._event(db, message_id, status, actor, detail, receiver=receiver, now=now)

    async def delivered_to(self, message_id: str, receiver: str) -> bool:
        def fn() -> bool:
            row = self.db.execute(
                "SELECT status FROM deliveries WHERE message_id = ? AND receiver = ?", (message_id, receiver)
            ).fetchone()
            return row is not None and row[0] == Status.DELIVERED

        return await self._run(fn)

    async def get(self, message_id: str) -> MessageRecord | None:
        def fn() -> MessageRecord | None:
            row = self.db.execute(
                f"SELECT {_COLUMNS} FROM messages WHERE id = ?",  # noqa: S608 - a fixed column list
                (message_id,),
            ).fetchone()
            return None if row is None else _record(row)

        return await self._run(fn)

    async def deliveries(self, message_id: str) -> list[DeliveryRecord]:
        def fn() -> list[DeliveryRecord]:
            rows = self.db.execute(
                f"SELECT {DELIVERY_COLUMNS} FROM deliveries WHERE message_id = ? ORDER BY receiver",  # noqa: S608 - a fixed column list
                (message_id,),
            ).fetchall()
            return [delivery_record(r, _time) for r in rows]

        return await self._run(fn)

    async def events(self, message_id: str) -> list[Event]:
        def fn() -> list[Event]:
            rows = self.db.execute(
                f"SELECT {EVENT_COLUMNS} FROM events WHERE message_id = ? ORDER BY seq",  # noqa: S608 - a fixed column list
                (message_id,),
            ).fetchall()
            return [event_record(r, _time) for r in rows]

        return await self._run(fn)

    async def canonical(self, message_id: str) -> bytes | None:
        def fn() -> bytes | None:
            row = self.db.execute(
                "SELECT COALESCE(d.canonical, m.canonical) FROM messages m "
                "LEFT JOIN message_documents d ON d.id = m.id WHERE m.id = ?",
                (message_id,),
            ).fetchone()
            return None if row is None else row[0]

        return await self._run(fn)

    async def find(
        self,
        *,
        status: str | None = None,
        partner: str | None = None,
        message_type: str | None = None,
        limit: int = 100,
    ) -> list[MessageRecord]:
        def fn() -> list[MessageRecord]:
            args: list[Any] = []

            def arg(value: Any) -> str:
                args.append(value)
                return "?"

            where = message_filter(status, partner, message_type, arg)
            rows = self.db.execute(
                f"SELECT {_COLUMNS} FROM messages {where} ORDER BY created DESC LIMIT ?",  # noqa: S608 - fixed fragments; values are parameters
                (*args, limit),
            ).fetchall()
            return [_record(r) for r in rows]

        return await self._run(fn)

    async def activity(self, since: dt.datetime, bucket_seconds: int) -> Activity:
        start = since.timestamp()

        def fn() -> Activity:
            received = self.db.execute(
                "SELECT sender, CAST((created - ?) / ? AS INTEGER) AS bucket, COUNT(*) FROM messages "
                "WHERE created >= ? GROUP BY sender, bucket",
                (start, bucket_seconds, start),
            ).fetchall()
            delivered = self.db.execute(
                "SELECT d.receiver, CAST((d.updated - ?) / ? AS INTEGER) AS bucket, COUNT(*), "
                "SUM(d.updated - m.created), MAX(d.updated - m.created) "
                "FROM deliveries d JOIN messages m ON m.id = d.message_id "
                "WHERE d.status = 'delivered' AND d.updated >= ? GROUP BY d.receiver, bucket",
                (start, bucket_seconds, start),
            ).fetchall()
            return Activity(
                tuple(ActivityRow(r[0], int(r[1]), int(r[2])) for r in received),
                tuple(ActivityRow(r[0], int(r[1]), int(r[2]), float(r[3]), float(r[4])) for r in delivered),
            )

        return await self._run(fn)

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
        def fn(db: sqlite3.Connection) -> None:
            db.execute(
                "INSERT INTO config_events (at, actor, action, partner, detail, before, after) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    time.time(),
                    actor,
                    action,
                    partner,
                    detail,
                    config_json(before),
                    config_json(after),
                ),
            )

        await self._write(fn)

    async def config_events(self, *, partner: str | None = None, limit: int = 100) -> list[ConfigEvent]:
        def fn() -> list[ConfigEvent]:
            where, args = ("WHERE partner = ?", [partner]) if partner else ("", [])
            rows = self.db.execute(
                f"SELECT {CONFIG_EVENT_COLUMNS} FROM config_events {where} ORDER BY seq DESC LIMIT ?",  # noqa: S608 - fixed fragments
                (*args, limit),
            ).fetchall()
            return [config_event_record(r, _time) for r in rows]

        return await self._run(fn)

    async def record_evidence(self, message_id: str, partner: str, kind: str, reference: str, document: bytes) -> None:
        def fn(db: sqlite3.Connection) -> None:
            db.execute(
                "INSERT OR IGNORE INTO evidence (message_id, partner, kind, reference, at, document) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (message_id, partner, kind, reference, time.time(), document),
            )

        await self._write(fn)

    async def evidence(self, message_id: str) -> list[Evidence]:
        def fn() -> list[Evidence]:
            rows = self.db.execute(
                "SELECT message_id, partner, kind, reference, at, document FROM evidence "
                "WHERE message_id = ? ORDER BY seq",
                (message_id,),
            ).fetchall()
            return [Evidence(r[0], r[1], r[2], r[3], _time(r[4]), bytes(r[5])) for r in rows]

        return await self._run(fn)

    async def find_evidence(self, partner: str, kind: str, reference: str) -> Evidence | None:
        def fn() -> Evidence | None:
            r = self.db.execute(
                "SELECT message_id, partner, kind, reference, at, document FROM evidence "
                "WHERE partner = ? AND kind = ? AND reference = ?",
                (partner, kind, reference),
            ).fetchone()
            return Evidence(r[0], r[1], r[2], r[3], _time(r[4]), bytes(r[5])) if r else None

        return await self._run(fn)

    async def take_tokens(self, partner: str, want: int, *, rate: float, burst: int, now: float) -> Tokens:
        def fn(db: sqlite3.Connection) -> Tokens:
            row = db.execute("SELECT tokens, at FROM quota_buckets WHERE partner = ?", (partner,)).fetchone()
            tokens, at = (float(row[0]), float(row[1])) if row else (float(burst), now)
            taken = take_from_bucket(tokens, at, now=now, want=want, rate=rate, burst=burst)
            db.execute(
                "INSERT INTO quota_buckets (partner, tokens, at) VALUES (?, ?, ?) "
                "ON CONFLICT (partner) DO UPDATE SET tokens = excluded.tokens, at = excluded.at",
                (partner, taken.left, max(now, at)),
            )
            return taken

        return await self._run(self._tx, fn)
