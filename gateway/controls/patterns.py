"""The three kinds of risk rule evaluated against one consignment and the history: (a) brand misdeclaration,
(b) destination concentration, (c) channel preference (:func:`evaluate`). The windows count whole days,
anchored at the consignment's own time (:mod:`gateway.controls.rules`)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from decimal import Decimal

from gateway.controls.facts import Money, plain
from gateway.controls.findings import Commodity, Finding, History
from gateway.controls.model import StoredConsignment
from gateway.controls.rule_files import BrandRule, ChannelRule, ConcentrationRule, Rule, WatchEntry


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
