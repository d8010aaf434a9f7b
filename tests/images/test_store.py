"""The content-addressed image store, on files and on PostgreSQL: staged bytes are stored only on commit, under
their SHA-256; a message's references keep an image; releasing the last one removes it; retention expires them."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from collections.abc import AsyncIterator

import pytest

from gateway.images import open_images
from gateway.images.store import CHUNK, ImageMissing, ImageStore
from tests.store.support import postgres_schema


@pytest.fixture(params=["files", "postgresql"])
async def images(request: pytest.FixtureRequest, tmp_path) -> AsyncIterator[ImageStore]:
    if request.param == "files":
        store = open_images(tmp_path / "images", None)
        await store.open()
        yield store
        await store.close()
        return
    async with postgres_schema() as url:
        store = open_images(tmp_path, url)
        await store.open()
        yield store
        await store.close()


async def _put(store: ImageStore, data: bytes, piece: int = 100_000) -> str:
    staged = await store.stage()
    for start in range(0, len(data), piece):
        await staged.write(data[start : start + piece])
    return await staged.commit()


async def _read(store: ImageStore, digest: str) -> bytes:
    chunks = [chunk async for chunk in store.read(digest)]
    assert all(len(c) <= max(CHUNK, 1024 * 1024) for c in chunks)
    return b"".join(chunks)


async def test_committed_image_is_stored_under_its_sha256(images):
    data = b"\x89PNG\r\n\x1a\n" + os.urandom(3_000_000)
    digest = await _put(images, data)
    assert digest == hashlib.sha256(data).hexdigest()
    assert await images.size(digest) == len(data)
    assert await _read(images, digest) == data


async def test_discarded_image_leaves_nothing(images):
    data = os.urandom(500_000)
    staged = await images.stage()
    await staged.write(data)
    assert staged.sha256 == hashlib.sha256(data).hexdigest()
    await staged.discard()
    digest = hashlib.sha256(data).hexdigest()
    assert await images.size(digest) is None
    with pytest.raises(ImageMissing, match=digest):
        await _read(images, digest)


async def test_the_same_image_twice_is_stored_once_and_removed_with_its_last_message(images):
    data = os.urandom(200_000)
    first, second = await _put(images, data), await _put(images, data)
    assert first == second
    await images.keep("msg-a", [first])
    await images.keep("msg-b", [first])
    assert await images.release("msg-a") == 0  # msg-b still refers to it
    assert await _read(images, first) == data
    assert await images.release("msg-b") == 1
    assert await images.size(first) is None
    assert await images.release("msg-b") == 0  # released twice: nothing more to do


async def test_retention_removes_the_images_of_old_messages(images):
    old, new = await _put(images, os.urandom(1000)), await _put(images, os.urandom(1000))
    await images.keep("old-message", [old])
    cutoff = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1)
    if hasattr(images, "root"):  # files: the listing's modification time is the recording time
        listing = images.root / "messages" / "old-message"
        past = cutoff.timestamp() - 10
        os.utime(listing, (past, past))
        await images.keep("new-message", [new])
        os.utime(images.root / "messages" / "new-message", (cutoff.timestamp() + 10,) * 2)
    else:
        await images.pool.execute("UPDATE image_refs SET recorded = now() - interval '10 days'")
        await images.keep("new-message", [new])
        cutoff = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    assert await images.expire(cutoff) == 1
    assert await images.size(old) is None
    assert await images.size(new) == 1000


async def test_bad_digest_or_message_id_is_refused(images):
    with pytest.raises(ValueError, match="not a hex SHA-256"):
        await images.size("../../etc/passwd")
    with pytest.raises(ValueError, match="not a hex SHA-256"):  # `$` alone would let a trailing newline through
        await images.size("0" * 64 + "\n")
    with pytest.raises(ValueError, match="not a message id"):
        await images.keep("../x", [])


async def test_the_retention_sweep_removes_images_older_than_retention_days(tmp_path):
    from gateway.images.retention import Retention

    store = open_images(tmp_path / "images", None)
    await store.open()
    digest = await _put(store, os.urandom(5000))
    await store.keep("msg-old", [digest])
    retention = Retention(store, days=90)
    assert await retention.sweep() == 0  # accepted just now: kept
    assert await retention.sweep(now=dt.datetime.now(dt.UTC) + dt.timedelta(days=91)) == 1
    assert await store.size(digest) is None


async def test_postgresql_drops_staged_chunks_a_crash_left_behind():
    async with postgres_schema() as url:
        store = open_images(__import__("pathlib").Path("."), url)
        await store.open()
        try:
            staged = await store.stage()
            await staged.write(os.urandom(2 * 1024 * 1024 + 10))  # two chunks written, then the "crash"
            pool = getattr(store, "pool")  # noqa: B009 - PostgresImageStore's, not the protocol's
            assert await pool.fetchval("SELECT count(*) FROM image_chunks WHERE key LIKE 'staging:%'") == 2
            await store.expire(dt.datetime.now(dt.UTC))
            assert await pool.fetchval("SELECT count(*) FROM image_chunks WHERE key LIKE 'staging:%'") == 2  # fresh
            await pool.execute("UPDATE image_chunks SET written = now() - interval '2 days'")
            await store.expire(dt.datetime.now(dt.UTC))
            assert await pool.fetchval("SELECT count(*) FROM image_chunks") == 0
        finally:
            await store.close()


async def test_an_image_removed_between_commit_and_keep_refuses_the_message_for_now(tmp_path):
    from gateway.errors import Unavailable
    from gateway.images.store import FileImageStore

    store = FileImageStore(tmp_path / "images")
    await store.open()
    digest = await _put(store, os.urandom(3000))
    store.blob(digest).unlink()  # what a retention sweep of an older message with the same bytes does
    with pytest.raises(Unavailable, match="was removed while this message was accepted"):
        await store.keep("msg-new", [digest])
    assert not (store.root / "messages" / "msg-new").exists()
