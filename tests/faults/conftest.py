"""Fixtures of the fault tests: one private RabbitMQ node for the session (started once, ~6 s; restored after
every test whatever the test did to it), a counting receiver, a deployment whose gateway runs as a process."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.faults.harness import (
    GatewayProcess,
    PrivateBroker,
    Receiver,
    Sender,
    Tally,
    check,
    left_behind,
    queue_depths,
    tally,
    trouble,
)
from tests.helpers import Deployment, PartnerSpec, make_deployment

RESULTS: list[Tally] = []

SENDER, RECEIVER = "nl-customs", "de-customs"


@pytest.fixture(scope="session")
def private_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateBroker]:
    reason = PrivateBroker.available()
    if reason:
        pytest.skip(f"fault tests need a private RabbitMQ node: {reason}")
    broker = PrivateBroker(tmp_path_factory.mktemp("rabbitmq"))
    try:
        broker.start()
        yield broker
    finally:
        broker.close()


@pytest.fixture
def broker(private_broker: PrivateBroker) -> Iterator[PrivateBroker]:
    yield private_broker
    private_broker.ensure_running()


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    inbox = Receiver()
    await inbox.start()
    yield inbox
    await inbox.stop()


@dataclass
class Flow:
    """One deployment (sender -> gateway process -> receiver) on the private broker."""

    name: str
    broker: PrivateBroker
    receiver: Receiver
    deployment: Deployment
    gateway: GatewayProcess
    started: float

    def sender(self, count: int, **kwargs: object) -> Sender:
        return Sender.signed(self.deployment, SENDER, RECEIVER, count, url=lambda: self.gateway.url, **kwargs)

    async def run(self, sender: Sender, during: Callable[[], Awaitable[None]], *, deadline: float) -> None:
        """Send everything while ``during`` injects the fault; both must finish before ``deadline``."""
        sending = asyncio.create_task(sender.run(deadline))
        try:
            await during()
        except BaseException:
            sender.stop_sending = True
            raise
        finally:
            await sending

    async def finish(
        self, sender: Sender, *, deadline: float, expected_missing: tuple[str, ...] = (), notes: str = ""
    ) -> Tally:
        """Wait for the deliveries, stop the gateway with SIGTERM (exit 0), prove the queues hold nothing
        more, count, record and check."""
        accepted = {g for g, s in sender.accepted.items() if s not in expected_missing}
        missing = await self.receiver.wait_for(accepted, deadline)
        returncode = await self.gateway.terminate()
        result = tally(
            self.name,
            sender,
            self.receiver,
            self.started,
            expected_missing=[g for g, s in sender.accepted.items() if s in expected_missing],
            notes=notes,
        )
        RESULTS.append(result)
        assert returncode == 0, f"gateway exit code {returncode} after SIGTERM\n{result.line()}"
        topology = self.deployment.settings()
        prefix = topology.amqp.prefix
        queues = [f"{prefix}.deliver.{RECEIVER}", f"{prefix}.urgent.{RECEIVER}"] + [
            f"{prefix}.retry.{n}" for n in range(len(topology.delivery.retry_delays))
        ]
        depths = await queue_depths(self.broker.url, queues)
        if any(depths.values()):
            left = {q: await left_behind(self.broker.url, q) for q, n in depths.items() if n}
            known = set(sender.accepted)
            raise AssertionError(
                f"messages left behind in {depths}: {left}; of these, accepted: "
                f"{[i for ids in left.values() for i in ids if i in known]}; missing {len(missing)}\n"
                f"{result.line()}"
                f"\n--- gateway warnings ---\n{trouble(self.gateway.log_file)}"
            )
        check(result, sender, self.receiver, self.gateway.log_file)
        return result


@pytest.fixture
def make_flow(
    tmp_path: Path, broker: PrivateBroker, receiver: Receiver, request: pytest.FixtureRequest
) -> Iterator[Callable[..., Flow]]:
    gateways: list[GatewayProcess] = []

    def make(
        *,
        amqp_url: str | None = None,
        retry_delays: str = "[0.2, 0.5, 1.0]",
        max_attempts: int = 10,
        **settings: object,
    ) -> Flow:
        deployment = make_deployment(
            tmp_path,
            [PartnerSpec(SENDER, url=receiver.url), PartnerSpec(RECEIVER, url=receiver.url)],
            retry_delays=retry_delays,
            max_attempts=max_attempts,
        )
        defaults: dict[str, object] = {
            "gateway__workers": 1,
            "amqp__heartbeat": 2,
            "amqp__publish_timeout": 3.0,
            "delivery__timeout": 2.0,
        }
        # Reconnect attempts every second (aio-pika's default is 5 s): the tests wait less.
        url = amqp_url or broker.url
        gateway = GatewayProcess(deployment, f"{url}?reconnect_interval=1", **{**defaults, **settings})
        gateways.append(gateway)
        return Flow(request.node.name, broker, receiver, deployment, gateway, time.monotonic())

    yield make
    for gateway in gateways:
        gateway.close()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if RESULTS:
        terminalreporter.section("fault tests: what went in and what came out")
        for result in RESULTS:
            terminalreporter.write_line(result.line())
