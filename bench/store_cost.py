"""The store's CPU per message, in-process (issue 15): what one accepted and delivered message asks of it.

``python -m bench.store_cost [--store sqlite|postgres] [--at-once N] [--messages N]`` runs, per message, the
calls ingress and delivery make: claim, accept (with a 4.5 KB receipt and a 3 KB canonical envelope),
delivered_to, record_delivery(delivering), record_delivery(delivered), with N messages in flight at once, on
uvloop, and prints the process CPU time per message. No broker, no HTTP, no XML: the store alone, so that a
change to it can be measured on a shared machine where end-to-end figures drift by 10-15 % between runs.
SQLite in a temporary folder; PostgreSQL in a schema of its own on ``--postgres-url``, dropped afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

from gateway.store import Status, Store, open_store

PG_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


async def one(store: Store, n: int) -> None:
    message_id = f"gw-{n}"
    await store.claim(message_id, "bench-tx-1", f"m-{n}", "risk-alert", "d" * 64)
    await store.accept(message_id, ("bench-rx-1",), b"r" * 4500, b"c" * 3000)
    await store.delivered_to(message_id, "bench-rx-1")
    await store.record_delivery(message_id, "bench-rx-1", Status.DELIVERING, attempt=1)
    await store.record_delivery(message_id, "bench-rx-1", Status.DELIVERED, attempt=1, reason="HTTP 200")


@contextlib.asynccontextmanager
async def store_url(kind: str, postgres_url: str) -> AsyncIterator[str]:
    if kind == "sqlite":
        with tempfile.TemporaryDirectory(prefix="gateway-store-cost-") as folder:
            yield f"sqlite:///{Path(folder) / 'gateway.db'}"
        return
    import asyncpg
    from yarl import URL

    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(postgres_url, timeout=10)
    await admin.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield str(URL(postgres_url).update_query(search_path=schema))
    finally:
        await admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await admin.close()


async def measure(kind: str, at_once: int, messages: int, postgres_url: str) -> float:
    """CPU microseconds per message."""
    async with store_url(kind, postgres_url) as url:
        store = open_store(url)
        await store.open()
        try:
            for n in range(50):  # warm: statement caches, pages, the pool
                await one(store, -n - 1)
            window = asyncio.Semaphore(at_once)

            async def guarded(n: int) -> None:
                async with window:
                    await one(store, n)

            started = time.process_time()
            await asyncio.gather(*(guarded(n) for n in range(messages)))
            return (time.process_time() - started) / messages * 1e6
        finally:
            await store.close()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.store_cost", description=__doc__)
    parser.add_argument("--store", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--at-once", type=int, nargs="+", default=[1, 32], help="messages in flight at once")
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--postgres-url", default=PG_URL)
    args = parser.parse_args()
    import uvloop

    for at_once in args.at_once:
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            cpu = runner.run(measure(args.store, at_once, args.messages, args.postgres_url))
        print(f"{args.store}: {at_once:3} at once: {cpu:8.1f} us CPU per message (claim, accept, 3 delivery calls)")


if __name__ == "__main__":
    main()
