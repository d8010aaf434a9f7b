"""What the controls need of their store, and which store a configuration gets.

One protocol, two implementations with the same queries (:mod:`gateway.controls.store_sql`): SQLite
(:mod:`gateway.controls.store_sqlite`, one machine) and PostgreSQL (:mod:`gateway.controls.store_postgres`,
several gateway instances). The controls' decisions call it synchronously, inside :meth:`ControlsStore.transaction`
where they must not race.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, Protocol

from gateway.controls.facts import InventoryFacts, OrderFacts, PaymentFacts, WaybillFacts
from gateway.controls.matching import Found
from gateway.controls.model import AlertRecord, Consignment, Counts, Query, StoredConsignment, Waiting, WatchRecord
from gateway.errors import ConfigError


class ControlsStore(Protocol):
    def open(self) -> None: ...
    def close(self) -> None: ...
    def transaction(self) -> AbstractContextManager[Any]: ...

    # The three lists and waiting inventories
    def put_order(self, order: OrderFacts, message_id: str, at: float) -> None: ...
    def put_payment(self, payment: PaymentFacts, message_id: str, at: float) -> None: ...
    def put_waybill(self, waybill: WaybillFacts, message_id: str, at: float) -> None: ...
    def find(self, inventory: InventoryFacts) -> Found: ...
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
    ) -> None: ...
    def set_state(self, message_id: str, state: str, *, expect: str | None = None) -> bool: ...
    def waiting(self, message_id: str) -> Waiting | None: ...
    def waiting_for(self, keys: Iterable[tuple[str, str]], state: str = "parked") -> list[str]: ...
    def due(self, now: float, *, limit: int = 100) -> list[str]: ...
    def stuck_releasing(self, before: float) -> list[str]: ...
    def finish(self, message_id: str) -> None: ...
    def count_waiting(self) -> int: ...

    # Monitoring and rules
    def add_consignment(self, consignment: Consignment) -> int: ...
    def counts(self, dim: str, key: str, since: float, until: float) -> Counts: ...
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
    ) -> list[StoredConsignment]: ...
    def query_consignments(
        self, query: Query, since: dt.datetime, until: dt.datetime
    ) -> tuple[dict[str, int], list[StoredConsignment]]: ...
    def history(self, since: float, until: float, *, batch: int = 1000) -> Iterator[StoredConsignment]: ...
    def add_hit(self, rule: str, pattern: str, consignment_id: int, at: float) -> None: ...
    def hits(self, rule: str, pattern: str, since: float, until: float) -> list[int]: ...
    def recent_alert(self, rule: str, pattern: str, at: float, window: float) -> str | None: ...
    def add_alert(self, alert: AlertRecord) -> None: ...
    def set_alert_state(self, alert_id: str, state: str) -> None: ...
    def alerts(self, *, state: str | None = None, limit: int = 100) -> list[AlertRecord]: ...
    def prune(self, *, lists_before: float, consignments_before: float) -> dict[str, int]: ...

    # The watch list of non-compliant products
    def add_watch(self, record: WatchRecord) -> None: ...
    def watch(self, message_id: str) -> WatchRecord | None: ...
    def watches(
        self, *, state: str | None = None, limit: int = 100, before: float | None = None
    ) -> list[WatchRecord]: ...
    def set_watch_state(
        self,
        message_id: str,
        state: str,
        *,
        expect: Sequence[str] = (),
        decided_by: str | None = None,
        note: str | None = None,
    ) -> bool: ...
    def count_watch(self, day: int, rows: Iterable[tuple[str, str, str]]) -> None: ...
    def watch_totals(
        self, by: str, first_day: int, last_day: int, *, limit: int = 50
    ) -> list[tuple[str, dict[str, int]]]: ...
    def watch_counts(
        self, by: str, first_day: int, last_day: int, keys: Sequence[str] | None = None
    ) -> list[tuple[str, int, dict[str, int]]]: ...


def controls_store(url: str, sqlite_path: Path | None) -> ControlsStore:
    """The controls' store beside the message store: the same SQLite file, or the same PostgreSQL database."""
    if sqlite_path is not None:
        from gateway.controls.store_sqlite import SqliteControlsStore

        return SqliteControlsStore(sqlite_path)
    if url.startswith(("postgresql://", "postgres://")):
        from gateway.controls.store_postgres import PostgresControlsStore

        return PostgresControlsStore(url)
    raise ConfigError(f"[store] url: the controls need sqlite:///PATH or postgresql://...; got {url.split(':')[0]}")
