"""Certificates and private keys: loaded once, checked at load, never re-parsed per message.

SM2 (China's GM/T 0003 curve, used by CEB partners): ``cryptography`` reads an SM2 certificate's names,
validity and DER, but ``public_key()`` raises ``UnsupportedAlgorithm`` for the sm2p256v1 curve, and it can
neither load nor make SM2 private keys or certificates. SM2 key material is therefore read and written here
with pyasn1 (the RFC 5280, 5208 and 5915 structures of pyasn1-modules); the arithmetic is GmSSL's, through
gmssl-pyx. An SM2 certificate still becomes a :class:`TrustedCertificate` (the ``cryptography`` object serves
names and dates) whose ``sm2_public_key`` carries the point.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, overload

import gmssl_pyx
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from pyasn1.codec.der import decoder as der_decoder
from pyasn1.codec.der import encoder as der_encoder
from pyasn1.error import PyAsn1Error
from pyasn1.type import univ, useful
from pyasn1_modules import rfc5208, rfc5280, rfc5480, rfc5915

from gateway.errors import ConfigError

MIN_RSA_BITS = 2048

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey

SM2_CURVE = univ.ObjectIdentifier("1.2.156.10197.1.301")  # sm2p256v1 (GM/T 0006)
SM2_WITH_SM3 = univ.ObjectIdentifier("1.2.156.10197.1.501")  # certificate signature algorithm (GM/T 0006)

# The extensions of the certificates the gateway makes (RSA, EC and SM2 alike): an end entity whose key signs
# documents (digital signature and non-repudiation) and nothing else, both critical.
_END_ENTITY = x509.BasicConstraints(ca=False, path_length=None)
_SIGNING_ONLY = x509.KeyUsage(
    digital_signature=True,
    content_commitment=True,
    key_encipherment=False,
    data_encipherment=False,
    key_agreement=False,
    key_cert_sign=False,
    crl_sign=False,
    encipher_only=False,
    decipher_only=False,
)

# The distinguishing identifier hashed into Z before every SM2 signature. GM/T 0009 and GB/T 35276 (which the
# CEB crypto product guide cites) fix this default; the CEB specification names no other.
SM2_DEFAULT_ID = b"1234567812345678"
# The curve's a, b and base point G (GM/T 0003.5), hashed into Z with the identifier and the public key.
_SM2_A_B_G = bytes.fromhex(
    "FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFC"
    "28E9FA9E9D9F5E344D5A9E4BCF6509A7F39789F515AB8F92DDBCBD414D940E93"
    "32C4AE2C1F1981195F9904466A39C9948FE30BBFF2660BE1715A4589334C74C7"
    "BC3736A2F4F6779C59BDCEE36B692153D0A9877CC62A474002DF32E52139F0A0"
)


@dataclass(frozen=True)
class TrustedCertificate:
    """One pinned certificate of a partner, with the facts the verifier and the operators need."""

    certificate: x509.Certificate
    path: Path
    fingerprint: str  # sha256 of the DER, hex
    der: bytes
    sm2_public_key: bytes | None = None  # the SM2 point x || y (64 bytes) when the key is SM2

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
    der = cert.public_bytes(serialization.Encoding.DER)
    try:
        key = cert.public_key()
    except UnsupportedAlgorithm as exc:
        sm2 = sm2_public_key(der)
        if sm2 is None:
            raise ConfigError(f"{path}: unsupported public key ({exc}); RSA, EC or SM2 expected") from None
        return TrustedCertificate(cert, path, hashlib.sha256(der).hexdigest(), der, sm2)
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < MIN_RSA_BITS and not allow_weak:
            raise ConfigError(f"{path}: RSA key of {key.key_size} bits; at least {MIN_RSA_BITS} required")
    elif not isinstance(key, ec.EllipticCurvePublicKey):
        raise ConfigError(f"{path}: unsupported public key type {type(key).__name__}; RSA or EC expected")
    return TrustedCertificate(cert, path, hashlib.sha256(der).hexdigest(), der)


def _read_private(path: Path) -> bytes:
    """Read a private key; refuse a file others can read (the key is the administration's identity)."""
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
    return data


def load_private_key(path: Path) -> PrivateKey:
    """Load an RSA or EC PEM private key (SM2 keys: :func:`load_sm2_private_key`)."""
    data = _read_private(path)
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{path}: not an unencrypted PEM private key ({exc})") from None
    except UnsupportedAlgorithm as exc:
        if _parse_sm2_private_key(data, path) is not None:
            raise ConfigError(
                f"{path}: an SM2 private key where an RSA or EC key is needed (SM2 keys make only the CEB "
                "profile's SM2-SM3 signatures)"
            ) from None
        raise ConfigError(f"{path}: unsupported private key ({exc}); RSA, EC or SM2 expected") from None
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise ConfigError(f"{path}: unsupported private key type {type(key).__name__}; RSA or EC expected")
    return key


@overload
def new_key_and_certificate(
    common_name: str,
    *,
    days: int = ...,
    algorithm: Literal["rsa", "ec"] = ...,
    not_before: dt.datetime | None = ...,
) -> tuple[PrivateKey, x509.Certificate]: ...
@overload
def new_key_and_certificate(
    common_name: str, *, days: int = ..., algorithm: Literal["sm2"], not_before: dt.datetime | None = ...
) -> tuple[Sm2PrivateKey, x509.Certificate]: ...
@overload
def new_key_and_certificate(
    common_name: str, *, days: int = ..., algorithm: str, not_before: dt.datetime | None = ...
) -> tuple[PrivateKey | Sm2PrivateKey, x509.Certificate]: ...
def new_key_and_certificate(
    common_name: str, *, days: int = 365, algorithm: str = "rsa", not_before: dt.datetime | None = None
) -> tuple[PrivateKey | Sm2PrivateKey, x509.Certificate]:
    """A fresh key and a self-signed certificate for it (what ``gateway keys new`` writes)."""
    start = not_before or (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5))
    key: PrivateKey
    if algorithm == "rsa":
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    elif algorithm == "ec":
        key = ec.generate_private_key(ec.SECP256R1())
    elif algorithm == "sm2":
        sm2_key = Sm2PrivateKey.generate()
        return sm2_key, _sm2_self_signed(sm2_key, common_name, start, start + dt.timedelta(days=days))
    else:
        raise ConfigError(f"unsupported key algorithm {algorithm!r}; allowed: rsa, ec, sm2")
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=days))
        .add_extension(_END_ENTITY, critical=True)
        .add_extension(_SIGNING_ONLY, critical=True)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def write_key_and_certificate(
    key: PrivateKey | Sm2PrivateKey, cert: x509.Certificate, key_path: Path, cert_path: Path
) -> None:
    key_path.parent.mkdir(parents=True, exist_ok=True)
    cert_path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(key, Sm2PrivateKey):
        pem = key.pem()
    else:
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    key_path.touch(mode=0o600, exist_ok=True)
    key_path.chmod(0o600)
    key_path.write_bytes(pem)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


# SM2 keys and certificates ---------------------------------------------------------------------------------


def sm2_z(public: bytes, user_id: bytes = SM2_DEFAULT_ID) -> bytes:
    """Z = SM3(ENTL || ID || a || b || xG || yG || xA || yA) (GM/T 0003.2): what an SM2 signature binds to."""
    z: bytes = gmssl_pyx.sm3_hash((len(user_id) * 8).to_bytes(2, "big") + user_id + _SM2_A_B_G + public)
    return z


@dataclass(frozen=True, repr=False)
class Sm2PrivateKey:
    """An SM2 key pair as GmSSL takes it: the 32-byte scalar and the 64-byte point x || y."""

    secret: bytes
    public: bytes
    z: bytes = field(init=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "z", sm2_z(self.public))

    @classmethod
    def generate(cls) -> Sm2PrivateKey:
        public, secret = gmssl_pyx.sm2_key_generate()
        return cls(secret, public)

    def sign(self, data: bytes) -> bytes:
        """SM2 signature of ``data`` with the default id: DER SEQUENCE {r, s}.

        gmssl-pyx's ``sm2_sign`` costs ~2.5-4 ms here; hashing SM3(Z || data) with Z computed once and signing
        that digest gives the same signature for 0.25-0.35 ms.
        """
        digest = gmssl_pyx.sm3_hash(self.z + data)
        signature: bytes = gmssl_pyx.sm2_sign_sm3_digest(self.secret, digest)
        return signature

    def pem(self) -> bytes:
        """PKCS#8 (id-ecPublicKey, curve sm2p256v1) with the public key, as OpenSSL 3 and GmSSL write it."""
        inner = rfc5915.ECPrivateKey()
        inner["version"] = "ecPrivkeyVer1"
        inner["privateKey"] = self.secret
        inner["publicKey"] = inner["publicKey"].clone(hexValue=(b"\x04" + self.public).hex())
        info = rfc5208.PrivateKeyInfo()
        info["version"] = 0
        info["privateKeyAlgorithm"]["algorithm"] = rfc5480.id_ecPublicKey
        info["privateKeyAlgorithm"]["parameters"] = der_encoder.encode(SM2_CURVE)
        info["privateKey"] = der_encoder.encode(inner)
        body = base64.encodebytes(der_encoder.encode(info)).replace(b"\n", b"")
        lines = [body[i : i + 64] for i in range(0, len(body), 64)]
        return b"-----BEGIN PRIVATE KEY-----\n" + b"\n".join(lines) + b"\n-----END PRIVATE KEY-----\n"

    def __repr__(self) -> str:
        return f"Sm2PrivateKey(public={self.public.hex()[:16]}…)"


def _sm2_point(algorithm: rfc5280.AlgorithmIdentifier, bits: univ.BitString) -> bytes | None:
    """The 64-byte SM2 point of a SubjectPublicKeyInfo, or None when the key is not SM2."""
    oid = algorithm["algorithm"]
    if oid == rfc5480.id_ecPublicKey:
        if not algorithm["parameters"].isValue:
            return None
        curve, _ = der_decoder.decode(bytes(algorithm["parameters"]), asn1Spec=univ.ObjectIdentifier())
        if curve != SM2_CURVE:
            return None
    elif oid != SM2_CURVE:  # some Chinese CAs put the curve OID itself in the algorithm field
        return None
    point: bytes = gmssl_pyx.normalize_sm2_public_key(bits.asOctets())  # checks the point is on the curve
    return point


def sm2_public_key(der: bytes) -> bytes | None:
    """The SM2 point (x || y) of a DER certificate; None for another kind of key or an unreadable one."""
    try:
        cert, _ = der_decoder.decode(der, asn1Spec=rfc5280.Certificate())
        spki = cert["tbsCertificate"]["subjectPublicKeyInfo"]
        return _sm2_point(spki["algorithm"], spki["subjectPublicKey"])
    except (PyAsn1Error, gmssl_pyx.GmsslInnerError):
        return None


# PKCS#8 "PRIVATE KEY"; SEC1 as "EC PRIVATE KEY" or, from OpenSSL 3's ``openssl ec``, "SM2 PRIVATE KEY".
_PEM_KEY = re.compile(rb"-----BEGIN ((?:EC |SM2 )?)PRIVATE KEY-----(.+?)-----END \1PRIVATE KEY-----", re.S)


def _parse_sm2_private_key(data: bytes, path: Path) -> Sm2PrivateKey | None:
    """An SM2 key from PKCS#8 or SEC1 ("EC PRIVATE KEY") PEM; None when the file holds another kind of key."""
    match = _PEM_KEY.search(data)
    if match is None:
        return None
    try:
        der = base64.b64decode(b"".join(match.group(2).split()), validate=True)
        if match.group(1):  # SEC1: the curve is in the key's own parameters
            inner, _ = der_decoder.decode(der, asn1Spec=rfc5915.ECPrivateKey())
            parameters = inner["parameters"]
            if not parameters.isValue or parameters["namedCurve"] != SM2_CURVE:
                return None
        else:
            info, _ = der_decoder.decode(der, asn1Spec=rfc5208.PrivateKeyInfo())
            algorithm = info["privateKeyAlgorithm"]
            if algorithm["algorithm"] != SM2_CURVE:
                if algorithm["algorithm"] != rfc5480.id_ecPublicKey or not algorithm["parameters"].isValue:
                    return None
                parameters = bytes(algorithm["parameters"])
                curve, _ = der_decoder.decode(parameters, asn1Spec=univ.ObjectIdentifier())
                if curve != SM2_CURVE:
                    return None
            inner, _ = der_decoder.decode(info["privateKey"].asOctets(), asn1Spec=rfc5915.ECPrivateKey())
        secret = inner["privateKey"].asOctets().rjust(32, b"\0")
        if not inner["publicKey"].isValue:
            raise ConfigError(
                f"{path}: the SM2 private key carries no public key; export it again with the public key "
                f"(PKCS#8 as OpenSSL 3 or GmSSL writes it)"
            )
        public = gmssl_pyx.normalize_sm2_public_key(inner["publicKey"].asOctets())
    except (binascii.Error, ValueError, PyAsn1Error, gmssl_pyx.GmsslInnerError) as exc:
        raise ConfigError(f"{path}: unreadable SM2 private key ({exc})") from None
    if len(secret) != 32:
        raise ConfigError(f"{path}: an SM2 private key must be 32 bytes; found {len(secret)}")
    return Sm2PrivateKey(secret, public)


def load_sm2_private_key(path: Path) -> Sm2PrivateKey:
    """Load an unencrypted SM2 PEM private key (PKCS#8 or SEC1) with the same file checks as other keys."""
    data = _read_private(path)
    if b"ENCRYPTED" in data:
        raise ConfigError(f"{path}: encrypted private keys are not supported; store it unencrypted, mode 600")
    key = _parse_sm2_private_key(data, path)
    if key is None:
        raise ConfigError(f"{path}: not an SM2 private key (PEM, PKCS#8 or SEC1, curve sm2p256v1 expected)")
    return key


def _asn1_time(when: dt.datetime) -> rfc5280.Time:
    time = rfc5280.Time()
    when = when.astimezone(dt.UTC)
    if when.year < 2050:  # RFC 5280 4.1.2.5: UTCTime through 2049, GeneralizedTime after
        time["utcTime"] = useful.UTCTime(when.strftime("%y%m%d%H%M%SZ"))
    else:
        time["generalTime"] = useful.GeneralizedTime(when.strftime("%Y%m%d%H%M%SZ"))
    return time


def _sm2_self_signed(key: Sm2PrivateKey, common_name: str, start: dt.datetime, end: dt.datetime) -> x509.Certificate:
    """A self-signed SM2-with-SM3 certificate with the RSA/EC ones' extensions (OpenSSL 3 verifies it)."""
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    name, _ = der_decoder.decode(subject.public_bytes(), asn1Spec=rfc5280.Name())
    point = b"\x04" + key.public
    tbs = rfc5280.TBSCertificate()
    tbs["version"] = "v3"
    tbs["serialNumber"] = x509.random_serial_number()
    tbs["signature"]["algorithm"] = SM2_WITH_SM3
    tbs["issuer"] = name
    tbs["validity"]["notBefore"] = _asn1_time(start)
    tbs["validity"]["notAfter"] = _asn1_time(end)
    tbs["subject"] = name
    tbs["subjectPublicKeyInfo"]["algorithm"]["algorithm"] = rfc5480.id_ecPublicKey
    tbs["subjectPublicKeyInfo"]["algorithm"]["parameters"] = der_encoder.encode(SM2_CURVE)
    tbs["subjectPublicKeyInfo"]["subjectPublicKey"] = univ.BitString.fromOctetString(point)
    extensions: list[tuple[x509.ExtensionType, bool]] = [
        (_END_ENTITY, True),
        (_SIGNING_ONLY, True),
        # RFC 5280 4.2.1.2 method (1): the SHA-1 of the key's bit string
        (x509.SubjectKeyIdentifier(hashlib.sha1(point, usedforsecurity=False).digest()), False),
    ]
    for value, critical in extensions:
        extension = rfc5280.Extension()
        extension["extnID"] = univ.ObjectIdentifier(value.oid.dotted_string)
        extension["critical"] = critical
        extension["extnValue"] = value.public_bytes()
        tbs["extensions"].append(extension)
    cert = rfc5280.Certificate()
    cert["tbsCertificate"] = tbs
    cert["signatureAlgorithm"]["algorithm"] = SM2_WITH_SM3
    cert["signature"] = univ.BitString.fromOctetString(key.sign(der_encoder.encode(tbs)))
    return x509.load_der_x509_certificate(der_encoder.encode(cert))
