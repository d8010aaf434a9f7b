"""The gateway itself dies (kill -9) or is stopped (SIGTERM) in the middle of a flow and is started again:
every accepted message is delivered after the restart (issue 5, fault test 3; graceful shutdown)."""

from __future__ import annotations

import itertools
import time

import pytest

from tests.faults.conftest import RECEIVER, SENDER
from tests.faults.harness import GatewayProcess, Sender
from tests.store.support import postgres_schema

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


async def test_gateway_kill9_then_sigterm_mid_flow_lose_nothing(make_flow, receiver):
    flow = make_flow()
    await flow.gateway.start()
    sender = flow.sender(1200)
    deadline = time.monotonic() + 200
    codes: list[int] = []
    finished: list[int] = []  # deliveries completed between SIGTERM and exit

    async def fault() -> None:
        await sender.reached(300, deadline)
        flow.gateway.kill9()  # requests, publishes and deliveries in flight die with it
        await flow.gateway.start()
        receiver.delay = 0.5  # so that deliveries are in hand when SIGTERM comes
        await sender.reached(800, deadline)
        # SIGTERM: stop taking requests, finish the deliveries in hand, exit 0; then start again.
        before = sum(receiver.arrivals.values())
        codes.append(await flow.gateway.terminate())
        finished.append(sum(receiver.arrivals.values()) - before)
        receiver.delay = 0.0
        await flow.gateway.start()

    await flow.run(sender, fault, deadline=deadline)
    result = await flow.finish(
        sender,
        deadline=deadline,
        notes=f"{finished[0] if finished else 0} deliveries finished during SIGTERM",
    )
    assert codes == [0], f"exit code after SIGTERM mid-flow: {codes}\n{result.line()}"
    assert finished[0] > 0, "no delivery in hand was finished during the graceful stop"
    assert result.unreachable > 0  # the sender did hit the gateway while it was down


@pytest.fixture
async def pg_url():
    async with postgres_schema() as url:
        yield url


async def test_two_gateways_sharing_postgresql_one_killed_mid_flow_lose_nothing(make_flow, pg_url):
    """Several instances, one broker, one PostgreSQL database: the sender spreads over both; one is kill -9'd
    and restarted while the other carries on."""
    flow = make_flow(store__url=pg_url)
    second = GatewayProcess(flow.deployment, flow.gateway.amqp_url, **flow.gateway.settings)
    try:
        await flow.gateway.start()
        await second.start()
        turns = itertools.cycle([flow.gateway, second])
        sender = Sender.signed(flow.deployment, SENDER, RECEIVER, 1000, url=lambda: next(turns).url)
        deadline = time.monotonic() + 200

        async def fault() -> None:
            await sender.reached(300, deadline)
            second.kill9()
            await sender.reached(600, deadline)
            await second.start()

        await flow.run(sender, fault, deadline=deadline)
        await flow.receiver.wait_for(sender.accepted, deadline)
        assert await second.terminate() == 0
        result = await flow.finish(sender, deadline=deadline, notes="2 instances, PostgreSQL store")
        assert result.unreachable > 0
    finally:
        second.close()
