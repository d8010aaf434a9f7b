"""The Store Protocol, the same tests against SQLite and PostgreSQL.

PostgreSQL: 127.0.0.1:5432, user postgres, database test (trust auth), one schema per test, dropped after it.
When nothing answers there, the PostgreSQL cases are skipped with the reason shown (``make test`` prints it).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from gateway.app import build_app
from gateway.errors import ConfigError, Unavailable
from gateway.store import Status, Store, open_store
from gateway.store.postgres import PostgresStore
from gateway.store.sqlite import SqliteStore
from tests.conftest import remove_topology
from tests.helpers import PartnerSpec, envelope, make_deployment, signed
from tests.store.support import postgres_schema

StoreFactory = Callable[[], Awaitable[Store]]


@pytest.fixture
async def pg_url() -> AsyncIterator[str]:
    async with postgres_schema() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
async def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'gateway.db'}"
        return
    async with postgres_schema() as url:
        yield url


@pytest.fixture
async def stores(store_url: str) -> AsyncIterator[StoreFactory]:
    """Opens stores on one database (several instances share it, as several gateways would)."""
    opened: list[Store] = []

    async def make() -> Store:
        store = open_store(store_url)
        await store.open()
        opened.append(store)
        return store

    yield make
    for store in opened:
        await store.close()


@pytest.fixture
async def store(stores: StoreFactory) -> Store:
    return await stores()


def ids() -> str:
    return str(uuid.uuid4())


async def claimed(store: Store, sender: str = "nl-customs", sender_id: str | None = None) -> str:
    message_id = ids()
    record = await store.claim(message_id, sender, sender_id or ids(), "risk-alert", "digest-1")
    assert record.id == message_id
    return message_id


async def test_claim_returns_the_holder_of_a_sender_message_id(store: Store) -> None:
    first = await store.claim("gw-1", "nl-customs", "MSG-1", "risk-alert", "d1")
    assert (first.id, first.status, first.digest) == ("gw-1", Status.RECEIVED, "d1")
    assert first.created.tzinfo is not None
    again = await store.claim("gw-2", "nl-customs", "MSG-1", "risk-alert", "d2")
    assert (again.id, again.digest) == ("gw-1", "d1")
    other_sender = await store.claim("gw-3", "de-customs", "MSG-1", "risk-alert", "d1")
    assert other_sender.id == "gw-3"
    assert await store.get("gw-2") is None


async def test_release_frees_the_key_for_a_resend(store: Store) -> None:
    await store.claim("gw-1", "nl-customs", "MSG-1", "risk-alert", "d1")
    await store.release("gw-1", "the broker is down")
    released = await store.get("gw-1")
    assert released is not None
    assert (released.status, released.code, released.reason) == (
        Status.REJECTED,
        "unavailable",
        "the broker is down",
    )
    resend = await store.claim("gw-2", "nl-customs", "MSG-1", "risk-alert", "d1")
    assert resend.id == "gw-2"


async def test_retake_keeps_the_id_and_takes_the_new_digest(store: Store) -> None:
    message_id = await claimed(store)
    await store.retake(message_id, "digest-2")
    record = await store.get(message_id)
    assert record is not None
    assert (record.status, record.digest) == (Status.RECEIVED, "digest-2")
    assert [e.status for e in await store.events(message_id)] == ["received", "received"]


async def test_accept_keeps_receivers_receipt_and_canonical(store: Store) -> None:
    message_id = await claimed(store)
    await store.accept(message_id, ("de-customs", "fr-customs"), b"<receipt/>", b"<canonical/>")
    record = await store.get(message_id)
    assert record is not None
    assert (record.status, record.receivers, record.receipt) == (
        Status.ACCEPTED,
        ("de-customs", "fr-customs"),
        b"<receipt/>",
    )
    assert await store.canonical(message_id) == b"<canonical/>"
    assert [(d.receiver, d.status, d.attempts) for d in await store.deliveries(message_id)] == [
        ("de-customs", Status.ACCEPTED, 0),
        ("fr-customs", Status.ACCEPTED, 0),
    ]
    history = await store.events(message_id)
    assert [(e.status, e.actor) for e in history] == [("received", "nl-customs"), ("accepted", "gateway")]
    assert history[0].at <= history[1].at


async def test_a_delivery_recorded_before_the_acceptance_is_not_overwritten(store: Store) -> None:
    """The worker can deliver between the broker's confirm and the ingress recording "accepted"."""
    message_id = await claimed(store)
    await store.record_delivery(message_id, "de-customs", Status.DELIVERED, attempt=1, reason="HTTP 200")
    await store.accept(message_id, ("de-customs",), b"<receipt/>", b"<canonical/>")
    record = await store.get(message_id)
    assert record is not None
    assert record.status == Status.DELIVERED
    assert await store.delivered_to(message_id, "de-customs")


async def test_start_delivery_records_delivering_unless_already_delivered(store: Store) -> None:
    """The worker's one write before sending: the delivered check and "delivering" together (issue 15)."""
    message_id = await claimed(store)
    await store.accept(message_id, ("de-customs",), b"r", b"c")
    assert await store.start_delivery(message_id, "de-customs", attempt=1)
    assert [(d.status, d.attempts) for d in await store.deliveries(message_id)] == [(Status.DELIVERING, 1)]
    record = await store.get(message_id)
    assert record is not None
    assert record.status == Status.DELIVERING
    await store.record_delivery(message_id, "de-customs", Status.DELIVERED, attempt=1, reason="HTTP 200")
    assert not await store.start_delivery(message_id, "de-customs", attempt=2)  # a redelivery: nothing written
    assert [(d.status, d.attempts) for d in await store.deliveries(message_id)] == [(Status.DELIVERED, 1)]
    assert [(e.status, e.receiver) for e in await store.events(message_id)][2:] == [
        ("delivering", "de-customs"),
        ("delivered", "de-customs"),
    ]


async def test_a_message_shows_its_least_finished_delivery(store: Store) -> None:
    message_id = await claimed(store)
    await store.accept(message_id, ("de-customs", "fr-customs"), b"r", b"c")

    async def status() -> Status:
        record = await store.get(message_id)
        assert record is not None
        return record.status

    await store.record_delivery(message_id, "de-customs", Status.DELIVERED, attempt=1)
    assert await status() == Status.ACCEPTED
    next_at = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(seconds=30)
    await store.record_delivery(
        message_id, "fr-customs", Status.RETRYING, attempt=1, reason="HTTP 503", next_attempt=next_at
    )
    assert await status() == Status.RETRYING
    retrying = {d.receiver: d for d in await store.deliveries(message_id)}["fr-customs"]
    assert (retrying.attempts, retrying.reason, retrying.next_attempt) == (1, "HTTP 503", next_at)
    await store.record_delivery(message_id, "fr-customs", Status.FAILED, attempt=2, reason="HTTP 400")
    assert await status() == Status.FAILED
    await store.record_delivery(message_id, "fr-customs", Status.DELIVERED, attempt=3, actor="admin-api")
    assert await status() == Status.DELIVERED
    assert await store.delivered_to(message_id, "fr-customs")
    assert not await store.delivered_to(message_id, "xx-customs")
    last = (await store.events(message_id))[-1]
    assert (last.status, last.actor, last.receiver, last.reason) == (
        "delivered",
        "admin-api",
        "fr-customs",
        "attempt 3",
    )
    retry_event = next(e for e in await store.events(message_id) if e.status == "retrying")
    assert retry_event.reason is not None
    assert "HTTP 503; next attempt at" in retry_event.reason


async def test_reject_records_the_code_and_leaves_the_key_free(store: Store) -> None:
    await store.reject("gw-1", "nl-customs", "MSG-1", "risk-alert", "schema-invalid", "Body: missing element")
    record = await store.get("gw-1")
    assert record is not None
    assert (record.status, record.code, record.reason) == (
        Status.REJECTED,
        "schema-invalid",
        "Body: missing element",
    )
    assert (await store.claim("gw-2", "nl-customs", "MSG-1", "risk-alert", "d")).id == "gw-2"
    await store.reject("gw-3", "nl-customs", None, None, "malformed-xml", "not XML")  # nothing identified
    assert [e.reason for e in await store.events("gw-3")] == ["malformed-xml: not XML"]


async def test_reject_of_a_claimed_message_marks_it_rejected(store: Store) -> None:
    message_id = await claimed(store)
    await store.reject(message_id, "nl-customs", "ignored", "risk-alert", "no-route", "no receiver")
    record = await store.get(message_id)
    assert record is not None
    assert (record.status, record.code) == (Status.REJECTED, "no-route")


async def test_wait_holds_an_accepted_message(store: Store) -> None:
    message_id = await claimed(store)
    await store.wait(message_id, ("de-customs",), b"<receipt/>", b"<canonical/>", "waiting for the payment list")
    record = await store.get(message_id)
    assert record is not None
    assert (record.status, record.reason, record.receipt) == (
        Status.WAITING,
        "waiting for the payment list",
        b"<receipt/>",
    )
    assert await store.canonical(message_id) == b"<canonical/>"


async def test_find_filters_by_status_partner_and_type_newest_first(store: Store) -> None:
    first = await claimed(store, sender="nl-customs")
    await store.accept(first, ("de-customs",), b"r", b"c")
    second = await claimed(store, sender="nl")  # a partner id that is a prefix of another
    await store.accept(second, ("fr-customs",), b"r", b"c")
    third = await claimed(store, sender="fr-customs")

    async def found(**query: object) -> list[str]:
        return [r.id for r in await store.find(**query)]  # type: ignore[arg-type]

    assert await found() == [third, second, first]
    assert await found(limit=2) == [third, second]
    assert await found(status="accepted") == [second, first]
    assert await found(partner="de-customs") == [first]  # as receiver
    assert await found(partner="fr-customs") == [third, second]  # as sender and as receiver
    assert await found(partner="nl") == [second]  # not a substring match of nl-customs
    assert await found(message_type="risk-alert", status="received") == [third]
    assert await found(message_type="declaration") == []


async def test_config_events_keep_before_and_after_newest_first(store: Store) -> None:
    await store.record_config_event("admin-api", "create", "nl-customs", after={"id": "nl-customs", "sends": ["a"]})
    await store.record_config_event(
        "cli",
        "update",
        "nl-customs",
        detail="sends",
        before={"id": "nl-customs"},
        after={"id": "nl-customs", "n": 1},
    )
    await store.record_config_event("signal", "reload", None, detail="3 partners")
    events = await store.config_events()
    assert [(e.action, e.actor, e.partner) for e in events] == [
        ("reload", "signal", None),
        ("update", "cli", "nl-customs"),
        ("create", "admin-api", "nl-customs"),
    ]
    assert events[1].before == {"id": "nl-customs"}
    assert events[1].after == {"id": "nl-customs", "n": 1}
    assert events[1].detail == "sends"
    assert events[0].before is None
    assert events[0].seq > events[1].seq > events[2].seq
    assert [e.action for e in await store.config_events(partner="nl-customs", limit=1)] == ["update"]


async def test_an_unknown_message_has_nothing(store: Store) -> None:
    assert await store.get("nope") is None
    assert await store.canonical("nope") is None
    assert await store.deliveries("nope") == []
    assert await store.events("nope") == []
    assert not await store.delivered_to("nope", "de-customs")


async def test_a_closed_store_is_unavailable(store: Store) -> None:
    await store.ping()
    await store.close()
    with pytest.raises(Unavailable, match="not open"):
        await store.ping()
    with pytest.raises(Unavailable):
        await store.get("gw-1")


async def test_instances_sharing_a_database_give_one_message_id_one_claim(stores: StoreFactory) -> None:
    """Several gateways, one database: concurrent claims of one (sender, message id) have a single winner."""
    first, second = await stores(), await stores()
    attempts = [
        (first if n % 2 else second).claim(f"gw-{n}", "nl-customs", "MSG-1", "risk-alert", "d") for n in range(20)
    ]
    holders = {record.id for record in await asyncio.gather(*attempts)}
    assert len(holders) == 1
    winner = holders.pop()
    await first.accept(winner, ("de-customs",), b"r", b"c")
    await second.record_delivery(winner, "de-customs", Status.DELIVERED, attempt=1)
    assert await first.delivered_to(winner, "de-customs")


def test_open_store_chooses_by_url(tmp_path) -> None:
    assert isinstance(open_store(f"sqlite:///{tmp_path}/g.db"), SqliteStore)
    assert isinstance(open_store("postgresql://gw@db.example/gateway"), PostgresStore)
    with pytest.raises(ConfigError, match=r"unsupported store 'mysql'; allowed: sqlite:///PATH, postgresql://"):
        open_store("mysql://gw@db/gateway")


async def test_an_unreachable_postgresql_is_unavailable_without_its_password() -> None:
    store = PostgresStore("postgresql://gw:s3cret@127.0.0.1:1/gateway")
    with pytest.raises(Unavailable) as caught:
        await store.open()
    assert "s3cret" not in caught.value.message
    assert "127.0.0.1:1" in caught.value.message


async def test_the_gateway_runs_on_postgresql(tmp_path, pg_url, inbox_factory, amqp, aiohttp_client) -> None:
    """A whole flow with the PostgreSQL store: accepted, delivered, and the status history kept there."""
    inbox = await inbox_factory()
    deployment = make_deployment(
        tmp_path, [PartnerSpec("nl-customs", url=inbox.url), PartnerSpec("de-customs", url=inbox.url)]
    )
    settings = deployment.settings(store={"url": pg_url})
    client = await aiohttp_client(build_app(settings))
    try:
        body = signed(deployment.partners["nl-customs"], envelope("nl-customs", "de-customs"))
        response = await client.post("/v1/partners/nl-customs/messages", data=body)
        assert response.status == 202, await response.text()
        gateway_id = response.headers["X-Gateway-Message-Id"]
        await inbox.wait_for(1)
        assert inbox.received[0][0]["X-Gateway-Message-Id"] == gateway_id
        again = await client.post("/v1/partners/nl-customs/messages", data=body)
        assert (again.status, again.headers["X-Gateway-Message-Id"]) == (200, gateway_id)
    finally:
        await client.close()
        await remove_topology(amqp, deployment, ["nl-customs", "de-customs"])
    store = PostgresStore(pg_url)
    await store.open()
    try:
        statuses = [e.status for e in await store.events(gateway_id)]
        record = await store.get(gateway_id)
    finally:
        await store.close()
    # The worker may record its delivery before the ingress records "accepted": both orders are right.
    assert statuses[0] == "received"
    assert sorted(statuses[1:]) == ["accepted", "delivered", "delivering"]
    assert record is not None
    assert record.status == Status.DELIVERED


async def test_activity_counts_received_and_delivered_per_partner(store: Store) -> None:
    """The console's traffic chart: what came in per sender, what went out per receiver, with its latency."""
    start = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    delivered = []
    for sender in ("nl-customs", "nl-customs", "fr-customs"):
        message_id = await claimed(store, sender=sender)
        await store.accept(message_id, ("de-customs",), b"<receipt/>", b"<canonical/>")
        delivered.append(message_id)
    rejected = await claimed(store, sender="fr-customs")
    await store.reject(rejected, "fr-customs", None, "risk-alert", "schema-invalid", "bad")
    for message_id in delivered[:2]:
        await store.record_delivery(message_id, "de-customs", Status.DELIVERED, attempt=1)

    activity = await store.activity(start, 60)
    received: dict[str, int] = {}
    for row in activity.received:
        assert 0 <= row.bucket < 6
        received[row.partner] = received.get(row.partner, 0) + row.count
    assert received == {"nl-customs": 2, "fr-customs": 2}
    assert sum(r.count for r in activity.delivered) == 2
    assert {r.partner for r in activity.delivered} == {"de-customs"}
    for row in activity.delivered:
        assert 0 <= row.seconds_max <= row.seconds_total < 60
    assert (await store.activity(dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1), 60)).received == ()


async def test_a_token_bucket_is_shared_by_the_stores_on_one_database(stores: StoreFactory) -> None:
    """Quotas (issue 17): a new bucket is full; takes are whole tokens; the refill is rate x time, capped at burst;
    two stores (two workers, or two instances on PostgreSQL) take from the same bucket."""
    first, second = await stores(), await stores()
    assert (await first.take_tokens("nl", 3, now=100.0, rate=2.0, burst=5)).granted == 3
    taken = await second.take_tokens("nl", 3, now=100.0, rate=2.0, burst=5)
    assert (taken.granted, taken.left) == (2, 0.0)
    assert (await first.take_tokens("nl", 1, now=100.25, rate=2.0, burst=5)).granted == 0  # half a token
    assert (await second.take_tokens("nl", 1, now=100.5, rate=2.0, burst=5)).granted == 1
    assert (await first.take_tokens("nl", 10, now=1000.0, rate=2.0, burst=5)).granted == 5  # never more than burst
    assert (await first.take_tokens("de", 1, now=1000.0, rate=2.0, burst=5)).granted == 1  # each partner its own bucket
    # A clock that went back (another instance's) refills nothing and does not move the bucket's time back.
    assert (await second.take_tokens("nl", 1, now=999.0, rate=2.0, burst=5)).granted == 0
    assert (await second.take_tokens("nl", 1, now=1000.5, rate=2.0, burst=5)).granted == 1
