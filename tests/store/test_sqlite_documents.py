"""SQLite keeps a message's receipt and canonical envelope in ``message_documents``, out of the messages row that
every delivery event updates (issue 15); rows written before that table keep theirs where they were."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from gateway.store import Status
from gateway.store.sqlite import SqliteStore


async def test_documents_are_kept_beside_the_message_and_read_back(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "gateway.db")
    await store.open()
    try:
        await store.claim("gw-1", "nl-customs", "MSG-1", "risk-alert", "d1")
        await store.accept("gw-1", ("de-customs",), b"<receipt/>", b"<canonical/>")
        await store.record_delivery("gw-1", "de-customs", Status.DELIVERED, attempt=1, reason="HTTP 200")
        record = await store.get("gw-1")
        assert record is not None
        assert (record.status, record.receipt) == (Status.DELIVERED, b"<receipt/>")
        assert await store.canonical("gw-1") == b"<canonical/>"
        assert [r.receipt for r in await store.find(partner="nl-customs")] == [b"<receipt/>"]
        duplicate = await store.claim("gw-2", "nl-customs", "MSG-1", "risk-alert", "d1")
        assert (duplicate.id, duplicate.receipt) == ("gw-1", b"<receipt/>")
        row = sqlite3.connect(store.path).execute("SELECT receipt, canonical FROM messages").fetchone()
        assert row == (None, None)  # the row every status change rewrites holds no documents
    finally:
        await store.close()


async def test_documents_written_before_the_table_are_still_read(tmp_path: Path) -> None:
    path = tmp_path / "gateway.db"
    store = SqliteStore(path)
    await store.open()
    await store.claim("gw-old", "nl-customs", "MSG-1", "risk-alert", "d1")
    await store.close()
    # As an older gateway left it: the documents in the messages row, message_documents empty.
    with sqlite3.connect(path) as db:
        db.execute(
            "UPDATE messages SET status = 'waiting', receivers = 'de-customs', receipt = ?, canonical = ?, "
            "updated = ? WHERE id = 'gw-old'",
            (b"<old-receipt/>", b"<old-canonical/>", time.time()),
        )
    store = SqliteStore(path)
    await store.open()
    try:
        record = await store.get("gw-old")
        assert record is not None
        assert record.receipt == b"<old-receipt/>"
        assert await store.canonical("gw-old") == b"<old-canonical/>"
        # Released by the controls after the upgrade: what this gateway writes is what is read.
        await store.accept("gw-old", ("de-customs",), b"<new-receipt/>", b"<new-canonical/>", actor="controls")
        record = await store.get("gw-old")
        assert record is not None
        assert (record.status, record.receipt) == (Status.ACCEPTED, b"<new-receipt/>")
        assert await store.canonical("gw-old") == b"<new-canonical/>"
    finally:
        await store.close()
