"""Uniqueness keys, references and follows links in both stores, and the migration of tables written before
them (docs/DESIGN.md 8, "Follow-ups")."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from gateway.store import Status, Store, open_store
from tests.store.support import postgres_schema

# The messages table and its unique index as the gateway created them before follow-ups (one DDL for both).
OLD_TABLE = """
CREATE TABLE messages (
    id TEXT PRIMARY KEY, sender TEXT NOT NULL, sender_message_id TEXT, message_type TEXT, digest TEXT,
    status TEXT NOT NULL, receivers TEXT NOT NULL DEFAULT '', code TEXT, reason TEXT, receipt {blob},
    canonical {blob}, created {time} NOT NULL, updated {time} NOT NULL
)"""
OLD_INDEX = "CREATE UNIQUE INDEX messages_sender_key ON messages (sender, sender_message_id) WHERE status <> 'rejected'"


@pytest.fixture(params=["sqlite", "postgresql"])
async def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'gateway.db'}"
        return
    async with postgres_schema() as url:
        yield url


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[Store]:
    opened = open_store(store_url)
    await opened.open()
    yield opened
    await opened.close()


async def test_a_follow_up_is_claimed_under_its_own_key_and_finds_what_it_follows(store: Store) -> None:
    original = await store.claim("gw-1", "gb-hmrc", "LRN 1", "declaration", "d1", key="LRN 1", reference="LRN 1")
    assert (original.key, original.reference, original.follows) == ("LRN 1", "LRN 1", None)
    opened = await store.opened("gb-hmrc", "LRN 1")
    assert opened is not None
    assert opened.id == "gw-1"
    assert await store.opened("other-sender", "LRN 1") is None

    follow_up = await store.claim(
        "gw-2", "gb-hmrc", "LRN 1", "declaration", "d2", key="LRN 1:13:20261202T100000Z", follows="gw-1"
    )
    assert (follow_up.id, follow_up.follows) == ("gw-2", "gw-1")
    again = await store.claim("gw-3", "gb-hmrc", "LRN 1", "declaration", "d3", key="LRN 1:13:20261202T100000Z")
    assert (again.id, again.digest) == ("gw-2", "d2")  # the holder: the pipeline compares digests
    fetched = await store.get("gw-2")
    assert fetched is not None
    assert (fetched.sender_message_id, fetched.key, fetched.follows) == ("LRN 1", "LRN 1:13:20261202T100000Z", "gw-1")
    events = await store.events("gw-2")
    assert events[0].reason == "declaration LRN 1:13:20261202T100000Z, following gw-1"


async def test_a_rejected_original_opens_nothing(store: Store) -> None:
    await store.claim("gw-1", "gb-hmrc", "LRN-2", "declaration", "d1", key="LRN-2", reference="LRN-2")
    await store.release("gw-1", "the broker is down")
    assert await store.opened("gb-hmrc", "LRN-2") is None


async def test_sqlite_tables_written_before_follow_ups_are_migrated(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    db = sqlite3.connect(path)
    db.execute(OLD_TABLE.format(blob="BLOB", time="REAL"))
    db.execute(OLD_INDEX)
    now = time.time()
    db.execute(
        "INSERT INTO messages (id, sender, sender_message_id, message_type, digest, status, created, updated) "
        "VALUES ('gw-old', 'gb-hmrc', 'LRN-OLD', 'declaration', 'd0', 'delivered', ?, ?)",
        (now, now),
    )
    db.commit()
    db.close()
    await assert_migrated(f"sqlite:///{path}")
    indexes = {row[0] for row in sqlite3.connect(path).execute("SELECT name FROM sqlite_master WHERE type='index'")}
    assert "messages_sender_key" not in indexes
    assert {"messages_unique_key", "messages_reference"} <= indexes


async def test_postgresql_tables_written_before_follow_ups_are_migrated() -> None:
    async with postgres_schema() as url:
        db = await asyncpg.connect(url.replace("postgresql://", "postgres://", 1).split("?")[0])
        schema = url.rsplit("search_path=", 1)[1]
        await db.execute(f'SET search_path TO "{schema}"')
        await db.execute(OLD_TABLE.format(blob="BYTEA", time="TIMESTAMPTZ"))
        await db.execute(OLD_INDEX)
        await db.execute(
            "INSERT INTO messages (id, sender, sender_message_id, message_type, digest, status, created, updated) "
            "VALUES ('gw-old', 'gb-hmrc', 'LRN-OLD', 'declaration', 'd0', 'delivered', now(), now())"
        )
        await assert_migrated(url)
        names = {
            r["indexname"] for r in await db.fetch("SELECT indexname FROM pg_indexes WHERE schemaname = $1", schema)
        }
        await db.close()
        assert "messages_sender_key" not in names
        assert {"messages_unique_key", "messages_reference"} <= names


async def assert_migrated(url: str) -> None:
    """The old row keeps its id as key and reference; a follow-up reusing its LRN can be claimed."""
    store = open_store(url)
    await store.open()
    try:
        old = await store.get("gw-old")
        assert old is not None
        assert (old.key, old.reference, old.status) == ("LRN-OLD", "LRN-OLD", Status.DELIVERED)
        resend = await store.claim("gw-new", "gb-hmrc", "LRN-OLD", "declaration", "d0")  # key defaults to the id
        assert resend.id == "gw-old"
        opened = await store.opened("gb-hmrc", "LRN-OLD")
        assert opened is not None
        follow_up = await store.claim("gw-f", "gb-hmrc", "LRN-OLD", "declaration", "d1", key="LRN-OLD:13:x")
        assert follow_up.id == "gw-f"
    finally:
        await store.close()
    again = open_store(url)  # a second start finds everything migrated
    await again.open()
    await again.close()
