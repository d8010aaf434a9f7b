"""WS-Security encryption of AS4 attachments: AES-128-GCM content encryption under one RSA-OAEP (SHA-256,
MGF1-SHA256) transported key, SwA ciphertext references. ``cryptography`` does every cryptographic operation;
this module assembles and checks the xenc elements of the Security header (:mod:`gateway.as4.wss`).
"""

from __future__ import annotations

import base64
import os
from collections.abc import AsyncIterator, Collection, Mapping
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers import AEADDecryptionContext, Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from lxml import etree

from gateway.as4 import constants as c
from gateway.as4.errors import FailedDecryption, PolicyNoncompliance
from gateway.as4.wss import binary_security_token, new_id, q, security_header, str_reference
from gateway.images.store import closing

_OAEP_DIGESTS: dict[str, hashes.HashAlgorithm] = {c.SHA256: hashes.SHA256()}
_MGFS: dict[str, hashes.HashAlgorithm] = {c.MGF1_SHA256: hashes.SHA256()}


NONCE = 12  # bytes of the AES-GCM initialisation vector sent before the ciphertext
TAG = 16  # bytes of the GCM authentication tag sent after it
OVERHEAD = NONCE + TAG  # an encrypted attachment is this much longer than its plaintext


@dataclass(frozen=True)
class StreamSeal:
    """One attachment's AES-128-GCM encryption, done while it is sent: nonce, ciphertext chunk by chunk, tag
    (the same octets as ``AESGCM.encrypt``, so its length is known before the first byte: plaintext + OVERHEAD)."""

    key: bytes = field(repr=False)
    nonce: bytes

    async def encrypt(self, chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        encryptor = Cipher(algorithms.AES(self.key), modes.GCM(self.nonce)).encryptor()
        yield self.nonce
        async with closing(chunks):
            async for chunk in chunks:
                yield encryptor.update(chunk)
        yield encryptor.finalize() + encryptor.tag


class Sealer:
    """One session key for one message: its xenc:EncryptedKey (RSA-OAEP, SHA-256, MGF1-SHA256) in the Security
    header, and one xenc:EncryptedData (AES-128-GCM, SwA ciphertext reference) per attachment sealed with it."""

    def __init__(self, envelope: etree._Element, recipient: x509.Certificate) -> None:
        public = recipient.public_key()
        if not isinstance(public, rsa.RSAPublicKey):
            raise ValueError("encrypt: the recipient's certificate has no RSA key")
        security = security_header(envelope, create=True)
        assert security is not None
        self._key = AESGCM.generate_key(bit_length=128)
        wrapped = public.encrypt(self._key, padding.OAEP(padding.MGF1(hashes.SHA256()), hashes.SHA256(), None))
        bst_id = binary_security_token(security, recipient, "X509-enc")
        self._key_id = new_id("EK")
        encrypted_key = etree.Element(q(c.XENC, "EncryptedKey"), Id=self._key_id, nsmap={"xenc": c.XENC})
        method = etree.SubElement(encrypted_key, q(c.XENC, "EncryptionMethod"), Algorithm=c.RSA_OAEP)
        etree.SubElement(method, q(c.DS, "DigestMethod"), Algorithm=c.SHA256)
        etree.SubElement(method, q(c.XENC11, "MGF"), Algorithm=c.MGF1_SHA256)
        key_info = etree.SubElement(encrypted_key, q(c.DS, "KeyInfo"))
        str_reference(key_info, "#" + bst_id, value_type=c.X509V3)
        cipher = etree.SubElement(encrypted_key, q(c.XENC, "CipherData"))
        etree.SubElement(cipher, q(c.XENC, "CipherValue")).text = base64.b64encode(wrapped).decode()
        self._references = etree.SubElement(encrypted_key, q(c.XENC, "ReferenceList"))
        signature = security.find(q(c.DS, "Signature"))
        self._at = list(security).index(signature) if signature is not None else len(security)
        security.insert(self._at, encrypted_key)
        self._security = security

    def _describe(self, cid: str, content_type: str) -> None:
        data_id = new_id("ED")
        etree.SubElement(self._references, q(c.XENC, "DataReference"), URI="#" + data_id)
        encrypted = etree.Element(
            q(c.XENC, "EncryptedData"), Id=data_id, MimeType=content_type, Type=c.SWA_CONTENT_ONLY
        )
        etree.SubElement(encrypted, q(c.XENC, "EncryptionMethod"), Algorithm=c.AES128_GCM)
        info = etree.SubElement(encrypted, q(c.DS, "KeyInfo"))
        str_reference(info, "#" + self._key_id, value_type=None, token_type=c.ENCRYPTED_KEY_TOKEN)
        cipher_data = etree.SubElement(encrypted, q(c.XENC, "CipherData"))
        cipher_ref = etree.SubElement(cipher_data, q(c.XENC, "CipherReference"), URI=f"cid:{cid}")
        transforms = etree.SubElement(cipher_ref, q(c.XENC, "Transforms"))
        etree.SubElement(transforms, q(c.DS, "Transform"), Algorithm=c.SWA_CIPHERTEXT)
        self._at += 1
        self._security.insert(self._at, encrypted)

    def seal(self, cid: str, content_type: str, data: bytes) -> bytes:
        """The attachment encrypted now: nonce || ciphertext || tag."""
        self._describe(cid, content_type)
        nonce = os.urandom(NONCE)
        return nonce + AESGCM(self._key).encrypt(nonce, data, None)

    def seal_stream(self, cid: str, content_type: str) -> StreamSeal:
        """The attachment described now, encrypted while it is sent (a fresh nonce under this message's key)."""
        self._describe(cid, content_type)
        return StreamSeal(self._key, os.urandom(NONCE))


def encrypt(
    envelope: etree._Element, attachments: Mapping[str, tuple[str, bytes]], recipient: x509.Certificate
) -> dict[str, bytes]:
    """Encrypt each attachment (content type, bytes) for ``recipient``: one AES-128-GCM key, RSA-OAEP
    (SHA-256, MGF1-SHA256) key transport. Returns the ciphertexts (nonce || ciphertext || tag) by Content-ID."""
    sealer = Sealer(envelope, recipient)
    return {cid: sealer.seal(cid, content_type, data) for cid, (content_type, data) in attachments.items()}


class StreamOpen:
    """One attachment's AES-128-GCM decryption while it is read: the nonce first, the tag held back until the
    end (:meth:`finish` raises FailedDecryption when it does not authenticate the ciphertext). The plaintext is
    given out before it is authenticated, so whoever takes it keeps it provisional until :meth:`finish`."""

    def __init__(self, key: bytes, cid: str) -> None:
        self._key = key
        self.cid = cid
        self._head = b""
        self._tail = b""
        self._decryptor: AEADDecryptionContext | None = None

    def update(self, chunk: bytes) -> bytes:
        if self._decryptor is None:
            self._head += chunk
            if len(self._head) < NONCE:
                return b""
            nonce, chunk, self._head = self._head[:NONCE], self._head[NONCE:], b""
            self._decryptor = Cipher(algorithms.AES(self._key), modes.GCM(nonce)).decryptor()
        data = self._tail + chunk
        self._tail = data[-TAG:]
        return self._decryptor.update(data[:-TAG]) if len(data) > TAG else b""

    def finish(self) -> bytes:
        if self._decryptor is None or len(self._tail) < TAG:
            raise FailedDecryption(f"the attachment cid:{self.cid[:100]} is too short to be AES-GCM ciphertext")
        try:
            return self._decryptor.finalize_with_tag(self._tail)
        except InvalidTag:
            raise FailedDecryption(
                f"the attachment cid:{self.cid[:100]} does not decrypt (altered, or another key)"
            ) from None


@dataclass(frozen=True)
class Decrypted:
    data: dict[str, bytes]  # plaintext by Content-ID (only the encrypted attachments)
    mime_types: dict[str, str]  # the MimeType each EncryptedData declares
    streams: dict[str, StreamOpen] = field(default_factory=dict)  # the pending ones, decrypted while read


def decrypt(
    envelope: etree._Element,
    attachments: Mapping[str, bytes],
    key: rsa.RSAPrivateKey,
    *,
    pending: Collection[str] = (),
) -> Decrypted:
    """Decrypt what the xenc:EncryptedKey of the Security header lists; nothing when there is none. ``pending``
    attachments are still to be read: each gets a :class:`StreamOpen` instead."""
    security = security_header(envelope)
    keys = security.findall(q(c.XENC, "EncryptedKey")) if security is not None else []
    if not keys:
        return Decrypted({}, {})
    if len(keys) > 1:
        raise FailedDecryption(f"the message has {len(keys)} xenc:EncryptedKey elements; one is accepted")
    encrypted_key = keys[0]
    method = encrypted_key.find(q(c.XENC, "EncryptionMethod"))
    algorithm = method.get("Algorithm") if method is not None else None
    if algorithm != c.RSA_OAEP or method is None:
        raise PolicyNoncompliance(f"key transport {algorithm!r}; allowed: {c.RSA_OAEP} (with SHA-256 and MGF1-SHA256)")
    digest_el, mgf_el = method.find(q(c.DS, "DigestMethod")), method.find(q(c.XENC11, "MGF"))
    digest = digest_el.get("Algorithm") if digest_el is not None else "http://www.w3.org/2000/09/xmldsig#sha1"
    mgf = mgf_el.get("Algorithm") if mgf_el is not None else "http://www.w3.org/2009/xmlenc11#mgf1sha1"
    if digest not in _OAEP_DIGESTS or mgf not in _MGFS:
        raise PolicyNoncompliance(
            f"RSA-OAEP with digest {digest!r} and MGF {mgf!r}; allowed: {c.SHA256} with {c.MGF1_SHA256}"
        )
    try:
        wrapped = base64.b64decode(
            encrypted_key.findtext(f"{q(c.XENC, 'CipherData')}/{q(c.XENC, 'CipherValue')}") or "", validate=True
        )
        session = key.decrypt(wrapped, padding.OAEP(padding.MGF1(_MGFS[mgf]), _OAEP_DIGESTS[digest], None))
    except ValueError:
        raise FailedDecryption(
            "the session key cannot be decrypted with the gateway's key (encrypted for another key?)"
        ) from None
    if len(session) != 16:
        raise PolicyNoncompliance(f"a {len(session) * 8}-bit session key; AES-128-GCM takes 128 bits")
    by_id = {e.get("Id"): e for e in security.findall(q(c.XENC, "EncryptedData"))} if security is not None else {}
    data: dict[str, bytes] = {}
    mime_types: dict[str, str] = {}
    streams: dict[str, StreamOpen] = {}
    for ref in encrypted_key.iterfind(f"{q(c.XENC, 'ReferenceList')}/{q(c.XENC, 'DataReference')}"):
        encrypted = by_id.get((ref.get("URI") or "").removeprefix("#"))
        if encrypted is None:
            raise FailedDecryption(f"the DataReference {ref.get('URI', '')[:100]!r} names no xenc:EncryptedData")
        data_method = encrypted.find(q(c.XENC, "EncryptionMethod"))
        data_algorithm = data_method.get("Algorithm") if data_method is not None else None
        if data_algorithm != c.AES128_GCM:
            raise PolicyNoncompliance(f"data encryption {data_algorithm!r}; allowed: {c.AES128_GCM}")
        cipher_ref = encrypted.find(f"{q(c.XENC, 'CipherData')}/{q(c.XENC, 'CipherReference')}")
        uri = cipher_ref.get("URI", "") if cipher_ref is not None else ""
        cid = uri[4:] if uri.startswith("cid:") else None
        if cid is not None and cid in pending:
            streams[cid] = StreamOpen(session, cid)
            mime_types[cid] = encrypted.get("MimeType") or "application/octet-stream"
            continue
        if cid is None or cid not in attachments:
            raise FailedDecryption(f"the encrypted attachment {uri[:100]!r} is not in the message")
        blob = attachments[cid]
        try:
            data[cid] = AESGCM(session).decrypt(blob[:12], blob[12:], None)
        except (InvalidTag, ValueError):
            raise FailedDecryption(
                f"the attachment cid:{cid[:100]} does not decrypt (altered, or another key)"
            ) from None
        mime_types[cid] = encrypted.get("MimeType") or "application/octet-stream"
    return Decrypted(data, mime_types, streams)
