"""ebMS 3.0 UserMessages: build one (signed, optionally encrypted, payloads gzip-compressed) and parse one
(decrypt, verify, check what the signature covers, inflate within a bound).

Parsing takes the partner lookup as a function (``Agreements``): the core never reaches for configuration.
"""

from __future__ import annotations

import base64
import datetime as dt
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field

from cryptography import x509
from lxml import etree

from gateway.as4 import constants as c
from gateway.as4 import encryption, mime, wss
from gateway.as4.compression import compress, decompress
from gateway.as4.errors import (
    EbmsError,
    ExternalPayloadError,
    FailedAuthentication,
    FeatureNotSupported,
    InvalidHeader,
    PolicyNoncompliance,
    ValueInconsistent,
)
from gateway.errors import MalformedXml
from gateway.security.xml import parse_xml

q = wss.q


@dataclass(frozen=True)
class Party:
    id: str
    type: str | None = None
    role: str = c.INITIATOR


@dataclass(frozen=True)
class Payload:
    cid: str
    data: bytes  # as the business document is: decompressed, decrypted
    mime_type: str = "application/xml"


@dataclass(frozen=True)
class Attachment:
    """A payload too large to hold in memory (an inspection result's image): sent as it is, not compressed (images
    are compressed already; the AS4 compression feature is optional per part), its SHA-256 known beforehand (the
    content-addressed store's address, which is also its SwA signature digest), its bytes read from ``chunks``
    while the message is sent."""

    cid: str
    mime_type: str
    size: int
    sha256: str  # hex
    chunks: AsyncIterator[bytes] = field(repr=False)


@dataclass(frozen=True)
class UserMessage:
    message_id: str
    from_party: Party
    to_party: Party
    service: str
    action: str
    conversation_id: str
    service_type: str | None = None
    ref_to_message_id: str | None = None
    agreement_ref: str | None = None
    timestamp: str = ""
    properties: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Expectation:
    """What the receiver's settings say of this sender: its certificates and whether it must encrypt."""

    partner: str
    message_type: str
    trusted: tuple[x509.Certificate, ...]
    encryption_required: bool = False


Agreements = Callable[[UserMessage], Expectation]  # raises an EbmsError when nothing matches


@dataclass(frozen=True)
class Outgoing:
    content_type: str
    body: bytes
    message_id: str
    references: tuple[wss.Reference, ...]  # what the receipt's NonRepudiationInformation must repeat
    soap: bytes = field(repr=False, default=b"")  # the signed envelope, kept as evidence of what was sent


@dataclass(frozen=True)
class StreamedOutgoing:
    """A UserMessage whose body is read while it is sent (:func:`build_streamed`)."""

    content_type: str
    length: int
    body: AsyncIterator[bytes] = field(repr=False)
    message_id: str
    references: tuple[wss.Reference, ...]
    soap: bytes = field(repr=False, default=b"")


@dataclass(frozen=True)
class Received:
    user_message: UserMessage
    expectation: Expectation
    payloads: tuple[Payload, ...]
    references: tuple[wss.Reference, ...]
    signer: x509.Certificate
    encrypted: bool
    soap: bytes = field(repr=False)


def new_message_id(domain: str = "gateway") -> str:
    return f"{uuid.uuid4()}@{domain}"


def now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _sub(parent: etree._Element, tag: str, text: str | None = None, **attrs: str) -> etree._Element:
    element = etree.SubElement(parent, q(c.EB, tag), {k: v for k, v in attrs.items() if v is not None})
    if text is not None:
        element.text = text
    return element


def _party(parent: etree._Element, name: str, party: Party) -> None:
    element = _sub(parent, name)
    attrs = {"type": party.type} if party.type else {}
    _sub(element, "PartyId", party.id, **attrs)
    _sub(element, "Role", party.role)


def envelope_for(
    user_message: UserMessage, payloads: list[Payload], *, compressed: bool, attachments: Sequence[Attachment] = ()
) -> etree._Element:
    envelope = etree.Element(q(c.S12, "Envelope"), nsmap={"S12": c.S12, "eb": c.EB, "wsu": c.WSU})
    header = etree.SubElement(envelope, q(c.S12, "Header"))
    messaging = etree.SubElement(header, q(c.EB, "Messaging"))
    messaging.set(q(c.S12, "mustUnderstand"), "true")
    um = _sub(messaging, "UserMessage")
    info = _sub(um, "MessageInfo")
    _sub(info, "Timestamp", user_message.timestamp or now())
    _sub(info, "MessageId", user_message.message_id)
    if user_message.ref_to_message_id:
        _sub(info, "RefToMessageId", user_message.ref_to_message_id)
    party_info = _sub(um, "PartyInfo")
    _party(party_info, "From", user_message.from_party)
    _party(party_info, "To", user_message.to_party)
    collaboration = _sub(um, "CollaborationInfo")
    if user_message.agreement_ref:
        _sub(collaboration, "AgreementRef", user_message.agreement_ref)
    service_attrs = {"type": user_message.service_type} if user_message.service_type else {}
    _sub(collaboration, "Service", user_message.service, **service_attrs)
    _sub(collaboration, "Action", user_message.action)
    _sub(collaboration, "ConversationId", user_message.conversation_id)
    if user_message.properties:
        props = _sub(um, "MessageProperties")
        for name, value in user_message.properties:
            _sub(props, "Property", value, name=name)
    payload_info = _sub(um, "PayloadInfo")
    for payload in payloads:
        part = _sub(payload_info, "PartInfo", href=f"cid:{payload.cid}")
        props = _sub(part, "PartProperties")
        _sub(props, "Property", payload.mime_type, name="MimeType")
        if compressed:
            _sub(props, "Property", c.GZIP, name="CompressionType")
    for attachment in attachments:
        part = _sub(payload_info, "PartInfo", href=f"cid:{attachment.cid}")
        _sub(_sub(part, "PartProperties"), "Property", attachment.mime_type, name="MimeType")
    etree.SubElement(envelope, q(c.S12, "Body"))
    return envelope


def build(
    user_message: UserMessage,
    payloads: list[Payload],
    credentials: wss.Credentials,
    *,
    encrypt_for: x509.Certificate | None = None,
    compressed: bool = True,
    ciphertext_type: str = "application/octet-stream",
) -> Outgoing:
    """A signed (and, given ``encrypt_for``, encrypted) UserMessage in MIME multipart/related.

    AS4 order: compress, sign (the compressed bytes), then encrypt."""
    envelope = envelope_for(user_message, payloads, compressed=compressed)
    sent = {p.cid: compress(p.data) if compressed else p.data for p in payloads}
    types = {p.cid: c.GZIP if compressed else p.mime_type for p in payloads}
    references = wss.sign(envelope, sent, credentials)
    if encrypt_for is not None:
        sent = encryption.encrypt(envelope, {cid: (types[cid], data) for cid, data in sent.items()}, encrypt_for)
        types = dict.fromkeys(sent, ciphertext_type)
    soap = etree.tostring(envelope, xml_declaration=True, encoding="UTF-8")
    content_type, body = mime.build(soap, [mime.Part(cid, types[cid], data) for cid, data in sent.items()])
    return Outgoing(content_type, body, user_message.message_id, references, soap)


def build_streamed(
    user_message: UserMessage,
    payloads: list[Payload],
    attachments: Sequence[Attachment],
    credentials: wss.Credentials,
    *,
    encrypt_for: x509.Certificate | None = None,
    ciphertext_type: str = "application/octet-stream",
) -> StreamedOutgoing:
    """As :func:`build`, with ``attachments`` streamed after the (compressed) payloads: signed by their known
    digests, each encrypted while it is sent under the message's one session key when ``encrypt_for`` is given.
    Nothing of an attachment is read before the body is iterated; the body can be iterated once."""
    cids = [p.cid for p in payloads] + [a.cid for a in attachments]
    if len(set(cids)) != len(cids):
        raise ValueError(f"build_streamed: two parts share a Content-ID among {cids}")
    envelope = envelope_for(user_message, payloads, compressed=True, attachments=attachments)
    sent = {p.cid: compress(p.data) for p in payloads}
    digests = {a.cid: base64.b64encode(bytes.fromhex(a.sha256)).decode() for a in attachments}
    references = wss.sign(envelope, sent, credentials, digests=digests)
    types = dict.fromkeys(sent, c.GZIP)
    streamed = [mime.StreamedPart(a.cid, a.mime_type, a.size, a.chunks) for a in attachments]
    if encrypt_for is not None:
        sealer = encryption.Sealer(envelope, encrypt_for)
        sent = {cid: sealer.seal(cid, types[cid], data) for cid, data in sent.items()}
        types = dict.fromkeys(sent, ciphertext_type)
        streamed = [
            mime.StreamedPart(
                a.cid,
                ciphertext_type,
                a.size + encryption.OVERHEAD,
                sealer.seal_stream(a.cid, a.mime_type).encrypt(a.chunks),
            )
            for a in attachments
        ]
    soap = etree.tostring(envelope, xml_declaration=True, encoding="UTF-8")
    body = mime.build_streamed(soap, [mime.Part(cid, types[cid], data) for cid, data in sent.items()], streamed)
    return StreamedOutgoing(body.content_type, body.length, body.body, user_message.message_id, references, soap)


# -- parsing ------------------------------------------------------------------------------------------------


def _text(parent: etree._Element, path: str, what: str, *, required: bool = True) -> str | None:
    found = parent.findall(path, c.NSMAP)
    if len(found) > 1:
        raise InvalidHeader(f"{what} occurs {len(found)} times; exactly one is allowed")
    if not found:
        if required:
            raise InvalidHeader(f"{what} is missing")
        return None
    value = (found[0].text or "").strip()
    if required and not value:
        raise InvalidHeader(f"{what} is empty")
    return value or None


def _read_party(um: etree._Element, name: str) -> Party:
    ids = um.findall(f"eb:PartyInfo/eb:{name}/eb:PartyId", c.NSMAP)
    if len(ids) != 1:
        raise InvalidHeader(f"eb:PartyInfo/eb:{name} has {len(ids)} PartyId elements; exactly one is accepted")
    value = (ids[0].text or "").strip()
    if not value:
        raise InvalidHeader(f"eb:PartyInfo/eb:{name}/eb:PartyId is empty")
    role = _text(um, f"eb:PartyInfo/eb:{name}/eb:Role", f"eb:{name}/eb:Role") or ""
    return Party(value, ids[0].get("type"), role)


def read_user_message(messaging: etree._Element) -> UserMessage:
    if messaging.find("eb:SignalMessage", c.NSMAP) is not None:
        raise FeatureNotSupported("signal messages are not accepted at this endpoint; send a UserMessage")
    ums = messaging.findall("eb:UserMessage", c.NSMAP)
    if len(ums) != 1:
        raise FeatureNotSupported(f"eb:Messaging holds {len(ums)} UserMessages; exactly one is accepted (no bundling)")
    um = ums[0]
    service = um.findall("eb:CollaborationInfo/eb:Service", c.NSMAP)
    if len(service) != 1 or not (service[0].text or "").strip():
        raise InvalidHeader("eb:CollaborationInfo/eb:Service is missing, empty or repeated")
    return UserMessage(
        message_id=_text(um, "eb:MessageInfo/eb:MessageId", "eb:MessageId") or "",
        timestamp=_text(um, "eb:MessageInfo/eb:Timestamp", "eb:Timestamp") or "",
        ref_to_message_id=_text(um, "eb:MessageInfo/eb:RefToMessageId", "eb:RefToMessageId", required=False),
        from_party=_read_party(um, "From"),
        to_party=_read_party(um, "To"),
        service=(service[0].text or "").strip(),
        service_type=service[0].get("type"),
        action=_text(um, "eb:CollaborationInfo/eb:Action", "eb:Action") or "",
        conversation_id=_text(um, "eb:CollaborationInfo/eb:ConversationId", "eb:ConversationId") or "",
        agreement_ref=_text(um, "eb:CollaborationInfo/eb:AgreementRef", "eb:AgreementRef", required=False),
        properties=tuple(
            (p.get("name") or "", (p.text or "").strip())
            for p in um.iterfind("eb:MessageProperties/eb:Property", c.NSMAP)
        ),
    )


def peek_message_id(soap: bytes) -> str | None:
    """The eb:MessageId for an error's RefToMessageId, read without trusting anything else."""
    try:
        root = parse_xml(soap)
    except MalformedXml:
        return None
    found = root.findall("S12:Header/eb:Messaging/eb:UserMessage/eb:MessageInfo/eb:MessageId", c.NSMAP)
    return (found[0].text or "").strip()[:256] or None if len(found) == 1 else None


def _envelope(soap: bytes, max_depth: int) -> tuple[etree._Element, etree._Element, etree._Element]:
    try:
        root = parse_xml(soap, max_depth=max_depth)
    except MalformedXml as exc:
        raise InvalidHeader(f"the SOAP part is not well-formed XML: {exc.message}") from None
    if root.tag != q(c.S12, "Envelope"):
        raise InvalidHeader(f"the SOAP part's root is {root.tag[:200]!r}, not a SOAP 1.2 Envelope")
    headers = root.findall(q(c.S12, "Header"))
    bodies = root.findall(q(c.S12, "Body"))
    if len(headers) != 1 or len(bodies) != 1:
        raise InvalidHeader(f"the envelope has {len(headers)} Header and {len(bodies)} Body elements; one each")
    messagings = headers[0].findall(q(c.EB, "Messaging"))
    if len(messagings) != 1:
        raise InvalidHeader(f"the SOAP header has {len(messagings)} eb:Messaging elements; exactly one is accepted")
    return root, messagings[0], bodies[0]


@dataclass(frozen=True)
class Limits:
    max_payload_bytes: int = 10 * 1024 * 1024
    max_depth: int = 64


def parse(
    content_type: str,
    body: bytes,
    *,
    agreements: Agreements,
    credentials: wss.Credentials,
    limits: Limits = Limits(),
) -> Received:
    """Everything checked, or an :class:`EbmsError` naming what is wrong (with the MessageId when known)."""
    parts = mime.parse(content_type, body)
    head = check(parts, frozenset(), agreements=agreements, credentials=credentials, limits=limits)
    return Received(
        head.user_message,
        head.expectation,
        head.payloads,
        head.references,
        head.signer,
        head.encrypted,
        parts.soap,
    )


@dataclass(frozen=True)
class Head:
    """A UserMessage checked up to its pending attachments (images read later): what :func:`check` returns."""

    user_message: UserMessage
    expectation: Expectation
    payloads: tuple[Payload, ...]  # the attachments in hand, decrypted, decompressed
    references: tuple[wss.Reference, ...]
    signer: x509.Certificate
    encrypted: bool
    decrypted: encryption.Decrypted
    signed: dict[str, wss.Reference]  # by Content-ID: the signature's reference of each attachment
    part_properties: dict[str, dict[str, str]]  # by Content-ID: eb:PartProperties of each declared part


def check(
    parts: mime.Mime,
    pending: frozenset[str],
    *,
    agreements: Agreements,
    credentials: wss.Credentials,
    limits: Limits = Limits(),
) -> Head:
    """Decrypt, verify and read ``parts``; ``pending`` Content-IDs are declared attachments still to be read (an
    inspection result's images): their signed digests and decryption are returned for the reader to check."""
    message_id: str | None = None
    try:
        root, messaging, soap_body = _envelope(parts.soap, limits.max_depth)
        user_message = read_user_message(messaging)
        message_id = user_message.message_id
        expectation = agreements(user_message)
        raw = {cid: part.data for cid, part in parts.parts.items()}
        decrypted = encryption.decrypt(root, raw, credentials.key, pending=pending)
        signed_bytes = {**raw, **decrypted.data}

        def trust(certificate: x509.Certificate) -> None:
            if certificate not in expectation.trusted:
                raise FailedAuthentication(
                    f"the message is signed by {certificate.subject.rfc4514_string()[:200]!r}, which is not a "
                    f"certificate of partner {expectation.partner} (From {user_message.from_party.id!r})"
                )

        verified = wss.verify(root, signed_bytes, trust, pending=pending)
        if not verified.covers(messaging):
            raise FailedAuthentication("the signature does not cover the eb:Messaging header that is processed")
        if not verified.covers(soap_body):
            raise FailedAuthentication("the signature does not cover the SOAP Body")
        payloads = _payloads(messaging, parts, decrypted, verified, expectation, limits, pending)
    except EbmsError as error:
        error.ref_to_message_id = error.ref_to_message_id or message_id
        raise
    return Head(
        user_message,
        expectation,
        payloads,
        verified.references,
        verified.certificate,
        bool(decrypted.data or decrypted.streams),
        decrypted,
        {r.uri[4:]: r for r in verified.references if r.uri.startswith("cid:")},
        part_properties(messaging),
    )


def part_properties(messaging: etree._Element) -> dict[str, dict[str, str]]:
    """eb:PartProperties of each declared ``cid:`` part, by Content-ID."""
    return {
        (info.get("href") or "")[4:]: {
            p.get("name") or "": (p.text or "").strip() for p in info.iterfind("eb:PartProperties/eb:Property", c.NSMAP)
        }
        for info in messaging.iterfind("eb:UserMessage/eb:PayloadInfo/eb:PartInfo", c.NSMAP)
        if (info.get("href") or "").startswith("cid:")
    }


def declared_parts(soap: bytes, max_depth: int) -> dict[str, dict[str, str]]:
    """The parts the envelope declares (unverified: only to tell which parts to stream while reading)."""
    _, messaging, _ = _envelope(soap, max_depth)
    return part_properties(messaging)


def _payloads(
    messaging: etree._Element,
    parts: mime.Mime,
    decrypted: encryption.Decrypted,
    verified: wss.Verified,
    expectation: Expectation,
    limits: Limits,
    pending: frozenset[str] = frozenset(),
) -> tuple[Payload, ...]:
    infos = messaging.findall("eb:UserMessage/eb:PayloadInfo/eb:PartInfo", c.NSMAP)
    if not infos:
        raise ExternalPayloadError("the UserMessage declares no payload (eb:PayloadInfo/eb:PartInfo)")
    declared: set[str] = set()
    payloads: list[Payload] = []
    for info in infos:
        href = info.get("href") or ""
        if not href.startswith("cid:"):
            raise FeatureNotSupported(f"payload href {href[:100]!r}: only MIME attachments (cid:) are accepted")
        cid = href[4:]
        declared.add(cid)
        if cid not in parts.parts and cid not in pending:
            raise ExternalPayloadError(f"the payload {href[:100]!r} is declared but not attached")
        if cid not in verified.signed_attachments:
            raise FailedAuthentication(f"the payload {href[:100]!r} is not covered by the signature")
        if expectation.encryption_required and cid not in decrypted.data and cid not in decrypted.streams:
            raise PolicyNoncompliance(f"partner {expectation.partner} must encrypt its payloads; {href[:100]!r} is not")
        if cid in pending:
            continue  # read later, checked while it is read (gateway.as4.attachments)
        props = {p.get("name"): (p.text or "").strip() for p in info.iterfind("eb:PartProperties/eb:Property", c.NSMAP)}
        data = decrypted.data.get(cid, parts.parts[cid].data)
        compression = props.get("CompressionType")
        if compression:
            if compression != c.GZIP:
                raise ValueInconsistent(f"CompressionType {compression[:100]!r} of {href[:100]!r}; allowed: {c.GZIP}")
            data = decompress(data, limits.max_payload_bytes, href[:100])
        elif len(data) > limits.max_payload_bytes:
            raise PolicyNoncompliance(f"payload {href[:100]!r} exceeds the limit of {limits.max_payload_bytes} bytes")
        payloads.append(Payload(cid, data, props.get("MimeType") or "application/octet-stream"))
    extra = set(parts.parts) - declared
    if extra:
        raise ExternalPayloadError(f"attachment {sorted(extra)[0][:100]!r} is not declared in eb:PayloadInfo")
    return tuple(payloads)
