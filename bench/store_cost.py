"""The store's CPU per message, in-process (issue 15): what one accepted and delivered message asks of it.

``python -m bench.store_cost [--store sqlite|postgres] [--at-once N] [--messages N]`` runs, per message, the
calls ingress and delivery make: claim, accept (with a 4.5 KB receipt and a 3 KB canonical envelope),
start_delivery, record_delivery(delivered), with N messages in flight at once, on uvloop, and prints the
process CPU time per message. ``--separate`` makes the delivery calls as the worker did before
``Store.start_delivery`` (delivered_to, record_delivery(delivering), record_delivery(delivered)), so that
older trees can be measured too. No broker, no HTTP, no XML: the store alone, so that a
change to it can be measured on a shared machine where end-to-end figures drift by 10-15 % between runs.
SQLite in a temporary folder; PostgreSQL in a schema of its own on ``--postgres-url``, dropped afterwards.

``--round-trips`` (PostgreSQL) talks to the database through a counting proxy in the process and prints the
round trips per message instead of the CPU (the proxy costs CPU too): a round trip is a burst of bytes from a
connection to the server that follows an answer (a pipelined batch is one). At one message at a time it also
prints them per store call.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

from yarl import URL

from gateway.store import Status, Store, open_store

PG_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


CALLS = ("claim", "accept", "start_delivery", "record_delivery(delivered)")
SEPARATE = ("claim", "accept", "delivered_to", "record_delivery(delivering)", "record_delivery(delivered)")


class RoundTrips:
    """A TCP proxy to PostgreSQL that counts, per connection, the bursts a client sends after an answer."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.count = 0
        self.server: asyncio.Server | None = None

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port: int = self.server.sockets[0].getsockname()[1]
        return port

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()

    async def _serve(self, client_in: asyncio.StreamReader, client_out: asyncio.StreamWriter) -> None:
        server_in, server_out = await asyncio.open_connection(self.host, self.port)
        answered = [True]  # the first bytes a client sends start a round trip

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter, from_client: bool) -> None:
            try:
                while data := await src.read(65536):
                    if from_client and answered[0]:
                        self.count += 1
                    answered[0] = not from_client
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                dst.close()

        await asyncio.gather(pump(client_in, server_out, True), pump(server_in, client_out, False))


async def one(
    store: Store,
    n: int,
    per_call: dict[str, int] | None = None,
    trips: RoundTrips | None = None,
    *,
    separate: bool = False,
) -> None:
    message_id = f"gw-{n}"
    received = (
        lambda: store.claim(message_id, "bench-tx-1", f"m-{n}", "risk-alert", "d" * 64),
        lambda: store.accept(message_id, ("bench-rx-1",), b"r" * 4500, b"c" * 3000),
    )
    delivered = lambda: store.record_delivery(  # noqa: E731 - one of a list of calls
        message_id, "bench-rx-1", Status.DELIVERED, attempt=1, reason="HTTP 200"
    )
    if separate:
        sending: tuple[Callable[[], Awaitable[object]], ...] = (
            lambda: store.delivered_to(message_id, "bench-rx-1"),
            lambda: store.record_delivery(message_id, "bench-rx-1", Status.DELIVERING, attempt=1),
        )
    else:
        sending = (lambda: store.start_delivery(message_id, "bench-rx-1", attempt=1),)
    calls = (*received, *sending, delivered)
    for name, call in zip(SEPARATE if separate else CALLS, calls, strict=True):
        before = trips.count if trips else 0
        await call()
        if per_call is not None and trips is not None:
            per_call[name] = per_call.get(name, 0) + trips.count - before


@contextlib.asynccontextmanager
async def store_url(kind: str, postgres_url: str) -> AsyncIterator[str]:
    if kind == "sqlite":
        with tempfile.TemporaryDirectory(prefix="gateway-store-cost-") as folder:
            yield f"sqlite:///{Path(folder) / 'gateway.db'}"
        return
    import asyncpg

    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(postgres_url, timeout=10)
    await admin.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield str(URL(postgres_url).update_query(search_path=schema))
    finally:
        await admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await admin.close()


async def measure(
    kind: str,
    at_once: int,
    messages: int,
    postgres_url: str,
    trips: RoundTrips | None = None,
    *,
    separate: bool = False,
) -> tuple[float, dict[str, int]]:
    """CPU microseconds per message (or round trips per message, with ``trips``), and the round trips per call
    (with ``trips`` and one at a time)."""
    async with store_url(kind, postgres_url) as url:
        if trips is not None:
            url = str(URL(url).with_host("127.0.0.1").with_port(await trips.start()))
        store = open_store(url)
        await store.open()
        try:
            for n in range(50):  # warm: statement caches, pages, the pool
                await one(store, -n - 1, separate=separate)
            window = asyncio.Semaphore(at_once)
            per_call: dict[str, int] = {}

            async def guarded(n: int) -> None:
                async with window:
                    await one(store, n, per_call if at_once == 1 else None, trips, separate=separate)

            started, counted = time.process_time(), trips.count if trips else 0
            await asyncio.gather(*(guarded(n) for n in range(messages)))
            if trips is not None:
                return (trips.count - counted) / messages, per_call
            return (time.process_time() - started) / messages * 1e6, per_call
        finally:
            await store.close()
            if trips is not None:
                await trips.stop()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.store_cost", description=__doc__)
    parser.add_argument("--store", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--at-once", type=int, nargs="+", default=[1, 32], help="messages in flight at once")
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--postgres-url", default=PG_URL)
    parser.add_argument("--round-trips", action="store_true", help="count round trips to PostgreSQL instead")
    parser.add_argument("--separate", action="store_true", help="delivered_to + record_delivery, not start_delivery")
    args = parser.parse_args()
    if args.round_trips and args.store != "postgres":
        parser.error("--round-trips counts PostgreSQL's round trips: add --store postgres")
    import uvloop

    calls = "claim, accept, " + ("3 delivery calls" if args.separate else "start_delivery, record_delivery")
    for at_once in args.at_once:
        trips = None
        if args.round_trips:
            target = URL(args.postgres_url)
            trips = RoundTrips(target.host or "127.0.0.1", target.port or 5432)
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            figure, per_call = runner.run(
                measure(args.store, at_once, args.messages, args.postgres_url, trips, separate=args.separate)
            )
        if trips is None:
            print(f"{args.store}: {at_once:3} at once: {figure:8.1f} us CPU per message ({calls})")
            continue
        print(f"{args.store}: {at_once:3} at once: {figure:6.2f} round trips per message")
        for name, count in per_call.items():
            print(f"    {name:28} {count / args.messages:6.2f}")


if __name__ == "__main__":
    main()
