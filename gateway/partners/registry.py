"""Load every partner file of a folder; a bad file refuses the whole set with file, key and reason."""

from __future__ import annotations

import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from gateway.config import describe_validation_error
from gateway.errors import ConfigError
from gateway.partners.model import Partner, PartnerFile
from gateway.security.certificates import load_certificate
from gateway.security.chain import load_chain


def load_partner(path: Path, partners_dir: Path, known_formats: frozenset[str] | None = None) -> Partner:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read partner file: {exc}") from None
    try:
        spec = PartnerFile(**data)
    except ValidationError as exc:
        raise ConfigError(f"{path}: {describe_validation_error(exc)}") from None
    if spec.id != path.stem:
        raise ConfigError(f"{path}: id: {spec.id!r} must equal the file name {path.stem!r}")
    if known_formats is not None:
        named = [("format", spec.format)] + [(f"receive_formats.{t}", f) for t, f in spec.receive_formats.items()]
        for key, name in named:
            if name not in known_formats:
                allowed = ", ".join(sorted(known_formats))
                raise ConfigError(f"{path}: {key}: unknown format {name!r}; allowed: {allowed}")
    if spec.receives and spec.delivery is None:
        raise ConfigError(f"{path}: delivery: required because the partner receives {', '.join(spec.receives)}")
    certificates = []
    for cert_path in spec.certificates:
        resolved = cert_path if cert_path.is_absolute() else partners_dir / cert_path
        try:
            certificates.append(load_certificate(resolved, allow_weak=bool(spec.legacy_algorithms)))
        except ConfigError as exc:
            raise ConfigError(f"{path}: certificates: {exc.message}") from None
    chain = None
    if spec.ca_certificates or spec.crls:
        try:
            chain = load_chain(spec.id, partners_dir, spec.ca_certificates, spec.crls)
        except ConfigError as exc:
            raise ConfigError(f"{path}: {exc.message}") from None
    return Partner(spec=spec, path=path, certificates=tuple(certificates), chain=chain)


@dataclass(frozen=True)
class PartnerRegistry(Mapping[str, Partner]):
    """Immutable view of all partners; a reload builds a new registry and swaps it whole."""

    partners: Mapping[str, Partner] = field(default_factory=dict)

    def __getitem__(self, key: str) -> Partner:
        return self.partners[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.partners)

    def __len__(self) -> int:
        return len(self.partners)


def load_partners(partners_dir: Path, known_formats: frozenset[str] | None = None) -> PartnerRegistry:
    if not partners_dir.is_dir():
        raise ConfigError(f"{partners_dir}: partners folder not found")
    partners: dict[str, Partner] = {}
    problems: list[str] = []
    for path in sorted(partners_dir.glob("*.toml")):
        try:
            partner = load_partner(path, partners_dir, known_formats)
        except ConfigError as exc:
            problems.append(exc.message)
            continue
        partners[partner.id] = partner
    if problems:
        raise ConfigError("\n".join(problems))
    return PartnerRegistry(partners)


@dataclass(frozen=True)
class RegistryChanges:
    """What a reload changed, by partner id."""

    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.added or self.removed or self.changed)

    def describe(self) -> str:
        parts = [
            f"{name}: {', '.join(ids)}"
            for name, ids in (("added", self.added), ("removed", self.removed), ("changed", self.changed))
            if ids
        ]
        return "; ".join(parts) or "no change"


def compare(old: Mapping[str, Partner], new: Mapping[str, Partner]) -> RegistryChanges:
    def identity(partner: Partner) -> tuple[object, ...]:
        chain = partner.chain.fingerprints if partner.chain is not None else ()
        return (partner.spec, tuple(c.fingerprint for c in partner.certificates), chain)

    return RegistryChanges(
        added=tuple(sorted(set(new) - set(old))),
        removed=tuple(sorted(set(old) - set(new))),
        changed=tuple(sorted(k for k in set(old) & set(new) if identity(old[k]) != identity(new[k]))),
    )
