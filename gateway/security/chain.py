"""A partner's optional CA chain: certificates issued by a configured CA, revocation from configured CRL files.

A partner file may name ``ca_certificates`` and ``crls`` (PEM or DER, relative to the partners folder). They are
loaded once with the partner: a CA must be a CA (BasicConstraints ca=True, keyCertSign if KeyUsage is present),
a CRL must be signed by one of the partner's CAs. A certificate that is not pinned is then trusted when

- one of the CAs issued it directly (name and signature), both are valid now, and its KeyUsage, if present,
  allows digitalSignature;
- no CRL of that CA lists its serial number, and every CRL of that CA is current (next update not passed: a
  stale CRL refuses rather than trusts). A CA without a CRL file is allowed; its certificates then cannot be
  revoked here (only by removing the CA or pinning certificates instead).

Only direct issuance is checked (one level): configure the issuing (intermediate) CA, not the root.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization

from gateway.errors import CertificateExpired, CertificateUntrusted, ConfigError
from gateway.security.certificates import TrustedCertificate, sm2_public_key

_POINTER = "/*/ds:Signature/ds:KeyInfo"


@dataclass(frozen=True)
class Authority:
    """One CA certificate of a partner file."""

    certificate: x509.Certificate
    path: Path
    fingerprint: str

    @property
    def subject(self) -> str:
        return self.certificate.subject.rfc4514_string()

    def valid_at(self, when: dt.datetime) -> bool:
        return self.certificate.not_valid_before_utc <= when <= self.certificate.not_valid_after_utc


@dataclass(frozen=True)
class RevocationList:
    """One CRL file, with the CA that signed it."""

    crl: x509.CertificateRevocationList
    path: Path
    issuer: Authority
    fingerprint: str  # sha256 of the file's DER: a new CRL is a changed partner


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read {what}: {exc.strerror}") from None


def load_authority(path: Path) -> Authority:
    data = _read(path, "CA certificate")
    try:
        cert = x509.load_pem_x509_certificate(data) if b"-----BEGIN" in data else x509.load_der_x509_certificate(data)
    except ValueError as exc:
        raise ConfigError(f"{path}: not a PEM or DER X.509 certificate ({exc})") from None
    try:
        constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        constraints = None
    except ValueError as exc:
        raise ConfigError(f"{path}: unreadable certificate extensions ({exc})") from None
    if constraints is None or not constraints.ca:
        raise ConfigError(
            f"{path}: {cert.subject.rfc4514_string()} is not a CA certificate (BasicConstraints ca=True required)"
        )
    usage = _key_usage(cert)
    if usage is not None and not usage.key_cert_sign:
        raise ConfigError(f"{path}: the CA certificate's KeyUsage does not allow keyCertSign")
    try:
        cert.public_key()
    except UnsupportedAlgorithm as exc:
        raise ConfigError(f"{path}: unsupported CA public key ({exc}); RSA or EC expected") from None
    der = cert.public_bytes(serialization.Encoding.DER)
    return Authority(cert, path, hashlib.sha256(der).hexdigest())


def load_revocation_list(path: Path, authorities: Sequence[Authority]) -> RevocationList:
    data = _read(path, "CRL")
    try:
        crl = x509.load_pem_x509_crl(data) if b"-----BEGIN" in data else x509.load_der_x509_crl(data)
    except ValueError as exc:
        raise ConfigError(f"{path}: not a PEM or DER X.509 CRL ({exc})") from None
    for authority in authorities:
        if crl.issuer == authority.certificate.subject and _crl_signed_by(crl, authority):
            der = crl.public_bytes(serialization.Encoding.DER)
            return RevocationList(crl, path, authority, hashlib.sha256(der).hexdigest())
    configured = ", ".join(a.path.name for a in authorities) or "none"
    raise ConfigError(
        f"{path}: the CRL of {crl.issuer.rfc4514_string()} is not signed by any configured CA "
        f"(ca_certificates: {configured})"
    )


def _crl_signed_by(crl: x509.CertificateRevocationList, authority: Authority) -> bool:
    try:
        return crl.is_signature_valid(authority.certificate.public_key())  # type: ignore[arg-type]
    except (UnsupportedAlgorithm, TypeError, ValueError):
        return False


def _key_usage(cert: x509.Certificate) -> x509.KeyUsage | None:
    try:
        return cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return None


@dataclass(frozen=True)
class TrustChain:
    """A partner's CAs and CRLs. Empty (falsy) when the partner file names no CA."""

    partner_id: str
    authorities: tuple[Authority, ...] = ()
    revocations: tuple[RevocationList, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.authorities)

    @property
    def fingerprints(self) -> tuple[str, ...]:
        return tuple(a.fingerprint for a in self.authorities) + tuple(r.fingerprint for r in self.revocations)

    def issuer_of(self, cert: x509.Certificate) -> Authority | None:
        """The configured CA that directly issued ``cert`` (name and signature), if any."""
        for authority in self.authorities:
            if cert.issuer != authority.certificate.subject:
                continue
            try:
                cert.verify_directly_issued_by(authority.certificate)
            except (InvalidSignature, ValueError, TypeError, UnsupportedAlgorithm):
                continue
            return authority
        return None

    def check(self, der: bytes, now: dt.datetime) -> TrustedCertificate:
        """``der`` as a trusted certificate when a configured CA issued it and no CRL revokes it; else the
        precise refusal (CertificateUntrusted, or CertificateExpired for the certificate's own validity)."""
        try:
            cert = x509.load_der_x509_certificate(der)
        except ValueError:
            raise self._untrusted("the certificate in the signature is unreadable") from None
        shown = _describe(cert, der)
        authority = self.issuer_of(cert)
        if authority is None:
            raise self._untrusted(
                f"the certificate in the signature ({shown}) is neither one of partner {self.partner_id}'s trusted "
                f"certificates nor issued by one of its CAs ({', '.join(a.path.name for a in self.authorities)})"
            )
        if not authority.valid_at(now):
            raise self._untrusted(
                f"the CA certificate {authority.path.name} that issued {shown} is not valid at {now.isoformat()} "
                f"(valid {authority.certificate.not_valid_before_utc.isoformat()} to "
                f"{authority.certificate.not_valid_after_utc.isoformat()})"
            )
        if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
            before = now < cert.not_valid_before_utc
            when = "is not valid before" if before else "expired on"
            date = cert.not_valid_before_utc if before else cert.not_valid_after_utc
            raise CertificateExpired(f"certificate {shown} {when} {date.isoformat()}", pointer=_POINTER)
        usage = _key_usage(cert)
        if usage is not None and not usage.digital_signature:
            raise self._untrusted(f"the certificate {shown} does not allow digitalSignature (KeyUsage)")
        self._check_revocation(cert, authority, now)
        name = f"(issued by {authority.path.name})"
        return TrustedCertificate(
            cert, authority.path.with_name(name), hashlib.sha256(der).hexdigest(), der, sm2_public_key(der)
        )

    def _check_revocation(self, cert: x509.Certificate, authority: Authority, now: dt.datetime) -> None:
        for revocation in self.revocations:
            if revocation.issuer is not authority:
                continue
            crl = revocation.crl
            next_update = crl.next_update_utc
            if next_update is not None and next_update < now:
                raise self._untrusted(
                    f"the CRL {revocation.path.name} of {authority.path.name} is stale: its next update was due "
                    f"{next_update.isoformat()}; publish a current CRL to accept certificates of this CA"
                )
            revoked = crl.get_revoked_certificate_by_serial_number(cert.serial_number)
            if revoked is not None:
                raise self._untrusted(
                    f"certificate serial {cert.serial_number:X} ({cert.subject.rfc4514_string()[:120]}) revoked on "
                    f"{revoked.revocation_date_utc.isoformat()} by CRL {revocation.path.name}"
                )

    def owns(self, der: bytes, now: dt.datetime) -> bool:
        """Whether ``der`` (e.g. a TLS client certificate) is trusted for this partner through its CAs."""
        try:
            self.check(der, now)
        except (CertificateUntrusted, CertificateExpired):
            return False
        return True

    @staticmethod
    def _untrusted(message: str) -> CertificateUntrusted:
        return CertificateUntrusted(message, pointer=_POINTER)


def _describe(cert: x509.Certificate, der: bytes) -> str:
    return f"subject {cert.subject.rfc4514_string()[:120]}, sha256 {hashlib.sha256(der).hexdigest()[:16]}…"


def load_chain(partner_id: str, partners_dir: Path, ca_paths: Sequence[Path], crl_paths: Sequence[Path]) -> TrustChain:
    """The partner file's ``ca_certificates`` and ``crls``; a problem raises ConfigError naming key and file."""

    def resolved(path: Path) -> Path:
        return path if path.is_absolute() else partners_dir / path

    authorities = []
    for path in ca_paths:
        try:
            authorities.append(load_authority(resolved(path)))
        except ConfigError as exc:
            raise ConfigError(f"ca_certificates: {exc.message}") from None
    revocations = []
    for path in crl_paths:
        try:
            revocations.append(load_revocation_list(resolved(path), authorities))
        except ConfigError as exc:
            raise ConfigError(f"crls: {exc.message}") from None
    return TrustChain(partner_id, tuple(authorities), tuple(revocations))
