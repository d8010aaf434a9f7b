"""PostgreSQL batches (issue 15): the calls of one write queued while the previous batch is on the wire go as one
pipelined batch in one transaction, and each keeps its own outcome: committed when its ``await`` returns, or
``Unavailable`` with nothing of it kept. Instances sharing the database still give one key one holder.

PostgreSQL: 127.0.0.1:5432 (tests/store/support.py), skipped with the reason shown when nothing answers there.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import asyncpg
import pytest

from gateway.errors import Unavailable
from gateway.store import Status
from gateway.store.base import take_from_bucket
from gateway.store.postgres import PostgresStore
from tests.store.support import postgres_schema

Opener = Callable[[], Awaitable[PostgresStore]]


@pytest.fixture
async def url() -> AsyncIterator[str]:
    async with postgres_schema() as url:
        yield url


@pytest.fixture
async def stores(url: str) -> AsyncIterator[Opener]:
    opened: list[PostgresStore] = []

    async def make() -> PostgresStore:
        store = PostgresStore(url)
        await store.open()
        opened.append(store)
        return store

    yield make
    for store in opened:
        await store.close()


@pytest.fixture
async def store(stores: Opener) -> PostgresStore:
    return await stores()


async def committed(url: str, sql: str, *args: object) -> list[asyncpg.Record]:
    """What another connection (another gateway instance) sees: committed rows only."""
    other = await asyncpg.connect(url, timeout=10)
    try:
        return list(await other.fetch(sql, *args))
    finally:
        await other.close()


async def claim(store: PostgresStore, n: int, key: str | None = None, message_id: str | None = None) -> str:
    record = await store.claim(message_id or f"gw-{n}", "p1", key or f"m-{n}", "risk-alert", "d")
    return record.id


async def test_concurrent_writes_go_in_one_transaction_and_are_committed_when_awaited(
    store: PostgresStore, url: str
) -> None:
    holders = await asyncio.gather(*(claim(store, n) for n in range(10)))
    assert holders == [f"gw-{n}" for n in range(10)]
    rows = await committed(url, "SELECT id, xmin::text AS tx FROM messages")
    assert sorted(r["id"] for r in rows) == sorted(holders)
    assert len({r["tx"] for r in rows}) == 1  # ten claims, one transaction
    events = await committed(url, "SELECT message_id FROM events WHERE status = 'received'")
    assert sorted(r["message_id"] for r in events) == sorted(holders)

    await asyncio.gather(*(store.accept(f"gw-{n}", ("r1", "r2"), b"receipt", b"canonical") for n in range(10)))
    await asyncio.gather(
        *(store.record_delivery(f"gw-{n}", r, Status.DELIVERED, attempt=1) for n in range(10) for r in ("r1", "r2"))
    )
    deliveries = await committed(url, "SELECT status, xmin::text AS tx FROM deliveries")
    assert len(deliveries) == 20
    assert {r["status"] for r in deliveries} == {"delivered"}
    assert len({r["tx"] for r in deliveries}) == 1  # twenty deliveries recorded in one transaction
    assert {r["status"] for r in await committed(url, "SELECT status FROM messages")} == {"delivered"}


async def test_a_flood_is_sent_in_batches_of_the_largest_size(
    store: PostgresStore, url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store._claims, "LARGEST", 4)
    await asyncio.gather(*(claim(store, n) for n in range(10)))
    rows = await committed(url, "SELECT xmin::text AS tx, count(*) AS n FROM messages GROUP BY xmin::text")
    assert sorted(r["n"] for r in rows) == [2, 4, 4]


async def test_one_key_twice_in_one_batch_has_one_holder(store: PostgresStore) -> None:
    holders = await asyncio.gather(*(claim(store, n, key="same") for n in range(5)))
    assert len(set(holders)) == 1
    record = await store.get(holders[0])
    assert record is not None
    assert record.key == "same"


async def test_a_failing_claim_fails_alone(store: PostgresStore, url: str) -> None:
    """The second claim reuses a gateway message id (the primary key refuses it): the batch is rolled back and
    each claim runs again alone."""
    results = await asyncio.gather(
        claim(store, 1, key="a", message_id="gw-1"),
        claim(store, 2, key="b", message_id="gw-1"),
        claim(store, 3, key="c", message_id="gw-3"),
        return_exceptions=True,
    )
    assert results[0] == "gw-1"
    assert results[2] == "gw-3"
    assert isinstance(results[1], Unavailable)
    assert "messages_pkey" in results[1].message
    rows = await committed(url, "SELECT id, unique_key FROM messages ORDER BY id")
    assert [(r["id"], r["unique_key"]) for r in rows] == [("gw-1", "a"), ("gw-3", "c")]
    assert len(await committed(url, "SELECT 1 FROM events")) == 2


async def test_a_failing_accept_or_delivery_fails_alone(store: PostgresStore, url: str) -> None:
    """An unknown message (the deliveries' foreign key refuses it) among real ones: only it fails, and nothing
    of it is kept; no message is recorded accepted without its deliveries and event."""
    for n in (1, 2):
        await claim(store, n)
    accepted = await asyncio.gather(
        store.accept("gw-1", ("r1",), b"r", b"c"),
        store.accept("gw-none", ("r1",), b"r", b"c"),
        store.accept("gw-2", ("r1",), b"r", b"c"),
        return_exceptions=True,
    )
    assert accepted[0] is None
    assert accepted[2] is None
    assert isinstance(accepted[1], Unavailable)
    assert "foreign key" in accepted[1].message
    recorded = await asyncio.gather(
        store.record_delivery("gw-1", "r1", Status.DELIVERED, attempt=1),
        store.record_delivery("gw-none", "r1", Status.DELIVERED, attempt=1),
        store.record_delivery("gw-2", "r1", Status.DELIVERED, attempt=1),
        return_exceptions=True,
    )
    assert recorded[0] is None
    assert recorded[2] is None
    assert isinstance(recorded[1], Unavailable)
    assert await committed(url, "SELECT 1 FROM events WHERE message_id = 'gw-none'") == []
    assert await committed(url, "SELECT 1 FROM deliveries WHERE message_id = 'gw-none'") == []
    statuses = await committed(url, "SELECT id, status FROM messages ORDER BY id")
    assert [(r["id"], r["status"]) for r in statuses] == [("gw-1", "delivered"), ("gw-2", "delivered")]
    assert [e.status for e in await store.events("gw-1")] == ["received", "accepted", "delivered"]


async def test_instances_claiming_in_opposite_orders_agree_on_every_holder(stores: Opener, url: str) -> None:
    """Two gateways share the database and receive the same thirty messages in opposite orders (a partner
    sending to both): every key has one holder, the same for both, and nothing is left half done."""
    first, second = await stores(), await stores()
    keys = [f"k-{n:02}" for n in range(30)]
    answers = await asyncio.gather(
        asyncio.gather(*(claim(first, n, key=k, message_id=f"a-{k}") for n, k in enumerate(keys))),
        asyncio.gather(*(claim(second, n, key=k, message_id=f"b-{k}") for n, k in reversed(list(enumerate(keys))))),
    )
    by_first = dict(zip(keys, answers[0], strict=True))
    by_second = dict(zip(reversed(keys), answers[1], strict=True))
    assert by_first == by_second
    rows = await committed(url, "SELECT unique_key, id FROM messages")
    assert {r["unique_key"]: r["id"] for r in rows} == by_first
    assert len(await committed(url, "SELECT 1 FROM events")) == 30


async def test_a_cancelled_write_is_not_made(store: PostgresStore, url: str) -> None:
    task = asyncio.ensure_future(claim(store, 1))
    await asyncio.sleep(0)  # queued for the next batch
    task.cancel()
    await claim(store, 2)
    assert [r["id"] for r in await committed(url, "SELECT id FROM messages")] == ["gw-2"]


async def test_writes_queued_at_close_are_committed(store: PostgresStore, url: str) -> None:
    task = asyncio.ensure_future(claim(store, 1))
    await asyncio.sleep(0)
    await store.close()
    assert await task == "gw-1"
    assert [r["id"] for r in await committed(url, "SELECT id FROM messages")] == ["gw-1"]


async def test_a_connection_the_server_ended_is_replaced(store: PostgresStore, url: str) -> None:
    """Each kind of batch keeps a connection: when the server ends it (restart, administrator), at most the
    call that finds it broken fails (503 at ingress, nothing kept), and the next ones take a new connection."""
    await claim(store, 1)
    admin = await asyncpg.connect(url, timeout=10)
    try:
        ended = await admin.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE pid <> pg_backend_pid() AND query LIKE '%gw_store_claim_v1%' AND state = 'idle'"
        )
        assert ended == 1
        for _ in range(100):  # until the server has let it go
            left = await admin.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%gw_store_claim_v1%' AND state = 'idle'"
            )
            if not left:
                break
            await asyncio.sleep(0.05)
    finally:
        await admin.close()
    try:
        await claim(store, 2)
    except Unavailable:  # found the connection broken before asyncpg noticed: this call alone fails
        assert [r["id"] for r in await committed(url, "SELECT id FROM messages WHERE id = 'gw-2'")] == []
    assert await claim(store, 3) == "gw-3"
    assert await claim(store, 2) == "gw-2"


async def test_an_acceptance_and_deliveries_at_two_instances_in_opposite_orders(stores: Opener, url: str) -> None:
    """One instance records twenty acceptances while the other records their deliveries, in the opposite order
    (a worker may record a delivery before the acceptance is written): every message ends ``delivered``, with
    its acceptance and its delivery each recorded once."""
    first, second = await stores(), await stores()
    ids = [await claim(first, n) for n in range(20)]
    await asyncio.gather(
        asyncio.gather(*(first.accept(i, ("r1",), b"r", b"c") for i in ids)),
        asyncio.gather(*(second.record_delivery(i, "r1", Status.DELIVERED, attempt=1) for i in reversed(ids))),
    )
    rows = await committed(url, "SELECT id, status FROM messages")
    assert {r["id"]: r["status"] for r in rows} == dict.fromkeys(ids, "delivered")
    assert {r["status"] for r in await committed(url, "SELECT status FROM deliveries")} == {"delivered"}
    events = await committed(url, "SELECT status, count(*) AS n FROM events GROUP BY status")
    assert {r["status"]: r["n"] for r in events} == {"received": 20, "accepted": 20, "delivered": 20}


async def test_a_take_of_tokens_computes_what_take_from_bucket_does(store: PostgresStore) -> None:
    """PostgreSQL takes tokens in one call of a function that does base.take_from_bucket's arithmetic in SQL:
    the same grants and the same tokens left, to the last bit, over refills, empty buckets, a clock that goes
    back, fractions and a burst cap."""
    model: dict[str, tuple[float, float]] = {}
    steps = [
        ("a", 10, 100.0, 200, 1000.0),
        ("a", 500, 100.0, 200, 1000.01),
        ("a", 3, 100.0, 200, 1000.0133),
        ("a", 7, 100.0, 200, 999.5),  # the clock went back: nothing refills
        ("a", 1, 100.0, 200, 1003.7),
        ("b", 1, 0.3, 1, 5.0),
        ("b", 1, 0.3, 1, 6.1),
        ("b", 2, 0.3, 1, 9.77),
        ("c", 4, 1e-3, 3, 1.0e9),
        ("c", 4, 1e-3, 3, 1.0e9 + 1234.5678),
    ]
    for partner, want, rate, burst, now in steps:
        tokens, at = model.get(partner, (float(burst), now))
        expected = take_from_bucket(tokens, at, now=now, want=want, rate=rate, burst=burst)
        model[partner] = (expected.left, max(now, at))
        assert await store.take_tokens(partner, want, rate=rate, burst=burst, now=now) == expected
