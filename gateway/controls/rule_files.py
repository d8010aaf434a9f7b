"""Risk rule files: ``[controls] rules_dir`` (``rules/*.toml``), validated at load (errors name the file and key).

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

How they are evaluated: :mod:`gateway.controls.rules`.
"""

from __future__ import annotations

import logging
import re
import tomllib
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    model_validator,
)

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
