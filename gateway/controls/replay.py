"""``gateway rules test FILE``: run rules over the stored consignments and tell what would have fired.

The replay reads the controls store (consignments, their daily counts) and keeps its own rule hits and alert
windows in memory, so nothing is written and nothing is sent. Each consignment is evaluated as of its own
time, as in the flow (the day-granular counts may include later consignments of the same day).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

from gateway.controls.findings import Finding
from gateway.controls.rules import DelegatingHistory, RuleBook
from gateway.controls.store import ControlsStore


class ReplayHistory(DelegatingHistory):
    """The store's consignments and counts; rule hits in memory."""

    def __init__(self, store: ControlsStore) -> None:
        super().__init__(store)
        self._hits: dict[tuple[str, str], dict[int, float]] = defaultdict(dict)

    def add_hit(self, rule: str, pattern: str, consignment_id: int, at: float) -> None:
        self._hits[(rule, pattern)][consignment_id] = at

    def hits(self, rule: str, pattern: str, since: float, until: float) -> list[int]:
        found = self._hits.get((rule, pattern), {})
        return [cid for cid, at in sorted(found.items(), key=lambda x: x[1]) if since <= at <= until]


def replay(store: ControlsStore, book: RuleBook, since: dt.datetime, until: dt.datetime) -> tuple[int, list[Finding]]:
    """(consignments replayed, findings that would have raised an alert: one per pattern and alert window)."""
    history = ReplayHistory(store)
    fired: list[Finding] = []
    last: dict[tuple[str, str], float] = {}
    seen = 0
    for consignment in store.history(since.timestamp(), until.timestamp()):
        seen += 1
        for finding in book.evaluate(consignment, history):
            key = (finding.rule.id, finding.pattern)
            at = finding.at.timestamp()
            if key in last and abs(at - last[key]) < finding.rule.alert_window:
                continue
            last[key] = at
            fired.append(finding)
    return seen, fired
