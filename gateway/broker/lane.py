"""The fast lane's right of way inside one gateway process (issue 17).

Queues are not the only place an urgent message can wait: ingress and delivery share one event loop, and every
bulk task that is runnable delays the urgent one's next step. :class:`FastLane` counts the urgent work in hand
(messages of ``[fairness] urgent_types`` in the ingress pipeline or being delivered); bulk work about to start
waits until there is none, for ``limit`` seconds at most, so a steady stream of urgent messages slows bulk
traffic down but never stops it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

BULK_YIELD = 1.0  # seconds a bulk step waits for urgent work in hand, at most


class FastLane:
    def __init__(self) -> None:
        self._urgent = 0
        self._clear = asyncio.Event()
        self._clear.set()

    @contextlib.contextmanager
    def urgent(self) -> Iterator[None]:
        """Urgent work in hand while the block runs."""
        self._urgent += 1
        self._clear.clear()
        try:
            yield
        finally:
            self._urgent -= 1
            if not self._urgent:
                self._clear.set()

    async def give_way(self, limit: float = BULK_YIELD) -> None:
        """Before bulk work starts: wait while urgent work is in hand (``limit`` seconds at most)."""
        if self._urgent:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(limit):
                    await self._clear.wait()

    @property
    def in_hand(self) -> int:
        return self._urgent
