"""SQLite group commit (issue 15): writes queued in one turn of the loop share one transaction, and each keeps
its own outcome: committed when its ``await`` returns, or ``Unavailable`` with nothing of it kept."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gateway.errors import Unavailable
from gateway.store import Status
from gateway.store.sqlite import SqliteStore


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    store = SqliteStore(tmp_path / "gateway.db")
    await store.open()
    yield store
    await store.close()


def committed(path: Path, sql: str, *args: object) -> list[tuple[object, ...]]:
    """What another connection (another gateway process) sees: committed rows only."""
    with sqlite3.connect(path) as other:
        return other.execute(sql, args).fetchall()


async def claim(store: SqliteStore, n: int) -> None:
    await store.claim(f"gw-{n}", "p1", f"m-{n}", "risk-alert", "d")


async def test_concurrent_writes_share_one_transaction_and_are_committed_when_awaited(store: SqliteStore) -> None:
    statements: list[str] = []
    assert store._db is not None
    store._db.set_trace_callback(statements.append)
    await asyncio.gather(*(claim(store, n) for n in range(10)))
    assert statements.count("COMMIT") == 1  # ten claims, one commit
    assert len(committed(store.path, "SELECT id FROM messages")) == 10


async def test_a_failing_write_fails_alone(store: SqliteStore) -> None:
    async def orphan() -> None:  # no such message: the deliveries' foreign key refuses it
        await store.record_delivery("gw-none", "r1", Status.DELIVERED, attempt=1)

    results = await asyncio.gather(claim(store, 1), orphan(), claim(store, 2), return_exceptions=True)
    assert results[0] is None
    assert results[2] is None
    assert isinstance(results[1], Unavailable)
    assert "FOREIGN KEY" in results[1].message
    assert sorted(str(r[0]) for r in committed(store.path, "SELECT id FROM messages")) == ["gw-1", "gw-2"]
    assert committed(store.path, "SELECT * FROM events WHERE message_id = 'gw-none'") == []
    assert committed(store.path, "SELECT * FROM deliveries") == []


async def test_a_cancelled_write_is_not_made(store: SqliteStore) -> None:
    task = asyncio.ensure_future(claim(store, 1))
    await asyncio.sleep(0)  # queued for the next group
    task.cancel()
    await claim(store, 2)
    assert [r[0] for r in committed(store.path, "SELECT id FROM messages")] == ["gw-2"]


async def test_writes_queued_at_close_are_committed(store: SqliteStore) -> None:
    task = asyncio.ensure_future(claim(store, 1))
    await asyncio.sleep(0)
    await store.close()
    await task
    assert [r[0] for r in committed(store.path, "SELECT id FROM messages")] == ["gw-1"]


async def test_a_group_that_cannot_commit_fails_every_write_in_it(store: SqliteStore) -> None:
    """Another process holds the write lock past the busy timeout: nothing of the group is kept."""
    assert store._db is not None
    store._db.execute("PRAGMA busy_timeout = 100")
    blocker = sqlite3.connect(store.path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        results = await asyncio.gather(claim(store, 1), claim(store, 2), return_exceptions=True)
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert all(isinstance(r, Unavailable) and "locked" in r.message for r in results)
    assert committed(store.path, "SELECT id FROM messages") == []
    await claim(store, 3)  # the store works again once the lock is free
    assert [r[0] for r in committed(store.path, "SELECT id FROM messages")] == ["gw-3"]


async def test_a_write_alone_keeps_its_own_outcome(store: SqliteStore) -> None:
    with pytest.raises(Unavailable, match="FOREIGN KEY"):
        await store.record_delivery("gw-none", "r1", Status.DELIVERED, attempt=1)
    await claim(store, 1)
    assert [r[0] for r in committed(store.path, "SELECT id FROM messages")] == ["gw-1"]


async def test_writes_soon_after_a_commit_wait_for_the_pace_and_share_the_next(store: SqliteStore) -> None:
    """Under load, writes queued in different turns within COMMIT_PACE of the last commit share one."""
    store.COMMIT_PACE = 0.5  # long enough for a loaded machine: only the order of events matters here
    statements: list[str] = []
    assert store._db is not None
    store._db.set_trace_callback(statements.append)
    await claim(store, 1)  # after a quiet spell: committed at the next turn
    assert statements.count("COMMIT") == 1
    first = asyncio.ensure_future(claim(store, 2))
    await asyncio.sleep(0)  # queued, waiting for the pace
    second = asyncio.ensure_future(claim(store, 3))  # queued in a later turn
    await asyncio.gather(first, second)
    assert statements.count("COMMIT") == 2  # claims 2 and 3 together
    assert len(committed(store.path, "SELECT id FROM messages")) == 3
