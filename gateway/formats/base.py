"""The interface every partner format implements, and the values that cross it."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Protocol

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


class FormatAdapter(Protocol):
    """Parse (partner -> canonical) and render (canonical -> partner) one partner format.

    Every method takes and returns element trees; none does I/O. Errors are ``Rejection`` subclasses
    (``UnsupportedMessage``, ``SchemaInvalid``, ``MappingFailed``) naming the field and the value.
    """

    name: str

    def identify(self, root: etree._Element) -> MessageInfo:
        """Message type and the partner's message id (and whatever else the format carries)."""
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
