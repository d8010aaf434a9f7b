"""The ``as4`` delivery transport: each document as a signed (and, where the partner requires it, encrypted)
AS4 UserMessage; delivered only on a signed receipt whose NonRepudiationInformation repeats the digests sent.

The eb:MessageId is derived from the gateway message and the receiver, so a retry is the same AS4 message and a
receiver with duplicate elimination answers it with its first receipt. The receipt and the signed envelope
are kept with the message (store evidence) as non-repudiation evidence."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import AsyncIterator, Callable

import aiohttp
from cryptography import x509

from gateway.as4 import constants as c
from gateway.as4 import signals
from gateway.as4.errors import EbmsError
from gateway.as4.message import Attachment, Party, Payload, UserMessage, build, build_streamed
from gateway.as4.wss import Credentials
from gateway.config import As4Section
from gateway.delivery.http import is_retryable
from gateway.delivery.transport import Outbound, stored_images
from gateway.errors import PermanentDeliveryError, TransientDeliveryError
from gateway.images.multipart import ImageCorrupt, read_checked
from gateway.images.store import ImageMissing, closing
from gateway.partners.model import As4Delivery
from gateway.store.base import Store

log = logging.getLogger(__name__)

RECEIPT_RECEIVED = "as4-receipt-received"
MESSAGE_SENT = "as4-message-sent"
# Errors a resend cannot cure: the receiver refuses our identity, keys, algorithms or the agreement itself.
PERMANENT_CODES = frozenset({"EBMS:0001", "EBMS:0003", "EBMS:0010", "EBMS:0101", "EBMS:0102", "EBMS:0103"})
DOCUMENT_CID = "payload@gateway"  # the business document's part; images go under their Image IDs


class As4Transport:
    name = "as4"

    def __init__(
        self,
        *,
        section: As4Section,
        credentials: Credentials,
        store: Store,
        timeout: float,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self.section = section
        self.credentials = credentials
        self.store = store
        self.timeout = timeout
        self.clock = clock
        self._session: aiohttp.ClientSession | None = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:  # made on first use, inside the running loop
            self._session = aiohttp.ClientSession()
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def user_message(self, outbound: Outbound) -> tuple[UserMessage, x509.Certificate | None, str]:
        partner, routed = outbound.partner, outbound.message
        delivery, as4 = partner.spec.delivery, partner.spec.as4
        if not isinstance(delivery, As4Delivery):
            raise PermanentDeliveryError(f"receiver {partner.id} is not configured for AS4 delivery")
        if as4 is None:
            raise PermanentDeliveryError(f"receiver {partner.id}: transport as4 needs an [as4] table in its file")
        collaboration = next((m for t, m in as4.messages.items() if t == routed.message_type), None)
        if collaboration is None:
            raise PermanentDeliveryError(
                f"receiver {partner.id}: no AS4 service/action for {routed.message_type!r} in [as4.messages]"
            )
        um = UserMessage(
            message_id=f"{routed.message_id}.{partner.id}@{self.section.party_id}",
            from_party=Party(self.section.party_id, self.section.party_type, c.INITIATOR),
            to_party=Party(as4.party_id, as4.party_type, c.RESPONDER),
            service=collaboration.service,
            service_type=collaboration.service_type,
            action=collaboration.action,
            conversation_id=routed.message_id,
            agreement_ref=as4.agreement_ref,
        )
        return um, partner.as4_encryption_certificate if as4.encryption_required else None, str(delivery.url)

    async def send(self, outbound: Outbound) -> str:
        um, encrypt_for, url = self.user_message(outbound)
        partner = outbound.partner
        delivery = partner.spec.delivery
        timeout = (delivery.timeout if isinstance(delivery, As4Delivery) else None) or self.timeout
        document = Payload(DOCUMENT_CID, outbound.body)
        headers = {"MIME-Version": "1.0"}
        body: bytes | AsyncIterator[bytes]
        if outbound.images:
            # The images go as attachments streamed from the store, each signed by its known digest and, for a
            # partner that must get everything encrypted, encrypted while it is sent (docs/AS4.md, "Images").
            store = await stored_images(outbound)
            attachments = [
                Attachment(i.id, i.media_type, i.size, i.sha256, read_checked(store, i)) for i in outbound.images
            ]
            try:
                streamed = build_streamed(um, [document], attachments, self.credentials, encrypt_for=encrypt_for)
            except ValueError as exc:
                raise PermanentDeliveryError(f"receiver {partner.id}: {exc}") from exc
            body, references, soap = streamed.body, streamed.references, streamed.soap
            headers |= {"Content-Type": streamed.content_type, "Content-Length": str(streamed.length)}
            timeout += streamed.length / 1_000_000  # tens of MB need more than a small message's timeout
        else:
            out = build(um, [document], self.credentials, encrypt_for=encrypt_for)
            body, references, soap = out.body, out.references, out.soap
            headers["Content-Type"] = out.content_type
        if isinstance(body, bytes):
            status, content_type, answer = await self.post(url, body, headers, timeout)
        else:
            async with closing(body):  # the receiver may answer before it read everything
                status, content_type, answer = await self.post(url, body, headers, timeout)
        if status >= 300 and not answer.strip().startswith((b"<", b"--")):
            error = f"AS4 POST to {url}: HTTP {status} without an ebMS signal"
            raise TransientDeliveryError(error) if is_retryable(status) else PermanentDeliveryError(error)
        try:
            signal = signals.check(
                content_type,
                answer,
                sent_message_id=um.message_id,
                sent=references,
                signers=partner_certificates(outbound),
            )
        except EbmsError as exc:  # a bad receipt proves nothing: not delivered
            raise TransientDeliveryError(f"AS4 {um.message_id} to {partner.id}: {exc}") from exc
        if signal.errors:
            first = signal.errors[0]
            reason = f"AS4 {um.message_id} refused by {partner.id}: {first.code} {first.short}: {first.detail}"
            raise PermanentDeliveryError(reason) if first.code in PERMANENT_CODES else TransientDeliveryError(reason)
        await self.store.record_evidence(routed_id(outbound), partner.id, MESSAGE_SENT, um.message_id, soap)
        await self.store.record_evidence(routed_id(outbound), partner.id, RECEIPT_RECEIVED, um.message_id, answer)
        images = f" with {len(outbound.images)} images" if outbound.images else ""
        return f"AS4 receipt {signal.message_id} from {url}{images}"

    async def post(
        self,
        url: str,
        body: bytes | AsyncIterator[bytes],
        headers: dict[str, str],
        timeout: float,  # noqa: ASYNC109 - the partner's own aiohttp request timeout, handed on
    ) -> tuple[int, str, bytes]:
        """(status, Content-Type, body) of the partner's answer; aiohttp's errors translated here."""
        try:
            async with self.session.post(
                url, data=body, headers=headers, timeout=aiohttp.ClientTimeout(total=timeout)
            ) as response:
                answer = await response.read()
                return response.status, response.headers.get("Content-Type", ""), answer
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            cause = _image_failure(exc)
            if cause is not None:  # the store's bytes are not the signed image, or retention removed it
                raise PermanentDeliveryError(f"AS4 POST to {url} stopped: {cause}") from exc
            raise TransientDeliveryError(f"AS4 POST to {url} failed: {exc!r}") from exc


def _image_failure(exc: BaseException) -> BaseException | None:
    """The image store's failure behind a failed upload (aiohttp wraps what the body generator raised)."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ImageCorrupt | ImageMissing):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def routed_id(outbound: Outbound) -> str:
    return outbound.message.message_id


def partner_certificates(outbound: Outbound) -> tuple[x509.Certificate, ...]:
    """The receipt must be signed with one of the partner's pinned certificates valid now."""
    now = dt.datetime.now(dt.UTC)
    valid = [c.certificate for c in outbound.partner.certificates if c.valid_at(now)]
    if not valid:
        raise PermanentDeliveryError(f"receiver {outbound.partner.id} has no certificate valid now")
    return tuple(valid)
