"""Partners that send a body slowly, stall, or hang up half-way: the read timeout ([http] body_timeout) cuts
them off, and everyone else is served meanwhile (issue 5, fault test 7; DESIGN.md 7). The slow partner's own
requests beyond its in-flight quota ([quotas] max_in_flight, issue 17) are refused at once with 429."""

from __future__ import annotations

import asyncio
import contextlib
import time

import pytest

from tests.faults.conftest import RECEIVER

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

# The slow partner is another partner than the flow's sender: what one partner does must not cost another.
SLOW = RECEIVER
MAX_IN_FLIGHT = 32  # gateway.toml's default [quotas] max_in_flight
HEAD = (
    f"POST /v1/partners/{SLOW}/messages HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    "Content-Type: application/xml\r\nContent-Length: 1000\r\n\r\n"
).encode()


async def slow_request(port: int, how: str) -> tuple[int | None, str]:
    """One raw HTTP request whose body never completes; returns (status, X-Gateway-Outcome) or (None, "")
    when the gateway closed the connection without an answer."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(HEAD + b"<Env")
    await writer.drain()

    async def trickle() -> None:
        with contextlib.suppress(OSError):
            for _ in range(900):  # one byte every 0.2 s: every read succeeds, the whole body never arrives
                await asyncio.sleep(0.2)
                writer.write(b" ")
                await writer.drain()

    if how == "incomplete":  # hangs up half-way
        writer.close()
        return None, ""
    trickling = asyncio.create_task(trickle()) if how == "trickle" else None
    try:
        async with asyncio.timeout(60):
            status_line = await reader.readline()
            headers = {}
            while (line := await reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.decode().partition(":")
                headers[name.strip().lower()] = value.strip()
    finally:
        if trickling is not None:
            trickling.cancel()
        writer.close()
    if not status_line:
        return None, ""
    return int(status_line.split()[1]), headers.get("x-gateway-outcome", "")


async def test_slow_and_incomplete_bodies_are_cut_off_without_blocking_others(make_flow):
    flow = make_flow(http__body_timeout=2.0, quotas__max_in_flight=MAX_IN_FLIGHT)
    await flow.gateway.start()
    sender = flow.sender(200)
    deadline = time.monotonic() + 90
    slow = [
        asyncio.create_task(slow_request(flow.gateway.port, how))
        for how in ["stall"] * 30 + ["trickle"] * 30 + ["incomplete"] * 20
    ]

    async def nothing() -> None:
        pass

    await flow.run(sender, nothing, deadline=deadline)
    answers = await asyncio.gather(*slow)
    # Everyone else was served: all accepted while 60 bodies hung on the gateway.
    assert len(sender.accepted) == 200
    # The slow partner's bodies were cut off with 400, or refused at once with 429 beyond its in-flight quota.
    assert set(answers[:60]) <= {(400, "malformed-xml"), (429, "rate-limited")}, answers[:60]
    assert 0 < answers[:60].count((400, "malformed-xml")) <= MAX_IN_FLIGHT, answers[:60]
    await flow.finish(sender, deadline=deadline, notes="60 slow + 20 incomplete bodies cut off meanwhile")
    # Hung-up and slow partners are bad input, answered or logged in one line each: never a stack trace.
    log = flow.gateway.log_file.read_text()
    assert "Traceback" not in log, log[log.index("Traceback") - 200 :][:3000]
