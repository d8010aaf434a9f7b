"""The watch list in the flow of messages: hold or alert, an officer's release or refusal, the counts.

screen()     before publishing (called by ``Controls.screen`` for inventories and declarations): an item
             matching a ``hold`` entry -> the message is recorded ``pending`` here and ingress answers 202
             with the held receipt (status ``held``); then ``parked()`` makes it ``held``
accepted()   after a message is accepted (or released from three-list waiting): its consignments are
             counted per platform and seller; ``alert`` hits are recorded ``alerted``
decide()     an officer's release or refusal (admin API, console): taken in one exclusive store
             transaction (``held`` -> ``releasing`` / ``refusing``), so across workers and instances a held
             message is decided once; then carried out (released: published to the receivers routed at
             arrival, through three-list matching first when that is on; refused: recorded ``rejected``
             ``non-compliant`` and answered with a rejection receipt routed to the sender), each an event
             of the message's history with the officer as actor
sweep()      finishes decisions left half-done (a crash between the two steps)
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lxml import etree

from gateway.controls.model import DAY, Hold, WatchRecord, day_of
from gateway.controls.watchlist import Hit, WatchList, screened
from gateway.errors import NonCompliant
from gateway.formats.base import ReceiptError
from gateway.store.base import Status
from gateway.text import shorten

if TYPE_CHECKING:
    from gateway.controls.service import Controls
    from gateway.controls.store import ControlsStore

log = logging.getLogger(__name__)

WATCHED = ("inventory", "declaration")
RETRY_DECISION_AFTER = 60.0  # seconds before the sweep finishes a decision that did not finish


class DecisionRefused(Exception):
    """A decision that cannot be taken: unknown message (404) or not held (409)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@dataclass(frozen=True)
class Screening:
    hits: list[Hit]
    records: tuple[tuple[str, str, str], ...]  # (platform, seller, held|alerted|clear) per consignment

    @property
    def holds(self) -> list[Hit]:
        return [h for h in self.hits if h.entry.action == "hold"]


def refusal(hits: Sequence[dict[str, Any]], note: str | None) -> NonCompliant:
    described = [f"watch-list entry {h['entry']} matched goods item {h['item']} by {h['by']}" for h in hits]
    why = f" ({note})" if note else ""
    message = f"refused by customs: non-compliant goods{why}: " + "; ".join(described)
    return NonCompliant(
        message,
        pointer=hits[0]["pointer"] if hits else None,
        failures=tuple((f"non-compliant: {d}{why}", h["pointer"]) for d, h in zip(described, hits, strict=True)),
    )


class Watch:
    def __init__(self, controls: Controls, watchlist: WatchList, clock: Callable[[], dt.datetime]) -> None:
        self.controls = controls
        self.watchlist = watchlist
        self.clock = clock

    @property
    def store(self) -> ControlsStore:
        return self.controls.store

    def look(self, canonical: etree._Element, message_type: str) -> Screening:
        records = screened(canonical, message_type)
        hits = self.watchlist.match(records)
        outcome: dict[int, str] = {}
        for hit in hits:
            if hit.entry.action == "hold" or outcome.get(hit.record) != "held":
                outcome[hit.record] = "held" if hit.entry.action == "hold" else "alerted"
        return Screening(hits, tuple((r.platform, r.seller, outcome.get(r.index, "clear")) for r in records))

    # Before routing -----------------------------------------------------------------------------------------

    def screen(
        self,
        *,
        message_id: str,
        message_type: str,
        sender: str,
        sender_message_id: str,
        canonical: etree._Element,
        body: bytes,
        receivers: tuple[str, ...],
    ) -> Hold | None:
        if message_type not in WATCHED:
            return None
        screening = self.look(canonical, message_type)
        holds = screening.holds
        if not holds:
            return None
        now = self.clock()
        reason = shorten(
            f"held on the watch list of non-compliant goods: {'; '.join(h.describe() for h in screening.hits)}",
            2048,
            mark="… (cut)",
        )
        self.store.add_watch(
            WatchRecord(
                message_id=message_id,
                sender=sender,
                sender_message_id=sender_message_id,
                message_type=message_type,
                receivers=receivers,
                state="pending",
                hits=tuple(h.as_json() for h in screening.hits),
                reason=reason,
                records=screening.records,
                day=day_of(now.timestamp()),
                canonical=body,
                created=now,
                updated=now,
            )
        )
        errors = tuple(ReceiptError("held", h.describe(), h.pointer) for h in holds)
        return Hold(reason, status=Status.HELD, outcome="held", errors=errors)

    def parked(self, message_id: str) -> bool:
        """The held answer is recorded: the message waits for an officer (False: not one of ours)."""
        record = self.store.watch(message_id)
        if record is None or record.state != "pending":
            return False
        self.store.set_watch_state(message_id, "held", expect=("pending",))
        self.store.count_watch(record.day, record.records)
        log.warning("held %s from %s: %s", message_id, record.sender, record.reason)
        return True

    # After acceptance ---------------------------------------------------------------------------------------

    def accepted(
        self, *, message_id: str, message_type: str, sender: str, sender_message_id: str, canonical: etree._Element
    ) -> None:
        if message_type not in WATCHED or self.store.watch(message_id) is not None:
            return  # counted when it was held
        screening = self.look(canonical, message_type)
        if not screening.records:
            return
        now = self.clock()
        day = day_of(now.timestamp())
        alerts = [h for h in screening.hits if h.entry.action == "alert"]
        if alerts:
            self.store.add_watch(
                WatchRecord(
                    message_id=message_id,
                    sender=sender,
                    sender_message_id=sender_message_id,
                    message_type=message_type,
                    receivers=(),
                    state="alerted",
                    hits=tuple(h.as_json() for h in screening.hits),
                    reason="; ".join(h.describe() for h in alerts),
                    records=screening.records,
                    day=day,
                    canonical=b"",
                    created=now,
                    updated=now,
                )
            )
            log.warning(
                "watch-list alert on %s from %s: %s", message_id, sender, "; ".join(h.describe() for h in alerts)
            )
        self.store.count_watch(day, screening.records)

    # Decisions ----------------------------------------------------------------------------------------------

    async def decide(self, message_id: str, decision: str, *, actor: str, note: str | None = None) -> WatchRecord:
        """Release or refuse a held message, once (DecisionRefused otherwise)."""
        if decision not in ("release", "refuse"):
            raise DecisionRefused(400, "bad-request", f"decision {decision!r}: release or refuse")
        doing = "releasing" if decision == "release" else "refusing"
        with self.store.transaction():
            record = self.store.watch(message_id)
            if record is None:
                raise DecisionRefused(404, "not-found", f"no message {message_id} is on the watch list")
            if record.state != "held":
                raise DecisionRefused(
                    409,
                    "not-held",
                    f"message {message_id} is {record.state}"
                    + (f" (by {record.decided_by})" if record.decided_by else "")
                    + ": only a held message can be released or refused",
                )
            self.store.set_watch_state(message_id, doing, expect=("held",), decided_by=actor, note=note)
        record = self.store.watch(message_id)
        assert record is not None
        await self._carry_out(record)
        done = self.store.watch(message_id)
        assert done is not None
        return done

    async def _carry_out(self, record: WatchRecord) -> None:
        actor = record.decided_by or "gateway"
        note = f": {record.note}" if record.note else ""
        message = await self.controls.messages.get(record.message_id)
        if message is None or message.status != Status.HELD:
            # Done already (a sweep finishing a decision whose process went away after carrying it out).
            final = "released" if record.state == "releasing" else "refused"
            self.store.set_watch_state(record.message_id, final, expect=(record.state,))
            return
        held = [
            (p, s, "released" if record.state == "releasing" else "refused")
            for p, s, k in record.records
            if k == "held"
        ]
        if record.state == "releasing":
            await self.controls.admit_released(record, message.receipt or b"", actor, f"released by {actor}{note}")
            self.store.set_watch_state(record.message_id, "released", expect=("releasing",))
        else:
            error = refusal([h for h in record.hits if h.get("action") == "hold"], record.note)
            await self.controls.refuse_held(record, error, actor)
            self.store.set_watch_state(record.message_id, "refused", expect=("refusing",))
        self.store.count_watch(record.day, held)
        log.warning(
            "%s %s (%s)%s", record.message_id, "released" if record.state == "releasing" else "refused", actor, note
        )

    async def sweep(self) -> int:
        """Finish decisions left half-done, and park holds whose ``held`` answer was recorded by a request that
        died before parking them (a ``pending`` record whose message is not held was never answered held: the
        sender sends it again; it is dropped)."""
        done = 0
        for record in self.store.watches(state="pending", before=time.time() - RETRY_DECISION_AFTER):
            message = await self.controls.messages.get(record.message_id)
            if message is not None and message.status == Status.HELD:
                self.parked(record.message_id)
            else:
                self.store.set_watch_state(record.message_id, "dropped", expect=("pending",))
            done += 1
        for record in self.store.watches(state="releasing,refusing", before=time.time() - RETRY_DECISION_AFTER):
            await self._carry_out(record)
            done += 1
        return done

    # Monitoring ---------------------------------------------------------------------------------------------

    def shares(self, by: str, days: int, now: dt.datetime | None = None, *, limit: int = 50) -> dict[str, Any]:
        """Per platform (ebpCode) or seller: consignments screened and the share held, refused, alerted, per
        day over the last ``days`` days and in total (what a co-governance agreement is reviewed on): the
        ``limit`` riskiest, the highest share first."""
        moment = (now or self.clock()).timestamp()
        last = day_of(moment)
        first = last - days + 1
        groups: dict[str, dict[str, Any]] = {}
        for key, counts in self.store.watch_totals(by, first, last, limit=limit):
            groups[key] = {by: key, **counts, **_shares(counts), "days": []}
        for key, day, counts in self.store.watch_counts(by, first, last, list(groups)):
            when = dt.datetime.fromtimestamp(day * DAY, dt.UTC).date().isoformat()
            groups[key]["days"].append({"day": when, **counts, **_shares(counts)})
        return {
            "by": by,
            "days": days,
            "since": dt.datetime.fromtimestamp(first * DAY, dt.UTC).date().isoformat(),
            "until": dt.datetime.fromtimestamp(moment, dt.UTC).isoformat(),
            "groups": list(groups.values()),
        }


def _shares(counts: dict[str, Any]) -> dict[str, float]:
    total = counts["total"]
    return {
        f"{name}_share": round(counts[name] / total, 4) if total else 0.0 for name in ("held", "refused", "alerted")
    }
