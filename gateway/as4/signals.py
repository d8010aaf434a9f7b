"""Signal messages: the signed eb:Receipt with NonRepudiationInformation, eb:Error signals, and the sending
side's check of what came back (a receipt proves delivery only if it is signed by the partner and repeats the
digests that were sent)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509
from lxml import etree

from gateway.as4 import constants as c
from gateway.as4 import mime, wss
from gateway.as4.errors import EbmsError, FailedAuthentication, InvalidHeader, InvalidReceipt
from gateway.as4.message import new_message_id, now
from gateway.errors import MalformedXml
from gateway.security.xml import parse_xml

q = wss.q


def _signal(ref_to: str | None) -> tuple[etree._Element, etree._Element]:
    envelope = etree.Element(q(c.S12, "Envelope"), nsmap={"S12": c.S12, "eb": c.EB, "wsu": c.WSU})
    header = etree.SubElement(envelope, q(c.S12, "Header"))
    messaging = etree.SubElement(header, q(c.EB, "Messaging"))
    messaging.set(q(c.S12, "mustUnderstand"), "true")
    signal = etree.SubElement(messaging, q(c.EB, "SignalMessage"))
    info = etree.SubElement(signal, q(c.EB, "MessageInfo"))
    etree.SubElement(info, q(c.EB, "Timestamp")).text = now()
    etree.SubElement(info, q(c.EB, "MessageId")).text = new_message_id()
    if ref_to:
        etree.SubElement(info, q(c.EB, "RefToMessageId")).text = ref_to
    etree.SubElement(envelope, q(c.S12, "Body"))
    return envelope, signal


def _finish(envelope: etree._Element, credentials: wss.Credentials | None) -> bytes:
    if credentials is not None:
        wss.sign(envelope, {}, credentials)
    data: bytes = etree.tostring(envelope, xml_declaration=True, encoding="UTF-8")
    return data


def receipt(ref_to: str, references: Sequence[wss.Reference], credentials: wss.Credentials) -> bytes:
    """The AS4 non-repudiation receipt: one ebbp:MessagePartNRInformation per ds:Reference received."""
    envelope, signal = _signal(ref_to)
    element = etree.SubElement(signal, q(c.EB, "Receipt"))
    nri = etree.SubElement(element, q(c.EBBP, "NonRepudiationInformation"), nsmap={"ebbp": c.EBBP})
    for ref in references:
        part = etree.SubElement(nri, q(c.EBBP, "MessagePartNRInformation"))
        part.append(ref.to_xml())
    return _finish(envelope, credentials)


def fault(reason: str, *, code: str = "Receiver") -> bytes:
    """A plain SOAP 1.2 Fault (no ebMS signal, not signed): the body of an HTTP 429 / 503 answer ("not now"),
    which a sending MSH retries like a transport failure, where an eb:Error would end the message."""
    envelope = etree.Element(q(c.S12, "Envelope"), nsmap={"S12": c.S12})
    body = etree.SubElement(envelope, q(c.S12, "Body"))
    element = etree.SubElement(body, q(c.S12, "Fault"))
    etree.SubElement(etree.SubElement(element, q(c.S12, "Code")), q(c.S12, "Value")).text = f"S12:{code}"
    text = etree.SubElement(etree.SubElement(element, q(c.S12, "Reason")), q(c.S12, "Text"))
    text.text = reason
    text.set("{http://www.w3.org/XML/1998/namespace}lang", "en")
    return _finish(envelope, None)


def error(err: EbmsError, credentials: wss.Credentials | None) -> bytes:
    envelope, signal = _signal(err.ref_to_message_id)
    element = etree.SubElement(
        signal,
        q(c.EB, "Error"),
        category=err.category,
        errorCode=err.code,
        origin="ebMS",
        severity=err.severity,
        shortDescription=err.short,
    )
    if err.ref_to_message_id:
        element.set("refToMessageInError", err.ref_to_message_id)
    description = etree.SubElement(element, q(c.EB, "Description"))
    description.set("{http://www.w3.org/XML/1998/namespace}lang", "en")
    description.text = err.detail[:2000]
    etree.SubElement(element, q(c.EB, "ErrorDetail")).text = err.detail[:2000]
    return _finish(envelope, credentials)


@dataclass(frozen=True)
class SignalError:
    code: str
    short: str
    severity: str
    detail: str


@dataclass(frozen=True)
class Signal:
    """A checked answer: a receipt (``errors`` empty) or the errors the partner reported."""

    message_id: str
    ref_to_message_id: str
    errors: tuple[SignalError, ...]
    signed: bool
    raw: bytes

    @property
    def is_receipt(self) -> bool:
        return not self.errors


def check(
    content_type: str,
    body: bytes,
    *,
    sent_message_id: str,
    sent: Sequence[wss.Reference],
    signers: Sequence[x509.Certificate],
) -> Signal:
    """Read the answer to a sent UserMessage. A receipt must be signed by one of ``signers`` (the partner's
    certificates), cover eb:Messaging and the Body, refer to ``sent_message_id`` and acknowledge exactly the
    ``sent`` references; otherwise :class:`InvalidReceipt`. An eb:Error signal is returned (signed or not) for
    the caller to fail on."""
    try:
        soap = mime.parse(content_type or mime.SOAP_TYPE, body).soap
        root = parse_xml(soap)
    except (MalformedXml, InvalidHeader) as exc:
        raise InvalidReceipt(f"the answer is not a SOAP signal: {exc}") from None
    signals = root.findall("S12:Header/eb:Messaging/eb:SignalMessage", c.NSMAP)
    messagings = root.findall("S12:Header/eb:Messaging", c.NSMAP)
    if len(signals) != 1 or len(messagings) != 1:
        raise InvalidReceipt(f"the answer holds {len(signals)} eb:SignalMessage elements; exactly one is expected")
    signal = signals[0]
    ref_to = (signal.findtext("eb:MessageInfo/eb:RefToMessageId", namespaces=c.NSMAP) or "").strip()
    errors = tuple(
        SignalError(
            e.get("errorCode") or "",
            e.get("shortDescription") or "",
            e.get("severity") or "",
            (
                e.findtext("eb:ErrorDetail", namespaces=c.NSMAP)
                or e.findtext("eb:Description", namespaces=c.NSMAP)
                or ""
            ).strip()[:2000],
        )
        for e in signal.findall("eb:Error", c.NSMAP)
    )
    signal_id = (signal.findtext("eb:MessageInfo/eb:MessageId", namespaces=c.NSMAP) or "").strip()
    try:
        verified = wss.verify(root, {}, lambda cert: _expect(cert, signers))
    except EbmsError as exc:
        if errors:
            return Signal(signal_id, ref_to, errors, False, body)
        raise InvalidReceipt(f"the receipt's signature is not acceptable: {exc.detail}") from None
    if not verified.covers(messagings[0]) or not verified.covers(root.find(q(c.S12, "Body"))):
        raise InvalidReceipt("the receipt's signature does not cover its eb:Messaging and Body")
    if errors:
        return Signal(signal_id, ref_to, errors, True, body)
    if ref_to != sent_message_id:
        raise InvalidReceipt(f"the receipt refers to {ref_to[:200]!r}, not to the message sent ({sent_message_id!r})")
    refs = signal.findall(
        "eb:Receipt/ebbp:NonRepudiationInformation/ebbp:MessagePartNRInformation/ds:Reference", c.NSMAP
    )
    acknowledged = {wss.Reference.from_xml(r) for r in refs}
    expected = set(sent)
    if acknowledged != expected:
        missing = sorted(r.uri for r in expected - acknowledged)
        extra = sorted(r.uri for r in acknowledged - expected)
        raise InvalidReceipt(
            f"the receipt's NonRepudiationInformation does not match what was sent (not acknowledged: {missing}; "
            f"not sent: {extra})"
        )
    return Signal(signal_id, ref_to, (), True, body)


def _expect(certificate: x509.Certificate, signers: Sequence[x509.Certificate]) -> None:
    if certificate not in signers:
        raise FailedAuthentication(f"signed by {certificate.subject.rfc4514_string()[:200]!r}, not by the partner")
