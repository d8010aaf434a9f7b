"""XML-DSig: verify a partner's enveloped signature, sign what the gateway sends.

The verifier accepts one profile only: exactly one ``ds:Signature``, a direct child of the document element,
with exactly one ``Reference URI=""`` (the whole document), canonicalisation without comments, an allowed
algorithm, and a certificate pinned in the partner file (or issued by one of its ``ca_certificates`` and not
revoked: :mod:`gateway.security.chain`) with a key of at least 2048 (RSA) or 256 bits (EC).
It returns :class:`Verified`, whose ``xml`` is what the signature covers; nothing after verification may read
the tree the bytes were parsed into (signature wrapping, comment injection). Whatever signxml, lxml or
cryptography raise while verifying is translated here into a :class:`SignatureInvalid` naming the cause.
"""

from __future__ import annotations

import base64
import binascii
import copy
import datetime as dt
import hashlib
import logging
import threading
import warnings
from collections.abc import Sequence
from dataclasses import replace
from typing import TypeVar

import cryptography.exceptions
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from lxml import etree
from signxml.algorithms import CanonicalizationMethod, DigestAlgorithm, SignatureMethod
from signxml.exceptions import SignXMLException
from signxml.verifier import SignatureConfiguration, VerifyResult, XMLVerifier

from gateway.errors import CertificateExpired, CertificateUntrusted, SignatureInvalid
from gateway.security import sm2
from gateway.security.certificates import MIN_RSA_BITS, PrivateKey, TrustedCertificate
from gateway.security.chain import TrustChain
from gateway.security.fast_verify import fast_verify
from gateway.security.verified import DS, ENVELOPED, Verified
from gateway.text import quoted, shorten

log = logging.getLogger(__name__)

_NS = {"ds": DS}

STRONG_SIGNATURE_METHODS = frozenset(
    {
        SignatureMethod.RSA_SHA256,
        SignatureMethod.RSA_SHA384,
        SignatureMethod.RSA_SHA512,
        SignatureMethod.ECDSA_SHA256,
        SignatureMethod.ECDSA_SHA384,
    }
)
STRONG_DIGESTS = frozenset({DigestAlgorithm.SHA256, DigestAlgorithm.SHA384, DigestAlgorithm.SHA512})
LEGACY = {"rsa-sha1": (SignatureMethod.RSA_SHA1, DigestAlgorithm.SHA1)}
# Canonicalisation that drops comments only: with comments, a comment inside signed text is signed too and
# splits the text node, so what the gateway reads (the text before the comment) is not what a receiver reads.
C14N_ALGORITHMS = frozenset(m.value for m in CanonicalizationMethod if "WithComments" not in m.value)
ALLOWED_TRANSFORMS = frozenset({ENVELOPED} | C14N_ALGORITHMS)
MIN_EC_BITS = 256
_TEXTS_KEPT = 64  # KeyInfo certificate texts remembered per partner (a few certificates, a few line wrappings)
# Everything the libraries raise on hostile input (found by tests/security fuzzing and the W3C vectors): e.g.
# lxml's DocumentInvalid from signxml's schema check, ValueError for unknown algorithm URIs, TypeError for an
# empty SignatureValue, cryptography's own InvalidSignature.
_VERIFY_ERRORS = (
    SignXMLException,
    etree.LxmlError,
    cryptography.exceptions.InvalidSignature,
    cryptography.exceptions.UnsupportedAlgorithm,
    ValueError,
    TypeError,
    KeyError,
    IndexError,
    AttributeError,
)


def _fail(message: str) -> SignatureInvalid:
    return SignatureInvalid(message, pointer="/*/ds:Signature")


_Algorithm = TypeVar("_Algorithm", SignatureMethod, DigestAlgorithm)


def _allowed_names(algorithms: frozenset[_Algorithm]) -> str:
    return ", ".join(sorted(a.value.rsplit("#", 1)[-1] for a in algorithms))


class SignatureVerifier:
    """Verifies one partner's signatures; built once per partner with its pinned certificates."""

    def __init__(
        self,
        partner_id: str,
        certificates: Sequence[TrustedCertificate],
        legacy_algorithms: Sequence[str] = (),
        *,
        chain: TrustChain | None = None,
    ) -> None:
        self.partner_id = partner_id
        self.certificates = tuple(certificates)
        self.chain = chain  # the partner's CAs and CRLs: a KeyInfo certificate that is not pinned may chain to one
        self._by_fingerprint = {c.fingerprint: c for c in self.certificates}
        # Per certificate, computed once (issue 15: per message they cost ~10-20 us of ABC isinstance checks,
        # base64 and SHA-256): whether its key is weak (by fingerprint), and the pinned certificate a KeyInfo's
        # ds:X509Certificate text names (the same text is the same DER; only pinned ones: a certificate that
        # chains to a partner CA is checked against the CRLs each time).
        self._weak_key: dict[str, bool] = {c.fingerprint: _weak(c) for c in self.certificates}
        self._by_text: dict[str, TrustedCertificate] = {}
        methods, digests = set(STRONG_SIGNATURE_METHODS), set(STRONG_DIGESTS)
        for name in legacy_algorithms:
            method, digest = LEGACY[name]
            methods.add(method)
            digests.add(digest)
        self._methods = frozenset(methods)
        self._digests = frozenset(digests)
        self._weak_keys_allowed = bool(legacy_algorithms)  # as at partner load (load_certificate allow_weak)
        self._config = SignatureConfiguration(
            location="./",
            expect_references=1,
            signature_methods=self._methods,
            digest_algorithms=self._digests,
            ignore_ambiguous_key_info=False,
        )

    def verify(self, root: etree._Element, *, now: dt.datetime | None = None) -> Verified:
        now = now or dt.datetime.now(dt.UTC)
        signature = self._the_signature(root)
        if sm2.is_sm2(signature):  # signxml does not know SM2: the CEB SM2-SM3 profile is verified there
            candidates = self._candidates(signature, now)
            try:
                return sm2.verify(self.partner_id, root, signature, candidates)
            except _VERIFY_ERRORS as exc:  # e.g. lxml's C14NError for a relative namespace URI (fuzzing)
                reason = f"{type(exc).__name__}: {shorten(str(exc), 300)}"
                raise _fail(f"the SM2 signature could not be checked: {reason}") from exc
        method = self._signature_method(signature)
        digest = self._digest_method(signature)
        candidates = self._candidates(signature, now)
        last_error: Exception | None = None
        for trusted in candidates:
            fast = fast_verify(root, signature, trusted, method, digest)
            if fast is not None:
                return self._verified(fast[0], fast[1], trusted, method, digest)
            try:
                result = XMLVerifier().verify(
                    root, x509_cert=trusted.certificate, expect_config=replace(self._config, verification_time=now)
                )
            except _VERIFY_ERRORS as exc:
                last_error = exc
                continue
            assert isinstance(result, VerifyResult)  # one, as expect_references=1 asks
            if result.signed_xml is None:  # signxml could not re-parse what the signature covers
                last_error = ValueError("the signed content is not a well-formed document")
                continue
            return self._verified(result.signed_xml, result.signed_data, trusted, method, digest)
        reason = f"{type(last_error).__name__}: {last_error}" if last_error is not None else "no certificate"
        raise _fail(
            f"the signature does not verify with partner {self.partner_id}'s certificate: {shorten(reason, 300)}"
        )

    def _verified(
        self,
        xml: etree._Element,
        data: bytes,
        trusted: TrustedCertificate,
        method: SignatureMethod,
        digest: DigestAlgorithm,
    ) -> Verified:
        legacy = method not in STRONG_SIGNATURE_METHODS or digest not in STRONG_DIGESTS or self._weak(trusted)
        if legacy:
            log.warning(
                "legacy signature accepted from partner %s (allowed by its partner file): %s, digest %s, "
                "certificate %s",
                self.partner_id,
                method.value,
                digest.value,
                trusted.path.name,
            )
        return Verified(xml, data, trusted, method.value, legacy)

    def _the_signature(self, root: etree._Element) -> etree._Element:
        signatures = list(root.iter(f"{{{DS}}}Signature"))
        if not signatures:
            raise _fail("the message is not signed: no ds:Signature element found")
        if len(signatures) > 1:
            raise _fail(f"found {len(signatures)} ds:Signature elements; exactly one enveloped signature is required")
        signature = signatures[0]
        if signature.getparent() is not root:
            raise _fail("the ds:Signature must be a direct child of the document element (enveloped signature)")
        if len(signature.findall("ds:SignedInfo", _NS)) != 1:
            raise _fail("the ds:Signature must have exactly one ds:SignedInfo")
        references = signature.findall("ds:SignedInfo/ds:Reference", _NS)
        if len(references) != 1 or references[0].get("URI") != "":
            uris = quoted([r.get("URI") for r in references][:5])
            raise _fail(
                f'the signature must have exactly one Reference with URI="" covering the whole document; found {uris}'
            )
        for transform in references[0].findall("ds:Transforms/ds:Transform", _NS):
            algorithm = transform.get("Algorithm")
            if algorithm not in ALLOWED_TRANSFORMS:
                raise _fail(
                    f"transform {quoted(algorithm)} is not allowed; only enveloped-signature and canonical "
                    "XML without comments"
                )
        c14n = signature.find("ds:SignedInfo/ds:CanonicalizationMethod", _NS)
        if c14n is not None and c14n.get("Algorithm") not in C14N_ALGORITHMS:
            raise _fail(
                f"CanonicalizationMethod {quoted(c14n.get('Algorithm'))} is not allowed; only canonical XML "
                "without comments"
            )
        return signature

    def _signature_method(self, signature: etree._Element) -> SignatureMethod:
        return self._algorithm(
            signature, "ds:SignedInfo/ds:SignatureMethod", SignatureMethod, self._methods, "signature"
        )

    def _digest_method(self, signature: etree._Element) -> DigestAlgorithm:
        return self._algorithm(
            signature, "ds:SignedInfo/ds:Reference/ds:DigestMethod", DigestAlgorithm, self._digests, "digest"
        )

    def _algorithm(
        self, signature: etree._Element, path: str, kind: type[_Algorithm], accepted: frozenset[_Algorithm], what: str
    ) -> _Algorithm:
        element = signature.find(path, _NS)
        algorithm = element.get("Algorithm") if element is not None else None
        try:
            named = kind(algorithm)
        except ValueError:
            named = None
        if named is None or named not in accepted:
            raise _fail(
                f"{what} algorithm {quoted(algorithm)} is not accepted from partner {self.partner_id}; "
                f"allowed: {_allowed_names(accepted)}"
            )
        return named

    def _candidates(self, signature: etree._Element, now: dt.datetime) -> list[TrustedCertificate]:
        """The certificates to try: the one in KeyInfo (pinned, or issued by a partner CA), else every pinned one
        valid now."""
        embedded = signature.findall("ds:KeyInfo/ds:X509Data/ds:X509Certificate", _NS)
        if embedded:
            text = embedded[0].text or ""
            trusted = self._by_text.get(text)
            if trusted is None:
                try:
                    der = base64.b64decode("".join(text.split()), validate=True)
                except (binascii.Error, ValueError):
                    raise _fail("ds:X509Certificate is not valid base64") from None
                trusted = self._by_fingerprint.get(hashlib.sha256(der).hexdigest())
                if trusted is not None and len(self._by_text) < _TEXTS_KEPT:
                    self._by_text[text] = trusted
                elif trusted is None and self.chain:
                    trusted = self.chain.check(der, now)  # issued by one of its CAs and not revoked, else refused
            if trusted is None:
                raise CertificateUntrusted(
                    f"the certificate in the signature ({_describe(der)}) is not one of partner "
                    f"{self.partner_id}'s trusted certificates",
                    pointer="/*/ds:Signature/ds:KeyInfo",
                )
            if not trusted.valid_at(now):
                raise _expired(trusted, now)
            self._check_key(trusted)
            return [trusted]
        valid = [c for c in self.certificates if c.valid_at(now)]
        if not valid:
            if self.certificates:
                raise _expired(self.certificates[0], now)
            raise CertificateUntrusted(f"partner {self.partner_id} has no trusted certificate")
        for trusted in valid:
            self._check_key(trusted)
        return valid

    def _weak(self, trusted: TrustedCertificate) -> bool:
        weak = self._weak_key.get(trusted.fingerprint)
        return _weak(trusted) if weak is None else weak

    def _check_key(self, trusted: TrustedCertificate) -> None:
        """Weak keys are refused at partner load already; this holds for verifiers built any other way."""
        if self._weak(trusted) and not self._weak_keys_allowed:
            kind, bits = _key_size(trusted)
            raise CertificateUntrusted(
                f"certificate {shorten(trusted.subject, 120)} ({trusted.path.name}) has a {bits}-bit {kind} key; "
                f"at least {MIN_RSA_BITS} (RSA) or {MIN_EC_BITS} (EC) bits are required unless the partner "
                "file allows a legacy algorithm",
                pointer="/*/ds:Signature/ds:KeyInfo",
            )


def _key_size(trusted: TrustedCertificate) -> tuple[str, int]:
    if trusted.sm2_public_key is not None:  # cryptography cannot read SM2 keys (sm2p256v1: 256 bits)
        return "SM2", 256
    key = trusted.certificate.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        return "RSA", key.key_size
    if isinstance(key, ec.EllipticCurvePublicKey):
        return "EC", key.curve.key_size
    return type(key).__name__, 0


def _weak(trusted: TrustedCertificate) -> bool:
    kind, bits = _key_size(trusted)
    return bits < (MIN_RSA_BITS if kind == "RSA" else MIN_EC_BITS)


def _describe(der: bytes) -> str:
    try:
        with warnings.catch_warnings():  # e.g. a negative serial number: deprecated, and no concern here
            warnings.simplefilter("ignore")
            subject = x509.load_der_x509_certificate(der).subject.rfc4514_string()
    except ValueError:
        return "unreadable certificate"
    return f"subject {shorten(subject, 120)}, sha256 {hashlib.sha256(der).hexdigest()[:16]}…"


def _expired(trusted: TrustedCertificate, now: dt.datetime) -> CertificateExpired:
    when = "is not valid before" if now < trusted.not_before else "expired on"
    date = trusted.not_before if now < trusted.not_before else trusted.not_after
    return CertificateExpired(
        f"certificate {trusted.subject} ({trusted.path.name}) {when} {date.isoformat()}",
        pointer="/*/ds:Signature/ds:KeyInfo",
    )


class Signer:
    """Enveloped XML-DSig signatures with one key, loaded once.

    The signature is built directly with lxml's C14N and ``cryptography``: one canonicalisation of the document,
    one of SignedInfo, one private-key operation. (signxml re-parses the document several times per call and
    costs ~3.3 ms per RSA-2048 signature against 1.3 ms for the key operation alone.) Interoperability with
    signxml's verifier is covered by the tests.
    """

    C14N = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315"
    SHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"

    def __init__(self, key: PrivateKey, certificate: x509.Certificate) -> None:
        self.key = key
        self.certificate = certificate
        if isinstance(key, rsa.RSAPrivateKey):
            self.algorithm = SignatureMethod.RSA_SHA256.value
        elif isinstance(key, ec.EllipticCurvePrivateKey):
            self.algorithm = SignatureMethod.ECDSA_SHA256.value
        else:  # pragma: no cover - load_private_key refuses other types
            raise TypeError(type(key))
        self._certificate_b64 = base64.b64encode(certificate.public_bytes(serialization.Encoding.DER)).decode()
        self._local = threading.local()

    def _sign_bytes(self, data: bytes) -> bytes:
        if isinstance(self.key, rsa.RSAPrivateKey):
            return self.key.sign(data, padding.PKCS1v15(), hashes.SHA256())
        # XML-DSig wants the raw r||s concatenation, not the DER sequence cryptography returns.
        r, s = decode_dss_signature(self.key.sign(data, ec.ECDSA(hashes.SHA256())))
        size = (self.key.curve.key_size + 7) // 8
        return r.to_bytes(size, "big") + s.to_bytes(size, "big")

    def _template(self) -> etree._Element:
        """The ds:Signature this signer appends, with DigestValue and SignatureValue empty: built once per thread
        (lxml trees are not for sharing between threads) and copied for each signature (issue 15: built element
        by element it cost ~20 us a signature, a copy a few)."""
        template: etree._Element | None = getattr(self._local, "template", None)
        if template is None:
            ds = f"{{{DS}}}"
            template = etree.Element(ds + "Signature", nsmap={"ds": DS})
            signed_info = etree.SubElement(template, ds + "SignedInfo")
            etree.SubElement(signed_info, ds + "CanonicalizationMethod", Algorithm=self.C14N)
            etree.SubElement(signed_info, ds + "SignatureMethod", Algorithm=self.algorithm)
            reference = etree.SubElement(signed_info, ds + "Reference", URI="")
            transforms = etree.SubElement(reference, ds + "Transforms")
            etree.SubElement(transforms, ds + "Transform", Algorithm=ENVELOPED)
            etree.SubElement(transforms, ds + "Transform", Algorithm=self.C14N)
            etree.SubElement(reference, ds + "DigestMethod", Algorithm=self.SHA256)
            etree.SubElement(reference, ds + "DigestValue")
            etree.SubElement(template, ds + "SignatureValue")
            key_info = etree.SubElement(template, ds + "KeyInfo")
            etree.SubElement(
                etree.SubElement(key_info, ds + "X509Data"), ds + "X509Certificate"
            ).text = self._certificate_b64
            self._local.template = template
        return template

    def sign(self, root: etree._Element) -> etree._Element:
        """Sign ``root`` in place (signature appended as its last child) and return it."""
        # URI="" excludes comments from what is digested (XML-DSig 4.3.3.3): lxml includes them unless told.
        digest = hashlib.sha256(etree.tostring(root, method="c14n", with_comments=False)).digest()
        signature = copy.deepcopy(self._template())
        root.append(signature)
        signed_info, signature_value = signature[0], signature[1]
        signed_info[2][2].text = base64.b64encode(digest).decode()  # SignedInfo/Reference/DigestValue
        # Inclusive C14N of SignedInfo in place: it carries the namespaces in scope, as a verifier will see them.
        value = self._sign_bytes(etree.tostring(signed_info, method="c14n"))
        signature_value.text = base64.b64encode(value).decode()
        return root
