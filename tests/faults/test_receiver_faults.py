"""The receiving partner refuses one message for good, or fails, times out and is down for a while
(issue 5, fault tests 4 and 5)."""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.faults.conftest import RECEIVER
from tests.faults.harness import queue_depths, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]


async def nothing() -> None:
    pass


async def test_poison_messages_are_dead_lettered_and_the_rest_keep_flowing(make_flow, receiver):
    flow = make_flow(retry_delays="[0.2, 0.4]", max_attempts=4)
    await flow.gateway.start()
    sender = flow.sender(300)
    refused, broken = sender.messages[10].sender_id, sender.messages[20].sender_id
    receiver.poison = {refused: 400, broken: 500}  # 400: permanent at once; 500: retried, then given up
    deadline = time.monotonic() + 150

    await flow.run(sender, nothing, deadline=deadline)
    prefix = flow.deployment.settings().amqp.prefix
    dead = f"{prefix}.dead.{RECEIVER}"
    depth = 0
    while depth < 2 and time.monotonic() < deadline:
        depth = (await queue_depths(flow.broker.url, [dead]))[dead]
        await asyncio.sleep(0.2)
    assert depth == 2, f"dead-letter queue {dead} holds {depth}"
    ids = {s: g for g, s in sender.accepted.items()}
    for sender_id, attempts, reason in ((refused, 1, "HTTP 400"), (broken, 4, "HTTP 500")):
        record = await flow.gateway.admin(f"messages/{ids[sender_id]}")
        assert record["status"] == "failed", record
        assert reason in str(record["history"][-1]), record["history"][-1]
        assert receiver.refused[sender_id] == attempts, (sender_id, receiver.refused)

    arguments = await asyncio.to_thread(flow.broker.queue_arguments)
    assert "x-delivery-limit" in arguments[f"{prefix}.deliver.{RECEIVER}"], arguments
    result = await flow.finish(
        sender, deadline=deadline, expected_missing=(refused, broken), notes="2 poison messages dead-lettered"
    )
    assert result.delivered == result.sent - 2
    assert not set(ids[s] for s in (refused, broken)) & set(receiver.arrivals)


async def test_receiver_errors_timeouts_and_downtime_are_retried_until_delivered(make_flow, receiver):
    flow = make_flow(retry_delays="[0.3, 0.6, 1.2]", max_attempts=60, delivery__timeout=1.0)
    await flow.gateway.start()
    sender = flow.sender(150)
    deadline = time.monotonic() + 150

    receiver.set_mode("error")  # 500 for everything
    await flow.run(sender, nothing, deadline=deadline)
    await wait_until(lambda: len(receiver.refused) >= 100, deadline, "500s answered for most messages")
    receiver.set_mode("hang")  # no answer: the gateway's delivery timeout (1 s) must cut it
    hung = sum(receiver.refused.values())
    await wait_until(lambda: receiver.timed_out >= 30, deadline, "the gateway giving up on hanging deliveries")
    await receiver.stop()  # down: connection refused
    assert sum(receiver.refused.values()) > hung
    unreachable = await flow.gateway.admin(f"messages?status=retrying&partner={RECEIVER}")
    assert unreachable["messages"], unreachable
    await asyncio.sleep(2)  # down for a while (the fault's duration, not an assertion)
    await receiver.start()
    receiver.set_mode("ok")

    missing = await receiver.wait_for(sender.accepted, deadline)
    assert not missing, f"{len(missing)} not delivered after the receiver came back"
    # The history tells why each attempt failed: 500s, timeouts and refused connections, each retried.
    reasons = []
    for gateway_id in sender.accepted:
        record = await flow.gateway.admin(f"messages/{gateway_id}")
        assert record["status"] == "delivered", record
        retries = [e for e in record["history"] if e["status"] == "retrying"]
        attempts = [int(e["reason"].split(":")[0].removeprefix("attempt ")) for e in retries]
        assert attempts == sorted(set(attempts)), attempts
        reasons += [e["reason"] for e in retries]
    for kind in ("HTTP 500", "did not answer within", "unreachable"):
        assert any(kind in r for r in reasons), (kind, reasons[:5])
    result = await flow.finish(sender, deadline=deadline, notes=f"{sum(receiver.refused.values())} failed attempts")
    assert result.delivered == 150
