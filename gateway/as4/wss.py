"""WS-Security 1.1.1 for AS4: sign and verify (X.509 token, RSA-SHA256, SwA attachment references); the
attachments' encryption is :mod:`gateway.as4.encryption`. lxml does the exclusive C14N, ``cryptography`` every
cryptographic operation; this module only assembles and checks the header.

Verification is strict where signature wrapping lives: every wsu:Id in the envelope is unique, a reference
resolves only to the element carrying that id, and the caller checks *by identity* that the eb:Messaging and
S12:Body it reads are the elements that were signed (:class:`Verified`). Transforms and algorithms outside a
short list are refused (PolicyNoncompliance) instead of ignored.
"""

from __future__ import annotations

import base64
import hashlib
import uuid
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from lxml import etree

from gateway.as4 import constants as c
from gateway.as4.errors import FailedAuthentication, PolicyNoncompliance

_DIGESTS: dict[str, Callable[[bytes], hashlib._Hash]] = {
    c.SHA256: hashlib.sha256,
    "http://www.w3.org/2001/04/xmldsig-more#sha384": hashlib.sha384,
    "http://www.w3.org/2001/04/xmlenc#sha512": hashlib.sha512,
}
_SIGNATURES: dict[str, hashes.HashAlgorithm] = {
    c.RSA_SHA256: hashes.SHA256(),
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384": hashes.SHA384(),
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512": hashes.SHA512(),
}


def q(ns: str, name: str) -> str:
    return f"{{{ns}}}{name}"


@dataclass(frozen=True)
class Credentials:
    """The gateway's (or a peer's) AS4 identity: an RSA key and its certificate."""

    key: rsa.RSAPrivateKey
    certificate: x509.Certificate


@dataclass(frozen=True)
class Reference:
    """One ds:Reference as signed: what a receipt's NonRepudiationInformation repeats and the sender compares."""

    uri: str
    transforms: tuple[str, ...]
    digest_method: str
    digest_value: str

    def to_xml(self) -> etree._Element:
        ref = etree.Element(q(c.DS, "Reference"), URI=self.uri, nsmap={"ds": c.DS})
        transforms = etree.SubElement(ref, q(c.DS, "Transforms"))
        for algorithm in self.transforms:
            etree.SubElement(transforms, q(c.DS, "Transform"), Algorithm=algorithm)
        etree.SubElement(ref, q(c.DS, "DigestMethod"), Algorithm=self.digest_method)
        etree.SubElement(ref, q(c.DS, "DigestValue")).text = self.digest_value
        return ref

    @classmethod
    def from_xml(cls, ref: etree._Element) -> Reference:
        method = ref.find(q(c.DS, "DigestMethod"))
        return cls(
            uri=ref.get("URI") or "",
            transforms=tuple(
                t.get("Algorithm") or "" for t in ref.iterfind(f"{q(c.DS, 'Transforms')}/{q(c.DS, 'Transform')}")
            ),
            digest_method=(method.get("Algorithm") or "") if method is not None else "",
            digest_value=(ref.findtext(q(c.DS, "DigestValue")) or "").strip(),
        )


@dataclass(frozen=True)
class Verified:
    certificate: x509.Certificate
    references: tuple[Reference, ...]
    signed_elements: tuple[etree._Element, ...]  # compare by identity (``is``), never by id
    signed_attachments: frozenset[str]  # Content-IDs

    def covers(self, element: etree._Element) -> bool:
        return any(e is element for e in self.signed_elements)


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4()}"


def exc_c14n(element: etree._Element, prefixes: list[str] | None = None) -> bytes:
    data: bytes = etree.tostring(
        element, method="c14n", exclusive=True, with_comments=False, inclusive_ns_prefixes=prefixes or None
    )
    return data


def hasher(method: str) -> hashlib._Hash:
    """A fresh hash object for an accepted digest method (one :func:`verify` allows)."""
    if method not in _DIGESTS:
        raise PolicyNoncompliance(f"digest method {method!r}; allowed: {', '.join(_DIGESTS)}")
    return _DIGESTS[method](b"")


def _digest(method: str, data: bytes) -> str:
    return base64.b64encode(_DIGESTS[method](data).digest()).decode()


def security_header(envelope: etree._Element, *, create: bool = False) -> etree._Element | None:
    header = envelope.find(q(c.S12, "Header"))
    if header is None:
        if not create:
            return None
        header = etree.Element(q(c.S12, "Header"))
        envelope.insert(0, header)
    found = header.findall(q(c.WSSE, "Security"))
    if len(found) > 1:
        raise FailedAuthentication(f"the message has {len(found)} wsse:Security headers; exactly one is accepted")
    if found:
        return found[0]
    if not create:
        return None
    security = etree.Element(q(c.WSSE, "Security"), nsmap={"wsse": c.WSSE, "wsu": c.WSU})
    security.set(q(c.S12, "mustUnderstand"), "true")
    header.insert(0, security)
    return security


def _ensure_id(element: etree._Element, prefix: str) -> str:
    value: str | None = element.get(c.WSU_ID)
    if not value:
        value = new_id(prefix)
        element.set(c.WSU_ID, value)
    return value


def binary_security_token(security: etree._Element, certificate: x509.Certificate, prefix: str) -> str:
    """A wsse:BinarySecurityToken with ``certificate`` appended to ``security``; returns its wsu:Id."""
    bst_id = new_id(prefix)
    bst = etree.SubElement(security, q(c.WSSE, "BinarySecurityToken"), EncodingType=c.BASE64_BINARY, ValueType=c.X509V3)
    bst.set(c.WSU_ID, bst_id)
    bst.text = base64.b64encode(certificate.public_bytes(serialization.Encoding.DER)).decode()
    return bst_id


def str_reference(parent: etree._Element, uri: str, *, value_type: str | None, token_type: str | None = None) -> None:
    """A wsse:SecurityTokenReference to ``uri`` (``#id`` of a token or key) appended to ``parent``."""
    token = etree.SubElement(parent, q(c.WSSE, "SecurityTokenReference"))
    if token_type:
        token.set(q(c.WSSE11, "TokenType"), token_type)
    ref = etree.SubElement(token, q(c.WSSE, "Reference"), URI=uri)
    if value_type:
        ref.set("ValueType", value_type)


def sign(
    envelope: etree._Element,
    attachments: Mapping[str, bytes],
    credentials: Credentials,
    *,
    digests: Mapping[str, str] | None = None,
) -> tuple[Reference, ...]:
    """Sign eb:Messaging, S12:Body and every attachment (its bytes as sent, after compression).

    ``digests`` are attachments too large to hold (images), by their SHA-256 (base64) already known: the SwA
    Attachment-Content-Signature-Transform canonicalizes only XML and text/* content, so for a binary attachment
    the digest input is its octets as they are, and the content-addressed image store's digest is that digest."""
    header = envelope.find(q(c.S12, "Header"))
    body = envelope.find(q(c.S12, "Body"))
    messaging = header.find(q(c.EB, "Messaging")) if header is not None else None
    if messaging is None or body is None:
        raise ValueError("sign: the envelope needs S12:Header/eb:Messaging and S12:Body")
    security = security_header(envelope, create=True)
    assert security is not None
    bst_id = binary_security_token(security, credentials.certificate, "X509")
    references: list[Reference] = []
    for element, prefix in ((messaging, "ebMessaging"), (body, "body")):
        uri = "#" + _ensure_id(element, prefix)
        references.append(Reference(uri, (c.EXC_C14N,), c.SHA256, _digest(c.SHA256, exc_c14n(element))))
    for cid, data in attachments.items():
        references.append(Reference(f"cid:{cid}", (c.SWA_CONTENT_SIGNATURE,), c.SHA256, _digest(c.SHA256, data)))
    for cid, digest in (digests or {}).items():
        references.append(Reference(f"cid:{cid}", (c.SWA_CONTENT_SIGNATURE,), c.SHA256, digest))
    signature = etree.SubElement(security, q(c.DS, "Signature"), nsmap={"ds": c.DS})
    signature.set("Id", new_id("SIG"))
    signed_info = etree.SubElement(signature, q(c.DS, "SignedInfo"))
    etree.SubElement(signed_info, q(c.DS, "CanonicalizationMethod"), Algorithm=c.EXC_C14N)
    etree.SubElement(signed_info, q(c.DS, "SignatureMethod"), Algorithm=c.RSA_SHA256)
    for ref in references:
        signed_info.append(ref.to_xml())
    value = credentials.key.sign(exc_c14n(signed_info), padding.PKCS1v15(), hashes.SHA256())
    etree.SubElement(signature, q(c.DS, "SignatureValue")).text = base64.b64encode(value).decode()
    key_info = etree.SubElement(signature, q(c.DS, "KeyInfo"))
    str_reference(key_info, "#" + bst_id, value_type=c.X509V3)
    return tuple(references)


def _ids(envelope: etree._Element) -> dict[str, etree._Element]:
    """Every element by its Id (wsu:Id, Id, ID): a duplicate is refused, the classic wrapping precondition."""
    index: dict[str, etree._Element] = {}
    for element in envelope.iter():
        for name, value in element.attrib.items():
            if etree.QName(name).localname in {"Id", "ID"}:
                if value in index and index[value] is not element:
                    raise FailedAuthentication(f"the Id {value[:100]!r} occurs twice in the envelope")
                index[value] = element
    return index


def _one(parent: etree._Element, tag: str, what: str) -> etree._Element:
    found = parent.findall(tag)
    if len(found) != 1:
        raise FailedAuthentication(f"{what}: expected exactly one {etree.QName(tag).localname}, found {len(found)}")
    return found[0]


def _certificate(security: etree._Element, signature: etree._Element) -> x509.Certificate:
    ref = signature.find(f"{q(c.DS, 'KeyInfo')}/{q(c.WSSE, 'SecurityTokenReference')}/{q(c.WSSE, 'Reference')}")
    uri = ref.get("URI", "") if ref is not None else ""
    if not uri.startswith("#"):
        raise FailedAuthentication(
            "the signature's KeyInfo does not reference a BinarySecurityToken in the header (wsse:Reference URI=#id)"
        )
    tokens = [t for t in security.findall(q(c.WSSE, "BinarySecurityToken")) if t.get(c.WSU_ID) == uri[1:]]
    if len(tokens) != 1:
        raise FailedAuthentication(f"the signing token {uri[:100]!r} is not in the wsse:Security header")
    if tokens[0].get("ValueType") != c.X509V3:
        raise PolicyNoncompliance(f"signing token type {tokens[0].get('ValueType')!r}; allowed: {c.X509V3}")
    try:
        return x509.load_der_x509_certificate(base64.b64decode(tokens[0].text or "", validate=True))
    except ValueError as exc:
        raise FailedAuthentication(f"the signing token is not an X.509 certificate: {exc}") from None


def _check_reference(
    ref: etree._Element,
    ids: Mapping[str, etree._Element],
    attachments: Mapping[str, bytes],
    pending: Collection[str] = (),
) -> tuple[Reference, etree._Element | str]:
    reference = Reference.from_xml(ref)
    if reference.digest_method not in _DIGESTS:
        raise PolicyNoncompliance(
            f"digest method {reference.digest_method!r} of {reference.uri[:100]!r}; allowed: {', '.join(_DIGESTS)}"
        )
    if reference.uri.startswith("cid:"):
        cid = reference.uri[4:]
        if reference.transforms != (c.SWA_CONTENT_SIGNATURE,):
            raise PolicyNoncompliance(
                f"transforms {list(reference.transforms)} on {reference.uri[:100]!r}; "
                f"allowed: {c.SWA_CONTENT_SIGNATURE}"
            )
        if cid in pending:  # streamed after this check: the caller compares its bytes with the signed digest
            return reference, cid
        if cid not in attachments:
            raise FailedAuthentication(f"the signed attachment {reference.uri[:100]!r} is not in the message")
        if _digest(reference.digest_method, attachments[cid]) != reference.digest_value:
            raise FailedAuthentication(f"the attachment {reference.uri[:100]!r} does not match its signed digest")
        return reference, cid
    if not reference.uri.startswith("#"):
        raise PolicyNoncompliance(f"reference URI {reference.uri[:100]!r}; only #id and cid: references are accepted")
    if reference.transforms != (c.EXC_C14N,):
        raise PolicyNoncompliance(
            f"transforms {list(reference.transforms)} on {reference.uri[:100]!r}; allowed: {c.EXC_C14N}"
        )
    target = ids.get(reference.uri[1:])
    if target is None:
        raise FailedAuthentication(f"the signed element {reference.uri[:100]!r} is not in the envelope")
    transform = ref.find(f"{q(c.DS, 'Transforms')}/{q(c.DS, 'Transform')}")
    prefixes = _prefix_list(transform)
    if _digest(reference.digest_method, exc_c14n(target, prefixes)) != reference.digest_value:
        raise FailedAuthentication(f"the element {reference.uri[:100]!r} does not match its signed digest")
    return reference, target


def _prefix_list(parent: etree._Element | None) -> list[str]:
    if parent is None:
        return []
    inclusive = parent.find(q(c.EXC_C14N, "InclusiveNamespaces"))
    return (inclusive.get("PrefixList") or "").split() if inclusive is not None else []


def verify(
    envelope: etree._Element,
    attachments: Mapping[str, bytes],
    trust: Callable[[x509.Certificate], None],
    *,
    pending: Collection[str] = (),
) -> Verified:
    """Check the one ds:Signature of the wsse:Security header; ``trust`` raises if the certificate is not the
    sender's. Attachments are the bytes as signed (decrypted, still compressed); ``pending`` Content-IDs are
    attachments still to be read (images streamed later): their references are returned unchecked, and the caller
    must compare their bytes with the signed digests."""
    security = security_header(envelope)
    if security is None or security.find(q(c.DS, "Signature")) is None:
        raise FailedAuthentication("the message is not signed (no wsse:Security header with a ds:Signature)")
    signature = _one(security, q(c.DS, "Signature"), "wsse:Security")
    signed_info = _one(signature, q(c.DS, "SignedInfo"), "ds:Signature")
    c14n = _one(signed_info, q(c.DS, "CanonicalizationMethod"), "ds:SignedInfo").get("Algorithm")
    if c14n != c.EXC_C14N:
        raise PolicyNoncompliance(f"canonicalization {c14n!r}; allowed: {c.EXC_C14N}")
    method = _one(signed_info, q(c.DS, "SignatureMethod"), "ds:SignedInfo").get("Algorithm") or ""
    if method not in _SIGNATURES:
        raise PolicyNoncompliance(f"signature method {method!r}; allowed: {', '.join(_SIGNATURES)}")
    certificate = _certificate(security, signature)
    trust(certificate)
    public = certificate.public_key()
    if not isinstance(public, rsa.RSAPublicKey):
        raise PolicyNoncompliance(f"the signing key is {type(public).__name__}; an RSA key is required")
    try:
        value = base64.b64decode(signature.findtext(q(c.DS, "SignatureValue")) or "", validate=True)
        prefixes = _prefix_list(signed_info.find(q(c.DS, "CanonicalizationMethod")))
        public.verify(value, exc_c14n(signed_info, prefixes), padding.PKCS1v15(), _SIGNATURES[method])
    except (ValueError, InvalidSignature):
        raise FailedAuthentication("the signature value does not verify with the signing certificate") from None
    ids = _ids(envelope)
    references: list[Reference] = []
    elements: list[etree._Element] = []
    cids: set[str] = set()
    refs = signed_info.findall(q(c.DS, "Reference"))
    if not refs:
        raise FailedAuthentication("the signature references nothing")
    for ref in refs:
        reference, target = _check_reference(ref, ids, attachments, pending)
        references.append(reference)
        if isinstance(target, str):
            cids.add(target)
        else:
            elements.append(target)
    return Verified(certificate, tuple(references), tuple(elements), frozenset(cids))
