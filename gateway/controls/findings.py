"""What risk rules read and what they return: the :class:`History` of consignments and hits, and a
:class:`Finding` when a rule fires (an alert is built from it: :mod:`gateway.controls.alerts`)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from gateway.controls.facts import Money
from gateway.controls.model import StoredConsignment
from gateway.controls.rule_files import BrandRule, ChannelRule, ConcentrationRule


class History(Protocol):
    """What rules read and write: :class:`~gateway.controls.store.ControlsStore` in the flow, a
    replay over it for ``gateway rules test``."""

    def counts(self, dim: str, key: str, since: float, until: float) -> dict[tuple[str, str], int]:
        """Consignments of a group per (destination, channel) over the whole days from since to until."""
        ...

    def add_hit(self, rule: str, pattern: str, consignment_id: int, at: float) -> None: ...

    def hits(self, rule: str, pattern: str, since: float, until: float) -> list[int]: ...

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
    ) -> list[StoredConsignment]: ...


@dataclass(frozen=True)
class Commodity:
    description: str
    hs: str | None
    brand: str | None
    unit_value: Money | None


@dataclass(frozen=True)
class Finding:
    """A rule fired: what an alert needs, and the pattern that makes it one alert per window."""

    rule: BrandRule | ConcentrationRule | ChannelRule
    pattern: str
    at: dt.datetime
    indicators: tuple[tuple[str, str], ...]
    consignments: tuple[StoredConsignment, ...]
    commodity: Commodity
    routes: tuple[tuple[str, str], ...]  # (exportation country, destination country)
    channels: tuple[str, ...]
    summary: str

    @property
    def destinations(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(d for _, d in self.routes))
