"""The interface every partner format implements, and the values that cross it."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from lxml import etree


@dataclass(frozen=True)
class RecordRef:
    """One business record of a message as the partner's receipts refer to it (e.g. one order of a CEB311)."""

    kind: str  # the partner's own name of the message, e.g. "CEB311Message"
    keys: tuple[tuple[str, str], ...]  # (field, value) pairs its receipt echoes, e.g. (("orderNo", "A1"),)


@dataclass(frozen=True)
class MessageInfo:
    """What an adapter reads from a message before and after verification."""

    message_type: str
    message_id: str
    sender: str | None = None
    receiver: str | None = None
    created: dt.datetime | None = None
    correlation_id: str | None = None
    records: tuple[RecordRef, ...] = ()  # formats whose receipts answer record by record (CEB)


@dataclass(frozen=True)
class Identity:
    """What makes a message unique for its sender, and what it follows (docs/DESIGN.md 8, "Follow-ups").

    ``key``: unique per sender among messages not rejected. The same key again with the same signed content is
    a resend (``200`` with the first receipt); with other content, a replay (``409 replayed``).
    ``reference``: the business reference this message opens (a declaration's LRN), which follow-ups name.
    ``follows``: the ``reference`` of the same sender's message this one follows (an amendment, cancellation,
    invalidation, supplementary declaration, CEB modification...): it is linked to it (store ``follows``,
    canonical ``CorrelationID``) and delivered after it.
    """

    key: str
    reference: str | None = None
    follows: str | None = None

    @property
    def canonical_id(self) -> str:
        """The canonical envelope's MessageID of this message: the key when it is a canonical id, else a digest
        of it (a partner's ids may hold spaces or more than 64 characters; the canonical envelope's may not)."""
        return canonical_id(self.key)


CANONICAL_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


def canonical_id(value: str) -> str:
    if CANONICAL_ID.match(value):
        return value
    return "sha256-" + hashlib.sha256(value.encode()).hexdigest()[:48]


@dataclass(frozen=True)
class ReceiptError:
    code: str
    description: str
    pointer: str | None = None


@dataclass(frozen=True, kw_only=True)
class Receipt:
    """A receipt, format-neutral; each adapter renders it as its partners expect."""

    accepted: bool
    issued: dt.datetime
    gateway_message_id: str  # the gateway message id given to the answered message
    sender: str  # the gateway: who issues the receipt
    receiver: str  # the partner the receipt answers
    referenced_message_id: str | None = None
    referenced_message_type: str | None = None
    errors: tuple[ReceiptError, ...] = field(default_factory=tuple)
    records: tuple[RecordRef, ...] = ()  # the answered message's records (MessageInfo.records)
    held: bool = False  # accepted but held (watch list): ``errors`` then say why, with the code ``held``


class FormatAdapter(Protocol):
    """Parse (partner -> canonical) and render (canonical -> partner) one partner format.

    Every method takes and returns element trees; none does I/O. Errors are ``Rejection`` subclasses
    (``UnsupportedMessage``, ``SchemaInvalid``, ``MappingFailed``) naming the field and the value.
    """

    name: str

    def identify(self, root: etree._Element) -> MessageInfo:
        """Message type and the partner's message id (and whatever else the format carries)."""
        ...

    def identity(self, root: etree._Element, info: MessageInfo, digest: str) -> Identity:
        """The uniqueness key and the follows link of a verified message (``digest``: SHA-256 of what its
        signature covers, for formats whose messages have no unique field)."""
        ...

    def validate(self, root: etree._Element) -> None:
        """Validate against the format's own schema."""
        ...

    def to_canonical(self, root: etree._Element, info: MessageInfo, sender: str) -> etree._Element:
        """The canonical Envelope for a verified, valid partner message (unsigned)."""
        ...

    def from_canonical(self, envelope: etree._Element, receiver: str) -> etree._Element:
        """The receiver's document for a canonical Envelope (unsigned, schema-valid)."""
        ...

    def render_receipt(self, receipt: Receipt) -> etree._Element:
        """The receipt in this format's own receipt message (unsigned)."""
        ...


class Signing(Protocol):
    def sign(self, root: etree._Element) -> etree._Element: ...


@runtime_checkable
class Sealing(Protocol):
    """A format whose documents are not always signed as the root's last child (CEB: receipts in a DxpMsg)."""

    def seal(self, document: etree._Element, signer: Signing, receiver: str) -> etree._Element: ...


def sign_for(adapter: object, signer: Signing, document: etree._Element, receiver: str) -> etree._Element:
    """``document`` signed for ``receiver`` where its format places the signature (enveloped by default)."""
    if isinstance(adapter, Sealing):
        return adapter.seal(document, signer, receiver)
    return signer.sign(document)
