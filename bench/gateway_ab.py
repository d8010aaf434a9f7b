"""Two versions of the gateway, alternated: CPU per delivered message of each (issue 15's levers, A/B).

``python -m bench.gateway_ab TREE_A TREE_B [--rounds 4] [--count 600] [--concurrency 32 | --rate R]`` runs the
gateway from each source tree in turn (``cd TREE && python -m gateway run``; ``TREE::NAME=VALUE`` adds an
environment variable), under the load of the max phase of ``python -m bench`` (canonical risk alerts signed with
``--signature``, 4 senders, 2 receivers, 32 clients in a closed loop; ``--rate R``: R messages a second in an
open loop instead) and prints the gateway's CPU time per delivered message (user + system, all its threads,
read from ``/proc``), round by round. The trees alternate (A B B A A B ...) so that a change in the machine's
load between rounds falls on both; a change is worth believing when every round shows it. Each tree has a
deployment of its own (keys, partner files, SQLite store, broker prefix), started fresh each round; the
messages are signed before the first round.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import aio_pika

from bench import messages
from bench.deployment import RETRY_DELAYS, BenchDeployment, make_deployment
from bench.gateway_process import GatewayProcess
from bench.load import Inbox, closed_loop, open_loop
from gateway.broker.topology import Topology

AMQP_URL = os.environ.get("GATEWAY_AMQP__URL", "amqp://guest:guest@127.0.0.1:5672/")


async def one_round(
    tree: Path,
    deployment: BenchDeployment,
    inbox: Inbox,
    warmup: list[messages.Prepared],
    load: list[messages.Prepared],
    concurrency: int,
    log: Path,
    rate: float = 0.0,
) -> tuple[float, int, int, float]:
    """(gateway CPU ms per delivered message, accepted, delivered, seconds) of one run of ``tree``."""
    path, _, env = str(tree).partition("::")  # TREE::NAME=VALUE runs that tree with that environment variable
    run = f'exec env {env} "{sys.executable}" -m gateway run --config "{deployment.config_path}"'
    command = ["/bin/sh", "-c", f'cd "{path}" && {run}']
    gateway = GatewayProcess(deployment.config_path, log, command=command)
    try:
        gateway.start()
        await gateway.wait_ready(deployment.base_url)
        sent = await closed_loop(deployment.base_url, warmup, 4)
        await inbox.drain([s.gateway_id for s in sent if s.gateway_id and s.status == 202], 60)
        cpu0, wall0 = gateway.cpu_seconds(), time.perf_counter()
        if rate:  # open loop: messages leave at a fixed rate (the steady phase's kind of load)
            sent = await open_loop(deployment.base_url, load, rate, max_connections=512)
        else:
            sent = await closed_loop(deployment.base_url, load, concurrency)
        accepted = [s.gateway_id for s in sent if s.gateway_id and s.status == 202]
        await inbox.drain(accepted, 60)
        cpu, wall = gateway.cpu_seconds() - cpu0, time.perf_counter() - wall0
        delivered = sum(1 for i in accepted if i in inbox.arrivals)
    finally:
        gateway.stop()
    return (1000 * cpu / delivered if delivered else float("nan")), len(accepted), delivered, wall


async def run(args: argparse.Namespace) -> None:
    trees: list[Path] = args.trees
    inbox = Inbox()
    await inbox.start()
    with contextlib.ExitStack() as stack:
        folders = [Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="gateway-ab-"))) for _ in trees]
        deployments = [
            make_deployment(f, senders=4, receivers=2, delivery_base_url=inbox.base_url, amqp_url=AMQP_URL)
            for f in folders
        ]
        try:
            figures: dict[int, list[float]] = {i: [] for i in range(len(trees))}
            template = messages.fitted_template(3072)
            # The same keys for every deployment would need a copy; each deployment's senders sign their own.
            loads = []
            for index, deployment in enumerate(deployments):
                senders = [s.id for s in deployment.senders]
                receivers = [r.id for r in deployment.receivers]
                keys = {s.id: (s.key_path, s.cert_path) for s in deployment.senders}
                with messages.signing_pool(template, keys, 2, args.signature) as pool:
                    tag = f"AB{int(time.time())}-{index}"
                    jobs = messages.plan(tag, args.rounds * (args.count + 20), senders, receivers)
                    print(f"signing {len(jobs)} messages for tree {index} ...", flush=True)
                    loads.append(await messages.sign_all(pool, jobs))
            for round_ in range(args.rounds):
                order = list(range(len(trees)))
                if round_ % 2:
                    order.reverse()
                for index in order:
                    chunk = loads[index][round_ * (args.count + 20) : (round_ + 1) * (args.count + 20)]
                    cpu, accepted, delivered, wall = await one_round(
                        trees[index],
                        deployments[index],
                        inbox,
                        chunk[:20],
                        chunk[20:],
                        args.concurrency,
                        folders[index] / f"gateway-{round_}.log",
                        args.rate,
                    )
                    figures[index].append(cpu)
                    load = os.getloadavg()[0]
                    print(
                        f"round {round_ + 1} tree {index} ({trees[index].name}): {cpu:6.3f} ms CPU/message, "
                        f"{accepted} accepted, {delivered} delivered, {delivered / wall:6.1f}/s, load {load:.2f}",
                        flush=True,
                    )
            for index, tree in enumerate(trees):
                values = figures[index]
                print(
                    f"tree {index} ({tree}): median {statistics.median(values):.3f} ms, "
                    f"min {min(values):.3f}, max {max(values):.3f} over {len(values)} rounds"
                )
        finally:
            await inbox.close()
            await _remove(deployments)


async def _remove(deployments: list[BenchDeployment]) -> None:
    connection = await aio_pika.connect(AMQP_URL, timeout=10)
    async with connection:
        for deployment in deployments:
            channel = await connection.channel()
            await Topology(deployment.prefix, 20, RETRY_DELAYS).delete(channel, [r.id for r in deployment.receivers])


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.gateway_ab", description=__doc__)
    parser.add_argument("trees", nargs="+", help="source trees of the gateway (git worktrees)")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--count", type=int, default=600, help="messages per round and tree")
    parser.add_argument("--concurrency", type=int, default=32, help="HTTP clients in a closed loop")
    parser.add_argument("--rate", type=float, default=0.0, help="messages a second in an open loop instead")
    parser.add_argument("--signature", default="signxml", choices=sorted(messages.PROFILES))
    args = parser.parse_args()
    args.trees = [Path(str(Path(t.split("::")[0]).resolve()) + t[len(t.split("::")[0]) :]) for t in args.trees]
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
