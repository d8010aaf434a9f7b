"""Certificates and private keys: loaded once, checked at load, never re-parsed per message."""

from __future__ import annotations

import datetime as dt
import hashlib
import stat
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from gateway.errors import ConfigError

MIN_RSA_BITS = 2048

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


@dataclass(frozen=True)
class TrustedCertificate:
    """One pinned certificate of a partner, with the facts the verifier and the operators need."""

    certificate: x509.Certificate
    path: Path
    fingerprint: str  # sha256 of the DER, hex
    der: bytes

    @property
    def not_before(self) -> dt.datetime:
        return self.certificate.not_valid_before_utc

    @property
    def not_after(self) -> dt.datetime:
        return self.certificate.not_valid_after_utc

    @property
    def subject(self) -> str:
        return self.certificate.subject.rfc4514_string()

    def valid_at(self, when: dt.datetime) -> bool:
        return self.not_before <= when <= self.not_after

    def days_left(self, when: dt.datetime) -> float:
        return (self.not_after - when).total_seconds() / 86400


def load_certificate(path: Path, *, allow_weak: bool = False) -> TrustedCertificate:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read certificate: {exc.strerror}") from None
    try:
        cert = x509.load_pem_x509_certificate(data) if b"-----BEGIN" in data else x509.load_der_x509_certificate(data)
    except ValueError as exc:
        raise ConfigError(f"{path}: not a PEM or DER X.509 certificate ({exc})") from None
    key = cert.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < MIN_RSA_BITS and not allow_weak:
            raise ConfigError(f"{path}: RSA key of {key.key_size} bits; at least {MIN_RSA_BITS} required")
    elif not isinstance(key, ec.EllipticCurvePublicKey):
        raise ConfigError(f"{path}: unsupported public key type {type(key).__name__}; RSA or EC expected")
    der = cert.public_bytes(serialization.Encoding.DER)
    return TrustedCertificate(cert, path, hashlib.sha256(der).hexdigest(), der)


def load_private_key(path: Path) -> PrivateKey:
    """Load a PEM private key; refuse a file others can read (the key is the administration's identity)."""
    try:
        mode = path.stat().st_mode
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read private key: {exc.strerror}") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(
            f"{path}: private key file is accessible to group or others (mode {stat.filemode(mode)}); "
            f"run: chmod 600 {path}"
        )
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{path}: not an unencrypted PEM private key ({exc})") from None
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise ConfigError(f"{path}: unsupported private key type {type(key).__name__}; RSA or EC expected")
    return key


def new_key_and_certificate(
    common_name: str, *, days: int = 365, algorithm: str = "rsa", not_before: dt.datetime | None = None
) -> tuple[PrivateKey, x509.Certificate]:
    """A fresh key and a self-signed certificate for it (what ``gateway keys new`` writes)."""
    key: PrivateKey
    if algorithm == "rsa":
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    elif algorithm == "ec":
        key = ec.generate_private_key(ec.SECP256R1())
    else:
        raise ConfigError(f"unsupported key algorithm {algorithm!r}; allowed: rsa, ec")
    start = not_before or (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5))
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=True,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    return key, cert


def write_key_and_certificate(key: PrivateKey, cert: x509.Certificate, key_path: Path, cert_path: Path) -> None:
    key_path.parent.mkdir(parents=True, exist_ok=True)
    cert_path.parent.mkdir(parents=True, exist_ok=True)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    key_path.touch(mode=0o600, exist_ok=True)
    key_path.chmod(0o600)
    key_path.write_bytes(pem)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
