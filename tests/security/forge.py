"""An attacker's signing kit: enveloped XML-DSig signatures with every knob the gateway must refuse.

Built directly on lxml C14N and ``cryptography`` (as the gateway's own Signer is) so a test can choose the
algorithms, the Reference URI, where the signature goes and what KeyInfo carries: the resulting signatures are
cryptographically correct, so a rejection proves a profile check, not a broken digest.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
from collections.abc import Callable

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID
from lxml import etree

from gateway.security.certificates import PrivateKey

DS = "http://www.w3.org/2000/09/xmldsig#"
C14N = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315"
C14N_COMMENTS = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315#WithComments"
ENVELOPED = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
RSA_SHA1 = "http://www.w3.org/2000/09/xmldsig#rsa-sha1"
ECDSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"
SHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"
SHA1 = "http://www.w3.org/2000/09/xmldsig#sha1"

_HASHES: dict[str, Callable[[], hashes.HashAlgorithm]] = {
    RSA_SHA256: hashes.SHA256,
    RSA_SHA1: hashes.SHA1,
    ECDSA_SHA256: hashes.SHA256,
}
_DIGESTS = {SHA256: hashlib.sha256, SHA1: hashlib.sha1}


def _ds(name: str) -> str:
    return f"{{{DS}}}{name}"


def _raw_signature(key: PrivateKey, method: str, data: bytes) -> bytes:
    algorithm = _HASHES[method]()
    if isinstance(key, rsa.RSAPrivateKey):
        return key.sign(data, padding.PKCS1v15(), algorithm)
    r, s = decode_dss_signature(key.sign(data, ec.ECDSA(algorithm)))
    size = (key.curve.key_size + 7) // 8
    return r.to_bytes(size, "big") + s.to_bytes(size, "big")


def forge(
    root: etree._Element,
    key: PrivateKey,
    cert: x509.Certificate | None,
    *,
    method: str = RSA_SHA256,
    digest: str = SHA256,
    uri: str = "",
    c14n: str = C14N,
    parent: etree._Element | None = None,
) -> etree._Element:
    """Sign ``root`` in place and return it.

    ``uri`` "" covers the whole document (enveloped transform); "#x" covers the element whose ``Id`` is x.
    ``parent`` is where the ds:Signature goes (default: last child of the root); ``cert`` None: no KeyInfo.
    """
    if uri:
        target = root.xpath("//*[@Id=$id]", id=uri[1:])[0]
        covered = etree.tostring(target, method="c14n", with_comments=c14n == C14N_COMMENTS)
    else:
        covered = etree.tostring(root, method="c14n", with_comments=c14n == C14N_COMMENTS)
    value = base64.b64encode(_DIGESTS[digest](covered).digest()).decode()
    signature = etree.SubElement(parent if parent is not None else root, _ds("Signature"), nsmap={"ds": DS})
    signed_info = etree.SubElement(signature, _ds("SignedInfo"))
    etree.SubElement(signed_info, _ds("CanonicalizationMethod"), Algorithm=C14N)
    etree.SubElement(signed_info, _ds("SignatureMethod"), Algorithm=method)
    reference = etree.SubElement(signed_info, _ds("Reference"), URI=uri)
    transforms = etree.SubElement(reference, _ds("Transforms"))
    etree.SubElement(transforms, _ds("Transform"), Algorithm=ENVELOPED)
    etree.SubElement(transforms, _ds("Transform"), Algorithm=c14n)
    etree.SubElement(reference, _ds("DigestMethod"), Algorithm=digest)
    etree.SubElement(reference, _ds("DigestValue")).text = value
    raw = _raw_signature(key, method, etree.tostring(signed_info, method="c14n"))
    etree.SubElement(signature, _ds("SignatureValue")).text = base64.b64encode(raw).decode()
    if cert is not None:
        der = cert.public_bytes(serialization.Encoding.DER)
        data = etree.SubElement(etree.SubElement(signature, _ds("KeyInfo")), _ds("X509Data"))
        etree.SubElement(data, _ds("X509Certificate")).text = base64.b64encode(der).decode()
    return root


def rsa_key_and_certificate(
    name: str, *, bits: int = 2048, not_before: dt.datetime | None = None, days: int = 30
) -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    """A self-signed RSA certificate of any size (``gateway keys new`` refuses to make weak ones)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    start = not_before or dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=days))
        .sign(key, hashes.SHA256())
    )
    return key, cert


def pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)
