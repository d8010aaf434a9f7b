"""The admission queue's order (issue 17): urgent first, then the partner with less in flight, then arrival."""

from __future__ import annotations

import asyncio

from gateway.config import FairnessSection, QuotaSection
from gateway.ingress.admission import Admission
from gateway.store.sqlite import SqliteStore


async def test_urgent_and_light_senders_overtake_a_queued_flood(tmp_path):
    admission = Admission(SqliteStore(tmp_path / "store.db"), QuotaSection(), FairnessSection(admission_slots=1))
    admission.in_flight.update({"flood": 40, "quiet": 1, "light": 2})  # as enter() counts them
    order: list[str] = []
    release = asyncio.Event()

    async def through(name: str, partner: str, urgent: bool) -> None:
        async with admission.slot(partner, urgent):
            order.append(name)
            if name == "first":
                await release.wait()

    first = asyncio.create_task(through("first", "flood", False))
    await asyncio.sleep(0)  # it holds the only slot
    waiting = [asyncio.create_task(through(f"flood-{n}", "flood", False)) for n in range(5)]
    waiting.append(asyncio.create_task(through("light-bulk", "light", False)))
    waiting.append(asyncio.create_task(through("quiet-alert", "quiet", True)))
    waiting.append(asyncio.create_task(through("flood-alert", "flood", True)))
    for _ in range(3):  # each task runs to its wait
        await asyncio.sleep(0)
    assert admission.waiting == len(waiting) - 2  # the urgent ones went in on their own places
    release.set()
    await asyncio.gather(first, *waiting)
    assert order == [
        "first",
        "quiet-alert",  # urgent: not held up by the bulk message in the only slot
        "flood-alert",
        "light-bulk",  # bulk from a partner with 2 in flight
        *(f"flood-{n}" for n in range(5)),  # the flood, in its own order
    ]


async def test_a_waiter_that_gives_up_passes_its_turn_on(tmp_path):
    admission = Admission(SqliteStore(tmp_path / "store.db"), QuotaSection(), FairnessSection(admission_slots=1))
    release = asyncio.Event()
    order: list[str] = []

    async def through(name: str) -> None:
        async with admission.slot(name, False):
            order.append(name)
            if name == "a":
                await release.wait()

    a = asyncio.create_task(through("a"))
    await asyncio.sleep(0)
    b = asyncio.create_task(through("b"))
    c = asyncio.create_task(through("c"))
    for _ in range(3):
        await asyncio.sleep(0)
    assert admission.waiting == 2
    b.cancel()  # the client went away while waiting
    release.set()
    await asyncio.gather(a, c)
    assert order == ["a", "c"]
    assert admission.waiting == 0
    async with admission.slot("d", False):  # the slot is free again: nothing leaked
        order.append("d")
    assert order == ["a", "c", "d"]


async def test_bulk_gives_way_while_an_urgent_message_is_in_hand(tmp_path):
    """Free slots or not, a bulk message waits while an urgent one is in the pipeline (gateway.broker.lane)."""
    admission = Admission(SqliteStore(tmp_path / "store.db"), QuotaSection(), FairnessSection(admission_slots=4))
    release = asyncio.Event()
    order: list[str] = []

    async def urgent() -> None:
        async with admission.slot("quiet", True):
            order.append("urgent in")
            await release.wait()
            order.append("urgent out")

    async def bulk() -> None:
        async with admission.slot("flood", False):
            order.append("bulk in")

    first = asyncio.create_task(urgent())
    await asyncio.sleep(0)
    second = asyncio.create_task(bulk())
    for _ in range(3):
        await asyncio.sleep(0)
    assert order == ["urgent in"]  # three slots free, and still the bulk message waits
    assert admission.lane.in_hand == 1
    release.set()
    await asyncio.gather(first, second)
    assert order == ["urgent in", "urgent out", "bulk in"]


async def test_urgent_messages_beyond_their_own_places_queue_first(tmp_path):
    admission = Admission(SqliteStore(tmp_path / "store.db"), QuotaSection(), FairnessSection(admission_slots=1))
    admission.in_flight.update({"flood": 40, "quiet": 1})
    release = asyncio.Event()
    order: list[str] = []

    async def through(name: str, partner: str, urgent: bool, hold: bool = False) -> None:
        async with admission.slot(partner, urgent):
            order.append(name)
            if hold:
                await release.wait()

    held = [
        asyncio.create_task(through("bulk-held", "flood", False, hold=True)),
        asyncio.create_task(through("urgent-held", "flood", True, hold=True)),  # takes the one urgent place
    ]
    await asyncio.sleep(0)
    queued = [
        asyncio.create_task(through("flood-bulk", "flood", False)),
        asyncio.create_task(through("flood-urgent", "flood", True)),
        asyncio.create_task(through("quiet-urgent", "quiet", True)),
    ]
    for _ in range(3):
        await asyncio.sleep(0)
    assert order == ["bulk-held", "urgent-held"]
    assert admission.waiting == 2  # the two urgent ones; the bulk one gives way to the urgent work in hand
    release.set()
    await asyncio.gather(*held, *queued)
    assert order[2:] == ["quiet-urgent", "flood-urgent", "flood-bulk"]
