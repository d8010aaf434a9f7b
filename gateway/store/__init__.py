"""The store: message status, duplicate keys and the audit trail, behind one interface."""

from __future__ import annotations

from gateway.errors import ConfigError
from gateway.store.base import Event, MessageRecord, Status, Store


def open_store(url: str, sqlite_path: object = None) -> Store:
    """The store for a ``[store] url``: ``sqlite:///path`` (default) or ``postgresql://user@host/db``."""
    from pathlib import Path

    if url.startswith("sqlite:///"):
        from gateway.store.sqlite import SqliteStore

        return SqliteStore(Path(str(sqlite_path)) if sqlite_path else Path(url.removeprefix("sqlite:///")))
    if url.startswith(("postgresql://", "postgres://")):
        from gateway.store.postgres import PostgresStore

        return PostgresStore(url)
    raise ConfigError(
        f"store.url: unsupported store {url.split(':', 1)[0]!r}; allowed: sqlite:///PATH, postgresql://USER@HOST/DB"
    )


__all__ = ["Event", "MessageRecord", "Status", "Store", "open_store"]
