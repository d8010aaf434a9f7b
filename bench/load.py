"""Load generation and the receivers' inbox, both in the bench process, on one clock (``perf_counter``).

closed loop: C clients, each POSTs its next message as soon as the previous one is answered (max throughput).
open loop: messages leave at a fixed rate whether or not earlier ones were answered; latency is counted
    from the *scheduled* send time, so a stalled gateway cannot hide its queueing (no coordinated omission).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

from bench.messages import Prepared
from bench.stats import latency_summary, rate


@dataclass
class Inbox:
    """Every receiver's delivery URL: first arrival time per gateway message id, and duplicates."""

    arrivals: dict[str, float] = field(default_factory=dict)
    duplicates: int = 0
    unidentified: int = 0
    runner: web.AppRunner | None = None
    base_url: str = ""
    close_connections: bool = False  # answer "Connection: close", as a one-request-per-connection receiver does

    async def handle(self, request: web.Request) -> web.Response:
        await request.read()
        now = time.perf_counter()
        gateway_id = request.headers.get("X-Gateway-Message-Id")
        if not gateway_id:
            self.unidentified += 1
        elif gateway_id in self.arrivals:
            self.duplicates += 1  # at-least-once delivery: allowed, counted
        else:
            self.arrivals[gateway_id] = now
        response = web.Response(text="ok")
        if self.close_connections:
            response.force_close()
        return response

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/inbox/{receiver}", self.handle)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]
        self.base_url = f"http://127.0.0.1:{port}/inbox"

    async def close(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()

    async def drain(self, ids: Sequence[str], patience: float) -> float:
        """Wait until every id has arrived or ``patience`` seconds passed; returns the seconds waited."""
        started = time.perf_counter()
        missing = [i for i in ids if i not in self.arrivals]
        while missing and time.perf_counter() - started < patience:
            await asyncio.sleep(0.05)
            missing = [i for i in missing if i not in self.arrivals]
        return time.perf_counter() - started


@dataclass
class Sent:
    start: float  # when the POST started (closed loop) or was due (open loop)
    answered: float
    status: int  # 0: no HTTP answer
    outcome: str  # X-Gateway-Outcome, or the client-side error
    gateway_id: str | None
    late: float = 0.0  # open loop: how late the POST actually started (the load generator's own lag)


async def post(session: aiohttp.ClientSession, url: str, message: Prepared, due: float | None = None) -> Sent:
    start = time.perf_counter()
    try:
        async with session.post(url, data=message.body, headers={"Content-Type": "application/xml"}) as response:
            await response.read()
            status, outcome = response.status, response.headers.get("X-Gateway-Outcome", "")
            gateway_id = response.headers.get("X-Gateway-Message-Id")
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        status, outcome, gateway_id = 0, type(exc).__name__, None
    answered = time.perf_counter()
    if due is None:
        return Sent(start, answered, status, outcome, gateway_id)
    return Sent(due, answered, status, outcome, gateway_id, late=start - due)


# A new TCP connection for every POST (``--client-close``), as a sender without keep-alive does (curl in a loop).
FRESH_CONNECTIONS = False


def _session(connections: int) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=connections, force_close=FRESH_CONNECTIONS),
        timeout=aiohttp.ClientTimeout(total=120),
    )


async def closed_loop(base_url: str, messages: Sequence[Prepared], concurrency: int) -> list[Sent]:
    sent: list[Sent] = []
    queue = iter(messages)

    async def client(session: aiohttp.ClientSession) -> None:
        for message in queue:  # one shared iterator: next() never awaits, so no message is taken twice
            sent.append(await post(session, f"{base_url}/v1/partners/{message.sender}/messages", message))

    async with _session(concurrency) as session:
        await asyncio.gather(*(client(session) for _ in range(concurrency)))
    return sent


async def open_loop(base_url: str, messages: Sequence[Prepared], per_second: float, max_connections: int) -> list[Sent]:
    sent: list[Sent] = []
    tasks: set[asyncio.Task[None]] = set()

    async def one(session: aiohttp.ClientSession, message: Prepared, due: float) -> None:
        sent.append(await post(session, f"{base_url}/v1/partners/{message.sender}/messages", message, due))

    async with _session(max_connections) as session:
        begin = time.perf_counter()
        for index, message in enumerate(messages):
            due = begin + index / per_second
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            task = asyncio.create_task(one(session, message, due))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        await asyncio.gather(*tasks)
    return sent


def summarize(sent: Sequence[Sent], inbox: Inbox, drained_s: float) -> dict[str, Any]:
    """Rates, latencies, refusals and losses of one phase."""
    if not sent:
        return {"requests": 0}
    first = min(s.start for s in sent)
    accepted = [s for s in sent if s.status == 202 and s.gateway_id]
    delivered = [s for s in accepted if s.gateway_id in inbox.arrivals]
    arrivals = [inbox.arrivals[s.gateway_id] for s in delivered if s.gateway_id]
    last_answer = max((s.answered for s in accepted), default=first)
    last_arrival = max(arrivals, default=first)
    refused = Counter(f"{s.status} {s.outcome}".strip() for s in sent if s.status != 202)
    result: dict[str, Any] = {
        "requests": len(sent),
        "accepted": len(accepted),
        "delivered": len(delivered),
        "lost": len(accepted) - len(delivered),
        "not_accepted": dict(refused),
        "accepted_per_s": rate(len(accepted), last_answer - first),
        "delivered_per_s": rate(len(delivered), last_arrival - first),
        "ingress_seconds": round(last_answer - first, 3),
        "end_to_end_seconds": round(last_arrival - first, 3),
        "drain_wait_seconds": round(drained_s, 3),
        "ingress_latency_ms": latency_summary([s.answered - s.start for s in accepted]),
        "end_to_end_latency_ms": latency_summary(
            [inbox.arrivals[s.gateway_id] - s.start for s in delivered if s.gateway_id]
        ),
    }
    if any(s.late for s in sent):
        result["generator_lag_ms"] = latency_summary([max(0.0, s.late) for s in sent])
    return result
