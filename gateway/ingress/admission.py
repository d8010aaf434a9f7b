"""Who gets in, and in which order (issue 17): per-partner quotas, load shedding and the admission queue.

Before a request's body is read (so before any parse or verification):

1. **In flight.** A partner may have ``max_in_flight`` requests handled at once by this process; one more is
   ``429 rate-limited`` (Retry-After 1).
2. **Shedding.** When this process is behind (``[fairness] shed_in_flight`` requests in flight, or the oldest
   message waiting for admission has waited ``shed_wait`` seconds), a partner with at least its fair share of
   what is in flight (total / partners with something in flight) is answered ``503 unavailable``
   (:class:`~gateway.errors.Overloaded`, Retry-After 2): the heaviest senders go first, a partner under its
   share is still served.
3. **Rate.** A token bucket per partner (``rate`` a second, ``burst`` at most), one token per request. The
   bucket is a row in the store (``Store.take_tokens``), shared by every worker and instance using that store.
   A process takes tokens in small leases (``rate`` x 0.1 s, at least 1, at most ``burst``) and uses them for
   at most ``LEASE_SECONDS``; after a take left the bucket without a whole token it refuses locally, without
   asking the store, until the refill makes one (that is exact: other processes only take tokens). So with one
   process the bucket is exact; with P processes a partner can be refused up to (P-1) leases early, or pass up
   to (P-1) leases more than ``burst`` in one instant; never more than ``rate`` over time. Over it:
   ``429 rate-limited`` with Retry-After = the seconds until the next whole token.

After the body is read, :meth:`Admission.slot` lets ``admission_slots`` messages at a time (and as many urgent
ones again, on places of their own) through the pipeline (parse, verify, validate, map, publish); the others
wait, ordered by urgency (a message whose type is in ``urgent_types``, known from the partner's ``sends`` or, for
the canonical envelope, from an unverified peek at ``MessageType``: it only orders the queue), then by how many
requests their partner has in flight (the lighter first), then by arrival. A bulk message also gives way, for a
bounded time, while urgent work is in hand in this process (``gateway.broker.lane``): runnable bulk tasks would
otherwise delay each step of the urgent one.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import math
import re
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from gateway.broker.lane import FastLane
from gateway.config import FairnessSection, QuotaSection
from gateway.errors import Overloaded, RateLimited
from gateway.partners.model import Partner
from gateway.store.base import Store

LEASE_SECONDS = 1.0  # a process uses tokens it took from the shared bucket for at most this long
LEASE_SHARE = 0.1  # seconds of the rate a process takes at once
_MESSAGE_TYPE = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?MessageType>\s*([a-z-]{1,40})\s*<")
_PEEK = 4096  # bytes of a canonical body looked at for its MessageType


@dataclass(frozen=True)
class Quota:
    rate: float  # tokens a second; 0: no rate limit
    burst: int
    max_in_flight: int  # 0: no cap

    @classmethod
    def of(cls, partner: Partner, defaults: QuotaSection) -> Quota:
        own = partner.spec.quota
        return cls(
            defaults.rate if own.rate is None else own.rate,
            defaults.burst if own.burst is None else own.burst,
            defaults.max_in_flight if own.max_in_flight is None else own.max_in_flight,
        )

    @property
    def lease(self) -> int:
        return max(1, min(self.burst, math.ceil(self.rate * LEASE_SHARE)))


@dataclass
class _Lease:
    """This process's tokens of one partner's shared bucket."""

    tokens: int = 0
    taken_at: float = 0.0
    empty_until: float = 0.0  # the shared bucket has no whole token before this (epoch seconds)


def _nothing(partner: str, what: str) -> None:
    return None


class Admission:
    def __init__(
        self,
        store: Store,
        quotas: QuotaSection,
        fairness: FairnessSection,
        *,
        clock: Callable[[], float] = time.time,
        refused: Callable[[str, str], None] = _nothing,  # (partner, "rate" | "in-flight" | "shed")
        in_flight_changed: Callable[[str, int], None] = lambda partner, count: None,
        lane: FastLane | None = None,
    ) -> None:
        self.store = store
        self.quotas = quotas
        self.fairness = fairness
        self.urgent_types = frozenset(fairness.urgent_types)
        self.clock = clock
        self.refused = refused
        self.in_flight_changed = in_flight_changed
        self.lane = lane or FastLane()  # shared with the delivery worker of this process
        self.in_flight: dict[str, int] = {}
        self._leases: dict[str, _Lease] = {}
        self._busy = 0  # admission slots in use
        self._urgent_reserve = 0  # urgent messages in the pipeline on their own places
        self._queue: list[tuple[int, int, int, asyncio.Future[None]]] = []  # (not urgent, in flight, seq, waiter)
        self._since: dict[asyncio.Future[None], float] = {}  # waiter -> when it started waiting (monotonic)
        self._seq = itertools.count()

    # Before the body is read ----------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def enter(self, partner: Partner) -> AsyncIterator[None]:
        """Count the request in flight for its partner while the block runs, or refuse it (RateLimited,
        Overloaded) before anything else is done with it."""
        quota = Quota.of(partner, self.quotas)
        pid = partner.id
        mine = self.in_flight.get(pid, 0)
        if quota.max_in_flight and mine >= quota.max_in_flight:
            self.refused(pid, "in-flight")
            raise RateLimited(
                f"partner {pid} already has {mine} requests in flight on this gateway process, its limit "
                f"(max_in_flight {quota.max_in_flight}); nothing was accepted: send again once one is answered",
                retry_after=1,
            )
        if (reason := self._behind()) and self._heaviest(pid):
            self.refused(pid, "shed")
            raise Overloaded(
                f"the gateway is overloaded ({reason}) and partner {pid} has {mine} of the "
                f"{sum(self.in_flight.values())} requests in flight, its fair share or more; nothing was accepted: "
                "send again shortly"
            )
        self._count(pid, +1)  # before the await: concurrent requests see each other
        try:
            await self._take(pid, quota)
            yield
        finally:
            self._count(pid, -1)

    def _count(self, pid: str, step: int) -> None:
        count = self.in_flight.get(pid, 0) + step
        if count:
            self.in_flight[pid] = count
        else:
            self.in_flight.pop(pid, None)
        self.in_flight_changed(pid, count)

    def _behind(self) -> str | None:
        """Why this process is behind, or None."""
        total = sum(self.in_flight.values())
        if self.fairness.shed_in_flight and total >= self.fairness.shed_in_flight:
            return f"{total} requests in flight, the bound is {self.fairness.shed_in_flight}"
        if self.fairness.shed_wait and self._since:
            waited = time.monotonic() - min(self._since.values())
            if waited >= self.fairness.shed_wait:
                return f"a message has waited {waited:.1f} s for admission, the bound is {self.fairness.shed_wait:g} s"
        return None

    def _heaviest(self, pid: str) -> bool:
        """At least its fair share of the requests in flight; a partner sending one at a time is never shed."""
        mine = self.in_flight.get(pid, 0)
        if mine < 2:
            return False
        return mine * len(self.in_flight) >= sum(self.in_flight.values())

    async def _take(self, pid: str, quota: Quota) -> None:
        if not quota.rate:
            return
        lease = self._leases.setdefault(pid, _Lease())
        now = self.clock()
        if lease.tokens and now - lease.taken_at > LEASE_SECONDS:
            lease.tokens = 0  # unused for too long: the other processes may need the bucket's tokens
        if not lease.tokens:
            if now < lease.empty_until:
                self._rate_limited(pid, quota, lease.empty_until - now)
            taken = await self.store.take_tokens(pid, quota.lease, rate=quota.rate, burst=quota.burst, now=now)
            lease.tokens, lease.taken_at = taken.granted, now
            if taken.granted == 0:
                wait = (1.0 - taken.left) / quota.rate
                lease.empty_until = now + wait
                self._rate_limited(pid, quota, wait)
        lease.tokens -= 1

    def _rate_limited(self, pid: str, quota: Quota, wait: float) -> None:
        self.refused(pid, "rate")
        raise RateLimited(
            f"partner {pid} is over its quota of {quota.rate:g} messages a second (burst {quota.burst}); nothing "
            f"was accepted: send again in {wait:.2f} s",
            retry_after=max(1, math.ceil(wait)),
        )

    # After the body is read --------------------------------------------------------------------------------

    def urgent(self, partner: Partner, body: bytes) -> bool:
        """Whether the message is of an urgent type, as far as can be told without parsing it."""
        sends = partner.spec.sends
        if sends and all(t in self.urgent_types for t in sends):
            return True
        if not any(t in self.urgent_types for t in sends) or partner.format != "canonical":
            return False
        found = _MESSAGE_TYPE.search(body, 0, _PEEK)
        return found is not None and found.group(1).decode() in self.urgent_types

    @contextlib.asynccontextmanager
    async def slot(self, partner_id: str, urgent: bool) -> AsyncIterator[None]:
        """One of ``admission_slots`` places in the pipeline, urgent and light senders first. Urgent messages have
        as many places again of their own: they do not wait for a bulk message to leave the pipeline."""
        if urgent and self._urgent_reserve < self.fairness.admission_slots:
            self._urgent_reserve += 1
            try:
                with self.lane.urgent():
                    yield
            finally:
                self._urgent_reserve -= 1
            return
        if not urgent:
            await self.lane.give_way()  # urgent messages in hand (ingress or delivery) go first, for a bounded time
        if self._busy < self.fairness.admission_slots and not self._queue:
            self._busy += 1
        else:
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            heapq.heappush(
                self._queue, (0 if urgent else 1, self.in_flight.get(partner_id, 0), next(self._seq), waiter)
            )
            self._since[waiter] = time.monotonic()
            try:
                await waiter  # the slot is handed over by _release (counted in _busy already)
            except asyncio.CancelledError:
                if waiter.done() and not waiter.cancelled():
                    self._release()  # given the slot just as it was cancelled: pass it on
                raise
            finally:
                self._since.pop(waiter, None)
        try:
            if urgent:
                with self.lane.urgent():
                    yield
            else:
                yield
        finally:
            self._release()

    @contextlib.asynccontextmanager
    async def admit(self, partner: Partner, message_type: str) -> AsyncIterator[None]:
        """Both steps at once for a message whose partner and type are known only once it has been read and
        verified (AS4: the partner is the signed From party, the type the agreed Service/Action): counted in
        flight, quota and shedding (:meth:`enter`), then a place in the pipeline (:meth:`slot`)."""
        async with self.enter(partner), self.slot(partner.id, message_type in self.urgent_types):
            yield

    def _release(self) -> None:
        while self._queue:
            *_, waiter = heapq.heappop(self._queue)
            if not waiter.done():
                waiter.set_result(None)  # the slot passes to it: _busy stays
                return
        self._busy -= 1

    @property
    def waiting(self) -> int:
        return len(self._since)
