"""Conformance test (``gateway partners test ID``): a partner's own sample messages through the ingress steps.

Each sample goes through the same pieces as live traffic (safe parse, the partner's adapter, the signature
verifier with its pinned certificates, its schema, the mapping to canonical and the canonical schema, routing)
and nothing is stored, published or sent. The report names, per file, the step that failed and why, in words a
partner's engineer can act on.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from gateway.config import RouteRule, SecuritySection, Settings
from gateway.errors import (
    ConfigError,
    MappingFailed,
    NoRoute,
    NotPermitted,
    Rejection,
    Replayed,
    SchemaInvalid,
)
from gateway.formats.base import FormatAdapter, Identity, MessageInfo
from gateway.ingress.steps import Checked, check, translate
from gateway.partners.model import Partner
from gateway.security.verified import Verified
from gateway.security.xml import parse_xml

OK, FAILED, WARNING = "ok", "failed", "warning"
_STEP_OF = {
    SchemaInvalid: "schema + mapping",
    MappingFailed: "schema + mapping",
    NoRoute: "route",
    NotPermitted: "route",
}


@dataclass(frozen=True)
class Step:
    name: str
    status: str
    detail: str


@dataclass
class SampleReport:
    file: str
    steps: list[Step] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(step.status != FAILED for step in self.steps)

    def add(self, name: str, status: str, detail: str) -> None:
        self.steps.append(Step(name, status, detail))


@dataclass
class ConformanceReport:
    partner: str
    format: str
    samples_dir: str
    samples: list[SampleReport] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return bool(self.samples) and all(s.passed for s in self.samples)

    def as_json(self) -> dict[str, Any]:
        return {
            "partner": self.partner,
            "format": self.format,
            "samples_dir": self.samples_dir,
            "passed": self.passed,
            "samples": [
                {"file": s.file, "passed": s.passed, "steps": [asdict(x) for x in s.steps]} for s in self.samples
            ],
        }

    def render(self) -> str:
        lines = [
            f"Conformance test of partner {self.partner} (format {self.format})",
            f"samples: {self.samples_dir} ({len(self.samples)} file(s)); nothing is sent",
            "",
        ]
        for sample in self.samples:
            lines.append(f"{'PASS' if sample.passed else 'FAIL'}  {sample.file}")
            lines += [f"      {step.status:<7} {step.name:<17} {step.detail}" for step in sample.steps]
            lines.append("")
        failed = sum(1 for s in self.samples if not s.passed)
        lines.append(
            f"result: {len(self.samples) - failed} passed, {failed} failed"
            + ("" if self.samples else " (no *.xml sample found)")
        )
        return "\n".join(lines)


def samples_folder(partner: Partner, partners_dir: Path) -> Path:
    if partner.spec.samples_dir is None:
        raise ConfigError(
            f"{partner.path}: samples_dir: not set; name a folder of the partner's sample messages "
            f'(e.g. samples_dir = "samples/{partner.id}", relative to {partners_dir})'
        )
    folder = partner.spec.samples_dir
    folder = folder if folder.is_absolute() else partners_dir / folder
    if not folder.is_dir():
        raise ConfigError(f"{partner.path}: samples_dir: folder {folder} not found")
    return folder


@dataclass(frozen=True)
class Conditions:
    """What the live checks compare against: the gateway's partners, routing rules and time window, now."""

    adapters: Mapping[str, FormatAdapter]
    partners: Mapping[str, Partner]
    rules: Sequence[RouteRule]
    security: SecuritySection
    participant_id: str
    now: dt.datetime

    @classmethod
    def of(
        cls,
        settings: Settings,
        partners: Mapping[str, Partner],
        adapters: Mapping[str, FormatAdapter],
        now: dt.datetime | None = None,
    ) -> Conditions:
        return cls(
            adapters,
            partners,
            settings.routing.rules,
            settings.security,
            settings.gateway.id,
            now or dt.datetime.now(dt.UTC),
        )


# A CreationDateTime window that lets old samples through (the live window is reported as a warning).
_ANY_TIME = SecuritySection(max_age_seconds=10**10, max_future_seconds=10**10)


def run_conformance(conditions: Conditions, partner: Partner, folder: Path) -> ConformanceReport:
    """The live rules (signature, window, permissions) on each sample; nothing is stored or sent."""
    report = ConformanceReport(partner.id, partner.format, str(folder))
    adapter = conditions.adapters[partner.format]
    for path in sorted(folder.glob("*.xml")):
        report.samples.append(_one(conditions, partner, adapter, path))
    return report


def _one(conditions: Conditions, partner: Partner, adapter: FormatAdapter, path: Path) -> SampleReport:
    sample = SampleReport(path.name)
    try:
        body = path.read_bytes()
        root = parse_xml(body, max_depth=conditions.security.max_depth)
    except OSError as exc:
        sample.add("read", FAILED, f"cannot read the file: {exc.strerror}")
        return sample
    except Rejection as exc:
        sample.add("parse", FAILED, f"{exc.code}: {exc.message}")
        return sample
    sample.add("parse", OK, f"{len(body)} bytes of well-formed XML")
    try:
        info = adapter.identify(root)
    except Rejection as exc:
        sample.add("identify", FAILED, f"{exc.code}: {exc.message}" + _at(exc))
        return sample
    sample.add("identify", OK, f"{info.message_type}, message id {info.message_id}")
    checked = _verify(conditions, partner, adapter, root, info, sample)
    try:
        _canonical, receivers = translate(
            "conformance-test",
            partner,
            adapter,
            checked,
            partners=conditions.partners,
            rules=conditions.rules,
            participant_id=conditions.participant_id,
            adapters=conditions.adapters,
        )
    except Rejection as exc:
        sample.add(_STEP_OF.get(type(exc), "schema + mapping"), FAILED, f"{exc.code}: {exc.message}" + _at(exc))
        return sample
    sample.add("schema + mapping", OK, f"valid {adapter.name} document; canonical {info.message_type} is valid")
    sample.add("route", OK, f"would be delivered to {', '.join(receivers)}")
    return sample


def _verify(
    conditions: Conditions,
    partner: Partner,
    adapter: FormatAdapter,
    root: Any,
    info: MessageInfo,
    sample: SampleReport,
) -> Checked:
    """The live checks; when they fail the rest goes on with the unverified document, to report everything."""
    late: Replayed | None = None
    try:
        checked = check(partner, adapter, root, now=conditions.now, window=conditions.security)
    except Replayed as exc:
        late = exc
        checked = check(partner, adapter, root, now=conditions.now, window=_ANY_TIME)
    except Rejection as exc:
        name = "sender" if isinstance(exc, NotPermitted) else "signature"
        sample.add(name, FAILED, f"{exc.code}: {exc.message} (the next steps read the unverified document)")
        unverified = Verified(root, b"", partner.certificates[0], "none", False)
        return Checked(info, unverified, "", Identity(info.message_id))
    cert = checked.verified.certificate
    sample.add(
        "signature",
        OK,
        f"{checked.verified.algorithm.rsplit('#', 1)[-1]} by {cert.subject} "
        f"({cert.path.name}, valid until {cert.not_after:%Y-%m-%d})",
    )
    if late is not None:
        sample.add("creation time", WARNING, f"live traffic would reject it: {late.code}: {late.message}")
    return checked


def _at(exc: Rejection) -> str:
    return f" [at {exc.pointer}]" if exc.pointer else ""
