"""PostgreSQL for tests: a schema of their own on 127.0.0.1:5432 (user postgres, database test, trust auth),
dropped afterwards; skipped with the reason shown when nothing answers there."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import AsyncIterator, Iterator

import asyncpg
import pytest
from yarl import URL

PG_URL = os.environ.get("GATEWAY_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")


@contextlib.asynccontextmanager
async def postgres_schema() -> AsyncIterator[str]:
    """A fresh schema, dropped afterwards; yields a store URL using it. Skips (visibly) without PostgreSQL."""
    schema = f"gwtest_{uuid.uuid4().hex[:12]}"
    try:
        admin = await asyncpg.connect(PG_URL, timeout=5)
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as exc:
        where = f"{URL(PG_URL).host}:{URL(PG_URL).port}"
        pytest.skip(f"PostgreSQL not reachable on {where}: {type(exc).__name__}: {exc}")
    try:
        await admin.execute(f'CREATE SCHEMA "{schema}"')
        yield str(URL(PG_URL).update_query(search_path=schema))
    finally:
        await admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await admin.close()


@contextlib.contextmanager
def pg_schema() -> Iterator[str]:
    """The same as :func:`postgres_schema`, for synchronous tests (psycopg)."""
    import psycopg

    schema = f"gwtest_{uuid.uuid4().hex[:12]}"
    try:
        admin = psycopg.connect(PG_URL, autocommit=True, connect_timeout=5)
    except psycopg.Error as exc:
        pytest.skip(f"PostgreSQL not reachable on {URL(PG_URL).host}:{URL(PG_URL).port}: {exc}")
    try:
        admin.execute(f'CREATE SCHEMA "{schema}"')
        yield str(URL(PG_URL).update_query(search_path=schema))
    finally:
        admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        admin.close()
