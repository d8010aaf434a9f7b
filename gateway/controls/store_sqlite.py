"""The controls' store in SQLite: the same file as the message store by default, its own connection.

Calls run on the event loop's thread, as in :mod:`gateway.store.sqlite` (a WAL commit costs less than a thread
hand-off). Between processes (``--workers``) writers wait for each other through the busy timeout; a
transaction is ``BEGIN IMMEDIATE`` (one writer at a time, on one machine). Several instances: PostgreSQL
(:mod:`gateway.controls.store_postgres`).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from gateway.controls.store_sql import Connection, SqlControlsStore
from gateway.errors import Unavailable

SCHEMA = """
CREATE TABLE IF NOT EXISTS cbec_orders (
    platform TEXT NOT NULL,
    order_id TEXT NOT NULL,
    facts TEXT NOT NULL,
    message_id TEXT,
    at REAL NOT NULL,
    PRIMARY KEY (platform, order_id)
);
CREATE INDEX IF NOT EXISTS cbec_orders_order ON cbec_orders (order_id);
CREATE INDEX IF NOT EXISTS cbec_orders_at ON cbec_orders (at);
CREATE TABLE IF NOT EXISTS cbec_payments (
    provider TEXT NOT NULL,
    txn TEXT NOT NULL,
    platform TEXT NOT NULL,
    order_id TEXT NOT NULL,
    facts TEXT NOT NULL,
    message_id TEXT,
    at REAL NOT NULL,
    PRIMARY KEY (provider, txn)
);
CREATE INDEX IF NOT EXISTS cbec_payments_order ON cbec_payments (order_id, platform);
CREATE INDEX IF NOT EXISTS cbec_payments_at ON cbec_payments (at);
CREATE TABLE IF NOT EXISTS cbec_waybills (
    carrier TEXT NOT NULL,
    waybill TEXT NOT NULL,
    order_id TEXT NOT NULL,
    facts TEXT NOT NULL,
    message_id TEXT,
    at REAL NOT NULL,
    PRIMARY KEY (carrier, waybill)
);
CREATE INDEX IF NOT EXISTS cbec_waybills_order ON cbec_waybills (order_id);
CREATE INDEX IF NOT EXISTS cbec_waybills_at ON cbec_waybills (at);
CREATE TABLE IF NOT EXISTS cbec_waiting (
    message_id TEXT PRIMARY KEY,
    sender TEXT NOT NULL,
    sender_message_id TEXT NOT NULL,
    message_type TEXT NOT NULL,
    receivers TEXT NOT NULL,
    state TEXT NOT NULL,            -- pending (answer not given yet), parked (waiting), releasing
    inventories TEXT NOT NULL,      -- JSON list of InventoryFacts
    canonical BLOB NOT NULL,
    created REAL NOT NULL,
    deadline REAL NOT NULL,
    updated REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS cbec_waiting_deadline ON cbec_waiting (state, deadline);
CREATE TABLE IF NOT EXISTS cbec_waiting_keys (
    kind TEXT NOT NULL,             -- order (order number) | waybill (carrier + waybill number)
    key TEXT NOT NULL,
    message_id TEXT NOT NULL,
    PRIMARY KEY (kind, key, message_id)
);
CREATE INDEX IF NOT EXISTS cbec_waiting_keys_message ON cbec_waiting_keys (message_id);
CREATE TABLE IF NOT EXISTS consignments (
    id INTEGER PRIMARY KEY,
    at REAL NOT NULL,
    channel TEXT NOT NULL,
    source TEXT NOT NULL,
    reference TEXT NOT NULL,
    consignor TEXT NOT NULL,
    consignor_id TEXT,
    consignor_key TEXT NOT NULL,
    export_country TEXT,
    destination TEXT,
    message_id TEXT NOT NULL,
    sender TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS consignments_at ON consignments (at);
CREATE INDEX IF NOT EXISTS consignments_consignor ON consignments (consignor_key, at);
CREATE INDEX IF NOT EXISTS consignments_destination ON consignments (destination, at);
CREATE TABLE IF NOT EXISTS consignment_items (
    consignment_id INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    hs TEXT NOT NULL,
    description TEXT NOT NULL,
    brand TEXT,
    quantity TEXT,
    unit_value TEXT,
    currency TEXT,
    PRIMARY KEY (consignment_id, seq)
);
CREATE INDEX IF NOT EXISTS consignment_items_hs ON consignment_items (hs, consignment_id);
CREATE TABLE IF NOT EXISTS consignment_counts (
    dim TEXT NOT NULL,
    key TEXT NOT NULL,
    day INTEGER NOT NULL,
    destination TEXT NOT NULL,
    channel TEXT NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (dim, key, day, destination, channel)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS rule_hits (
    rule TEXT NOT NULL,
    pattern TEXT NOT NULL,
    consignment_id INTEGER NOT NULL,
    at REAL NOT NULL,
    PRIMARY KEY (rule, pattern, consignment_id)
);
CREATE INDEX IF NOT EXISTS rule_hits_window ON rule_hits (rule, pattern, at);
CREATE TABLE IF NOT EXISTS alerts (
    id TEXT PRIMARY KEY,            -- the gateway message id of the alert
    reference TEXT NOT NULL,        -- RiskAlert/FunctionalReferenceID
    rule TEXT NOT NULL,
    pattern TEXT NOT NULL,
    fired_at REAL NOT NULL,         -- time of the consignment that fired it (the window's anchor)
    created REAL NOT NULL,
    state TEXT NOT NULL,            -- pending (not published yet), sent, unrouted
    receivers TEXT NOT NULL,
    consignments INTEGER NOT NULL,
    summary TEXT NOT NULL,
    envelope BLOB NOT NULL,         -- canonical, unsigned: what is routed (each delivery is signed)
    signed BLOB NOT NULL            -- the same, signed by the gateway: the record of what was raised
);
CREATE INDEX IF NOT EXISTS alerts_pattern ON alerts (rule, pattern, fired_at);
CREATE INDEX IF NOT EXISTS alerts_state ON alerts (state, created);
CREATE TABLE IF NOT EXISTS watch_holds (
    message_id TEXT PRIMARY KEY,    -- the gateway message id
    sender TEXT NOT NULL,
    sender_message_id TEXT NOT NULL,
    message_type TEXT NOT NULL,
    receivers TEXT NOT NULL,
    state TEXT NOT NULL,            -- pending, held, releasing, refusing, released, refused, alerted
    hits TEXT NOT NULL,             -- JSON list of the entries matched (gateway.controls.watchlist.Hit)
    reason TEXT NOT NULL,
    records TEXT NOT NULL,          -- JSON [[platform, seller, held|alerted|clear], ...] per consignment
    day INTEGER NOT NULL,           -- the day it was screened (its counts are on that day)
    canonical BLOB NOT NULL,        -- what is published when it is released (empty when alerted)
    created REAL NOT NULL,
    updated REAL NOT NULL,
    decided_by TEXT,
    note TEXT
);
CREATE INDEX IF NOT EXISTS watch_holds_state ON watch_holds (state, created);
CREATE TABLE IF NOT EXISTS watch_tallies (
    dim TEXT NOT NULL,              -- platform (CEB ebpCode; "" for declarations) | seller (ebcCode, exporter)
    key TEXT NOT NULL,
    day INTEGER NOT NULL,
    total INTEGER NOT NULL,          -- consignments screened
    held INTEGER NOT NULL,           -- ... held (whatever was decided since)
    alerted INTEGER NOT NULL,
    released INTEGER NOT NULL,
    refused INTEGER NOT NULL,
    PRIMARY KEY (dim, day, key)
) WITHOUT ROWID;
"""


class SqliteControlsStore(SqlControlsStore):
    BUSY_TIMEOUT = 5.0
    ERRORS = (sqlite3.Error,)

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path
        self.where = f"the controls store {path}"
        self._sqlite: sqlite3.Connection | None = None

    def open(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, isolation_level=None, timeout=self.BUSY_TIMEOUT)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.executescript(SCHEMA)
        except sqlite3.Error as exc:
            raise Unavailable(f"the controls store {self.path} cannot be opened: {exc}") from exc
        self._sqlite = db
        self._db = db

    def close(self) -> None:
        if self._sqlite is not None:
            self._sqlite.close()
        self._sqlite = None
        self._db = None

    def _begin(self, db: Connection) -> None:
        db.execute("BEGIN IMMEDIATE")
