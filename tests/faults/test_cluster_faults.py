"""A three-node RabbitMQ cluster of private nodes (joined with ``rabbitmqctl join_cluster``) under the gateway
(``[amqp] urls``: all three): the node leading the receiver's quorum queue killed mid-flow, one node frozen and
thawed, the whole cluster stopped and started, and two gateway instances on one PostgreSQL with one of them
killed mid-flow. Each prints sent / accepted / delivered / lost / unexpected / duplicates and the longest time
without an acceptance (issue 13)."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.faults.conftest import RECEIVER, RESULTS, SENDER, Flow
from tests.faults.harness import GatewayProcess, PrivateCluster, Receiver, Sender, check, tally, wait_until
from tests.helpers import PartnerSpec, make_deployment
from tests.store.support import pg_schema

pytestmark = [pytest.mark.slow, pytest.mark.timeout(420)]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateCluster]:
    reason = PrivateCluster.available()
    if reason:
        pytest.skip(f"cluster fault tests need private RabbitMQ nodes: {reason}")
    nodes = PrivateCluster(tmp_path_factory.mktemp("cluster"))
    try:
        nodes.start()
        yield nodes
    finally:
        nodes.close()


@pytest.fixture
def running(cluster: PrivateCluster) -> Iterator[PrivateCluster]:
    yield cluster
    cluster.ensure_running()


def settings_for(cluster: PrivateCluster, **more: object) -> dict[str, object]:
    urls = [f"{url}?reconnect_interval=1" for url in cluster.urls]
    return {
        "gateway__workers": 1,
        "amqp__heartbeat": 2,
        "amqp__publish_timeout": 3.0,
        "amqp__urls": json.dumps(urls),
        "delivery__timeout": 2.0,
        **more,
    }


@pytest.fixture
def cluster_flow(
    tmp_path: Path, running: PrivateCluster, receiver: Receiver, request: pytest.FixtureRequest
) -> Iterator[Callable[..., Flow]]:
    gateways: list[GatewayProcess] = []

    def make(**settings: object) -> Flow:
        deployment = make_deployment(
            tmp_path,
            [PartnerSpec(SENDER, url=receiver.url), PartnerSpec(RECEIVER, url=receiver.url)],
            retry_delays="[0.2, 0.5, 1.0]",
            max_attempts=10,
        )
        gateway = GatewayProcess(deployment, running.urls[0], **settings_for(running, **settings))
        gateways.append(gateway)
        return Flow(request.node.name, running, receiver, deployment, gateway, time.monotonic())  # type: ignore[arg-type]

    yield make
    for gateway in gateways:
        gateway.close()


def deliver_queue(flow: Flow) -> str:
    """The queue the flows' risk alerts travel in: the receiver's fast lane (issue 17)."""
    return f"{flow.deployment.prefix}.urgent.{RECEIVER}"


async def test_quorum_queues_have_a_member_on_each_node(cluster_flow, running):
    flow = cluster_flow()
    await flow.gateway.start()
    leader, members = await asyncio.to_thread(running.queue_members, deliver_queue(flow))
    assert sorted(members) == sorted(n.name for n in running.nodes), members
    assert leader in members
    assert await flow.gateway.terminate() == 0


async def test_kill9_of_the_node_leading_the_receivers_queue_mid_flow_loses_nothing(cluster_flow, running):
    flow = cluster_flow()
    await flow.gateway.start()
    sender = flow.sender(600)
    deadline = time.monotonic() + 240
    fault: dict[str, float] = {}

    async def kill_leader() -> None:
        await sender.reached(150, deadline)
        leader, _ = await asyncio.to_thread(running.queue_members, deliver_queue(flow))
        fault["at"] = time.monotonic()
        await asyncio.to_thread(running.node_named(leader).kill9)
        fault["leader"] = float(running.nodes.index(running.node_named(leader)))

    await flow.run(sender, kill_leader, deadline=deadline)
    gap = sender.longest_gap(fault["at"])
    result = await flow.finish(sender, deadline=deadline, notes=f"killed node{int(fault['leader'])}, the leader")
    print(f"{result.line()} longest without acceptance: {gap:.1f}s")
    RESULTS[-1].notes += f"; {gap:.1f}s without acceptance"


async def test_one_node_frozen_and_thawed_mid_flow_loses_nothing(cluster_flow, running):
    flow = cluster_flow()
    await flow.gateway.start()
    sender = flow.sender(600)
    deadline = time.monotonic() + 240
    fault: dict[str, float] = {}

    async def freeze() -> None:
        await sender.reached(150, deadline)
        leader, _ = await asyncio.to_thread(running.queue_members, deliver_queue(flow))
        node = running.node_named(leader)
        fault["at"] = time.monotonic()
        node.pause()
        await asyncio.sleep(10)  # frozen long enough for heartbeats (2 s) and the cluster to notice
        node.resume()

    await flow.run(sender, freeze, deadline=deadline)
    gap = sender.longest_gap(fault["at"])
    await flow.finish(sender, deadline=deadline, notes="leader frozen 10 s")
    RESULTS[-1].notes += f"; {gap:.1f}s without acceptance"


async def test_whole_cluster_stopped_and_started_mid_flow_loses_nothing(cluster_flow, running):
    flow = cluster_flow()
    await flow.gateway.start()
    sender = flow.sender(600)
    deadline = time.monotonic() + 300
    fault: dict[str, float] = {}

    async def stop_start() -> None:
        await sender.reached(150, deadline)
        fault["at"] = time.monotonic()
        await asyncio.to_thread(running.stop_all)
        refused = sender.unavailable
        await wait_until(lambda: sender.unavailable > refused, deadline, "503 answers while the cluster is down")
        await asyncio.to_thread(running.start_all)

    await flow.run(sender, stop_start, deadline=deadline)
    gap = sender.longest_gap(fault["at"])
    await flow.finish(sender, deadline=deadline, notes="all three nodes stopped, then started")
    RESULTS[-1].notes += f"; {gap:.1f}s without acceptance"


async def test_two_instances_one_killed_mid_flow_loses_nothing(tmp_path, running, receiver, request):
    """Two gateway processes (own ports) on one PostgreSQL and the cluster, traffic spread over both; kill -9 of
    one mid-flow: what it accepted is delivered (by the other: its unacked deliveries come back), resends of
    what it did not answer go to the other; duplicates only as at-least-once allows, same gateway id."""
    with pg_schema() as pg_url:
        deployment = make_deployment(
            tmp_path,
            [PartnerSpec(SENDER, url=receiver.url), PartnerSpec(RECEIVER, url=receiver.url)],
            retry_delays="[0.2, 0.5, 1.0]",
            max_attempts=10,
        )
        settings = settings_for(running, store__url=pg_url)
        gateways = [
            GatewayProcess(deployment, running.urls[0], **settings, gateway__instance=f"g{n}") for n in range(2)
        ]
        started = time.monotonic()
        try:
            for gateway in gateways:
                await gateway.start()
            alive = list(gateways)
            turn = itertools.count()

            def url() -> str:
                live = [g for g in alive if g.process is not None and g.process.poll() is None]
                return live[next(turn) % len(live)].url

            sender = Sender.signed(deployment, SENDER, RECEIVER, 600, url=url)
            deadline = time.monotonic() + 240
            fault: dict[str, float] = {}

            async def kill_one() -> None:
                await sender.reached(200, deadline)
                fault["at"] = time.monotonic()
                alive.remove(gateways[0])
                await asyncio.to_thread(gateways[0].kill9)

            sending = asyncio.create_task(sender.run(deadline))
            await kill_one()
            await sending
            gap = sender.longest_gap(fault["at"])
            await receiver.wait_for(set(sender.accepted), deadline)
            returncode = await gateways[1].terminate()
            result = tally(
                request.node.name, sender, receiver, started, notes=f"g0 killed; {gap:.1f}s without acceptance"
            )
            RESULTS.append(result)
            assert returncode == 0, result.line()
            check(result, sender, receiver, gateways[1].log_file)
        finally:
            for gateway in gateways:
                gateway.close()
