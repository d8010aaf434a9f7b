"""The broker dies, restarts, hangs or is cut off in the middle of a flow: nothing accepted is lost, nothing
unaccepted is delivered, the gateway recovers by itself (DESIGN.md 4 and 7; issue 5, fault tests 1, 2, 6)."""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.faults.harness import wait_until
from tests.helpers import Proxy

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


async def test_broker_kill9_mid_flow_then_restart_loses_nothing(make_flow):
    flow = make_flow()
    await flow.gateway.start()
    sender = flow.sender(1500)
    deadline = time.monotonic() + 200

    async def fault() -> None:
        await sender.reached(400, deadline)
        await asyncio.to_thread(flow.broker.kill9)
        # While the broker is down, ingress answers 503 unavailable (the sender resends) and /ready says so.
        refused = sender.unavailable
        await wait_until(lambda: sender.unavailable >= refused + 20, deadline, "503 answers while the broker is down")
        ready = await flow.gateway.ready()
        assert ready["ready"] is False, ready
        await asyncio.to_thread(flow.broker.start)

    await flow.run(sender, fault, deadline=deadline)
    result = await flow.finish(sender, deadline=deadline)
    assert result.unavailable >= 20


async def test_graceful_broker_restart_mid_flow_loses_nothing(make_flow):
    flow = make_flow()
    await flow.gateway.start()
    sender = flow.sender(1000)
    deadline = time.monotonic() + 200

    async def fault() -> None:
        await sender.reached(300, deadline)
        await asyncio.to_thread(flow.broker.ctl, "stop_app")
        refused = sender.unavailable
        await wait_until(lambda: sender.unavailable >= refused + 20, deadline, "503 answers while the app is stopped")
        await asyncio.to_thread(flow.broker.ctl, "start_app")

    await flow.run(sender, fault, deadline=deadline)
    result = await flow.finish(sender, deadline=deadline)
    assert result.unavailable >= 20


async def test_hung_broker_is_detected_by_heartbeats_and_nothing_is_lost(make_flow):
    # heartbeat 2 s: aiormq gives up on a silent broker after (2 + 1) x 3 = 9 s.
    flow = make_flow(amqp__heartbeat=2)
    await flow.gateway.start()
    sender = flow.sender(800)
    deadline = time.monotonic() + 200

    async def fault() -> None:
        await sender.reached(200, deadline)
        await asyncio.to_thread(flow.broker.pause)  # SIGSTOP: sockets stay open, nothing answers
        refused = sender.unavailable
        # Publishes wait for confirms that never come: the publish timeout answers 503 ...
        await wait_until(lambda: sender.unavailable > refused, deadline, "503 answers while the broker hangs")
        # ... and the heartbeat notices the silence and drops the connection (without it: never).
        while (await flow.gateway.ready())["ready"]:
            assert time.monotonic() < deadline, "the hung broker was never detected"
            await asyncio.sleep(0.2)
        await asyncio.to_thread(flow.broker.resume)

    await flow.run(sender, fault, deadline=deadline)
    result = await flow.finish(sender, deadline=deadline)
    assert result.unavailable > 0


async def test_connection_cut_mid_flow_loses_nothing(make_flow, broker):
    proxy = Proxy(("127.0.0.1", broker.port))
    await proxy.start()
    try:
        flow = make_flow(amqp_url=f"amqp://guest:guest@127.0.0.1:{proxy.port}/")
        await flow.gateway.start()
        sender = flow.sender(800)
        deadline = time.monotonic() + 200

        async def fault() -> None:
            for cut_at in (200, 500):  # twice: the restored consumers and publisher must survive a second cut
                await sender.reached(cut_at, deadline)
                proxy.cut()
                wanted = sender.unavailable + 10
                await wait_until(lambda: sender.unavailable >= wanted, deadline, "503 answers while cut off")  # noqa: B023
                proxy.restore()
                while not (await flow.gateway.ready())["ready"]:
                    assert time.monotonic() < deadline, "the gateway did not reconnect after the cut"
                    await asyncio.sleep(0.1)

        await flow.run(sender, fault, deadline=deadline)
        result = await flow.finish(sender, deadline=deadline, notes=f"{proxy.connections} proxied connections")
        assert result.unavailable >= 20
        assert proxy.connections >= 3  # the first connection and one after each cut
    finally:
        await proxy.close()
