"""The content-addressed image store: one small protocol, files on disk by default (PostgreSQL in
:mod:`gateway.images.store_postgres`; an S3-compatible store would implement the same five methods).

An image is written to a *staging* area while it streams in and its SHA-256 is computed on the way; only
:meth:`Staged.commit` files it under its digest, so a message refused half-way (a bad part) leaves nothing
stored for good. Each message that refers to an image holds a reference (``keep``); :meth:`ImageStore.release`
drops a message's references and removes the images no other message refers to, and :meth:`ImageStore.expire`
does that for messages older than the retention.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import os
import re
import uuid
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import Protocol

from gateway.errors import Unavailable

CHUNK = 256 * 1024  # bytes read from the store at a time
_DIGEST = re.compile(r"[0-9a-f]{64}")
_MESSAGE = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


@contextlib.asynccontextmanager
async def closing(chunks: AsyncIterator[bytes]) -> AsyncIterator[AsyncIterator[bytes]]:
    """``chunks``, closed on the way out (an upload the receiver cut short leaves a stream of chunks half-read:
    an async generator left so holds its file open until the garbage collector finds it)."""
    try:
        yield chunks
    finally:
        aclose = getattr(chunks, "aclose", None)
        if aclose is not None:
            await aclose()


class ImageMissing(LookupError):
    """The store holds no image with that digest (never stored, or removed by retention)."""


class Staged(Protocol):
    """An image being written: chunks in, then commit (filed under its digest) or discard (gone)."""

    size: int

    async def write(self, chunk: bytes) -> None: ...

    @property
    def sha256(self) -> str: ...

    async def commit(self) -> str:
        """File the bytes under their SHA-256 (hex, returned); an image already stored is kept as it is."""
        ...

    async def discard(self) -> None: ...


class ImageStore(Protocol):
    name: str

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def stage(self) -> Staged: ...

    def read(self, sha256: str) -> AsyncIterator[bytes]:
        """The image's bytes in chunks of at most :data:`CHUNK` (ImageMissing when it is not stored)."""
        ...

    async def size(self, sha256: str) -> int | None: ...

    async def keep(self, message_id: str, digests: Iterable[str]) -> None:
        """Record that ``message_id`` refers to these (committed) images."""
        ...

    async def release(self, message_id: str) -> int:
        """Drop the message's references; remove images no message refers to any more. Returns how many."""
        ...

    async def expire(self, before: dt.datetime) -> int:
        """:meth:`release` every message whose references were recorded before ``before``."""
        ...


def check_digest(sha256: str) -> str:
    if not _DIGEST.fullmatch(sha256):
        raise ValueError(f"not a hex SHA-256 digest: {sha256[:80]!r}")
    return sha256


def check_message_id(message_id: str) -> str:
    if not _MESSAGE.match(message_id):
        raise ValueError(f"not a message id: {message_id[:80]!r}")
    return message_id


class _FileStaged:
    def __init__(self, store: FileImageStore) -> None:
        self._store = store
        self._path = store.root / "staging" / uuid.uuid4().hex
        try:
            self._file = self._path.open("xb")
        except OSError as exc:
            raise Unavailable(f"the image store cannot take an image now: {exc}") from exc
        self._hash = hashlib.sha256()
        self.size = 0

    async def write(self, chunk: bytes) -> None:
        self._hash.update(chunk)
        try:
            self._file.write(chunk)
        except OSError as exc:  # disk full, I/O error: nothing accepted, the sender tries again later
            raise Unavailable(f"the image store cannot take the image now: {exc}") from exc
        self.size += len(chunk)

    @property
    def sha256(self) -> str:
        return self._hash.hexdigest()

    async def commit(self) -> str:
        digest = self.sha256
        target = self._store.blob(digest)
        file = self._file

        def settle() -> None:
            file.flush()
            os.fsync(file.fileno())
            file.close()
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(self._path, target)  # same content under the same name: replacing is harmless

        try:
            await asyncio.to_thread(settle)
        except OSError as exc:
            raise Unavailable(f"the image store cannot file the image now: {exc}") from exc
        return digest

    async def discard(self) -> None:
        self._file.close()
        self._path.unlink(missing_ok=True)


class FileImageStore:
    """Images as files under ``root``: ``sha256/ab/<digest>``; references as empty files
    ``refs/<digest>/<message id>`` (an image without any is removed) and, per message, ``messages/<message id>``
    listing its digests (its modification time is the recording time retention counts from)."""

    name = "files"

    def __init__(self, root: Path) -> None:
        self.root = root

    async def open(self) -> None:
        for sub in ("staging", "sha256", "refs", "messages"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        # What a crash left half-written is of no use to anyone.
        for leftover in (self.root / "staging").iterdir():
            leftover.unlink(missing_ok=True)

    async def close(self) -> None:
        return None

    def blob(self, sha256: str) -> Path:
        check_digest(sha256)
        return self.root / "sha256" / sha256[:2] / sha256

    async def stage(self) -> Staged:
        return _FileStaged(self)

    async def read(self, sha256: str) -> AsyncIterator[bytes]:
        try:
            file = self.blob(sha256).open("rb")
        except FileNotFoundError:
            raise ImageMissing(f"image sha256:{sha256} is not in the store") from None
        with file:
            while chunk := file.read(CHUNK):
                yield chunk

    async def size(self, sha256: str) -> int | None:
        try:
            return self.blob(sha256).stat().st_size
        except FileNotFoundError:
            return None

    async def keep(self, message_id: str, digests: Iterable[str]) -> None:
        # No await in here nor in release(): within one process they cannot interleave.
        check_message_id(message_id)
        listed = [check_digest(d) for d in digests]
        for digest in listed:
            refs = self.root / "refs" / digest
            refs.mkdir(parents=True, exist_ok=True)
            (refs / message_id).touch()
        (self.root / "messages" / message_id).write_text("\n".join(listed) + "\n")
        # Retention may have removed an image between its commit and now (the same bytes, kept by a message that
        # just expired): then this message cannot be accepted now; the sender sends it again.
        missing = [d for d in listed if not self.blob(d).exists()]
        if missing:
            await self.release(message_id)
            raise Unavailable(f"image sha256:{missing[0]} was removed while this message was accepted; send again")

    async def release(self, message_id: str) -> int:
        check_message_id(message_id)
        listing = self.root / "messages" / message_id
        try:
            digests = listing.read_text().split()
        except FileNotFoundError:
            return 0
        removed = 0
        for digest in digests:
            refs = self.root / "refs" / check_digest(digest)
            (refs / message_id).unlink(missing_ok=True)
            try:
                refs.rmdir()  # only when no other message refers to the image
            except OSError:
                continue
            self.blob(digest).unlink(missing_ok=True)
            removed += 1
        listing.unlink(missing_ok=True)
        return removed

    async def expire(self, before: dt.datetime) -> int:
        limit = before.timestamp()
        removed = 0
        for listing in list((self.root / "messages").iterdir()):
            if listing.stat().st_mtime < limit:
                removed += await self.release(listing.name)
        return removed
