"""The printed summary of one run (the JSON file holds everything)."""

from __future__ import annotations

from typing import Any


def _latency(row: dict[str, Any] | None) -> str:
    if not row or not row.get("samples"):
        return "-"
    return f"{row['p50']:>8.1f} {row['p90']:>8.1f} {row['p99']:>8.1f} {row['max']:>8.1f}"


def _mb(kb: dict[str, int] | None, key: str = "VmRSS") -> str:
    return f"{kb[key] / 1024:.1f}" if kb and key in kb else "?"


def print_report(result: dict[str, Any]) -> None:
    machine = result["machine"]
    crypto = result["crypto_floor"]
    broker = result["broker_floor"]
    e2e = result.get("end_to_end", {})
    peak = e2e.get("max_throughput", {})
    steady = e2e.get("steady", {})
    print()
    print(
        f"machine: {machine['nproc']} CPUs, load {machine['load_average_at_start']} at start, Python "
        f"{machine['python']}, {machine['openssl']}, RabbitMQ {machine['rabbitmq']}"
    )
    print()
    print(f"{'floor':<44} {'msgs/s':>10}   detail")
    print(
        f"{'crypto: 1 RSA-2048 verify + 1 sign, 1 core':<44} {crypto['msgs_per_s']:>10.1f}   "
        f"sign {crypto['sign_ms']:.3f} ms, verify {crypto['verify_ms']:.3f} ms"
    )
    print(
        f"{'broker: confirmed publish + consume/ack':<44} {broker['msgs_per_s']:>10.1f}   "
        f"publish {broker['publish_per_s']:.0f}/s ({broker['publishes_in_flight']} in flight), "
        f"consume+ack {broker['consume_ack_per_s']:.0f}/s, {broker['message_bytes']} B"
    )
    stack = e2e.get("stack_floor", {})
    if not peak:
        return
    sizes = e2e.get("message_bytes", {})
    print()
    print(
        f"end to end: {len(e2e['senders'])} senders -> {len(e2e['receivers'])} receivers, messages "
        f"{sizes.get('unsigned')} B unsigned / {sizes.get('signed_min')}-{sizes.get('signed_max')} B signed"
    )
    print(f"{'phase':<34} {'sent':>6} {'202':>6} {'deliv':>6} {'lost':>5} {'acc/s':>8} {'deliv/s':>8}")
    for name, phase in (
        (f"max, closed loop, {peak.get('concurrency')} clients", peak),
        (f"steady, open loop @ {steady.get('target_per_s', 0)}/s", steady),
    ):
        if phase:
            print(
                f"{name:<34} {phase['requests']:>6} {phase['accepted']:>6} {phase['delivered']:>6} "
                f"{phase['lost']:>5} {phase['accepted_per_s']:>8.1f} {phase['delivered_per_s']:>8.1f}"
            )
    print()
    print(f"{'latency, ms':<34} {'p50':>8} {'p90':>8} {'p99':>8} {'max':>8}")
    for name, phase in (("max", peak), ("steady", steady)):
        if phase:
            print(f"{name + ': ingress answer':<34} {_latency(phase.get('ingress_latency_ms'))}")
            print(f"{name + ': POST start -> arrival':<34} {_latency(phase.get('end_to_end_latency_ms'))}")
    for name, phase in (("max", peak), ("steady", steady)):
        if phase and phase.get("not_accepted"):
            print(f"not accepted ({name}): {phase['not_accepted']}")
    usage = peak.get("usage", {})
    print()
    print(
        f"CPU in the max phase: gateway {usage.get('gateway_cores_busy')} cores busy, "
        f"{usage.get('gateway_cpu_ms_per_message')} ms CPU/message; "
        f"bench {usage.get('bench_cpu_seconds')} s, broker {usage.get('broker_cpu_seconds')} s "
        f"over {usage.get('wall_seconds')} s"
    )
    memory = e2e.get("gateway_memory_kb", {})
    print(
        f"gateway RSS MB: ready {_mb(memory.get('ready'))}, after warm-up {_mb(memory.get('after_warmup'))}, "
        f"after max {_mb(memory.get('after_max_phase'))}, after run {_mb(memory.get('after_run'))} "
        f"(peak {_mb(memory.get('after_run'), 'VmHWM')}); duplicates at receivers: "
        f"{e2e.get('duplicates_at_receivers')}"
    )
    problems = e2e.get("gateway_log", {})
    if problems.get("errors") or problems.get("worker_restarts"):
        print(
            f"gateway log: {problems['errors']} errors, {problems['worker_restarts']} worker restarts; "
            f"first: {problems['first_errors'][:1]}"
        )
    ratios = result.get("ratios", {})
    targets = result.get("targets", {})
    _print_cpu_table(result, stack, usage, ratios, targets)
    if "gateway_cpu_seconds_at_ready" in e2e:
        print(
            f"gateway CPU before the first message: {e2e['gateway_cpu_seconds_at_ready']} s (start-up), warm-up "
            f"(20 messages) {e2e.get('gateway_cpu_seconds_warmup')} s: not in the per-message figures"
        )
    idle = e2e.get("idle")
    if idle:
        print(f"gateway idle: {idle.get('gateway_cores_busy')} cores busy over {idle.get('wall_seconds')} s (no load)")
    print()
    print(
        f"ratio end-to-end / crypto floor: {ratios.get('vs_crypto_floor')}  (target >= 0.5: "
        f"{'met' if targets.get('throughput_at_least_half_crypto_floor') else 'not met'})"
    )
    print(f"ratio end-to-end / broker floor: {ratios.get('vs_broker_floor')}")
    p99 = steady.get("end_to_end_latency_ms", {}).get("p99")
    print(
        f"p99 end to end at {steady.get('target_per_s')}/s: {p99} ms  (target < 100 ms: "
        f"{'met' if targets.get('p99_under_100ms_at_70_percent') else 'not met'})"
    )
    prof = peak.get("profile")
    if prof:
        _print_profile(prof)


def _print_cpu_table(
    result: dict[str, Any],
    stack: dict[str, Any],
    usage: dict[str, Any],
    ratios: dict[str, Any],
    targets: dict[str, Any],
) -> None:
    """Issue 15's table: CPU per delivered message of the gateway against both floors, measured in this run."""
    crypto = result["crypto_floor"]
    stack_usage = stack.get("usage", {})
    settings = result.get("settings", {})
    print()
    what = settings.get("load", "risk-alert")
    signed = f"{settings.get('signature')} signatures" if what == "risk-alert" else "its own signatures"
    print(f"CPU per message ({what}, {signed}, store {settings.get('store')}):")
    if stack_usage:
        print(
            f"  stack floor (aiohttp + aio-pika publish/consume + aiohttp POST, no XML/crypto): "
            f"{stack_usage.get('gateway_cpu_ms_per_message')} ms  ({stack.get('delivered_per_s')} deliv/s, lost "
            f"{stack.get('lost')})"
        )
    else:
        print("  stack floor: not measured (--no-stack-floor)")
    minimum = "SM2 verify + SM2 sign + RSA sign" if "sm2_sign_ms" in crypto else "1 RSA-2048 verify + 2 signs"
    floors = ratios.get("cpu_floors_sum_ms")
    print(
        f"  crypto minimum ({minimum}): {crypto.get('minimum_ms')} ms"
        + (f";  floors' sum: {floors} ms" if floors else "")
    )
    gateway = f"  gateway (all its processes): {usage.get('gateway_cpu_ms_per_message')} ms"
    if ratios.get("cpu_vs_floors_sum") is None:
        print(f"{gateway}  (no ratio: the stack floor was not measured)")
        return
    print(
        f"{gateway}  ->  {ratios.get('cpu_vs_floors_sum')}x the floors' sum (goal <= 1.5: "
        f"{'met' if targets.get('cpu_at_most_1_5_floors_sum') else 'not met'})"
    )


def _print_profile(prof: dict[str, Any]) -> None:
    if "error" in prof:
        print(f"\nprofile: {prof['error']}")
        return
    print(f"\nprofile of the gateway in the max phase ({prof['samples']} busy samples): {prof['collapsed_stacks']}")
    for title, key in (
        ("hot spots: innermost gateway function, with the library code it calls", "hot_spots"),
        ("self time (leaf function)", "self"),
        ("inclusive, gateway code", "inclusive_gateway"),
        ("inclusive, libraries", "inclusive_libraries"),
    ):
        print(f"  {title}:")
        for row in prof.get(key, [])[:12]:
            print(f"    {row['percent']:>5.1f}%  {row['function']}")
