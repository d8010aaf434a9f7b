"""Risk rules: files in ``[controls] rules_dir`` (``rules/*.toml``), validated at load, reloaded on change.

A file holds ``[[rule]]`` tables; each has an ``id`` (unique across files), a ``type`` and the type's
parameters (thresholds and windows; durations as ``"30d"``, ``"12h"``, ``"45m"``, ``"90s"`` or seconds):

    brand-misdeclaration       goods that look like a watched protected brand or product (its name or
                               aliases in the text, its keywords with its HS codes) declared under another
                               brand, without brand, or at a unit value far below the reference
    destination-concentration  the share of a commodity's (HS heading/subheading) or consignor's consignments
                               going to its ``top`` destination countries, over a sliding window, above
                               ``threshold``
    channel-preference         the share of a commodity's or consignor's consignments using ``channels``
                               (express and CBEC by default) far above the baseline: the share those
                               channels have in the rest of the traffic (or a fixed share)

Evaluation is per consignment, as it is recorded (:meth:`RuleBook.evaluate`); a rule that fires returns a
:class:`Finding` (indicators, the consignments concerned, commodity, routes, channels). The caller turns a
finding into at most one alert per rule, pattern and ``alert_window`` (:mod:`gateway.controls.service`).

The sliding windows count whole days (the counts are kept per day), anchored at the consignment's own time,
so that replaying stored history (``gateway rules test FILE``) sees what live evaluation saw.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import tomllib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal, Protocol

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    model_validator,
)

from gateway.controls.facts import Money, plain
from gateway.controls.model import StoredConsignment
from gateway.controls.monitoring import CHANNELS
from gateway.errors import ConfigError

log = logging.getLogger(__name__)

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([dhms]?)\s*$")
_UNITS = {"d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0, "": 1.0}


def parse_duration(value: Any) -> Any:
    """``"30d"`` / ``"12h"`` / ``"45m"`` / ``"90s"`` / a number of seconds -> seconds."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        found = _DURATION.match(value)
        if found:
            return float(found.group(1)) * _UNITS[found.group(2)]
        raise ValueError(f'a duration is a number with d, h, m or s (e.g. "30d"), not {value!r}')
    return value


Duration = Annotated[float, BeforeValidator(parse_duration), Field(gt=0)]
HsPrefix = Annotated[str, Field(pattern=r"^[0-9]{2,10}$")]
Channel = Literal["post", "express", "cbec", "cargo"]
assert set(Channel.__args__) == set(CHANNELS)  # type: ignore[attr-defined]
_FAST: list[Channel] = ["express", "cbec"]  # the channels of the channel-preference rule by default
RuleId = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class WatchEntry(_Model):
    """A protected brand or product."""

    brand: Annotated[str, Field(min_length=1, max_length=256)]
    aliases: list[str] = Field(default_factory=list, description="other spellings of the brand, any script")
    hs: list[HsPrefix] = Field(default_factory=list, description="HS codes (prefixes) of the protected goods")
    keywords: list[str] = Field(
        default_factory=list,
        description="words of the goods' description that identify the protected product",
    )
    description: str | None = Field(None, max_length=512, description="the commodity as the alert names it")
    reference_unit_value: dict[Annotated[str, Field(pattern=r"^[A-Z]{3}$")], Annotated[Decimal, Field(gt=0)]] = Field(
        default_factory=dict, description="a genuine unit's value, per currency"
    )
    min_value_ratio: float = Field(0.3, gt=0, le=1, description="below this share of the reference: undervalued")

    @model_validator(mode="after")
    def _identifiable(self) -> WatchEntry:
        if not (self.hs or self.keywords or self.aliases):
            raise ValueError(
                f"watch entry {self.brand!r} needs hs, keywords or aliases to recognise the goods by "
                "(a declared brand alone cannot reveal a false declaration)"
            )
        return self

    def names(self) -> list[str]:
        return [n.casefold() for n in (self.brand, *self.aliases)]


class _Rule(_Model):
    id: RuleId
    description: str = ""
    enabled: bool = True
    risk_area: Literal["IPR", "drugs", "safety", "revenue", "security", "other"] = "other"
    action: Literal["inspect", "hold", "inform", "seize"] = "inspect"
    action_text: Annotated[str, Field(max_length=512)] | None = None
    alert_window: Duration = Field(7 * 86400.0, description="one alert per pattern within this time")
    validity: Duration = Field(90 * 86400.0, description="how long the alert applies")
    window: Duration = Field(30 * 86400.0, description="the sliding window the rule looks back over")


class BrandRule(_Rule):
    type: Literal["brand-misdeclaration"]
    risk_area: Literal["IPR", "drugs", "safety", "revenue", "security", "other"] = "IPR"
    min_consignments: int = Field(1, ge=1, description="flagged consignments in the window before it fires")
    channels: list[Channel] = Field(default_factory=list, description="only these channels (empty: all)")
    watch: Annotated[list[WatchEntry], Field(min_length=1)]


class _GroupRule(_Rule):
    group_by: Literal["commodity", "consignor"] = "commodity"
    hs_digits: Literal[4, 6] = 6
    hs: list[HsPrefix] = Field(default_factory=list, description="only goods under these HS codes (empty: all)")
    min_consignments: int = Field(20, ge=1, description="consignments of the group in the window, at least")

    def groups(self, consignment: StoredConsignment) -> list[tuple[str, str]]:
        """The (dimension, key) groups a consignment belongs to under this rule (the store's count keys)."""
        codes = sorted({i.hs for i in consignment.items if i.hs and len(i.hs) >= self.hs_digits})
        in_scope = [c for c in codes if not self.hs or any(c.startswith(p) for p in self.hs)]
        if not in_scope:
            return []
        if self.group_by == "consignor":
            key = consignment.consignor_id or consignment.consignor.casefold()
            return [("consignor", key)]
        return sorted({(f"hs{self.hs_digits}", c[: self.hs_digits]) for c in in_scope})


class ConcentrationRule(_GroupRule):
    type: Literal["destination-concentration"]
    top: int = Field(1, ge=1, le=10, description="how many destination countries together")
    threshold: float = Field(gt=0, le=1, description="share of the group's consignments to those countries")


class ChannelRule(_GroupRule):
    type: Literal["channel-preference"]
    channels: Annotated[list[Channel], Field(min_length=1)] = Field(default_factory=lambda: list(_FAST))
    baseline: Annotated[float, Field(ge=0, le=1)] | Literal["rest-of-traffic"] = "rest-of-traffic"
    factor: float = Field(2.0, gt=1, description="fires when the share is at least factor x the baseline")
    min_share: float = Field(0.5, gt=0, le=1, description="and at least this share")


Rule = Annotated[BrandRule | ConcentrationRule | ChannelRule, Field(discriminator="type")]


class RuleFile(_Model):
    rule: list[Rule] = Field(default_factory=list)


_RULE_LIST = TypeAdapter(RuleFile)


# Loading ----------------------------------------------------------------------------------------------------


def _where(loc: Sequence[int | str], data: dict[str, Any]) -> str:
    parts: list[str] = []
    rules = data.get("rule") if isinstance(data, dict) else None
    for i, part in enumerate(loc):
        if isinstance(part, int):
            parts[-1] += f"[{part}]"
            if i == 1 and isinstance(rules, list) and part < len(rules) and isinstance(rules[part], dict):
                rid = rules[part].get("id")
                if rid:
                    parts[-1] += f" (id {rid!r})"
        elif (
            i == 2
            and loc[0] == "rule"
            and part in ("brand-misdeclaration", "destination-concentration", "channel-preference")
        ):
            continue  # pydantic names the union member it tried: the rule's own type, not a key
        else:
            parts.append(str(part))
    return ".".join(parts) or "(file)"


def load_file(path: Path) -> list[Rule]:
    """One rule file, validated; ConfigError names the file, the key and what is wrong."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read rule file: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    try:
        parsed = _RULE_LIST.validate_python(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            got = err.get("input")
            shown = "" if isinstance(got, dict | list) or err["type"] == "missing" else f" (got {got!r})"
            problems.append(f"{_where(err['loc'], data)}: {err['msg']}{shown}")
        raise ConfigError(f"{path}: " + "; ".join(problems)) from None
    return list(parsed.rule)


def load_dir(folder: Path) -> list[Rule]:
    """Every ``*.toml`` in the folder (sorted by name); a rule id used twice is an error naming both files."""
    if not folder.is_dir():
        raise ConfigError(f"controls.rules_dir: {folder} is not a folder")
    rules: list[Rule] = []
    seen: dict[str, Path] = {}
    for path in sorted(folder.glob("*.toml")):
        for rule in load_file(path):
            if rule.id in seen:
                raise ConfigError(f"{path}: rule id {rule.id!r} is already used in {seen[rule.id]}")
            seen[rule.id] = path
            rules.append(rule)
    return rules


def fingerprint(folder: Path) -> tuple[tuple[str, int, int], ...]:
    try:
        return tuple(
            (p.name, p.stat().st_mtime_ns, p.stat().st_size) for p in sorted(folder.glob("*.toml")) if p.is_file()
        )
    except OSError:
        return ()


# Evaluation -------------------------------------------------------------------------------------------------


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


def _by(counts: dict[tuple[str, str], int], part: int) -> dict[str, int]:
    """Counts per destination (part 0) or per channel (part 1)."""
    summed: dict[str, int] = {}
    for place, n in counts.items():
        summed[place[part]] = summed.get(place[part], 0) + n
    return summed


def evaluate(rule: Rule, consignment: StoredConsignment, history: History) -> list[Finding]:
    if isinstance(rule, BrandRule):
        return _brand(rule, consignment, history)
    if isinstance(rule, ConcentrationRule):
        return _concentration(rule, consignment, history)
    return _channel(rule, consignment, history)


def _share(part: int, whole: int) -> str:
    return f"{100 * part / whole:.0f}%" if whole else "0%"


def _routes(
    consignments: Sequence[StoredConsignment], limit: int = 10, min_share: float = 0.1
) -> tuple[tuple[str, str], ...]:
    """The main routes of the consignments concerned (each with at least ``min_share`` of them): the alert
    goes to the administrations of their destinations, not to every country one parcel went to."""
    pairs = Counter((c.export_country, c.destination) for c in consignments if c.export_country and c.destination)
    total = sum(pairs.values())
    return tuple(pair for pair, n in pairs.most_common(limit) if n >= min_share * total)


def _commodity(
    consignments: Sequence[StoredConsignment],
    hs_prefix: str | None,
    brand: str | None,
    description: str | None,
) -> Commodity:
    items = [i for c in consignments for i in c.items if not hs_prefix or i.hs.startswith(hs_prefix)]
    codes = Counter(i.hs for i in items if len(i.hs) >= 6)
    texts = Counter(i.description for i in items if i.description)
    values = [i.unit_value for i in items if i.unit_value is not None]
    unit_value = None
    if values:
        currency = Counter(v.currency for v in values).most_common(1)[0][0]
        same = [v.value for v in values if v.currency == currency]
        mean = sum(same, Decimal(0)) / Decimal(len(same))
        unit_value = Money(mean.quantize(Decimal("0.001")), currency)
    return Commodity(
        description=description or (texts.most_common(1)[0][0] if texts else f"goods of HS {hs_prefix}"),
        hs=codes.most_common(1)[0][0][:10] if codes else None,
        brand=brand,
        unit_value=unit_value,
    )


def _channel_indicator(consignments: Sequence[StoredConsignment]) -> tuple[str, str] | None:
    """A supporting indicator when the consignments concerned mostly use express or CBEC clearance."""
    fast = sum(1 for c in consignments if c.channel in ("express", "cbec"))
    if consignments and fast / len(consignments) >= 0.5:
        return (
            "CHANNEL-PREFERENCE",
            f"{fast} of the {len(consignments)} consignments concerned ({_share(fast, len(consignments))}) "
            "went through express or cross-border e-commerce clearance.",
        )
    return None


def _destination_indicator(consignments: Sequence[StoredConsignment]) -> tuple[str, str] | None:
    """A supporting indicator when the consignments concerned mostly go to three countries or fewer."""
    counts = Counter(c.destination for c in consignments if c.destination)
    top = counts.most_common(3)
    share = sum(n for _, n in top)
    if consignments and share / len(consignments) >= 0.5:
        shown = ", ".join(f"{d} {n}" for d, n in top)
        return (
            "DESTINATION-CONCENTRATION",
            f"{_share(share, len(consignments))} of the consignments concerned go to {len(top)} destination "
            f"countr{'y' if len(top) == 1 else 'ies'} ({shown}).",
        )
    return None


# (a) brand misdeclaration -----------------------------------------------------------------------------------


def flags(entry: WatchEntry, description: str, hs: str, brand: str | None, unit_value: Money | None) -> list[str]:
    """Why one goods item is suspect under a watch entry (empty: it is not)."""
    text = description.casefold()
    names = entry.names()
    hs_ok = not entry.hs or any(hs.startswith(p) for p in entry.hs)
    declared_protected = brand is not None and brand.casefold() in names
    named = any(n in text for n in names)
    keyword = any(k.casefold() in text for k in entry.keywords)
    looks_like = declared_protected or (hs_ok and (named or keyword or (not entry.keywords and bool(entry.hs))))
    if not looks_like:
        return []
    reasons = []
    if not declared_protected:
        declared = (
            "without a brand"
            if brand == ""
            else "without stating a brand"
            if brand is None
            else (f"under the brand {brand!r}")
        )
        reasons.append(
            f"goods like {entry.brand} ({'its name' if named else 'its product'} in the description) "
            f"declared {declared}"
        )
    reference = entry.reference_unit_value.get(unit_value.currency) if unit_value else None
    if (
        unit_value is not None
        and reference is not None
        and unit_value.value < reference * Decimal(str(entry.min_value_ratio))
    ):
        reasons.append(
            f"unit value {unit_value} is {100 * unit_value.value / reference:.0f}% of the reference "
            f"{plain(reference)} {unit_value.currency} of genuine {entry.brand} goods"
        )
    return reasons


def _brand(rule: BrandRule, consignment: StoredConsignment, history: History) -> list[Finding]:
    if rule.channels and consignment.channel not in rule.channels:
        return []
    at = consignment.at.timestamp()
    fired: dict[str, WatchEntry] = {}
    for item in consignment.items:
        for entry in rule.watch:
            if flags(entry, item.description, item.hs, item.brand, item.unit_value):
                pattern = f"brand:{entry.brand}"
                history.add_hit(rule.id, pattern, consignment.id, at)
                fired[pattern] = entry
    findings = []
    for pattern, entry in fired.items():
        ids = history.hits(rule.id, pattern, at - rule.window, at)
        if len(ids) < rule.min_consignments:
            continue
        concerned = history.consignments(since=at - rule.window, until=at, ids=ids[-500:])
        reasons: Counter[str] = Counter()
        for c in concerned:
            for item in c.items:
                for reason in flags(entry, item.description, item.hs, item.brand, item.unit_value):
                    reasons["LOW-UNIT-VALUE" if reason.startswith("unit value") else "FALSE-BRAND-DECLARATION"] += 1
        indicators = []
        if reasons["FALSE-BRAND-DECLARATION"]:
            indicators.append(
                (
                    "FALSE-BRAND-DECLARATION",
                    f"{len(concerned)} consignments in {rule.window / 86400:g} days carry goods recognised "
                    f"as {entry.brand} products (name, keywords or HS {', '.join(entry.hs) or '-'}) declared "
                    f"without that brand or under another one ({reasons['FALSE-BRAND-DECLARATION']} goods "
                    "items).",
                )
            )
        if reasons["LOW-UNIT-VALUE"]:
            indicators.append(
                (
                    "LOW-UNIT-VALUE",
                    f"{reasons['LOW-UNIT-VALUE']} goods items declared below {entry.min_value_ratio:.0%} "
                    f"of the reference unit value of genuine {entry.brand} goods.",
                )
            )
        indicators += [i for i in (_destination_indicator(concerned), _channel_indicator(concerned)) if i]
        hs_prefix = entry.hs[0] if len(entry.hs) == 1 else None
        findings.append(
            _finding(
                rule,
                consignment,
                pattern,
                indicators,
                concerned,
                _commodity(concerned, hs_prefix, entry.brand, entry.description),
                f"{rule.id}: {len(concerned)} consignments of goods like {entry.brand} declared "
                "under another brand or undervalued",
            )
        )
    return findings


# (b) destination concentration ------------------------------------------------------------------------------


def _group_label(dim: str, key: str) -> str:
    return f"consignor {key}" if dim == "consignor" else f"HS {key}"


def _concentration(rule: ConcentrationRule, consignment: StoredConsignment, history: History) -> list[Finding]:
    at = consignment.at.timestamp()
    findings = []
    for dim, key in rule.groups(consignment):
        counts = _by(history.counts(dim, key, at - rule.window, at), 0)
        total = sum(counts.values())
        if total < rule.min_consignments:
            continue
        top = sorted(((n, d) for d, n in counts.items() if d), reverse=True)[: rule.top]
        share = sum(n for n, _ in top) / total
        if share < rule.threshold:
            continue
        countries = sorted(d for _, d in top)
        concerned = _group_consignments(history, dim, key, at - rule.window, at, destinations=countries)
        shown = ", ".join(f"{d} {n}" for n, d in top)
        indicators = [
            (
                "DESTINATION-CONCENTRATION",
                f"{_share(sum(n for n, _ in top), total)} of the {total} consignments of "
                f"{_group_label(dim, key)} in {rule.window / 86400:g} days go to {len(top)} destination "
                f"countr{'y' if len(top) == 1 else 'ies'} ({shown}); threshold {rule.threshold:.0%}.",
            )
        ]
        if channel := _channel_indicator(concerned):
            indicators.append(channel)
        findings.append(
            _finding(
                rule,
                consignment,
                f"{dim}:{key}>{'+'.join(countries)}",
                indicators,
                concerned,
                _commodity(concerned, _hs_of(dim, key), None, None),
                f"{rule.id}: {_group_label(dim, key)} concentrated on {', '.join(countries)} "
                f"({_share(sum(n for n, _ in top), total)} of {total})",
            )
        )
    return findings


# (c) channel preference -------------------------------------------------------------------------------------


def _channel(rule: ChannelRule, consignment: StoredConsignment, history: History) -> list[Finding]:
    at = consignment.at.timestamp()
    since = at - rule.window
    findings = []
    for dim, key in rule.groups(consignment):
        counts = _by(history.counts(dim, key, since, at), 1)
        total = sum(counts.values())
        if total < rule.min_consignments:
            continue
        used = sum(counts.get(c, 0) for c in rule.channels)
        share = used / total
        if isinstance(rule.baseline, float):
            baseline: float | None = rule.baseline
            basis = "the configured baseline"
        else:
            everything = _by(history.counts("all", "*", since, at), 1)
            rest_total = sum(everything.values()) - total
            rest_used = sum(everything.get(c, 0) for c in rule.channels) - used
            baseline = rest_used / rest_total if rest_total > 0 else None
            basis = f"the rest of the traffic ({rest_total} consignments)"
        if baseline is None or share < rule.min_share or share < baseline * rule.factor:
            continue
        concerned = _group_consignments(history, dim, key, since, at, channels=rule.channels)
        names = " and ".join(rule.channels)
        indicators = [
            (
                "CHANNEL-PREFERENCE",
                f"{_share(used, total)} of the {total} consignments of {_group_label(dim, key)} in "
                f"{rule.window / 86400:g} days used {names} clearance, against {baseline:.0%} in {basis} "
                f"(factor {rule.factor:g}).",
            )
        ]
        if destination := _destination_indicator(concerned):
            indicators.append(destination)
        findings.append(
            _finding(
                rule,
                consignment,
                f"{dim}:{key}:{'+'.join(sorted(rule.channels))}",
                indicators,
                concerned,
                _commodity(concerned, _hs_of(dim, key), None, None),
                f"{rule.id}: {_group_label(dim, key)} uses {names} for {_share(used, total)} of "
                f"{total} consignments (baseline {baseline:.0%})",
            )
        )
    return findings


def _hs_of(dim: str, key: str) -> str | None:
    """The HS prefix a group stands for (None for a consignor group)."""
    return None if dim == "consignor" else key


def _group_consignments(
    history: History,
    dim: str,
    key: str,
    since: float,
    until: float,
    *,
    destinations: Sequence[str] = (),
    channels: Sequence[str] = (),
) -> list[StoredConsignment]:
    """The consignments of a group (an HS prefix or a consignor) in a window."""
    return history.consignments(
        since=since,
        until=until,
        hs_prefix=_hs_of(dim, key),
        consignor_key=key if dim == "consignor" else None,
        destinations=destinations,
        channels=channels,
    )


def _finding(
    rule: BrandRule | ConcentrationRule | ChannelRule,
    consignment: StoredConsignment,
    pattern: str,
    indicators: list[tuple[str, str]],
    concerned: list[StoredConsignment],
    commodity: Commodity,
    summary: str,
) -> Finding:
    """A finding raised at ``consignment`` about the ``concerned`` consignments (routes and channels from them)."""
    return Finding(
        rule=rule,
        pattern=pattern,
        at=consignment.at,
        indicators=tuple(indicators),
        consignments=tuple(concerned),
        commodity=commodity,
        routes=_routes(concerned),
        channels=tuple(sorted({c.channel for c in concerned})),
        summary=summary,
    )
