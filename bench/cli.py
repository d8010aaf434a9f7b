"""``python -m bench``: floors, the real gateway end to end, ratios; printed and written as JSON."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import platform
import signal
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import aio_pika

from bench import floors, load, messages, profile
from bench.deployment import LOADS, RETRY_DELAYS, BenchDeployment, free_port, make_deployment
from bench.gateway_process import GatewayFailed, GatewayProcess, broker_pids, cpu_seconds
from bench.load import Inbox, Sent, closed_loop, open_loop, summarize
from bench.report import print_report
from gateway.broker.topology import Topology

RESULTS = Path(__file__).resolve().parent / "results"
AMQP_URL = os.environ.get("GATEWAY_AMQP__URL", "amqp://guest:guest@127.0.0.1:5672/")
PG_URL = os.environ.get("GATEWAY_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    p.add_argument("--quick", action="store_true", help="a short run: 300 messages, shorter floors and steady phase")
    p.add_argument("--count", type=int, help="messages in the max-throughput phase (default 2000; quick 300)")
    p.add_argument("--concurrency", type=int, default=32, help="HTTP clients in the max-throughput phase")
    p.add_argument("--workers", type=int, help="gateway processes (`gateway run --workers N`; default: its own)")
    p.add_argument("--senders", type=int, default=4, help="sending partners")
    p.add_argument("--receivers", type=int, default=2, help="receiving partners (HTTP inboxes in this process)")
    p.add_argument("--message-bytes", type=int, default=3072, help="size of each message before signing")
    p.add_argument("--steady-fraction", type=float, default=0.7, help="open-loop rate, as a share of the max")
    p.add_argument("--steady-seconds", type=float, help="length of the open-loop phase (default 15; quick 5)")
    p.add_argument("--drain-timeout", type=float, default=60.0, help="seconds to wait for deliveries after a phase")
    p.add_argument("--broker-count", type=int, help="messages for the broker floor (default 4000; quick 1500)")
    p.add_argument("--broker-in-flight", type=int, default=64, help="publishes awaiting confirmation at once")
    p.add_argument("--crypto-seconds", type=float, help="seconds per RSA operation measured (default 2; quick 1)")
    p.add_argument("--amqp-url", default=AMQP_URL, help="RabbitMQ (default $GATEWAY_AMQP__URL or local guest)")
    p.add_argument(
        "--signature",
        choices=sorted(messages.PROFILES),
        default="signxml",
        help="how the partners sign (default: signxml's defaults; 'gateway': the gateway's own Signer)",
    )
    p.add_argument(
        "--load",
        choices=sorted(LOADS),
        default="risk-alert",
        help="what the senders send: canonical risk alerts (default), CEB311 orders or CEB621 inventories signed "
        "SM2 (the inventories to a wco-dms receiver), DEC-DMS declarations; the latter three to one receiver",
    )
    p.add_argument("--store", choices=("sqlite", "postgres"), default="sqlite", help="the gateway's store")
    p.add_argument("--postgres-url", default=PG_URL, help="PostgreSQL for --store postgres (a schema of the run's)")
    p.add_argument("--no-stack-floor", action="store_true", help="skip the stack floor (aiohttp + aio-pika alone)")
    p.add_argument("--idle-seconds", type=float, default=5.0, help="gateway CPU measured idle, after warm-up")
    p.add_argument("--client-close", action="store_true", help="a new TCP connection for every POST (no keep-alive)")
    p.add_argument("--inbox-close", action="store_true", help="the receivers' inbox answers Connection: close")
    p.add_argument("--profile", action="store_true", help="sample the gateway with py-spy in the max phase")
    p.add_argument("--keep", action="store_true", help="keep the temporary deployment (gateway log, database)")
    p.add_argument("--results", type=Path, default=RESULTS, help="folder for the JSON results")
    return p


def machine_facts(amqp_version: str) -> dict[str, Any]:
    import aiohttp
    import cryptography
    import lxml.etree
    import signxml

    return {
        "nproc": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)),
        "load_average_at_start": [round(v, 2) for v in os.getloadavg()],
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cryptography": cryptography.__version__,
        "openssl": _openssl_version(),
        "lxml": ".".join(map(str, lxml.etree.LXML_VERSION)),
        "signxml": getattr(signxml, "__version__", "?"),
        "aiohttp": aiohttp.__version__,
        "aio_pika": aio_pika.__version__,
        "rabbitmq": amqp_version,
    }


def _openssl_version() -> str:
    from cryptography.hazmat.backends.openssl import backend

    return str(backend.openssl_version_text())


async def _rabbitmq_version(url: str) -> str:
    try:
        connection = await aio_pika.connect(url, timeout=5)
    except Exception as exc:  # reported; the run stops here
        raise SystemExit(f"bench: RabbitMQ at {url} does not answer ({exc}); try `make broker`") from None
    version = connection.transport.connection.server_properties.get("version", b"?")
    await connection.close()
    return version.decode() if isinstance(version, bytes) else str(version)


class Usage:
    """CPU seconds spent by the gateway, the bench process and the broker between two points."""

    def __init__(self, gateway: GatewayProcess) -> None:
        self.gateway = gateway
        self.brokers = broker_pids()
        self._mark = self._now()

    def _now(self) -> tuple[float, float, float, float]:
        broker = sum(cpu_seconds(p) for p in self.brokers)
        return time.perf_counter(), self.gateway.cpu_seconds(), time.process_time(), broker

    def since_mark(self, delivered: int) -> dict[str, Any]:
        wall0, gw0, bench0, broker0 = self._mark
        wall, gw, bench, broker = self._now()
        self._mark = (wall, gw, bench, broker)
        seconds = wall - wall0
        gateway = gw - gw0
        return {
            "wall_seconds": round(seconds, 3),
            "gateway_cpu_seconds": round(gateway, 3),
            "gateway_cores_busy": round(gateway / seconds, 2) if seconds else None,
            "gateway_cpu_ms_per_message": round(1000 * gateway / delivered, 3) if delivered else None,
            "bench_cpu_seconds": round(bench - bench0, 3),
            "broker_cpu_seconds": round(broker - broker0, 3) if self.brokers else None,
        }


async def stack_floor(
    args: argparse.Namespace,
    folder: Path,
    inbox: Inbox,
    warmup: Sequence[messages.Prepared],
    load: Sequence[messages.Prepared],
) -> dict[str, Any]:
    """The stack alone (bench.stack_floor) under the max phase's load: its CPU per delivered message."""
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "bench.stack_floor", "--port", str(port), "--amqp-url", args.amqp_url]
    command += ["--deliver-url", f"{inbox.base_url}/stack-floor"]
    server = GatewayProcess(folder / "none.toml", folder / "stack-floor.log", command=command)
    try:
        server.start()
        await server.wait_ready(base_url)
        print(f"  stack floor: {len(load)} messages, {args.concurrency} clients (closed loop) ...", flush=True)
        sent = await closed_loop(base_url, warmup, 4)
        await inbox.drain(_accepted_ids(sent), args.drain_timeout)
        usage = Usage(server)
        sent = await closed_loop(base_url, load, args.concurrency)
        waited = await inbox.drain(_accepted_ids(sent), args.drain_timeout)
        phase = summarize(sent, inbox, waited)
        phase["usage"] = usage.since_mark(phase["delivered"])
        phase["memory_kb"] = server.memory()
    finally:
        phase_exit = server.stop()
    phase["exit_code"] = phase_exit
    return phase


async def _store_url(args: argparse.Namespace, stack: contextlib.AsyncExitStack) -> str:
    """The gateway's store: SQLite in the run's folder, or a PostgreSQL schema of its own (dropped after)."""
    if args.store == "sqlite":
        return "sqlite:///state/gateway.db"
    import asyncpg
    from yarl import URL

    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(args.postgres_url, timeout=10)
    await admin.execute(f'CREATE SCHEMA "{schema}"')

    async def drop() -> None:
        await admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await admin.close()

    stack.push_async_callback(drop)
    return str(URL(args.postgres_url).update_query(search_path=schema))


async def end_to_end(args: argparse.Namespace, folder: Path, pool_workers: int) -> dict[str, Any]:
    async with contextlib.AsyncExitStack() as stack:
        return await _end_to_end(args, folder, pool_workers, await _store_url(args, stack))


async def _end_to_end(args: argparse.Namespace, folder: Path, pool_workers: int, store_url: str) -> dict[str, Any]:
    inbox = Inbox(close_connections=args.inbox_close)
    await inbox.start()
    deployment = make_deployment(
        folder,
        senders=args.senders,
        receivers=args.receivers,
        delivery_base_url=inbox.base_url,
        amqp_url=args.amqp_url,
        store_url=store_url,
        load=LOADS[args.load],
    )
    gateway = GatewayProcess(deployment.config_path, folder / "gateway.log", workers=args.workers)
    template = messages.fitted_template(args.message_bytes)
    senders = [s.id for s in deployment.senders]
    receivers = [r.id for r in deployment.receivers]
    keys = {s.id: (s.key_path, s.cert_path) for s in deployment.senders}
    run_tag = f"B{int(time.time())}"
    result: dict[str, Any] = {"gateway_prefix": deployment.prefix, "senders": senders, "receivers": receivers}
    pool = None
    try:
        pool = messages.signing_pool(template, keys, pool_workers, args.signature, args.load)
        print(f"  signing {args.count + 20} messages as {len(senders)} partners ({args.signature}) ...", flush=True)
        warmup = await messages.sign_all(pool, messages.plan(f"{run_tag}-w", 20, senders, receivers))
        load = await messages.sign_all(pool, messages.plan(f"{run_tag}-m", args.count, senders, receivers))
        result["message_bytes"] = {
            "unsigned": len(template),
            "signed_min": min(len(m.body) for m in load),
            "signed_max": max(len(m.body) for m in load),
        }
        if not args.no_stack_floor:
            # Before the gateway starts: the floor has the machine to itself, as the gateway will have.
            result["stack_floor"] = await stack_floor(args, folder, inbox, warmup[:20], load)
        gateway.start()
        await gateway.wait_ready(deployment.base_url)
        result["gateway_workers_listening"] = await gateway.wait_workers()
        memory = {"ready": gateway.memory()}
        result["gateway_pid"] = gateway.pid
        # CPU spent before the first message (imports, keys, schemas, broker set-up): a check that reads the
        # gateway's total CPU time at the end and divides by the messages counts this too.
        cpu_at_ready = gateway.cpu_seconds()
        result["gateway_cpu_seconds_at_ready"] = round(cpu_at_ready, 3)

        print("  warm-up: 20 messages ...", flush=True)
        sent = await closed_loop(deployment.base_url, warmup, 4)
        await inbox.drain(_accepted_ids(sent), args.drain_timeout)
        result["warmup"] = summarize(sent, inbox, 0.0)
        result["gateway_cpu_seconds_warmup"] = round(gateway.cpu_seconds() - cpu_at_ready, 3)
        memory["after_warmup"] = gateway.memory()
        if args.idle_seconds > 0:  # what the gateway spends doing nothing (timers, polling), per second
            usage = Usage(gateway)
            await asyncio.sleep(args.idle_seconds)
            result["idle"] = usage.since_mark(0)

        result["max_throughput"] = await _max_phase(args, deployment, gateway, inbox, load, folder)
        memory["after_max_phase"] = gateway.memory()
        delivered_per_s = result["max_throughput"]["delivered_per_s"]
        if delivered_per_s > 0:
            steady_rate = round(args.steady_fraction * delivered_per_s, 1)
            count = max(20, round(steady_rate * args.steady_seconds))
            print(f"  signing {count} messages for the steady phase ...", flush=True)
            steady = await messages.sign_all(pool, messages.plan(f"{run_tag}-s", count, senders, receivers))
            print(f"  steady phase: {count} messages at {steady_rate}/s (open loop) ...", flush=True)
            usage = Usage(gateway)
            sent = await open_loop(deployment.base_url, steady, steady_rate, max_connections=512)
            waited = await inbox.drain(_accepted_ids(sent), args.drain_timeout)
            phase = summarize(sent, inbox, waited)
            phase["target_per_s"] = steady_rate
            phase["usage"] = usage.since_mark(phase["delivered"])
            result["steady"] = phase
        memory["after_run"] = gateway.memory()
        result["duplicates_at_receivers"] = inbox.duplicates
        result["gateway_memory_kb"] = memory
    finally:
        code = gateway.stop()
        result["gateway_exit_code"] = code
        result["gateway_log"] = gateway.log_problems()
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
        await inbox.close()
        await _remove_topology(args.amqp_url, deployment)
        if code not in (0, None):
            print(f"  the gateway exited with {code}; its log ends with:\n{gateway.log_tail()}", file=sys.stderr)
    return result


def _accepted_ids(sent: Sequence[Sent]) -> list[str]:
    return [s.gateway_id for s in sent if s.gateway_id and s.status == 202]


async def _max_phase(
    args: argparse.Namespace,
    deployment: BenchDeployment,
    gateway: GatewayProcess,
    inbox: Inbox,
    load: Sequence[messages.Prepared],
    folder: Path,
) -> dict[str, Any]:
    profiler = None
    if args.profile:
        profiler = profile.Profiler(gateway.pid, folder / "profile.txt")
        if not profiler.start():
            print(f"  profile: {profiler.error}", file=sys.stderr)
            profiler = None
        else:
            await asyncio.sleep(0.5)  # let py-spy attach before the load starts
    print(
        f"  max-throughput phase: {len(load)} messages, {args.concurrency} clients (closed loop) ...",
        flush=True,
    )
    usage = Usage(gateway)
    sent = await closed_loop(deployment.base_url, load, args.concurrency)
    waited = await inbox.drain(_accepted_ids(sent), args.drain_timeout)
    phase = summarize(sent, inbox, waited)
    phase["usage"] = usage.since_mark(phase["delivered"])
    phase["concurrency"] = args.concurrency
    if profiler is not None:
        profiler.stop()
        phase["profile"] = _profile_summary(profiler, args)
    return phase


def _profile_summary(profiler: profile.Profiler, args: argparse.Namespace) -> dict[str, Any]:
    if not profiler.output.exists():
        return {"error": profiler.error or "py-spy wrote nothing"}
    args.results.mkdir(parents=True, exist_ok=True)
    kept = args.results / f"{args.stamp}-profile.txt"
    kept.write_bytes(profiler.output.read_bytes())
    return {"collapsed_stacks": str(kept), **profile.summarize(kept)}


async def _remove_topology(amqp_url: str, deployment: BenchDeployment) -> None:
    """Delete the run's exchanges and queues, whatever state the gateway was left in."""
    topology = Topology(deployment.prefix, 20, RETRY_DELAYS)
    try:
        connection = await aio_pika.connect(amqp_url, timeout=10)
    except Exception as exc:  # cleanup must not hide the run's own outcome
        print(f"  could not remove broker names {deployment.prefix}.*: {exc}", file=sys.stderr)
        return
    async with connection:
        channel = await connection.channel()
        await topology.delete(channel, [r.id for r in deployment.receivers])


def _ratios(result: dict[str, Any]) -> dict[str, Any]:
    e2e = result.get("end_to_end", {}).get("max_throughput", {}).get("delivered_per_s", 0.0)
    crypto = result["crypto_floor"]["msgs_per_s"]
    broker = result["broker_floor"]["msgs_per_s"]
    steady = result.get("end_to_end", {}).get("steady", {})
    p99 = steady.get("end_to_end_latency_ms", {}).get("p99")
    ratios = {
        "end_to_end_msgs_per_s": e2e,
        "vs_crypto_floor": round(e2e / crypto, 3) if crypto else None,
        "vs_broker_floor": round(e2e / broker, 3) if broker else None,
    }
    # Issue 15: the gateway's CPU per delivered message over the floors' sum (the stack alone under the same
    # load, plus one RSA-2048 verify and two signs), all measured in this run.
    gateway_ms = (
        result.get("end_to_end", {}).get("max_throughput", {}).get("usage", {}).get("gateway_cpu_ms_per_message")
    )
    stack_ms = result.get("end_to_end", {}).get("stack_floor", {}).get("usage", {}).get("gateway_cpu_ms_per_message")
    crypto_ms = result["crypto_floor"].get("minimum_ms")
    floors_ms = stack_ms + crypto_ms if stack_ms and crypto_ms else None
    ratios["cpu_floors_sum_ms"] = round(floors_ms, 3) if floors_ms else None
    ratios["cpu_vs_floors_sum"] = round(gateway_ms / floors_ms, 2) if floors_ms and gateway_ms else None
    targets = {
        "throughput_at_least_half_crypto_floor": bool(ratios["vs_crypto_floor"] and ratios["vs_crypto_floor"] >= 0.5),
        "p99_under_100ms_at_70_percent": bool(p99 is not None and p99 < 100),
        "cpu_at_most_1_5_floors_sum": bool(ratios["cpu_vs_floors_sum"] and ratios["cpu_vs_floors_sum"] <= 1.5),
    }
    return {"ratios": ratios, "targets": targets}


async def run(args: argparse.Namespace) -> dict[str, Any]:
    # SIGTERM cancels the run like Ctrl-C does, so the finally blocks stop the gateway and clean the broker.
    task = asyncio.current_task()
    assert task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    result: dict[str, Any] = {
        "started": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "mode": "quick" if args.quick else "normal",
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items() if k not in ("stamp",)},
    }
    result["machine"] = machine_facts(await _rabbitmq_version(args.amqp_url))
    print(f"crypto floor: RSA-2048 sign and verify, {args.crypto_seconds:g} s each ...", flush=True)
    result["crypto_floor"] = floors.crypto_floor(args.crypto_seconds)
    if LOADS[args.load].sm2:  # one SM2 verify + one SM2 sign (the receipt) + one RSA sign (the delivery)
        sm2 = floors.sm2_costs(args.crypto_seconds / 2)
        crypto = result["crypto_floor"]
        crypto.update(sm2)
        crypto["minimum_ms"] = round(sm2["sm2_verify_ms"] + sm2["sm2_sign_ms"] + crypto["sign_ms"], 4)
    print(f"broker floor: {args.broker_count} confirmed persistent publishes, then consume+ack ...", flush=True)
    result["broker_floor"] = await floors.broker_floor(
        args.amqp_url, args.broker_count, args.broker_in_flight, args.message_bytes
    )
    print("end to end: the gateway in a subprocess ...", flush=True)
    workers = max(1, min(4, len(os.sched_getaffinity(0))))
    with contextlib.ExitStack() as stack:
        folder = (
            Path(tempfile.mkdtemp(prefix="gateway-bench-"))
            if args.keep
            else Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="gateway-bench-")))
        )
        try:
            result["end_to_end"] = await end_to_end(args, folder, workers)
        finally:
            if args.keep:
                print(f"  deployment kept in {folder}")
    result.update(_ratios(result))
    return result


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    quick = args.quick
    args.count = args.count or (300 if quick else 2000)
    args.steady_seconds = args.steady_seconds or (5.0 if quick else 15.0)
    args.broker_count = args.broker_count or (1500 if quick else 4000)
    args.crypto_seconds = args.crypto_seconds or (1.0 if quick else 2.0)
    args.stamp = dt.datetime.now().strftime("%Y%m%dT%H%M%S")
    load.FRESH_CONNECTIONS = args.client_close
    if LOADS[args.load].routed:
        args.receivers = 1  # a routing rule sends each message to one receiver: one delivery per message
    try:
        result = asyncio.run(run(args))
    except (KeyboardInterrupt, asyncio.CancelledError):
        print("bench: interrupted; the gateway was stopped and the broker names removed", file=sys.stderr)
        return 130
    except GatewayFailed as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 1
    args.results.mkdir(parents=True, exist_ok=True)
    path = args.results / f"{args.stamp}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print_report(result)
    print(f"\nresults: {path}")
    return 0
