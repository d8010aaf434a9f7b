"""Reload on change: the partners folder is looked at every few seconds (file names, sizes, mtimes; no new
dependency). A change seen while a file is half edited is refused like any invalid change and looked at again
on the next write."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

log = logging.getLogger(__name__)

Fingerprint = tuple[tuple[str, int, int], ...]


def fingerprint(folder: Path) -> Fingerprint:
    """Partner files and certificates: (name, mtime ns, size). Hidden files (writes in progress) ignored."""
    entries = []
    for path in [*folder.glob("*.toml"), *(folder / "certs").glob("*")]:
        if path.name.startswith("."):
            continue
        try:
            stat = path.stat()
        except FileNotFoundError:  # removed while we looked: the next look sees it gone
            continue
        entries.append((str(path.relative_to(folder)), stat.st_mtime_ns, stat.st_size))
    return tuple(sorted(entries))


class FolderWatcher:
    def __init__(
        self,
        folder: Path,
        interval: float,
        on_change: Callable[[], Awaitable[object]],
        on_tick: Callable[[], object] = lambda: None,
    ) -> None:
        self.folder = folder
        self.interval = interval
        self.on_change = on_change
        self.on_tick = on_tick
        self.seen = fingerprint(folder)

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                self.on_tick()
                current = fingerprint(self.folder)
                if current != self.seen:
                    # Remember it before loading: a refused change is not tried again until the files change.
                    self.seen = current
                    await self.on_change()
            except asyncio.CancelledError:
                raise
            except Exception:  # the watcher must outlive any one bad look at the folder
                log.exception("checking %s for partner changes failed", self.folder)
