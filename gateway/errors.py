"""The gateway's error tree. Each class says how it is answered outside.

    GatewayError                       base: code, HTTP status, receipt code
    ├── ConfigError                    a configuration or partner file is wrong (start refused)
    ├── Rejection                      a message refused at ingress: signed rejection receipt
    │   ├── MalformedXml               400 malformed-xml
    │   ├── UnsupportedMessage         400 unsupported-message
    │   ├── SignatureInvalid           401 signature-invalid
    │   ├── CertificateUntrusted       401 certificate-untrusted
    │   ├── CertificateExpired         401 certificate-expired
    │   ├── NotPermitted               403 not-permitted
    │   ├── UnknownPartner             404 unknown-partner
    │   ├── Replayed                   409 replayed
    │   ├── TooLarge                   413 too-large
    │   ├── MalformedMultipart         400 malformed-multipart (a multipart/related body or part is cut or unreadable)
    │   ├── ImageInvalid               422 image-invalid (an image part disagrees with the signed message)
    │   ├── RateLimited                429 rate-limited (over the partner's quota: send again after Retry-After)
    │   ├── SchemaInvalid              422 schema-invalid
    │   ├── MappingFailed              422 mapping-failed
    │   ├── NoRoute                    422 no-route
    │   ├── MatchingFailed             422 matching-failed (inventory vs its order, payment, waybill)
    │   │   └── MatchingIncomplete     422 matching-incomplete (lists missing after the window)
    │   ├── NonCompliant               422 non-compliant (held on the watch list, refused by an operator)
    │   └── Unavailable                503 unavailable (nothing accepted: send again)
    │       ├── Unconfirmed            sent, but neither confirmed nor refused: the broker may hold it
    │       ├── Overloaded             the gateway is behind and this sender is among the heaviest (shed)
    │       └── PartnerSuspended       503 partner-suspended (the sender is suspended for now: send after resume)
    └── DeliveryError                  delivering to a receiver failed
        ├── TransientDeliveryError     retry with backoff, then dead-letter
        └── PermanentDeliveryError     dead-letter at once (retrying cannot help)

Each class also carries ``settlement``: what the broker is told when handling a consumed message raised it
(``gateway.broker.settle``): ``retry`` (TransientDeliveryError: backoff, then dead-letter after the last
attempt), ``dead-letter`` (PermanentDeliveryError) or ``requeue`` (every other error: our own trouble, such as
the store or the broker being down, not the receiver's; handed back after a pause).

Third-party exceptions are translated at one boundary per library (``security.xml``, ``security.verify``,
``broker.publisher``, ``delivery.http``) with ``raise ... from exc``.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import ClassVar

# What XML 1.0 cannot carry: C0 controls but tab, LF and CR; surrogates (undecodable bytes of an HTTP or part
# header arrive as U+DC80-U+DCFF); U+FFFE and U+FFFF. A message quoting a sender's header goes into a signed
# receipt (lxml refuses such text: that was a 500) and into the store.
_NOT_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _xml_safe(text: str) -> str:
    """``text`` with each character XML cannot carry written as its escape (``\\x01``, ``\\udcff``)."""
    return _NOT_XML.sub(lambda found: repr(found.group())[1:-1], text)


class BrokerAction(StrEnum):
    """The broker action for a consumed message whose handling raised the error."""

    RETRY = "retry"  # to a retry queue (backoff), then back to the receiver; dead-lettered after the last attempt
    DEAD_LETTER = "dead-letter"  # to the receiver's dead-letter queue now
    REQUEUE = "requeue"  # handed back to the receiver's queue after a pause (our trouble, not the receiver's)


class GatewayError(Exception):
    """Base of every error the gateway raises on purpose."""

    code: ClassVar[str] = "internal-error"
    http_status: ClassVar[int] = 500
    settlement: ClassVar[BrokerAction] = BrokerAction.REQUEUE

    def __init__(self, message: str, *, pointer: str | None = None) -> None:
        message = _xml_safe(message)
        super().__init__(message)
        self.message = message
        self.pointer = pointer

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


class ConfigError(GatewayError):
    """A configuration or partner file is invalid; names the file, the key and what is wrong."""

    code = "config-invalid"


class Rejection(GatewayError):
    """A message refused at ingress. Answered with ``http_status`` and a signed rejection receipt."""


class MalformedXml(Rejection):
    code = "malformed-xml"
    http_status = 400


class UnsupportedMessage(Rejection):
    code = "unsupported-message"
    http_status = 400


class SignatureInvalid(Rejection):
    code = "signature-invalid"
    http_status = 401


class CertificateUntrusted(Rejection):
    code = "certificate-untrusted"
    http_status = 401


class CertificateExpired(Rejection):
    code = "certificate-expired"
    http_status = 401


class NotPermitted(Rejection):
    code = "not-permitted"
    http_status = 403


class UnknownPartner(Rejection):
    code = "unknown-partner"
    http_status = 404


class Replayed(Rejection):
    code = "replayed"
    http_status = 409


class TooLarge(Rejection):
    code = "too-large"
    http_status = 413


class MalformedMultipart(Rejection):
    """A ``multipart/related`` message whose structure cannot be read: a part cut short, no closing boundary, no
    XML first part, a part not received in time. Names the part."""

    code = "malformed-multipart"
    http_status = 400


class ImageInvalid(Rejection):
    """An image part that disagrees with the signed message (digest, size, media type, its magic bytes), a part
    the message does not name, or an image it names that was not sent. Names the part."""

    code = "image-invalid"
    http_status = 422


class RateLimited(Rejection):
    """Over the partner's quota (rate and burst, or requests in flight), decided before the body is parsed:
    nothing was accepted; ``retry_after`` seconds is when sending again can succeed."""

    code = "rate-limited"
    http_status = 429

    def __init__(self, message: str, *, retry_after: int = 1, pointer: str | None = None) -> None:
        super().__init__(message, pointer=pointer)
        self.retry_after = retry_after


class SchemaInvalid(Rejection):
    code = "schema-invalid"
    http_status = 422


class MappingFailed(Rejection):
    code = "mapping-failed"
    http_status = 422


class NoRoute(Rejection):
    code = "no-route"
    http_status = 422


class MatchingFailed(Rejection):
    """Three-list matching failed (gateway.controls.matching): one receipt error per failed rule, each with
    the values seen, so the sender can correct every one at once."""

    code = "matching-failed"
    http_status = 422

    def __init__(
        self, message: str, *, pointer: str | None = None, failures: tuple[tuple[str, str | None], ...] = ()
    ) -> None:
        super().__init__(message, pointer=pointer)
        self.failures = failures  # (description, pointer) per failed rule


class MatchingIncomplete(MatchingFailed):
    """An inventory's order, payment or waybill did not arrive within ``[controls] matching_window``."""

    code = "matching-incomplete"


class NonCompliant(MatchingFailed):
    """A message held because its goods are on the watch list of non-compliant products, refused by an
    operator (gateway.controls.watchlist): answered after the 202 with a rejection receipt, one error per hit."""

    code = "non-compliant"


class Unavailable(Rejection):
    code = "unavailable"
    http_status = 503


class Unconfirmed(Unavailable):
    """A publish was sent but its confirm never came (timeout, connection lost): it may be in a queue, so its
    gateway message id must stay reserved for the resend (answered like any Unavailable)."""


class Overloaded(Unavailable):
    """Load shedding: the gateway is behind and the sender has more requests in flight than its fair share
    (answered like any Unavailable, with a shorter Retry-After)."""

    retry_after = 2


class PartnerSuspended(Unavailable):
    """The sending partner is suspended by an operator: a temporary state, answered 503 with Retry-After."""

    code = "partner-suspended"
    http_status = 503


class DeliveryError(GatewayError):
    """Delivering a message to a receiver failed."""

    code = "delivery-failed"


class TransientDeliveryError(DeliveryError):
    """The receiver may take it later (down, 5xx, timeout): retry with backoff."""

    settlement = BrokerAction.RETRY


class PermanentDeliveryError(DeliveryError):
    """Retrying cannot help (receiver refused it, cannot be mapped): dead-letter now."""

    settlement = BrokerAction.DEAD_LETTER


# Every rejection answered to a partner, once (tests/test_errors.py checks none is missing): the format adapters'
# receipt code tables are checked against it.
REJECTIONS: tuple[type[Rejection], ...] = (
    MalformedXml,
    UnsupportedMessage,
    SignatureInvalid,
    CertificateUntrusted,
    CertificateExpired,
    NotPermitted,
    UnknownPartner,
    Replayed,
    TooLarge,
    MalformedMultipart,
    ImageInvalid,
    RateLimited,
    SchemaInvalid,
    MappingFailed,
    NoRoute,
    MatchingFailed,
    MatchingIncomplete,
    NonCompliant,
    Unavailable,
    PartnerSuspended,
)
