"""The gateway's own signing identities, loaded once at start, and which one signs for which partner.

- the default identity, ``[gateway] signing_key`` / ``signing_cert`` (RSA or EC), signs for every partner
  whose file names no ``signature_algorithm``;
- its rollover: ``next_signing_key`` / ``next_signing_cert`` take over at ``signing_switch_at`` (RFC 3339).
  Both certificates are published (``GET /v1/keys``, ``gateway keys show``) from the start, so partners pin
  the next one before its first signature, as the gateway does with theirs;
- the SM2 identity, ``sm2_signing_key`` / ``sm2_signing_cert``, signs XML-DSig SM2-SM3 (CEB profile,
  :mod:`gateway.security.sm2`) for partners whose file says ``signature_algorithm = "sm2-sm3"``. A partner
  asking for it while no SM2 key is configured refuses the start (or the reload) with a ConfigError.

Choosing costs one dict get and one float comparison per message: keys are parsed here, never per message.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from lxml import etree

from gateway.config import Settings
from gateway.errors import ConfigError
from gateway.security.certificates import load_certificate, load_private_key, load_sm2_private_key
from gateway.security.signatures import Signer
from gateway.security.sm2 import Sm2Signer, load_sm2_signer

if TYPE_CHECKING:
    from gateway.partners.model import Partner

log = logging.getLogger(__name__)

DEFAULT = "default"  # the identity for partners whose file names no signature_algorithm
SM2_SM3 = "sm2-sm3"


class XmlSigner(Protocol):
    """What signs an XML document in place: :class:`Signer`, :class:`Sm2Signer`, or a :class:`Keyring`."""

    @property
    def algorithm(self) -> str: ...

    @property
    def certificate(self) -> x509.Certificate: ...

    def sign(self, root: etree._Element) -> etree._Element: ...


@dataclass(frozen=True)
class Identity:
    """One key and its certificate as configured, with what partners need to pin the certificate."""

    signer: Signer | Sm2Signer
    key_path: Path | None = None
    cert_path: Path | None = None
    der: bytes = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "der", self.certificate.public_bytes(serialization.Encoding.DER))

    @property
    def certificate(self) -> x509.Certificate:
        return self.signer.certificate

    @property
    def pem(self) -> str:
        return self.certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")

    @property
    def fingerprint(self) -> str:
        return hashlib.sha256(self.der).hexdigest()

    @property
    def not_before(self) -> dt.datetime:
        return self.certificate.not_valid_before_utc

    @property
    def not_after(self) -> dt.datetime:
        return self.certificate.not_valid_after_utc


@dataclass(frozen=True)
class Schedule:
    """The identities of one signature algorithm over time: ``current``, then ``next`` from ``switch_at``."""

    name: str  # DEFAULT or SM2_SM3: what partner files name
    current: Identity
    next: Identity | None = None
    switch_at: dt.datetime | None = None
    _switch: float = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if (self.next is None) != (self.switch_at is None):
            raise ValueError("a next identity needs a switch time, and only it")
        object.__setattr__(self, "_switch", self.switch_at.timestamp() if self.switch_at else float("inf"))

    def at(self, now: float) -> Identity:
        """The identity that signs at ``now`` (seconds since the epoch)."""
        return self.next if self.next is not None and now >= self._switch else self.current


class Keyring:
    """The gateway's signing identities; :meth:`for_partner` picks the signer for what goes to a partner.

    A Keyring also signs on its own (``sign``): with the default identity in use now, for what is addressed to
    no partner in particular.
    """

    def __init__(
        self, default: Schedule, sm2: Schedule | None = None, *, clock: Callable[[], float] = time.time
    ) -> None:
        self.default = default
        self.sm2 = sm2
        self.clock = clock
        self._schedules: dict[str | None, Schedule] = {None: default}
        if sm2 is not None:
            self._schedules[SM2_SM3] = sm2

    @classmethod
    def single(cls, signer: Signer | Sm2Signer) -> Keyring:
        """One signer for every partner that takes its algorithm (tests, offline tools)."""
        schedule = Schedule(DEFAULT, Identity(signer))
        return cls(schedule, schedule if isinstance(signer, Sm2Signer) else None)

    @property
    def schedules(self) -> tuple[Schedule, ...]:
        return (self.default,) if self.sm2 is None else (self.default, self.sm2)

    def for_partner(self, partner: Partner | None) -> Signer | Sm2Signer:
        """The signer for what goes to ``partner`` now (None: a sender the gateway does not know)."""
        algorithm = partner.spec.signature_algorithm if partner is not None else None
        schedule = self._schedules.get(algorithm)
        if schedule is None:
            assert partner is not None  # check() refused such partners at start and reload: built elsewhere
            raise _no_key([partner])
        return schedule.at(self.clock()).signer

    def check(self, partners: Iterable[Partner]) -> None:
        """Refuse partners asking for a signature algorithm the gateway has no key for (start, reload)."""
        missing = [p for p in partners if p.spec.signature_algorithm not in self._schedules]
        if missing:
            raise _no_key(missing)

    # A Keyring is an XmlSigner too: the default identity in use now.

    @property
    def algorithm(self) -> str:
        return self.default.at(self.clock()).signer.algorithm

    @property
    def certificate(self) -> x509.Certificate:
        return self.default.at(self.clock()).certificate

    def sign(self, root: etree._Element) -> etree._Element:
        return self.default.at(self.clock()).signer.sign(root)

    def expiry_warnings(self, horizon_days: float, now: dt.datetime | None = None) -> list[str]:
        """One line per identity whose last certificate (the next one, if any) expires within the horizon."""
        now = now or dt.datetime.now(dt.UTC)
        lines = []
        for schedule in self.schedules:
            last = schedule.next or schedule.current
            days = (last.not_after - now).total_seconds() / 86400
            if days >= horizon_days:
                continue
            when = f"expired {-days:.1f} days ago" if days < 0 else f"expires in {days:.1f} days"
            remedy = (
                "set [gateway] next_signing_key, next_signing_cert and signing_switch_at"
                if schedule.name == DEFAULT
                else "replace [gateway] sm2_signing_key and sm2_signing_cert; give partners the new cert"
            )
            subject = last.certificate.subject.rfc4514_string()
            lines.append(
                f"the gateway's {schedule.name} signing certificate {last.cert_path} ({subject}) {when} "
                f"({last.not_after.isoformat()}); {remedy}"
            )
        return lines

    def published(self, *, now: dt.datetime | None = None, files: bool = False) -> list[dict[str, Any]]:
        """Every certificate partners may see a signature by, current and next, as PEM with its validity.

        ``files``: add the key and certificate paths (the admin view); certificates themselves are public.
        """
        now = now or dt.datetime.now(dt.UTC)
        views = []
        for schedule in self.schedules:
            in_use = schedule.at(now.timestamp())
            slots: list[tuple[str, Identity, dt.datetime | None, dt.datetime | None]] = [
                ("current", schedule.current, None, schedule.switch_at)
            ]
            if schedule.next is not None:
                slots.append(("next", schedule.next, schedule.switch_at, None))
            for slot, identity, since, until in slots:
                view: dict[str, Any] = {
                    "signature_algorithm": schedule.name,
                    "slot": slot,
                    "in_use": identity is in_use,
                    "signs_from": since.isoformat() if since else None,
                    "signs_until": until.isoformat() if until else None,
                    "algorithm": identity.signer.algorithm,
                    "subject": identity.certificate.subject.rfc4514_string(),
                    "serial": format(identity.certificate.serial_number, "x"),
                    "sha256": identity.fingerprint,
                    "not_before": identity.not_before.isoformat(),
                    "not_after": identity.not_after.isoformat(),
                    "days_left": round((identity.not_after - now).total_seconds() / 86400, 1),
                    "valid_now": identity.not_before <= now <= identity.not_after,
                    "certificate": identity.pem,
                }
                if files:
                    view["key_file"] = str(identity.key_path) if identity.key_path else None
                    view["cert_file"] = str(identity.cert_path) if identity.cert_path else None
                views.append(view)
        return views


def _no_key(partners: list[Partner]) -> ConfigError:
    names = ", ".join(f"{p.id} ({p.path})" for p in partners)
    wanted = sorted({str(p.spec.signature_algorithm) for p in partners})
    return ConfigError(
        f"partner {names} has signature_algorithm = {' / '.join(repr(w) for w in wanted)} but the gateway "
        "has no SM2 signing key: set [gateway] sm2_signing_key and sm2_signing_cert "
        "(make them with `gateway keys new <gateway id> --algorithm sm2`)"
    )


# Loading ---------------------------------------------------------------------------------------------------


def _same_public_key(key: Any, certificate: x509.Certificate) -> bool:
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    try:
        held = certificate.public_key().public_bytes(serialization.Encoding.DER, spki)
    except UnsupportedAlgorithm:  # e.g. an SM2 certificate beside an RSA key
        return False
    return bool(held == key.public_key().public_bytes(serialization.Encoding.DER, spki))


def load_rsa_ec_signer(key_path: Path, cert_path: Path) -> Signer:
    """An RSA or EC signer from its files; the certificate must hold the key's public key."""
    key = load_private_key(key_path)
    certificate = load_certificate(cert_path).certificate
    if not _same_public_key(key, certificate):
        raise ConfigError(f"{cert_path}: this certificate does not hold the public key of {key_path}")
    return Signer(key, certificate)


def load_any_signer(key_path: Path, cert_path: Path) -> Signer | Sm2Signer:
    """RSA, EC or SM2, by the type of the key in ``key_path`` (``gateway send``)."""
    try:
        return load_rsa_ec_signer(key_path, cert_path)
    except ConfigError as error:
        try:
            load_sm2_private_key(key_path)
        except ConfigError:
            raise error from None
    return load_sm2_signer(key_path, cert_path)


def _identity(settings: Settings, key: Path, cert: Path, keys: str, sm2: bool = False) -> Identity:
    """Load one configured pair; errors name the configuration keys (``keys``) as well as the files."""
    key_path, cert_path = settings.resolve(key), settings.resolve(cert)
    try:
        signer = load_sm2_signer(key_path, cert_path) if sm2 else load_rsa_ec_signer(key_path, cert_path)
    except ConfigError as exc:
        raise ConfigError(f"[gateway] {keys}: {exc.message}") from None
    return Identity(signer, key_path, cert_path)


def load_keyring(settings: Settings) -> Keyring:
    """Every configured identity, checked: pairs that match, a next certificate valid at the switch."""
    g = settings.gateway
    current = _identity(settings, g.signing_key, g.signing_cert, "signing_key / signing_cert")
    following = None
    if g.next_signing_key is not None and g.next_signing_cert is not None and g.signing_switch_at is not None:
        following = _identity(settings, g.next_signing_key, g.next_signing_cert, "next_signing_key / next_signing_cert")
        switch = g.signing_switch_at
        if not following.not_before <= switch <= following.not_after:
            raise ConfigError(
                f"[gateway] next_signing_cert: {following.cert_path} is valid from "
                f"{following.not_before.isoformat()} to {following.not_after.isoformat()}, which does not "
                f"include signing_switch_at {switch.isoformat()}"
            )
        if current.not_after < switch:
            log.warning(
                "[gateway] signing_cert %s expires on %s, before signing_switch_at %s: what is signed in "
                "between carries an expired certificate; bring signing_switch_at forward",
                current.cert_path, current.not_after.isoformat(), switch.isoformat(),
            )  # fmt: skip
    default = Schedule(DEFAULT, current, following, g.signing_switch_at if following else None)
    sm2 = None
    if g.sm2_signing_key is not None and g.sm2_signing_cert is not None:
        keys = "sm2_signing_key / sm2_signing_cert"
        sm2 = Schedule(SM2_SM3, _identity(settings, g.sm2_signing_key, g.sm2_signing_cert, keys, sm2=True))
    return Keyring(default, sm2)
