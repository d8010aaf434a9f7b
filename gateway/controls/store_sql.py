"""The controls' queries, once for every SQL database: the SQLite and PostgreSQL stores give the connection,
the schema and the transaction (:mod:`gateway.controls.store_sqlite`, :mod:`gateway.controls.store_postgres`).

    cbec_orders / cbec_payments / cbec_waybills   the three lists, by their join keys (facts as JSON)
    cbec_waiting, cbec_waiting_keys               inventories waiting for a list, and the keys that wake them
    consignments, consignment_items               monitoring: one row per consignment and goods item
    consignment_counts                            per day, dimension (hs4, hs6, consignor, all), destination
                                                  and channel: what the sliding-window rules sum
    rule_hits                                     consignments a rule flagged, per pattern
    alerts                                        risk alerts raised, one per rule, pattern and alert window
    watch_holds                                   messages with watch-list hits: held for a decision, or alerted
    watch_tallies                                 per platform and day, per seller and day: consignments
                                                  screened against the watch list, held, alerted, released,
                                                  refused (what the monitoring of the platforms sums)

Decisions that must not race (park a waiting inventory, take it for release, raise an alert once) run in one
:meth:`SqlControlsStore.transaction`, which each database makes exclusive across processes and instances
(SQLite ``BEGIN IMMEDIATE``; PostgreSQL a transaction-scoped advisory lock). Nothing is kept forever:
:meth:`SqlControlsStore.prune` drops lists older than the matching window and consignments older than the
monitoring history. The SQL is the common dialect of both (``ON CONFLICT``, ``RETURNING``, ``?`` marks).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import time
from collections.abc import Iterable, Iterator, Sequence
from decimal import Decimal
from typing import Any, Protocol

from gateway.controls import facts
from gateway.controls.facts import InventoryFacts, Money, OrderFacts, PaymentFacts, WaybillFacts
from gateway.controls.matching import Found
from gateway.controls.model import (
    AlertRecord,
    Consignment,
    Counts,
    Item,
    Query,
    StoredConsignment,
    Waiting,
    WatchRecord,
    day_of,
    dimensions,
    waiting_keys,
)
from gateway.errors import Unavailable


class Cursor(Protocol):
    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...
    def fetchall(self) -> list[Any]: ...
    def __iter__(self) -> Iterator[Any]: ...


class Connection(Protocol):
    """What the queries use of a DB-API connection (sqlite3's; PostgreSQL's through an adapter)."""

    def execute(self, sql: str, parameters: Sequence[Any] = ..., /) -> Cursor: ...
    def executemany(self, sql: str, parameters: Iterable[Sequence[Any]], /) -> Any: ...


def _ts(value: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(value, dt.UTC)


class SqlControlsStore:
    ALL_TTL = 10.0  # seconds the all-traffic counts are kept (see counts)
    HS_RANGE = "hs >= ? AND hs < ?"  # an HS code prefix as a range (uses the index)
    ERRORS: tuple[type[Exception], ...] = ()  # the driver's errors, answered Unavailable
    where = "the controls store"

    def __init__(self) -> None:
        self._db: Connection | None = None
        self._depth = 0  # nested transaction() calls join the outer one
        self._all: dict[tuple[int, int], tuple[float, Counts]] = {}

    # What each database gives -------------------------------------------------------------------------------

    def open(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def _begin(self, db: Connection) -> None:
        """Start a transaction that no other process or instance runs beside (see the module docstring)."""
        raise NotImplementedError

    # Transactions -------------------------------------------------------------------------------------------

    @property
    def db(self) -> Connection:
        if self._db is None:
            raise Unavailable(f"{self.where} is not open")
        return self._db

    def _failed(self, exc: Exception) -> Unavailable:
        return Unavailable(f"{self.where} failed: {exc}")

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Connection]:
        """One exclusive transaction (nested uses join the outer one); errors: Unavailable."""
        db = self.db
        if self._depth:
            self._depth += 1
            try:
                yield db
            finally:
                self._depth -= 1
            return
        try:
            self._begin(db)
        except self.ERRORS as exc:
            raise self._failed(exc) from exc
        self._depth = 1
        try:
            yield db
        except self.ERRORS as exc:
            self._rollback(db)
            raise self._failed(exc) from exc
        except BaseException:
            self._rollback(db)
            raise
        finally:
            self._depth = 0
        try:
            db.execute("COMMIT")
        except self.ERRORS as exc:
            self._rollback(db)
            raise self._failed(exc) from exc

    def _rollback(self, db: Connection) -> None:
        with contextlib.suppress(*self.ERRORS):
            db.execute("ROLLBACK")

    @contextlib.contextmanager
    def reading(self) -> Iterator[Connection]:
        try:
            yield self.db
        except self.ERRORS as exc:
            raise self._failed(exc) from exc

    # The three lists ----------------------------------------------------------------------------------------

    def put_order(self, order: OrderFacts, message_id: str, at: float) -> None:
        with self.transaction() as db:
            if order.function == facts.DELETE:
                db.execute(
                    "DELETE FROM cbec_orders WHERE platform = ? AND order_id = ?",
                    (order.platform, order.order_id),
                )
                return
            db.execute(
                "INSERT INTO cbec_orders (platform, order_id, facts, message_id, at) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (platform, order_id) DO UPDATE SET facts = excluded.facts, "
                "message_id = excluded.message_id, at = excluded.at",
                (order.platform, order.order_id, facts.to_json(order), message_id, at),
            )

    def put_payment(self, payment: PaymentFacts, message_id: str, at: float) -> None:
        with self.transaction() as db:
            if payment.function == facts.DELETE:
                db.execute(
                    "DELETE FROM cbec_payments WHERE provider = ? AND txn = ?",
                    (payment.provider, payment.transaction),
                )
                return
            db.execute(
                "INSERT INTO cbec_payments (provider, txn, platform, order_id, facts, message_id, at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (provider, txn) DO UPDATE SET platform = excluded.platform, "
                "order_id = excluded.order_id, facts = excluded.facts, message_id = excluded.message_id, "
                "at = excluded.at",
                (
                    payment.provider,
                    payment.transaction,
                    payment.platform,
                    payment.order_id,
                    facts.to_json(payment),
                    message_id,
                    at,
                ),
            )

    def put_waybill(self, waybill: WaybillFacts, message_id: str, at: float) -> None:
        with self.transaction() as db:
            if waybill.function == facts.DELETE:
                db.execute(
                    "DELETE FROM cbec_waybills WHERE carrier = ? AND waybill = ?",
                    (waybill.carrier, waybill.waybill),
                )
                return
            db.execute(
                "INSERT INTO cbec_waybills (carrier, waybill, order_id, facts, message_id, at) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (carrier, waybill) DO UPDATE SET "
                "order_id = excluded.order_id, facts = excluded.facts, message_id = excluded.message_id, "
                "at = excluded.at",
                (waybill.carrier, waybill.waybill, waybill.order_id, facts.to_json(waybill), message_id, at),
            )

    def find(self, inventory: InventoryFacts) -> Found:
        """The order, payment and waybill of an inventory, by their join keys.

        Order numbers are unique per platform only, so a list under other keys is taken only when it is
        certainly this purchase's (and then fails its rule instead of being waited for): the one order with
        this number whose buyer has the inventory's identity document; the payment the order names, else the
        one for this order of this platform; the carrier's waybill for this order number."""
        with self.reading() as db:
            row = db.execute(
                "SELECT facts FROM cbec_orders WHERE platform = ? AND order_id = ?",
                (inventory.platform, inventory.order_id),
            ).fetchone()
            order = facts.order_from_json(row[0]) if row else None
            if order is None and inventory.buyer.id_number:
                rows = db.execute(
                    "SELECT facts FROM cbec_orders WHERE order_id = ? LIMIT 2", (inventory.order_id,)
                ).fetchall()
                other = facts.order_from_json(rows[0][0]) if len(rows) == 1 else None
                if other is not None and other.buyer.id_number == inventory.buyer.id_number:
                    order = other
            row = None
            if order is not None and order.provider and order.transaction:
                row = db.execute(
                    "SELECT facts FROM cbec_payments WHERE provider = ? AND txn = ?",
                    (order.provider, order.transaction),
                ).fetchone()
            row = (
                row
                or db.execute(
                    "SELECT facts FROM cbec_payments WHERE order_id = ? AND platform = ? LIMIT 1",
                    (inventory.order_id, inventory.platform),
                ).fetchone()
            )
            payment = facts.payment_from_json(row[0]) if row else None
            row = (
                db.execute(
                    "SELECT facts FROM cbec_waybills WHERE carrier = ? AND waybill = ?",
                    (inventory.carrier, inventory.waybill),
                ).fetchone()
                or db.execute(
                    "SELECT facts FROM cbec_waybills WHERE order_id = ? AND carrier = ? LIMIT 1",
                    (inventory.order_id, inventory.carrier),
                ).fetchone()
            )
            waybill = facts.waybill_from_json(row[0]) if row else None
        return Found(order, payment, waybill)

    # Waiting inventories ------------------------------------------------------------------------------------

    def hold(
        self,
        *,
        message_id: str,
        sender: str,
        sender_message_id: str,
        message_type: str,
        receivers: Sequence[str],
        inventories: Sequence[InventoryFacts],
        canonical: bytes,
        deadline: float,
        now: float,
    ) -> None:
        """Record an inventory that waits for a list, state ``pending`` until its answer is recorded."""
        with self.transaction() as db:
            db.execute("DELETE FROM cbec_waiting_keys WHERE message_id = ?", (message_id,))
            db.execute(
                "INSERT INTO cbec_waiting (message_id, sender, sender_message_id, message_type, "
                "receivers, state, inventories, canonical, created, deadline, updated)"
                " VALUES (?, ?, ?, ?, ?, 'pending', ?, ?, ?, ?, ?) ON CONFLICT (message_id) DO UPDATE SET "
                "sender = excluded.sender, sender_message_id = excluded.sender_message_id, "
                "message_type = excluded.message_type, receivers = excluded.receivers, state = excluded.state, "
                "inventories = excluded.inventories, canonical = excluded.canonical, created = excluded.created, "
                "deadline = excluded.deadline, updated = excluded.updated",
                (
                    message_id,
                    sender,
                    sender_message_id,
                    message_type,
                    ",".join(receivers),
                    json.dumps([json.loads(facts.to_json(i)) for i in inventories], ensure_ascii=False),
                    canonical,
                    now,
                    deadline,
                    now,
                ),
            )
            db.executemany(
                "INSERT INTO cbec_waiting_keys (kind, key, message_id) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                [(kind, key, message_id) for inventory in inventories for kind, key in waiting_keys(inventory)],
            )

    def set_state(self, message_id: str, state: str, *, expect: str | None = None) -> bool:
        """Move a waiting inventory to ``state`` (only from ``expect`` when given); False if not there."""
        with self.transaction() as db:
            clause, args = ("AND state = ?", [expect]) if expect else ("", [])
            cursor = db.execute(
                f"UPDATE cbec_waiting SET state = ?, updated = ? WHERE message_id = ? {clause}",  # noqa: S608
                (state, time.time(), message_id, *args),
            )
            return cursor.rowcount == 1

    def waiting(self, message_id: str) -> Waiting | None:
        with self.reading() as db:
            row = db.execute(
                "SELECT message_id, sender, sender_message_id, message_type, receivers, state, inventories, "
                "canonical, created, deadline FROM cbec_waiting WHERE message_id = ?",
                (message_id,),
            ).fetchone()
        return None if row is None else _waiting(row)

    def waiting_for(self, keys: Iterable[tuple[str, str]], state: str = "parked") -> list[str]:
        """Ids of the inventories in ``state`` that one of these keys may complete."""
        keys = list(keys)
        if not keys:
            return []
        with self.reading() as db:
            ids: list[str] = []
            for kind, key in keys:
                for (message_id,) in db.execute(
                    "SELECT k.message_id FROM cbec_waiting_keys k "
                    "JOIN cbec_waiting w ON w.message_id = k.message_id "
                    "WHERE k.kind = ? AND k.key = ? AND w.state = ?",
                    (kind, key, state),
                ):
                    if message_id not in ids:
                        ids.append(message_id)
            return ids

    def due(self, now: float, *, limit: int = 100) -> list[str]:
        """Waiting inventories past their deadline (any state: a ``pending`` one whose request died, a
        ``releasing`` one whose release was interrupted, are finished by the same sweep)."""
        with self.reading() as db:
            rows = db.execute(
                "SELECT message_id FROM cbec_waiting WHERE deadline <= ? ORDER BY deadline LIMIT ?",
                (now, limit),
            ).fetchall()
        return [r[0] for r in rows]

    def stuck_releasing(self, before: float) -> list[str]:
        with self.reading() as db:
            rows = db.execute(
                "SELECT message_id FROM cbec_waiting WHERE state = 'releasing' AND updated < ?", (before,)
            ).fetchall()
        return [r[0] for r in rows]

    def finish(self, message_id: str) -> None:
        with self.transaction() as db:
            db.execute("DELETE FROM cbec_waiting WHERE message_id = ?", (message_id,))
            db.execute("DELETE FROM cbec_waiting_keys WHERE message_id = ?", (message_id,))

    def count_waiting(self) -> int:
        with self.reading() as db:
            return int(db.execute("SELECT COUNT(*) FROM cbec_waiting").fetchone()[0])

    # Monitoring ---------------------------------------------------------------------------------------------

    def add_consignment(self, consignment: Consignment) -> int:
        at = consignment.at.timestamp()
        with self.transaction() as db:
            cursor = db.execute(
                "INSERT INTO consignments (at, channel, source, reference, consignor, consignor_id, "
                "consignor_key, export_country, destination, message_id, sender) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                (
                    at,
                    consignment.channel,
                    consignment.source,
                    consignment.reference,
                    consignment.consignor,
                    consignment.consignor_id,
                    consignment.consignor_key,
                    consignment.export_country,
                    consignment.destination,
                    consignment.message_id,
                    consignment.sender,
                ),
            )
            cid = int(cursor.fetchone()[0])
            db.executemany(
                "INSERT INTO consignment_items (consignment_id, seq, hs, description, brand, "
                "quantity, unit_value, currency) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (consignment_id, seq) "
                "DO UPDATE SET hs = excluded.hs, description = excluded.description, brand = excluded.brand, "
                "quantity = excluded.quantity, unit_value = excluded.unit_value, currency = excluded.currency",
                [
                    (
                        cid,
                        item.seq or n,
                        item.hs,
                        item.description,
                        item.brand,
                        None if item.quantity is None else facts.plain(item.quantity),
                        None if item.unit_value is None else facts.plain(item.unit_value.value),
                        None if item.unit_value is None else item.unit_value.currency,
                    )
                    for n, item in enumerate(consignment.items, start=1)
                ],
            )
            db.executemany(
                "INSERT INTO consignment_counts (dim, key, day, destination, channel, n) "
                "VALUES (?, ?, ?, ?, ?, 1) "
                "ON CONFLICT (dim, key, day, destination, channel) DO UPDATE SET n = consignment_counts.n + 1",
                [
                    (dim, key, day_of(at), consignment.destination or "", consignment.channel)
                    for dim, key in dimensions(consignment)
                ],
            )
        day, place = day_of(at), (consignment.destination or "", consignment.channel)
        for (first, last), (_, cached) in self._all.items():
            if first <= day <= last:
                cached[place] = cached.get(place, 0) + 1
        return cid

    def counts(self, dim: str, key: str, since: float, until: float) -> Counts:
        """Consignments of one dimension value per (destination, channel), summed over the days from ``since``
        to ``until`` (whole days: the sliding windows move a day at a time). Do not change the result.

        The ``all`` dimension (every consignment: the channel rule's baseline) is the largest sum and the same
        for every consignment of a day: it is kept, brought up to date by this process's own inserts, and read
        again after ``ALL_TTL`` seconds for what other processes (``--workers``) added."""
        span = (day_of(since), day_of(until))
        if dim == "all":
            cached = self._all.get(span)
            if cached is not None and time.monotonic() - cached[0] < self.ALL_TTL:
                return cached[1]
        with self.reading() as db:
            rows = db.execute(
                "SELECT destination, channel, SUM(n) FROM consignment_counts WHERE dim = ? AND key = ? "
                "AND day BETWEEN ? AND ? GROUP BY destination, channel",
                (dim, key, *span),
            ).fetchall()
        result = {(r[0], r[1]): int(r[2]) for r in rows}
        if dim == "all":
            if len(self._all) > 16:
                self._all.clear()
            self._all[span] = (time.monotonic(), result)
        return result

    def consignments(
        self,
        *,
        since: float,
        until: float,
        hs_prefix: str | None = None,
        consignor_key: str | None = None,
        destinations: Sequence[str] = (),
        channels: Sequence[str] = (),
        ids: Sequence[int] = (),
        limit: int = 500,
    ) -> list[StoredConsignment]:
        clauses = ["c.at BETWEEN ? AND ?"]
        args: list[Any] = [since, until]
        if hs_prefix:
            clauses.append(f"c.id IN (SELECT consignment_id FROM consignment_items WHERE {self.HS_RANGE})")  # noqa: S608
            args += [hs_prefix, hs_prefix + "\uffff"]
        if consignor_key:
            clauses.append("c.consignor_key = ?")
            args.append(consignor_key)
        for column, values in (("c.destination", destinations), ("c.channel", channels), ("c.id", ids)):
            if values:
                clauses.append(f"{column} IN ({','.join('?' * len(values))})")
                args += list(values)
        return self._select_consignments(" AND ".join(clauses), args, limit)

    def query_consignments(
        self, query: Query, since: dt.datetime, until: dt.datetime
    ) -> tuple[dict[str, int], list[StoredConsignment]]:
        """The monitoring query: counts by channel, and the newest ``query.limit`` consignments."""
        clauses = ["c.at BETWEEN ? AND ?"]
        args: list[Any] = [since.timestamp(), until.timestamp()]
        if query.commodity:
            commodity = query.commodity.replace(".", "").replace(" ", "")
            if commodity.isdigit():
                clauses.append(f"c.id IN (SELECT consignment_id FROM consignment_items WHERE {self.HS_RANGE})")  # noqa: S608
                args += [commodity, commodity + "\uffff"]
            else:
                clauses.append(
                    "c.id IN (SELECT consignment_id FROM consignment_items WHERE description LIKE ? ESCAPE '\\')"
                )
                args.append("%" + _like(query.commodity) + "%")
        if query.consignor:
            clauses.append("(c.consignor_id = ? OR c.consignor LIKE ? ESCAPE '\\')")
            args += [query.consignor, "%" + _like(query.consignor) + "%"]
        if query.destination:
            clauses.append("c.destination = ?")
            args.append(query.destination.upper())
        if query.channel:
            clauses.append("c.channel = ?")
            args.append(query.channel)
        where = " AND ".join(clauses)
        with self.reading() as db:
            rows = db.execute(
                f"SELECT c.channel, COUNT(*) FROM consignments c WHERE {where} GROUP BY c.channel",  # noqa: S608
                args,
            ).fetchall()
        by_channel = {r[0]: int(r[1]) for r in rows}
        return by_channel, self._select_consignments(where, args, query.limit, newest_first=True)

    def _select_consignments(
        self, where: str, args: Sequence[Any], limit: int, *, newest_first: bool = False
    ) -> list[StoredConsignment]:
        order = "DESC" if newest_first else "ASC"
        with self.reading() as db:
            rows = db.execute(
                "SELECT c.id, c.at, c.channel, c.source, c.reference, c.consignor, c.consignor_id, "  # noqa: S608
                "c.export_country, c.destination, c.message_id, c.sender "
                f"FROM consignments c WHERE {where} "
                f"ORDER BY c.at {order}, c.id {order} LIMIT ?",
                (*args, limit),
            ).fetchall()
            items: dict[int, list[Item]] = {r[0]: [] for r in rows}
            if items:
                marks = ",".join("?" * len(items))
                for cid, seq, hs, description, brand, quantity, unit_value, currency in db.execute(
                    "SELECT consignment_id, seq, hs, description, brand, quantity, unit_value, currency "  # noqa: S608
                    f"FROM consignment_items WHERE consignment_id IN ({marks}) ORDER BY consignment_id, seq",
                    list(items),
                ):
                    items[cid].append(
                        Item(
                            seq,
                            hs,
                            description,
                            brand,
                            None if quantity is None else Decimal(quantity),
                            None if unit_value is None else Money(Decimal(unit_value), currency or ""),
                        )
                    )
        return [
            StoredConsignment(
                id=r[0],
                at=_ts(r[1]),
                channel=r[2],
                source=r[3],
                reference=r[4],
                consignor=r[5],
                consignor_id=r[6],
                export_country=r[7],
                destination=r[8],
                message_id=r[9],
                sender=r[10],
                items=tuple(items[r[0]]),
            )
            for r in rows
        ]

    def history(self, since: float, until: float, *, batch: int = 1000) -> Iterator[StoredConsignment]:
        """Stored consignments in time order (``gateway rules test`` replays them)."""
        last_at, last_id = since, -1
        while True:
            rows = self._select_consignments(
                "((c.at = ? AND c.id > ?) OR c.at > ?) AND c.at <= ?",
                [last_at, last_id, last_at, until],
                batch,
            )
            yield from rows
            if len(rows) < batch:
                return
            last_at, last_id = rows[-1].at.timestamp(), rows[-1].id

    # Rule hits and alerts -----------------------------------------------------------------------------------

    def add_hit(self, rule: str, pattern: str, consignment_id: int, at: float) -> None:
        with self.transaction() as db:
            db.execute(
                "INSERT INTO rule_hits (rule, pattern, consignment_id, at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (rule, pattern, consignment_id, at),
            )

    def hits(self, rule: str, pattern: str, since: float, until: float) -> list[int]:
        with self.reading() as db:
            rows = db.execute(
                "SELECT consignment_id FROM rule_hits WHERE rule = ? AND pattern = ? AND at BETWEEN ? AND ? "
                "ORDER BY at",
                (rule, pattern, since, until),
            ).fetchall()
        return [r[0] for r in rows]

    def recent_alert(self, rule: str, pattern: str, at: float, window: float) -> str | None:
        """An alert already raised for this pattern within ``window`` seconds of ``at`` (either side)."""
        with self.reading() as db:
            row = db.execute(
                "SELECT id FROM alerts WHERE rule = ? AND pattern = ? AND fired_at > ? AND fired_at < ? LIMIT 1",
                (rule, pattern, at - window, at + window),
            ).fetchone()
        return None if row is None else str(row[0])

    def add_alert(self, alert: AlertRecord) -> None:
        with self.transaction() as db:
            db.execute(
                "INSERT INTO alerts (id, reference, rule, pattern, fired_at, created, state, receivers, "
                "consignments, summary, envelope, signed) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    alert.id,
                    alert.reference,
                    alert.rule,
                    alert.pattern,
                    alert.fired_at.timestamp(),
                    alert.created.timestamp(),
                    alert.state,
                    ",".join(alert.receivers),
                    alert.consignments,
                    alert.summary,
                    alert.envelope,
                    alert.signed,
                ),
            )

    def set_alert_state(self, alert_id: str, state: str) -> None:
        with self.transaction() as db:
            db.execute("UPDATE alerts SET state = ? WHERE id = ?", (state, alert_id))

    def alerts(self, *, state: str | None = None, limit: int = 100) -> list[AlertRecord]:
        where, args = ("WHERE state = ?", [state]) if state else ("", [])
        with self.reading() as db:
            rows = db.execute(
                "SELECT id, reference, rule, pattern, fired_at, created, state, receivers, "  # noqa: S608
                f"consignments, summary, envelope, signed FROM alerts {where} ORDER BY created LIMIT ?",
                (*args, limit),
            ).fetchall()
        return [
            AlertRecord(
                r[0],
                r[1],
                r[2],
                r[3],
                _ts(r[4]),
                _ts(r[5]),
                r[6],
                tuple(x for x in r[7].split(",") if x),
                r[8],
                r[9],
                r[10],
                r[11],
            )
            for r in rows
        ]

    # The watch list -----------------------------------------------------------------------------------------

    WATCH_COLUMNS = (
        "message_id, sender, sender_message_id, message_type, receivers, state, hits, reason, records, day, "
        "canonical, created, updated, decided_by, note"
    )
    WATCH_OUTCOMES = ("held", "alerted", "released", "refused")

    def add_watch(self, record: WatchRecord) -> None:
        with self.transaction() as db:
            db.execute(
                f"INSERT INTO watch_holds ({self.WATCH_COLUMNS}) "  # noqa: S608
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (message_id) DO UPDATE SET "
                # A resend that takes over an unfinished claim (same gateway id) screens it again.
                "state = excluded.state, hits = excluded.hits, reason = excluded.reason, records = excluded.records, "
                "day = excluded.day, canonical = excluded.canonical, updated = excluded.updated "
                "WHERE watch_holds.state IN ('pending', 'dropped')",
                (
                    record.message_id,
                    record.sender,
                    record.sender_message_id,
                    record.message_type,
                    ",".join(record.receivers),
                    record.state,
                    json.dumps(list(record.hits), ensure_ascii=False),
                    record.reason,
                    json.dumps([list(r) for r in record.records], ensure_ascii=False),
                    record.day,
                    record.canonical,
                    record.created.timestamp(),
                    record.updated.timestamp(),
                    record.decided_by,
                    record.note,
                ),
            )

    def watch(self, message_id: str) -> WatchRecord | None:
        with self.reading() as db:
            row = db.execute(
                f"SELECT {self.WATCH_COLUMNS} FROM watch_holds WHERE message_id = ?",  # noqa: S608
                (message_id,),
            ).fetchone()
        return None if row is None else _watch(row)

    def watches(self, *, state: str | None = None, limit: int = 100, before: float | None = None) -> list[WatchRecord]:
        """Newest first; ``state`` one state or several joined by commas."""
        clauses: list[str] = []
        args: list[Any] = []
        if state:
            states = [s for s in state.split(",") if s]
            clauses.append(f"state IN ({','.join('?' * len(states))})")
            args += states
        if before is not None:
            clauses.append("updated < ?")
            args.append(before)
        where = ("WHERE " + " AND ".join(clauses)) if clauses else ""
        with self.reading() as db:
            rows = db.execute(
                f"SELECT {self.WATCH_COLUMNS} FROM watch_holds {where} ORDER BY created DESC LIMIT ?",  # noqa: S608
                (*args, limit),
            ).fetchall()
        return [_watch(r) for r in rows]

    def set_watch_state(
        self,
        message_id: str,
        state: str,
        *,
        expect: Sequence[str] = (),
        decided_by: str | None = None,
        note: str | None = None,
    ) -> bool:
        """Move a record to ``state`` (only from one of ``expect`` when given); False when it was not there."""
        clause, args = "", list[str]()
        if expect:
            clause = f" AND state IN ({','.join('?' * len(expect))})"
            args = list(expect)
        with self.transaction() as db:
            cursor = db.execute(
                "UPDATE watch_holds SET state = ?, updated = ?, decided_by = COALESCE(?, decided_by), "  # noqa: S608
                f"note = COALESCE(?, note) WHERE message_id = ?{clause}",
                (state, time.time(), decided_by, note, message_id, *args),
            )
            return cursor.rowcount > 0

    def count_watch(self, day: int, rows: Iterable[tuple[str, str, str]]) -> None:
        """Count consignments per platform and per seller on ``day``: ``screened`` / ``clear`` add to the total,
        ``held`` / ``alerted`` to the total and to that outcome, ``released`` / ``refused`` to that outcome only.
        Two tallies (by platform, by seller) rather than one by both: the monitoring reads one of them over a
        window, a few rows per day, however many sellers a platform has."""
        increments: dict[tuple[str, str], dict[str, int]] = {}
        for platform, seller, outcome in rows:
            for key in (("platform", platform), ("seller", seller)):
                counts = increments.setdefault(key, dict.fromkeys(("total", *self.WATCH_OUTCOMES), 0))
                if outcome in ("screened", "clear", "held", "alerted"):
                    counts["total"] += 1
                if outcome in self.WATCH_OUTCOMES:
                    counts[outcome] += 1
        if not increments:
            return
        with self.transaction() as db:
            db.executemany(
                "INSERT INTO watch_tallies (dim, key, day, total, held, alerted, released, refused) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (dim, day, key) DO UPDATE SET "
                "total = watch_tallies.total + excluded.total, held = watch_tallies.held + excluded.held, "
                "alerted = watch_tallies.alerted + excluded.alerted, "
                "released = watch_tallies.released + excluded.released, "
                "refused = watch_tallies.refused + excluded.refused",
                [
                    (dim, key, day, c["total"], c["held"], c["alerted"], c["released"], c["refused"])
                    for (dim, key), c in sorted(increments.items())
                ],
            )

    def watch_totals(
        self, by: str, first_day: int, last_day: int, *, limit: int = 50
    ) -> list[tuple[str, dict[str, int]]]:
        """The ``limit`` platforms or sellers with the highest share held, refused or alerted over the days from
        ``first_day`` to ``last_day`` (then the most consignments), with their sums; summed by the database."""
        if by not in ("platform", "seller"):
            raise ValueError(f"by: {by!r}; allowed: platform, seller")
        with self.reading() as db:
            rows = db.execute(
                "SELECT key, SUM(total), SUM(held), SUM(alerted), SUM(released), SUM(refused) FROM watch_tallies "
                "WHERE dim = ? AND day BETWEEN ? AND ? GROUP BY key "
                "ORDER BY (SUM(held) + SUM(refused) + SUM(alerted)) * 1.0 / (SUM(total) + 1) DESC, SUM(total) DESC, "
                "key LIMIT ?",
                (by, first_day, last_day, limit),
            ).fetchall()
        return [(r[0], dict(zip(("total", *self.WATCH_OUTCOMES), (int(x) for x in r[1:]), strict=True))) for r in rows]

    def watch_counts(
        self, by: str, first_day: int, last_day: int, keys: Sequence[str] | None = None
    ) -> list[tuple[str, int, dict[str, int]]]:
        """(platform or seller, day, counts) for the days from ``first_day`` to ``last_day`` (of ``keys`` only,
        when given)."""
        if by not in ("platform", "seller"):
            raise ValueError(f"by: {by!r}; allowed: platform, seller")
        only, args = "", list[str]()
        if keys is not None:
            if not keys:
                return []
            only = f" AND key IN ({','.join('?' * len(keys))})"
            args = list(keys)
        with self.reading() as db:
            rows = db.execute(
                "SELECT key, day, total, held, alerted, released, refused FROM watch_tallies "  # noqa: S608
                f"WHERE dim = ? AND day BETWEEN ? AND ?{only} ORDER BY key, day",
                (by, first_day, last_day, *args),
            ).fetchall()
        return [
            (r[0], int(r[1]), dict(zip(("total", *self.WATCH_OUTCOMES), (int(x) for x in r[2:]), strict=True)))
            for r in rows
        ]

    # Housekeeping -------------------------------------------------------------------------------------------

    def prune(self, *, lists_before: float, consignments_before: float) -> dict[str, int]:
        """Drop lists older than the matching window, consignments (and their counts, hits, the watch list's
        counts and decided records) older than the monitoring history. Alerts stay (the record of what was
        raised), and so do messages still held."""
        removed: dict[str, int] = {}
        with self.transaction() as db:
            for table in ("cbec_orders", "cbec_payments", "cbec_waybills"):
                removed[table] = db.execute(f"DELETE FROM {table} WHERE at < ?", (lists_before,)).rowcount  # noqa: S608
            old = "SELECT id FROM consignments WHERE at < ?"
            db.execute(
                f"DELETE FROM consignment_items WHERE consignment_id IN ({old})",  # noqa: S608
                (consignments_before,),
            )
            removed["consignments"] = db.execute(
                "DELETE FROM consignments WHERE at < ?", (consignments_before,)
            ).rowcount
            db.execute("DELETE FROM consignment_counts WHERE day < ?", (day_of(consignments_before),))
            db.execute("DELETE FROM rule_hits WHERE at < ?", (consignments_before,))
            # The watch list's counts, and its decided and alerted records, follow the monitoring history; a
            # message still held stays until an officer decides.
            db.execute("DELETE FROM watch_tallies WHERE day < ?", (day_of(consignments_before),))
            removed["watch_holds"] = db.execute(
                "DELETE FROM watch_holds WHERE state IN ('released', 'refused', 'alerted') AND updated < ?",
                (consignments_before,),
            ).rowcount
        self._all.clear()
        return removed


def _like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _watch(row: Sequence[Any]) -> WatchRecord:
    return WatchRecord(
        message_id=row[0],
        sender=row[1],
        sender_message_id=row[2],
        message_type=row[3],
        receivers=tuple(r for r in row[4].split(",") if r),
        state=row[5],
        hits=tuple(json.loads(row[6])),
        reason=row[7],
        records=tuple((str(p), str(s), str(k)) for p, s, k in json.loads(row[8])),
        day=int(row[9]),
        canonical=bytes(row[10]),
        created=_ts(row[11]),
        updated=_ts(row[12]),
        decided_by=row[13],
        note=row[14],
    )


def _waiting(row: Sequence[Any]) -> Waiting:
    return Waiting(
        message_id=row[0],
        sender=row[1],
        sender_message_id=row[2],
        message_type=row[3],
        receivers=tuple(r for r in row[4].split(",") if r),
        state=row[5],
        inventories=tuple(facts.inventory_from_json(json.dumps(d)) for d in json.loads(row[6])),
        canonical=bytes(row[7]),
        created=_ts(row[8]),
        deadline=_ts(row[9]),
    )
