"""AS4 ingress without HTTP: a UserMessage in, a signed receipt or ebMS error out.

(party, service, action) selects the partner and the message type from the partners' ``[as4]`` tables; the
business document then goes through the same pipeline as the HTTP inbox (``Ingress.receive``: format adapter,
the document's own signature, mapping, routing, controls). The receipt given for an eb:MessageId is kept as
evidence, and a repeated MessageId gets that same receipt again (duplicate elimination)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import Callable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from cryptography.hazmat.primitives.asymmetric import rsa

from gateway.as4 import mime, signals
from gateway.as4.attachments import MimeParts, Opening, SignedImages, read_opening
from gateway.as4.errors import (
    EbmsError,
    FailedAuthentication,
    FeatureNotSupported,
    InvalidHeader,
    Other,
    PolicyNoncompliance,
    ProcessingModeMismatch,
    ValueInconsistent,
)
from gateway.as4.message import Expectation, Head, Limits, UserMessage, check, peek_message_id
from gateway.as4.wss import Credentials
from gateway.config import As4Section, Settings
from gateway.errors import ConfigError, Rejection
from gateway.images.intake import PartSource
from gateway.ingress.pipeline import Answer
from gateway.partners.model import Partner
from gateway.security.certificates import load_certificate, load_private_key
from gateway.store.base import Store

log = logging.getLogger(__name__)

RECEIPT_SENT = "as4-receipt-sent"
MESSAGE_RECEIVED = "as4-message-received"
ACCEPTED = frozenset({"accepted", "duplicate", "waiting", "held"})


# (partner id, message type) -> the block in which the message may go through the pipeline, or RateLimited /
# Overloaded on entering it (gateway.ingress.admission.Admission.admit).
Admit = Callable[[str, str], AbstractAsyncContextManager[object]]


class Pipeline(Protocol):
    async def receive(self, partner_id: str, body: bytes, parts: PartSource | None = None) -> Answer: ...


# How a refusal of the business document (or of its images) is signalled: the gateway's code says what it was.
REFUSALS: dict[str, type[EbmsError]] = {
    "too-large": PolicyNoncompliance,
    "malformed-multipart": InvalidHeader,
}


@dataclass(frozen=True)
class As4Answer:
    body: bytes
    code: str  # "accepted", "duplicate", "waiting", "held", or the ebMS error code
    partner: str | None = None
    gateway_id: str | None = None
    detail: str | None = None


def load_credentials(settings: Settings) -> tuple[Credentials, rsa.RSAPrivateKey]:
    """The AS4 signing identity and the decryption key (``[as4]``, defaulting to the gateway's signing key)."""
    section = settings.as4
    assert section is not None
    key_path = section.signing_key or settings.gateway.signing_key
    cert_path = section.signing_cert or settings.gateway.signing_cert
    key = load_private_key(settings.resolve(key_path))
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ConfigError(f"as4: {key_path} is not an RSA key; AS4 signs with RSA-SHA256 (set [as4] signing_key)")
    decryption = load_private_key(settings.resolve(section.decryption_key)) if section.decryption_key else key
    if not isinstance(decryption, rsa.RSAPrivateKey):
        raise ConfigError(f"as4: {section.decryption_key} is not an RSA key (RSA-OAEP key transport)")
    return Credentials(key, load_certificate(settings.resolve(Path(cert_path))).certificate), decryption


def find_partner(partners: Mapping[str, Partner], um: UserMessage) -> Partner:
    for partner in partners.values():
        as4 = partner.spec.as4
        if as4 is not None and as4.party_id == um.from_party.id and as4.party_type == um.from_party.type:
            return partner
    raise ProcessingModeMismatch(
        f"no partner has the AS4 party {um.from_party.id[:200]!r} (type {str(um.from_party.type)[:200]!r})"
    )


class As4Inbox:
    def __init__(
        self,
        *,
        section: As4Section,
        credentials: Credentials,
        decryption_key: rsa.RSAPrivateKey,
        partners: Callable[[], Mapping[str, Partner]],
        pipeline: Pipeline,
        store: Store,
        max_depth: int = 64,
        max_body_bytes: int = 10 * 1024 * 1024,  # the SOAP envelope and the parts other than images together
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
        admit: Admit | None = None,
    ) -> None:
        self.section = section
        self.admit: Admit = admit or (lambda _partner, _type: contextlib.nullcontext())
        self.credentials = credentials
        self.decrypting = Credentials(decryption_key, credentials.certificate)
        self.partners = partners
        self.pipeline = pipeline
        self.store = store
        self.limits = Limits(section.max_payload_bytes, max_depth)
        self.max_body_bytes = max_body_bytes
        self.clock = clock

    def agreements(self, um: UserMessage) -> Expectation:
        to = um.to_party
        if to.id != self.section.party_id or (to.type or None) != (self.section.party_type or None):
            raise ValueInconsistent(
                f"To party {to.id[:200]!r} (type {str(to.type)[:200]!r}) is not this gateway "
                f"({self.section.party_id!r}, type {self.section.party_type!r})"
            )
        partner = find_partner(self.partners(), um)
        as4 = partner.spec.as4
        assert as4 is not None
        message_type = as4.message_type(um.service, um.action)
        if message_type is None:
            agreed = ", ".join(f"{m.service} {m.action}" for m in as4.messages.values())
            raise ProcessingModeMismatch(
                f"service {um.service[:200]!r} action {um.action[:200]!r} is not agreed with partner {partner.id} "
                f"(agreed: {agreed})"
            )
        now = self.clock()
        trusted = tuple(c.certificate for c in partner.certificates if c.valid_at(now))
        if not trusted:
            raise FailedAuthentication(f"partner {partner.id} has no certificate valid now")
        return Expectation(partner.id, message_type, trusted, as4.encryption_required)

    def refuse(self, error: EbmsError) -> As4Answer:
        log.info("AS4 message refused: %s", error)
        return As4Answer(signals.error(error, self.credentials), error.code, detail=error.detail)

    async def receive(self, content_type: str, body: bytes) -> As4Answer:
        try:
            return await self._receive(content_type, body)
        except EbmsError as error:
            return self.refuse(error)

    async def receive_parts(
        self,
        start: str | None,
        parts: MimeParts,
        *,
        declared_length: int | None = None,
        timeout: float = 30.0,  # noqa: ASYNC109 - the opening parts' reading time, answered as an ebMS error
    ) -> As4Answer:
        """A multipart/related UserMessage read part by part: the envelope and the business document whole (at
        most ``max_body_bytes`` together, within ``timeout``), an inspection result's images streamed into the
        image store's staging by the pipeline (docs/AS4.md, "Images")."""
        opening: Opening | None = None
        try:
            try:
                async with asyncio.timeout(timeout):
                    opening = await read_opening(
                        start,
                        parts,
                        max_bytes=self.max_body_bytes,
                        max_depth=self.limits.max_depth,
                        declared_length=declared_length,
                    )
            except TimeoutError:
                raise InvalidHeader(f"the SOAP envelope and business document took more than {timeout:g} s") from None
            except Rejection as error:  # cut short, unreadable (gateway.ingress.multipart)
                raise REFUSALS.get(error.code, InvalidHeader)(f"{error.code}: {error.message}") from None
            head = check(
                opening.parts,
                opening.pending,
                agreements=self.agreements,
                credentials=self.decrypting,
                limits=self.limits,
            )
            images = SignedImages(opening, head, parts) if opening.pending else None
            return await self._pass_on(head, opening.parts.soap, images)
        except EbmsError as error:
            if error.ref_to_message_id is None and opening is not None:
                error.ref_to_message_id = peek_message_id(opening.parts.soap)
            return self.refuse(error)

    async def _receive(self, content_type: str, body: bytes) -> As4Answer:
        parts = mime.parse(content_type, body)
        head = check(parts, frozenset(), agreements=self.agreements, credentials=self.decrypting, limits=self.limits)
        return await self._pass_on(head, parts.soap, None)

    async def _pass_on(self, head: Head, soap: bytes, images: SignedImages | None) -> As4Answer:
        um, partner = head.user_message, head.expectation.partner
        if len(head.payloads) != 1:
            raise FeatureNotSupported(
                f"the UserMessage carries {len(head.payloads)} payloads besides images; one business document per "
                "message",
                ref_to_message_id=um.message_id,
            )
        # Quotas, shedding and the admission queue (gateway.ingress.admission), for the verified From party: over
        # them, RateLimited / Overloaded go up to the HTTP route, which answers 429 / 503 with Retry-After.
        async with self.admit(partner, head.expectation.message_type):
            return await self._admitted(head, soap, images)

    async def _admitted(self, head: Head, soap: bytes, images: SignedImages | None) -> As4Answer:
        um, partner = head.user_message, head.expectation.partner
        earlier = await self.store.find_evidence(partner, RECEIPT_SENT, um.message_id)
        if earlier is not None:
            log.info("AS4 %s from %s again: the original receipt", um.message_id, partner)
            return As4Answer(earlier.document, "duplicate", partner, earlier.message_id)
        try:
            # Images stream from here into the image store's staging; an attachment that fails the AS4 checks
            # (undeclared, missing, not decrypting) raises its EbmsError through the pipeline, nothing kept.
            answer = await self.pipeline.receive(partner, head.payloads[0].data, images)
        except EbmsError as error:
            error.ref_to_message_id = error.ref_to_message_id or um.message_id
            raise
        if answer.code not in ACCEPTED:
            refusal = REFUSALS.get(answer.code, Other)
            raise refusal(
                f"the business document was refused: {answer.code}: {answer.message}", ref_to_message_id=um.message_id
            )
        if answer.message_type != head.expectation.message_type:
            log.warning(
                "AS4 %s from %s: action says %s, the document is a %s",
                um.message_id,
                partner,
                head.expectation.message_type,
                answer.message_type,
            )
        receipt = signals.receipt(um.message_id, head.references, self.credentials)
        await self.store.record_evidence(answer.message_id, partner, MESSAGE_RECEIVED, um.message_id, soap)
        await self.store.record_evidence(answer.message_id, partner, RECEIPT_SENT, um.message_id, receipt)
        kept = await self.store.find_evidence(partner, RECEIPT_SENT, um.message_id)  # a concurrent twin may have won
        return As4Answer(kept.document if kept else receipt, answer.code, partner, answer.message_id)
