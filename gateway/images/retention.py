"""Images follow their message's retention: ``[images] retention_days`` after the message was accepted, its
images are released (removed unless another message still refers to them). One sweep at start, then every
``interval`` seconds; with several instances each sweeps, and the stores make that harmless."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging

from gateway.images.store import ImageStore

log = logging.getLogger(__name__)


class Retention:
    def __init__(self, store: ImageStore, days: float, interval: float = 3600.0) -> None:
        self.store = store
        self.days = days
        self.interval = interval
        self._task: asyncio.Task[None] | None = None

    async def sweep(self, now: dt.datetime | None = None) -> int:
        before = (now or dt.datetime.now(dt.UTC)) - dt.timedelta(days=self.days)
        removed = await self.store.expire(before)
        if removed:
            log.info("image retention: removed %d images of messages accepted before %s", removed, before.isoformat())
        return removed

    def start(self) -> None:
        self._task = asyncio.create_task(self._sweeping(), name="image-retention")

    async def _sweeping(self) -> None:
        while True:
            try:
                await self.sweep()
            except Exception:  # the store down for now: the next sweep tries again
                log.exception("image retention sweep failed")
            await asyncio.sleep(self.interval)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
