"""``python -m bench.fairness``: one partner floods, another sends a risk alert now and then (issue 17).

The real gateway in a subprocess (as ``python -m bench`` runs it: one worker by default, SQLite store, the
RabbitMQ on 127.0.0.1:5672 under a prefix of its own), three partners made for the run:

- ``bench-quiet`` sends canonical risk alerts (``examples/risk-alert.xml``) at ``--quiet-rate`` per second,
  open loop (latency counted from each alert's scheduled send time);
- ``bench-flood`` sends canonical e-commerce orders (``examples/order.xml``), ``--flood`` (3,000) of them from
  ``--flood-clients`` (64) HTTP clients in a closed loop; a refused order (429, 503) is counted, not resent;
- ``bench-rx`` receives both, at an HTTP inbox in this process that notes each arrival.

Phase 1, *alone*: ``--quiet-alone`` alerts, nothing else. Phase 2, *during the flood*: the alerts keep coming
from the first flood POST until the flood's accepted orders have all arrived (its backlog drained). Printed
and written to ``bench/results/fairness-<timestamp>.json``: the quiet partner's POST->delivery p50/p99 in each
phase and their ratio (the goal: p99 during the flood within 5x alone), the flood's answers by status and
outcome, its accepted and delivered rates. Every message is signed before the timed phases.

``--gateway-toml`` appends TOML to the gateway's configuration (e.g. ``"[quotas]\\nrate = 1000"``), and
``--flood-quota`` writes a ``[quota]`` table into the flood partner's file, to compare settings.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import multiprocessing
import os
import sys
import tempfile
import time
import uuid
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import aiohttp
from lxml import etree

from bench.cli import AMQP_URL, RESULTS, _remove_topology, machine_facts
from bench.deployment import GATEWAY_ID, RETRY_DELAYS, BenchDeployment, _identity, free_port
from bench.gateway_process import GatewayFailed, GatewayProcess
from bench.load import Inbox, Sent, closed_loop, post, summarize
from bench.messages import Prepared
from bench.stats import latency_summary
from gateway.security.certificates import load_certificate, load_private_key
from gateway.security.signatures import Signer
from gateway.security.xml import to_bytes

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
ENV = "urn:customs-gateway:envelope:1"
QUIET, FLOOD, RECEIVER = "bench-quiet", "bench-flood", "bench-rx"
TEMPLATES = {QUIET: "risk-alert.xml", FLOOD: "order.xml"}


def _partner(identity_id: str, *, sends: list[str], receives: list[str], url: str | None, extra: str = "") -> str:
    lines = [
        f'id = "{identity_id}"',
        f'name = "Bench partner {identity_id}"',
        'role = "single-window"' if identity_id == FLOOD else 'role = "customs"',
        'country = "NL"',
        'format = "canonical"',
        f'certificates = ["certs/{identity_id}.crt"]',
        f"sends = {json.dumps(sends)}",
        f"receives = {json.dumps(receives)}",
    ]
    if extra:
        lines += ["", extra]
    if url:
        lines += ["", "[delivery]", 'transport = "http"', f'url = "{url}"']
    return "\n".join(lines) + "\n"


def make_deployment(folder: Path, inbox_url: str, amqp_url: str, extra_toml: str, flood_quota: str) -> BenchDeployment:
    prefix = f"bench{uuid.uuid4().hex[:10]}"
    keys, certs = folder / "keys", folder / "partners" / "certs"
    certs.mkdir(parents=True, exist_ok=True)
    _identity(keys, GATEWAY_ID)
    quiet, flood, receiver = (_identity(folder / "partner-keys", n) for n in (QUIET, FLOOD, RECEIVER))
    for identity in (quiet, flood, receiver):
        (certs / f"{identity.id}.crt").write_bytes(identity.cert_path.read_bytes())
    partners = folder / "partners"
    (partners / f"{QUIET}.toml").write_text(_partner(QUIET, sends=["risk-alert"], receives=[], url=None))
    (partners / f"{FLOOD}.toml").write_text(
        _partner(FLOOD, sends=["order"], receives=[], url=None, extra=f"[quota]\n{flood_quota}" if flood_quota else "")
    )
    (partners / f"{RECEIVER}.toml").write_text(
        _partner(RECEIVER, sends=[], receives=["order", "risk-alert"], url=f"{inbox_url}/{RECEIVER}")
    )
    port = free_port()
    delays = ", ".join(str(d) for d in RETRY_DELAYS)
    (folder / "gateway.toml").write_text(
        f"""[gateway]
id = "{GATEWAY_ID}"
signing_key = "keys/{GATEWAY_ID}.key"
signing_cert = "keys/{GATEWAY_ID}.crt"
partners_dir = "partners"

[http]
host = "127.0.0.1"
port = {port}

[amqp]
url = "{amqp_url}"
prefix = "{prefix}"

[store]
url = "sqlite:///state/gateway.db"

[admin]
token_file = "state/admin.token"

[delivery]
retry_delays = [{delays}]
max_attempts = 5

{extra_toml}
"""
    )
    return BenchDeployment(folder, port, prefix, (quiet, flood), (receiver,))


# Worker-process state: a Signer and a template per sender.
_signers: dict[str, Signer] = {}
_templates: dict[str, bytes] = {}


def _init_worker(keys: dict[str, tuple[str, str]]) -> None:
    for sender, (key_path, cert_path) in keys.items():
        _signers[sender] = Signer(load_private_key(Path(key_path)), load_certificate(Path(cert_path)).certificate)
        _templates[sender] = (EXAMPLES / TEMPLATES[sender]).read_bytes()


def _set(root: etree._Element, name: str, value: str) -> None:
    header = root.find(f"{{{ENV}}}Header")
    assert header is not None
    element = header.find(f"{{{ENV}}}{name}")
    if element is None:  # Receiver: after Sender
        sender = header.find(f"{{{ENV}}}Sender")
        assert sender is not None
        element = etree.Element(f"{{{ENV}}}{name}")
        sender.addnext(element)
    element.text = value


def _sign_chunk(jobs: list[tuple[str, str]]) -> list[bytes]:
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    parser = etree.XMLParser(resolve_entities=False, no_network=True, remove_blank_text=True)
    bodies = []
    for sender, message_id in jobs:
        root = etree.fromstring(_templates[sender], parser)
        _set(root, "MessageID", message_id)
        _set(root, "Sender", sender)
        _set(root, "Receiver", RECEIVER)
        _set(root, "CreationDateTime", now)
        bodies.append(to_bytes(_signers[sender].sign(root)))
    return bodies


async def sign(pool: ProcessPoolExecutor, sender: str, tag: str, count: int) -> list[Prepared]:
    jobs = [(sender, f"{tag}-{i:07d}") for i in range(count)]
    loop = asyncio.get_running_loop()
    chunks = [jobs[i : i + 50] for i in range(0, len(jobs), 50)]
    results = await asyncio.gather(*(loop.run_in_executor(pool, _sign_chunk, c) for c in chunks))
    bodies = [b for r in results for b in r]
    return [Prepared(s, RECEIVER, m, b) for (s, m), b in zip(jobs, bodies, strict=True)]


async def quiet_loop(base_url: str, alerts: list[Prepared], per_second: float, stop: asyncio.Event) -> list[Sent]:
    """Alerts at a fixed rate until ``stop`` is set (or they run out); each one in its own task."""
    sent: list[Sent] = []
    tasks: set[asyncio.Task[None]] = set()
    url = f"{base_url}/v1/partners/{QUIET}/messages"

    async def one(session: aiohttp.ClientSession, alert: Prepared, due: float) -> None:
        sent.append(await post(session, url, alert, due))

    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as session:
        begin = time.perf_counter()
        for index, alert in enumerate(alerts):
            if stop.is_set():
                break
            due = begin + index / per_second
            if (delay := due - time.perf_counter()) > 0:
                try:
                    await asyncio.wait_for(stop.wait(), delay)
                    break
                except TimeoutError:
                    pass
            task = asyncio.create_task(one(session, alert, due))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        await asyncio.gather(*tasks)
    return sent


def quiet_summary(sent: list[Sent], inbox: Inbox) -> dict[str, Any]:
    delivered = [s for s in sent if s.status == 202 and s.gateway_id in inbox.arrivals]
    return {
        "sent": len(sent),
        "answers": dict(Counter(f"{s.status} {s.outcome}" for s in sent)),
        "delivered": len(delivered),
        "ingress_ms": latency_summary([s.answered - s.start for s in sent if s.status == 202]),
        "post_to_delivery_ms": latency_summary(
            [inbox.arrivals[s.gateway_id] - s.start for s in delivered if s.gateway_id]
        ),
        # How late the bench process itself sent each alert (its one event loop also runs the flood's clients and
        # the receiver's inbox): part of every latency above, not the gateway's doing.
        "generator_lag_ms": latency_summary([max(0.0, s.late) for s in sent]),
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    result: dict[str, Any] = {
        "started": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "machine": machine_facts("?"),
    }
    inbox = Inbox()
    await inbox.start()
    with tempfile.TemporaryDirectory(prefix="gateway-fairness-") as tmp:
        folder = Path(tmp)
        deployment = make_deployment(folder, inbox.base_url, args.amqp_url, args.gateway_toml, args.flood_quota)
        gateway = GatewayProcess(deployment.config_path, folder / "gateway.log", workers=args.workers)
        keys = {s.id: (str(s.key_path), str(s.cert_path)) for s in deployment.senders}
        pool = ProcessPoolExecutor(
            max(1, min(4, len(os.sched_getaffinity(0)))),
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_worker,
            initargs=(keys,),
        )
        tag = f"F{int(time.time())}"
        try:
            gateway.start()
            n_quiet = args.quiet_alone + int(args.quiet_rate * args.max_flood_seconds) + 10
            print(f"signing {n_quiet} alerts and {args.flood} orders ...", flush=True)
            warm = await sign(pool, QUIET, f"{tag}-w", 10)
            alerts = await sign(pool, QUIET, f"{tag}-q", n_quiet)
            orders = await sign(pool, FLOOD, f"{tag}-f", args.flood)
            await gateway.wait_ready(deployment.base_url)
            await gateway.wait_workers()
            sent = await closed_loop(deployment.base_url, warm, 2)
            await inbox.drain([s.gateway_id for s in sent if s.gateway_id], 30)

            print(f"alone: {args.quiet_alone} alerts at {args.quiet_rate}/s ...", flush=True)
            never = asyncio.Event()
            alone = await quiet_loop(deployment.base_url, alerts[: args.quiet_alone], args.quiet_rate, never)
            await inbox.drain([s.gateway_id for s in alone if s.gateway_id], args.drain_timeout)
            result["quiet_alone"] = quiet_summary(alone, inbox)

            print(f"flood: {args.flood} orders from {args.flood_clients} clients, alerts meanwhile ...", flush=True)
            stop = asyncio.Event()
            quiet_task = asyncio.create_task(
                quiet_loop(deployment.base_url, alerts[args.quiet_alone :], args.quiet_rate, stop)
            )
            flood_started = time.perf_counter()
            flood_sent = await closed_loop(deployment.base_url, orders, args.flood_clients)
            flood_posted = time.perf_counter()
            accepted = [s.gateway_id for s in flood_sent if s.status == 202 and s.gateway_id]
            await inbox.drain(accepted, min(args.drain_timeout, args.max_flood_seconds))
            stop.set()
            during = await quiet_task
            await inbox.drain([s.gateway_id for s in during if s.gateway_id], args.drain_timeout)
            flood = summarize(flood_sent, inbox, 0.0)
            flood["posting_seconds"] = round(flood_posted - flood_started, 3)
            flood["clients"] = args.flood_clients
            flood["refused_429"] = sum(1 for s in flood_sent if s.status == 429)
            flood["refused_503"] = sum(1 for s in flood_sent if s.status == 503)
            result["flood"] = flood
            result["quiet_during_flood"] = quiet_summary(during, inbox)
            result["duplicates_at_receivers"] = inbox.duplicates
        finally:
            result["gateway_exit_code"] = gateway.stop()
            result["gateway_log"] = gateway.log_problems()
            pool.shutdown(wait=True, cancel_futures=True)
            await inbox.close()
            await _remove_topology(args.amqp_url, deployment)
    alone_p99 = result["quiet_alone"]["post_to_delivery_ms"]["p99"]
    during_p99 = result["quiet_during_flood"]["post_to_delivery_ms"]["p99"]
    result["p99_ratio_during_vs_alone"] = round(during_p99 / alone_p99, 2) if alone_p99 else None
    result["goal_p99_within_5x"] = bool(
        result["p99_ratio_during_vs_alone"] and result["p99_ratio_during_vs_alone"] <= 5
    )
    return result


def report(result: dict[str, Any]) -> None:
    alone, during, flood = result["quiet_alone"], result["quiet_during_flood"], result["flood"]
    load = result["machine"]["load_average_at_start"]
    print(f"\nfairness (load average at start {load}; the machine is shared)")
    print(f"{'quiet partner POST->delivery':32} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'n':>5}  answers")
    for name, q in (("alone", alone), ("during the flood", during)):
        lat = q["post_to_delivery_ms"]
        print(f"{name:32} {lat['p50']:>8} {lat['p99']:>8} {lat['max']:>8} {lat['samples']:>5}  {q['answers']}")
    lag = during["generator_lag_ms"]
    print(f"bench's own lag sending the alerts during the flood: p50 {lag['p50']} ms, p99 {lag['p99']} ms")
    print(f"p99 during / alone: {result['p99_ratio_during_vs_alone']} (goal <= 5: {result['goal_p99_within_5x']})")
    print(
        f"flood: {flood['requests']} POSTs in {flood['posting_seconds']} s, accepted {flood['accepted']} "
        f"({flood['accepted_per_s']}/s), delivered {flood['delivered']} ({flood['delivered_per_s']}/s), "
        f"429: {flood['refused_429']}, 503: {flood['refused_503']}, other refusals: {flood['not_accepted']}"
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.fairness", description=__doc__)
    p.add_argument("--flood", type=int, default=3000, help="orders the flooding partner sends")
    p.add_argument("--flood-clients", type=int, default=64, help="its HTTP clients (requests in flight)")
    p.add_argument("--quiet-rate", type=float, default=4.0, help="risk alerts per second from the quiet partner")
    p.add_argument("--quiet-alone", type=int, default=40, help="alerts in the phase without the flood")
    p.add_argument("--max-flood-seconds", type=float, default=120.0, help="longest the flood phase may last")
    p.add_argument("--drain-timeout", type=float, default=60.0)
    p.add_argument("--workers", type=int, help="gateway processes (default: its own)")
    p.add_argument("--gateway-toml", default="", help="TOML appended to the gateway's configuration")
    p.add_argument("--flood-quota", default="", help="the flood partner's [quota] table body, e.g. 'rate = 50'")
    p.add_argument("--amqp-url", default=AMQP_URL)
    p.add_argument("--results", type=Path, default=RESULTS)
    args = p.parse_args(argv)
    try:
        result = asyncio.run(run(args))
    except GatewayFailed as exc:
        print(f"bench.fairness: {exc}", file=sys.stderr)
        return 1
    report(result)
    args.results.mkdir(parents=True, exist_ok=True)
    path = args.results / f"fairness-{dt.datetime.now().strftime('%Y%m%dT%H%M%S')}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written to {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
