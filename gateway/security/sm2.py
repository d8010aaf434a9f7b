"""XML-DSig with SM2-SM3, as China Customs' CEB specification (2022-05 edition, chapter 6) describes it.

signxml does not know SM2, so both directions are built here on lxml's C14N and GmSSL (through gmssl-pyx),
in the same strict profile as the RSA/ECDSA path of :mod:`gateway.security.signatures`, which hands SM2
signatures over:

- one enveloped ``ds:Signature``, a direct child of the document element, with one ``Reference URI=""``;
  transforms: enveloped-signature, optionally followed by C14N 1.0; nothing else;
- ``CanonicalizationMethod``: C14N 1.0, ``http://www.w3.org/TR/2001/REC-xml-c14n-20010315`` (fixed by the
  spec);
- ``DigestMethod``: ``http://www.chinaport.gov.cn/2022/04/xmldsig#sm3``, SM3 of the C14N 1.0 form (comments
  removed, as for any ``URI=""`` reference) of the document without its signature;
- ``SignatureMethod``: ``http://www.chinaport.gov.cn/2022/04/xmldsig#sm2-sm3``, what the spec prefers and
  what the gateway writes; ``http://www.w3.org/2000/09/xmldsig#sm2-sm3``, seen in the wild, is accepted;
- ``SignatureValue``: the SM2 signature (GM/T 0003.2) of the canonical ``SignedInfo``, over
  e = SM3(Z || M) with Z computed from the default distinguishing identifier ``1234567812345678``
  (GM/T 0009; the CEB spec names no identifier, and its crypto product guide cites GB/T 35276, which has the
  same default). The spec's example does not fix the encoding. The gateway WRITES the raw 64 bytes r || s
  (32 bytes each, big-endian: how XML-DSig writes ECDSA values, RFC 4050, and how the RSA path writes ECDSA)
  and ACCEPTS both that and a DER ``SEQUENCE {r, s}``;
- ``KeyInfo``: ``KeyName`` (the certificate's serial number in hex, what a CEB signing device reports as
  its certificate number) then ``X509Data/X509Certificate``. The certificate must be pinned in the partner
  file; the ``KeyName`` is informational and not checked.

Like the RSA path, :func:`verify` returns :class:`~gateway.security.signatures.Verified` whose ``xml`` is
parsed from the canonical signed bytes, never the tree the message arrived in.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import sys
from collections.abc import Sequence
from pathlib import Path

import gmssl_pyx
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature
from lxml import etree

from gateway.errors import CertificateUntrusted, ConfigError, SignatureInvalid
from gateway.security.certificates import (
    Sm2PrivateKey,
    TrustedCertificate,
    load_certificate,
    load_sm2_private_key,
    sm2_public_key,
    sm2_z,
)
from gateway.security.verified import DS, ENVELOPED, Verified, enveloped_c14n
from gateway.security.xml import parse_xml
from gateway.text import quoted

CHINAPORT_SM2_SM3 = "http://www.chinaport.gov.cn/2022/04/xmldsig#sm2-sm3"
W3_SM2_SM3 = "http://www.w3.org/2000/09/xmldsig#sm2-sm3"  # not a W3C URI, but what some CEB clients write
SM2_SIGNATURE_METHODS = frozenset({CHINAPORT_SM2_SM3, W3_SM2_SM3})
CHINAPORT_SM3 = "http://www.chinaport.gov.cn/2022/04/xmldsig#sm3"
C14N = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315"
_ALLOWED_TRANSFORMS = ([ENVELOPED], [ENVELOPED, C14N])
_NS = {"ds": DS}
_POINTER = "/*/ds:Signature"


def sm3(data: bytes) -> bytes:
    """SM3 (GM/T 0004) of ``data``: 32 bytes."""
    digest: bytes = gmssl_pyx.sm3_hash(data)
    return digest


def is_sm2(signature: etree._Element) -> bool:
    """Whether a ``ds:Signature`` names an SM2-SM3 signature method (then :func:`verify` handles it)."""
    method = signature.find("ds:SignedInfo/ds:SignatureMethod", _NS)
    return method is not None and method.get("Algorithm") in SM2_SIGNATURE_METHODS


def _fail(message: str) -> SignatureInvalid:
    return SignatureInvalid(message, pointer=_POINTER)


def _b64(element: etree._Element | None, what: str) -> bytes:
    text = "".join((element.text or "").split()) if element is not None else ""
    if not text:
        raise _fail(f"{what} is missing or empty")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise _fail(f"{what} is not valid base64") from None


def _der_forms(value: bytes) -> list[bytes]:
    """The DER encodings a SignatureValue may stand for: raw r || s (64 bytes) and/or DER SEQUENCE {r, s}."""
    forms = []
    if len(value) == 64:
        r, s = int.from_bytes(value[:32], "big"), int.from_bytes(value[32:], "big")
        forms.append(encode_dss_signature(r, s))
    with contextlib.suppress(ValueError):  # not DER
        forms.append(encode_dss_signature(*decode_dss_signature(value)))
    if not forms:
        raise _fail(
            f"SignatureValue of {len(value)} bytes is neither an SM2 r||s value (64 bytes) nor a DER SEQUENCE {{r, s}}"
        )
    return forms


def _check_profile(signed_info: etree._Element) -> None:
    c14n = signed_info.find("ds:CanonicalizationMethod", _NS)
    algorithm = c14n.get("Algorithm") if c14n is not None else None
    if algorithm != C14N:
        raise _fail(f"CanonicalizationMethod {quoted(algorithm)} is not accepted with sm2-sm3; allowed: {C14N}")
    reference = signed_info.find("ds:Reference", _NS)
    assert reference is not None  # SignatureVerifier checked there is exactly one
    transforms = [t.get("Algorithm") for t in reference.findall("ds:Transforms/ds:Transform", _NS)]
    if transforms not in _ALLOWED_TRANSFORMS:
        raise _fail(
            f"transforms {quoted(transforms)} are not accepted with sm2-sm3; "
            "allowed: enveloped-signature, optionally followed by C14N 1.0"
        )
    digest = reference.find("ds:DigestMethod", _NS)
    algorithm = digest.get("Algorithm") if digest is not None else None
    if algorithm != CHINAPORT_SM3:
        raise _fail(f"digest algorithm {quoted(algorithm)} is not accepted with sm2-sm3; allowed: {CHINAPORT_SM3}")


def _describe(trusted: TrustedCertificate) -> str:
    return f"{trusted.subject} ({trusted.path.name})"


def _sm2_keys(
    partner_id: str, signature: etree._Element, candidates: Sequence[TrustedCertificate]
) -> list[TrustedCertificate]:
    keys = [c for c in candidates if c.sm2_public_key is not None]
    if keys:
        return keys
    if signature.find("ds:KeyInfo/ds:X509Data/ds:X509Certificate", _NS) is not None:
        # The signature names a pinned certificate, but not an SM2 one: it cannot be an SM2 signature by it.
        raise _fail(
            "the signature method is sm2-sm3 but the certificate in the signature, "
            f"{_describe(candidates[0])}, holds an RSA or EC key, not an SM2 key"
        )
    raise CertificateUntrusted(
        f"partner {partner_id} has no SM2 certificate valid now; an sm2-sm3 signature needs one in its partner file",
        pointer="/*/ds:Signature/ds:KeyInfo",
    )


def verify(
    partner_id: str, root: etree._Element, signature: etree._Element, candidates: Sequence[TrustedCertificate]
) -> Verified:
    """Verify the SM2-SM3 ``signature`` of ``root`` (found, placed and counted by ``SignatureVerifier``).

    ``candidates`` are the partner's pinned certificates that apply (the one named in KeyInfo, else every one
    valid now), as ``SignatureVerifier`` chose them: pinning and the validity window are checked there, once
    for all algorithms.
    """
    signed_info = signature.find("ds:SignedInfo", _NS)
    assert signed_info is not None  # SignatureVerifier found the Reference inside it
    method = signed_info.find("ds:SignatureMethod", _NS).get("Algorithm")  # is_sm2 found it
    _check_profile(signed_info)
    keys = _sm2_keys(partner_id, signature, candidates)
    digest_value = _b64(signed_info.find("ds:Reference/ds:DigestValue", _NS), "DigestValue")
    forms = _der_forms(_b64(signature.find("ds:SignatureValue", _NS), "SignatureValue"))
    signed_data = enveloped_c14n(root, signature)  # C14N 1.0
    if sm3(signed_data) != digest_value:
        raise _fail("the SM3 digest of the document does not match DigestValue: the content changed after signing")
    # Inclusive C14N of SignedInfo where it stands: it carries the namespaces in scope, as the signer saw.
    signed_info_bytes = etree.tostring(signed_info, method="c14n", with_comments=False)
    for trusted in keys:
        key = trusted.sm2_public_key
        assert key is not None  # _sm2_keys kept only SM2 certificates
        digest = sm3(sm2_z(key) + signed_info_bytes)  # e = SM3(Z || M), GM/T 0003.2
        for der in forms:
            try:
                valid = gmssl_pyx.sm2_verify_sm3_digest(key, digest, der)
            except gmssl_pyx.GmsslInnerError:  # e.g. r or s out of range
                valid = False
            if valid:
                # The canonical bytes were parsed once already (as the message) and passed its depth limit.
                xml = parse_xml(signed_data, max_depth=sys.maxsize)
                return Verified(xml, signed_data, trusted, str(method), False)
    names = ", ".join(_describe(k) for k in keys)
    raise _fail(f"the SM2 signature does not verify with partner {partner_id}'s certificate ({names})")


def load_sm2_signer(key_path: Path, cert_path: Path) -> Sm2Signer:
    """An SM2 signer from key and certificate files, loaded once (ConfigError when they are unusable)."""
    return Sm2Signer(load_sm2_private_key(key_path), load_certificate(cert_path).certificate)


class Sm2Signer:
    """Enveloped SM2-SM3 signatures in the CEB profile with one key loaded once; ``Signer``'s interface."""

    algorithm = CHINAPORT_SM2_SM3

    def __init__(self, key: Sm2PrivateKey, certificate: x509.Certificate) -> None:
        der = certificate.public_bytes(serialization.Encoding.DER)
        if sm2_public_key(der) != key.public:
            subject = certificate.subject.rfc4514_string()
            raise ConfigError(f"certificate {subject} does not hold the public key of this SM2 private key")
        self.key = key
        self.certificate = certificate
        self._certificate_b64 = base64.b64encode(der).decode()
        serial = certificate.serial_number
        self.key_name = serial.to_bytes(max(1, (serial.bit_length() + 7) // 8), "big").hex()

    def sign(self, root: etree._Element) -> etree._Element:
        """Sign ``root`` in place (signature appended as the last child, where CEB XSDs put it); return it."""
        if root.find("ds:Signature", _NS) is not None:
            raise ValueError("the document already carries a ds:Signature; remove it before signing")
        digest = sm3(etree.tostring(root, method="c14n", with_comments=False))
        ds = f"{{{DS}}}"
        signature = etree.SubElement(root, ds + "Signature", nsmap={"ds": DS})
        signed_info = etree.SubElement(signature, ds + "SignedInfo")
        etree.SubElement(signed_info, ds + "CanonicalizationMethod", Algorithm=C14N)
        etree.SubElement(signed_info, ds + "SignatureMethod", Algorithm=self.algorithm)
        reference = etree.SubElement(signed_info, ds + "Reference", URI="")
        transforms = etree.SubElement(reference, ds + "Transforms")
        etree.SubElement(transforms, ds + "Transform", Algorithm=ENVELOPED)
        etree.SubElement(reference, ds + "DigestMethod", Algorithm=CHINAPORT_SM3)
        etree.SubElement(reference, ds + "DigestValue").text = base64.b64encode(digest).decode()
        der = self.key.sign(etree.tostring(signed_info, method="c14n", with_comments=False))
        r, s = decode_dss_signature(der)
        value = r.to_bytes(32, "big") + s.to_bytes(32, "big")
        etree.SubElement(signature, ds + "SignatureValue").text = base64.b64encode(value).decode()
        key_info = etree.SubElement(signature, ds + "KeyInfo")
        etree.SubElement(key_info, ds + "KeyName").text = self.key_name
        etree.SubElement(
            etree.SubElement(key_info, ds + "X509Data"), ds + "X509Certificate"
        ).text = self._certificate_b64
        return root
