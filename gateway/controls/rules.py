"""Risk rules evaluated: per consignment, as it is recorded (:meth:`RuleBook.evaluate`); a rule that fires returns
a :class:`~gateway.controls.findings.Finding` (indicators, the consignments concerned, commodity, routes,
channels); each kind of rule is evaluated in :mod:`gateway.controls.patterns`. The caller turns a
finding into at most one alert per rule, pattern and ``alert_window`` (:mod:`gateway.controls.service`). The
rules themselves and their files: :mod:`gateway.controls.rule_files`.

The sliding windows count whole days (the counts are kept per day), anchored at the consignment's own time,
so that replaying stored history (``gateway rules test FILE``) sees what live evaluation saw.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from gateway.controls.findings import Finding, History
from gateway.controls.model import StoredConsignment
from gateway.controls.patterns import evaluate
from gateway.controls.rule_files import (
    Rule,
    fingerprint,
    load_dir,
)
from gateway.errors import ConfigError

log = logging.getLogger(__name__)


@dataclass
class RuleBook:
    """The rules in force, reloaded from their folder when a file changes (a bad change keeps the old set)."""

    folder: Path | None
    rules: list[Rule] = field(default_factory=list)
    seen: tuple[tuple[str, int, int], ...] = ()

    @classmethod
    def load(cls, folder: Path) -> RuleBook:
        seen = fingerprint(folder)
        return cls(folder, load_dir(folder), seen)

    def maybe_reload(self) -> bool:
        """Reload if the folder changed; True when a new set is in force. Refused changes are logged."""
        if self.folder is None:
            return False
        now = fingerprint(self.folder)
        if now == self.seen:
            return False
        self.seen = now
        try:
            rules = load_dir(self.folder)
        except ConfigError as exc:
            log.error("risk rules not reloaded; the running rules stay: %s", exc.message)
            return False
        self.rules = rules
        log.info("risk rules reloaded from %s: %s", self.folder, ", ".join(r.id for r in rules) or "none")
        return True

    def evaluate(self, consignment: StoredConsignment, history: History) -> list[Finding]:
        found: list[Finding] = []
        memo = _Memo(history)  # rules looking at the same group and window read its counts once
        for rule in self.rules:
            if rule.enabled:
                found.extend(evaluate(rule, consignment, memo))
        return found


class DelegatingHistory:
    """A :class:`History` that hands every call on to another; subclasses change what they must."""

    def __init__(self, history: History) -> None:
        self.history = history

    def counts(self, dim: str, key: str, since: float, until: float) -> dict[tuple[str, str], int]:
        return self.history.counts(dim, key, since, until)

    def add_hit(self, rule: str, pattern: str, consignment_id: int, at: float) -> None:
        self.history.add_hit(rule, pattern, consignment_id, at)

    def hits(self, rule: str, pattern: str, since: float, until: float) -> list[int]:
        return self.history.hits(rule, pattern, since, until)

    def consignments(
        self,
        *,
        since: float,
        until: float,
        hs_prefix: str | None = None,
        consignor_key: str | None = None,
        destinations: Sequence[str] = (),
        channels: Sequence[str] = (),
        ids: Sequence[int] = (),
        limit: int = 500,
    ) -> list[StoredConsignment]:
        return self.history.consignments(
            since=since,
            until=until,
            hs_prefix=hs_prefix,
            consignor_key=consignor_key,
            destinations=destinations,
            channels=channels,
            ids=ids,
            limit=limit,
        )


class _Memo(DelegatingHistory):
    """One consignment's evaluation: each group's counts over a window are read once."""

    def __init__(self, history: History) -> None:
        super().__init__(history)
        self._counts: dict[tuple[str, str, int, int], dict[tuple[str, str], int]] = {}

    def counts(self, dim: str, key: str, since: float, until: float) -> dict[tuple[str, str], int]:
        span = (dim, key, int(since // 86400), int(until // 86400))
        found = self._counts.get(span)
        if found is None:
            found = self._counts[span] = self.history.counts(dim, key, since, until)
        return found
