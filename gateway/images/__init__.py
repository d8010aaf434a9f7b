"""Images of inspection results by claim check (docs/DESIGN.md 8, "Inspection results with images").

The signed XML carries each image's SHA-256 digest, size and media type (:mod:`gateway.images.manifest`); the
bytes stream into a content-addressed store (:mod:`gateway.images.store`: files on disk, or PostgreSQL when
instances share it) and out to the receiver as ``multipart/related`` parts (:mod:`gateway.images.multipart`).
They never travel through RabbitMQ and are never held whole in memory.
"""

from __future__ import annotations

from pathlib import Path

from gateway.images.store import ImageStore


def open_images(directory: Path, url: str | None) -> ImageStore:
    """The image store of ``[images]``: PostgreSQL when ``url`` is set, else files under ``directory``."""
    if url:
        from gateway.images.store_postgres import PostgresImageStore

        return PostgresImageStore(url)
    from gateway.images.store import FileImageStore

    return FileImageStore(directory)
