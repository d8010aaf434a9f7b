"""Images in PostgreSQL (``[images] url = "postgresql://..."``): for instances that share one store.

Each image is a row of ``image_blobs`` and its bytes are ``image_chunks`` of at most 1 MiB (bytea), read back one
chunk per query, so neither side holds an image whole. A staged image's chunks are written under a key of its
own and moved to the digest in the commit's transaction; an image two instances commit at once is kept once
(``INSERT ... ON CONFLICT DO NOTHING`` on the digest decides which staging becomes it).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from collections.abc import AsyncIterator, Iterable

import asyncpg

from gateway.errors import Unavailable
from gateway.images.store import ImageMissing, Staged, check_digest, check_message_id

PG_CHUNK = 1024 * 1024
# What asyncpg and the network can raise: the image store is down for now (503 at ingress, a requeue in delivery).
DB_ERRORS = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError)
SCHEMA = """
CREATE TABLE IF NOT EXISTS image_blobs (
    digest TEXT PRIMARY KEY,
    size BIGINT NOT NULL,
    stored TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS image_chunks (
    key TEXT NOT NULL,
    seq INTEGER NOT NULL,
    data BYTEA NOT NULL,
    PRIMARY KEY (key, seq)
);
CREATE TABLE IF NOT EXISTS image_refs (
    message_id TEXT NOT NULL,
    digest TEXT NOT NULL REFERENCES image_blobs(digest),
    recorded TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (message_id, digest)
);
ALTER TABLE image_chunks ADD COLUMN IF NOT EXISTS written TIMESTAMPTZ NOT NULL DEFAULT now();
CREATE INDEX IF NOT EXISTS image_refs_digest ON image_refs (digest);
CREATE INDEX IF NOT EXISTS image_refs_recorded ON image_refs (recorded);
"""
_SCHEMA_LOCK = 0x6777_494D  # "gwIM"


class _PgStaged:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        self._key = f"staging:{uuid.uuid4().hex}"
        self._hash = hashlib.sha256()
        self._buffer = bytearray()
        self._seq = 0
        self.size = 0

    @property
    def sha256(self) -> str:
        return self._hash.hexdigest()

    async def write(self, chunk: bytes) -> None:
        self._hash.update(chunk)
        self.size += len(chunk)
        self._buffer += chunk
        while len(self._buffer) >= PG_CHUNK:
            await self._flush(bytes(self._buffer[:PG_CHUNK]))
            del self._buffer[:PG_CHUNK]

    async def _flush(self, data: bytes) -> None:
        try:
            await self._pool.execute(
                "INSERT INTO image_chunks (key, seq, data) VALUES ($1, $2, $3)", self._key, self._seq, data
            )
        except DB_ERRORS as exc:
            raise Unavailable(f"the image store cannot take the image now: {exc}") from exc
        self._seq += 1

    async def commit(self) -> str:
        if self._buffer:
            await self._flush(bytes(self._buffer))
            self._buffer.clear()
        digest = self.sha256
        try:
            async with self._pool.acquire() as connection, connection.transaction():
                created = await connection.fetchval(
                    "INSERT INTO image_blobs (digest, size) VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING digest",
                    digest,
                    self.size,
                )
                if created:
                    await connection.execute("UPDATE image_chunks SET key = $1 WHERE key = $2", digest, self._key)
                else:
                    await connection.execute("DELETE FROM image_chunks WHERE key = $1", self._key)
        except DB_ERRORS as exc:
            raise Unavailable(f"the image store cannot file the image now: {exc}") from exc
        return digest

    async def discard(self) -> None:
        self._buffer.clear()
        await self._pool.execute("DELETE FROM image_chunks WHERE key = $1", self._key)


class PostgresImageStore:
    name = "postgresql"

    def __init__(self, url: str) -> None:
        self.url = url
        self._pool: asyncpg.Pool | None = None

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise Unavailable("the image store is not open")
        return self._pool

    async def open(self) -> None:
        try:
            self._pool = await asyncpg.create_pool(self.url, min_size=1, max_size=8)
        except (OSError, asyncpg.PostgresError) as exc:
            raise Unavailable(f"image store {self.url.split('@')[-1]} unreachable: {exc}") from exc
        async with self.pool.acquire() as connection, connection.transaction():
            await connection.execute("SELECT pg_advisory_xact_lock($1)", _SCHEMA_LOCK)
            await connection.execute(SCHEMA)

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    async def stage(self) -> Staged:
        return _PgStaged(self.pool)

    async def read(self, sha256: str) -> AsyncIterator[bytes]:
        check_digest(sha256)
        if await self.size(sha256) is None:
            raise ImageMissing(f"image sha256:{sha256} is not in the store")
        seq = 0
        while True:
            data = await self.pool.fetchval("SELECT data FROM image_chunks WHERE key = $1 AND seq = $2", sha256, seq)
            if data is None:
                return
            yield bytes(data)
            seq += 1

    async def size(self, sha256: str) -> int | None:
        try:
            value = await self.pool.fetchval("SELECT size FROM image_blobs WHERE digest = $1", check_digest(sha256))
        except DB_ERRORS as exc:
            raise Unavailable(f"the image store does not answer: {exc}") from exc
        return int(value) if value is not None else None

    async def keep(self, message_id: str, digests: Iterable[str]) -> None:
        check_message_id(message_id)
        rows = [(message_id, check_digest(d)) for d in digests]
        try:
            await self.pool.executemany(
                "INSERT INTO image_refs (message_id, digest) VALUES ($1, $2) ON CONFLICT DO NOTHING", rows
            )
        except DB_ERRORS as exc:
            raise Unavailable(f"the image store cannot record the message's images now: {exc}") from exc

    async def release(self, message_id: str) -> int:
        check_message_id(message_id)
        removed = 0
        async with self.pool.acquire() as connection, connection.transaction():
            digests = await connection.fetch(
                "DELETE FROM image_refs WHERE message_id = $1 RETURNING digest", message_id
            )
            for (digest,) in digests:
                # The blob row locked: a message keeping it now waits, then finds it gone (its foreign key fails).
                await connection.execute("SELECT 1 FROM image_blobs WHERE digest = $1 FOR UPDATE", digest)
                if await connection.fetchval("SELECT 1 FROM image_refs WHERE digest = $1 LIMIT 1", digest):
                    continue
                await connection.execute("DELETE FROM image_chunks WHERE key = $1", digest)
                await connection.execute("DELETE FROM image_blobs WHERE digest = $1", digest)
                removed += 1
        return removed

    async def expire(self, before: dt.datetime) -> int:
        """Also drops staged chunks older than a day: what an instance that crashed mid-upload left behind (an
        upload in progress is bounded by ``[images] part_timeout`` per part)."""
        await self.pool.execute(
            "DELETE FROM image_chunks WHERE key LIKE 'staging:%' AND written < now() - interval '1 day'"
        )
        messages = await self.pool.fetch("SELECT DISTINCT message_id FROM image_refs WHERE recorded < $1", before)
        removed = 0
        for (message_id,) in messages:
            removed += await self.release(message_id)
        return removed
