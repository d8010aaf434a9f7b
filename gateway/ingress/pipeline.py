"""One incoming message, DESIGN.md section 2 steps 2-10, without any network code.

The pipeline takes the partner id and the body bytes and returns an :class:`Answer` (HTTP status + signed
receipt). Lookups (partners, adapters), the store and the publisher are passed in, so the whole flow runs in
tests against a real broker and store, or in benchmarks, with no HTTP server.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from gateway.broker.routed import Publishing, RoutedMessage, publish_routed
from gateway.broker.topology import Topology
from gateway.config import ImagesSection, RouteRule, SecuritySection, is_participant_id
from gateway.errors import (
    MatchingFailed,
    Overloaded,
    PartnerSuspended,
    RateLimited,
    Rejection,
    Replayed,
    Unavailable,
    Unconfirmed,
    UnknownPartner,
)
from gateway.formats.base import FormatAdapter, Identity, MessageInfo, Receipt, ReceiptError, sign_for
from gateway.formats.canonical import CanonicalAdapter
from gateway.images.intake import NO_IMAGES, Intake, Limits, PartSource, take_in
from gateway.images.manifest import images_of
from gateway.images.store import ImageStore
from gateway.ingress.steps import Checked, check, translate
from gateway.logs import begin, bind
from gateway.partners.model import Partner
from gateway.security.keyring import Keyring
from gateway.security.xml import parse_xml, to_bytes
from gateway.store.base import MessageRecord, Status, Store
from gateway.text import shorten

if TYPE_CHECKING:
    from gateway.controls.model import Hold
    from gateway.controls.service import Controls

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes
    message_id: str
    code: str  # "accepted", "duplicate" or the rejection code
    partner: str | None = None
    message_type: str | None = None
    message: str | None = None  # human-readable reason of a rejection
    follows: str | None = None  # the gateway id of the message this one follows (docs/DESIGN.md 8)
    retry_after: int | None = None  # seconds, for a refusal that says "not now" with its own time (rate-limited)


@dataclass
class Attempt:
    """One request's gateway message id; it changes when a resend takes over an unfinished claim."""

    message_id: str
    published: bool = False  # once true, a failure must not mark the message rejected: it is on its way


REFUSAL_REUSE = 1.0  # seconds one signed over-quota (or shed) receipt answers a partner again


def new_message_id() -> str:
    return str(uuid.uuid4())


class Ingress:
    def __init__(
        self,
        *,
        participant_id: str,  # this gateway's own participant id (receipts are sent by it)
        partners: Callable[[], Mapping[str, Partner]],
        adapters: Mapping[str, FormatAdapter],
        keyring: Keyring,  # signs for each partner in its algorithm
        store: Store,
        publisher: Publishing,
        topology: Topology,
        rules: list[RouteRule],
        security: SecuritySection,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
        controls: Controls | None = None,
        images: ImageStore | None = None,  # where the images of inspection results go (claim check)
        image_settings: ImagesSection | None = None,
    ) -> None:
        self.participant_id = participant_id
        self.partners = partners
        self.adapters = adapters
        self.canonical = CanonicalAdapter()
        self.keyring = keyring
        self.store = store
        self.publisher = publisher
        self.topology = topology
        self.rules = rules
        self.security = security
        self.clock = clock
        self.controls = controls
        self.images = images
        self.image_settings = image_settings or ImagesSection()
        self._inflight: dict[tuple[str, str, str], asyncio.Future[None]] = {}  # (partner, key|reference, value)
        self._refusals: dict[tuple[str, str, int], tuple[float, Answer]] = {}  # (partner, code, retry-after)

    async def receive(self, partner_id: str, body: bytes, parts: PartSource | None = None) -> Answer:
        """``body``: the signed document; ``parts``: the image parts that followed it in a multipart/related body."""
        attempt = Attempt(new_message_id())
        message_id = attempt.message_id
        # This request's facts go with every record it logs (gateway.logs; each request is its own task).
        begin(message_id=message_id, partner=partner_id, sender=partner_id)
        partner = self.partners().get(partner_id)
        if partner is None:
            shown = partner_id if is_participant_id(partner_id) else "(invalid id)"
            error = UnknownPartner(f"no partner {shown!r} is configured on this gateway", pointer="/partners/{id}")
            return self._rejection(error, message_id, None, None, self.canonical)
        adapter = self.adapters[partner.format]
        info: MessageInfo | None = None
        try:
            if partner.spec.suspended:
                raise PartnerSuspended(
                    f"partner {partner.id} is suspended on this gateway for now; nothing was accepted: send it "
                    "again once an operator has resumed the partner"
                )
            root = parse_xml(body, max_depth=self.security.max_depth)
            info = adapter.identify(root)  # unverified: only to answer in context if verification fails
            bind(type=info.message_type)
            checked = check(partner, adapter, root, now=self.clock(), window=self.security)
            info = checked.info
            intake = await self._take_in(partner, adapter, checked, parts)
            try:
                return await self._accept(attempt, partner, adapter, checked, intake)
            finally:
                await intake.discard()  # what was not committed (a duplicate, a refusal) is not kept
        except Rejection as error:
            answer = self._rejection(error, attempt.message_id, partner, info, adapter)
            if not attempt.published:
                await self._record_rejection(answer, partner, info, error)
            return answer

    async def refuse_unread(self, partner_id: str, error: Rejection) -> Answer:
        """Answer a request refused before its body was read (too large, too slow, wrong content type, over
        quota, shed).

        A known partner's refusal is recorded like any other, so operators find it by the receipt's id."""
        partner = self.partners().get(partner_id)
        adapter = self.adapters[partner.format] if partner else self.canonical
        if partner is not None and isinstance(error, RateLimited | Overloaded):
            return self._refusal(error, partner, adapter)
        answer = self._rejection(error, new_message_id(), partner, None, adapter)
        if partner is not None:
            await self._record_rejection(answer, partner, None, error)
        return answer

    def _refusal(self, error: RateLimited | Overloaded, partner: Partner, adapter: FormatAdapter) -> Answer:
        """Over quota or shed (gateway.ingress.admission): counted in the metrics, not written to the store, and
        the same signed receipt answers the partner's refusals of one kind for ``REFUSAL_REUSE`` seconds, so that
        a flood being refused costs neither a store write nor a signature per request."""
        key = (partner.id, error.code, error.retry_after)
        now = time.monotonic()
        cached = self._refusals.get(key)
        if cached is not None and now - cached[0] < REFUSAL_REUSE:
            return cached[1]
        answer = self._rejection(error, new_message_id(), partner, None, adapter)
        self._refusals[key] = (now, answer)
        return answer

    async def _take_in(
        self, partner: Partner, adapter: FormatAdapter, checked: Checked, parts: PartSource | None
    ) -> Intake:
        """The images the signed message names, streamed from ``parts`` into the store's staging area and checked
        against the message (docs/DESIGN.md 8): before the claim, so a bad part leaves no trace but the rejection."""
        images = images_of(checked.verified.xml)
        if not images and parts is None:
            return NO_IMAGES
        adapter.validate(checked.verified.xml)  # a schema-invalid message is refused before megabytes are read
        if self.images is None:
            raise Unavailable("this gateway has no image store open; nothing was accepted")
        settings, own = self.image_settings, partner.spec.images
        limits = Limits(
            max_image_bytes=min(settings.max_image_bytes, own.max_image_bytes or settings.max_image_bytes),
            max_images=min(settings.max_images, settings.max_images if own.max_images is None else own.max_images),
            part_timeout=settings.part_timeout,
        )
        return await take_in(images, parts, self.images, limits)

    async def _accept(
        self, attempt: Attempt, partner: Partner, adapter: FormatAdapter, checked: Checked, intake: Intake = NO_IMAGES
    ) -> Answer:
        identity = checked.identity
        held = [(partner.id, "key", identity.key)]
        if identity.reference:
            held.append((partner.id, "reference", identity.reference))
        # The same message, or the original a follow-up follows, is being accepted right now: wait for it, so the
        # follow-up is published after its original (and linked to it), then look again.
        awaited = held + ([(partner.id, "reference", identity.follows)] if identity.follows else [])
        while (pending := next((self._inflight[k] for k in awaited if k in self._inflight), None)) is not None:
            await asyncio.shield(pending)
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._inflight.update(dict.fromkeys(held, done))
        try:
            return await self._accept_once(attempt, partner, adapter, checked, intake)
        finally:
            for key in held:
                del self._inflight[key]
            done.set_result(None)

    async def _accept_once(
        self, attempt: Attempt, partner: Partner, adapter: FormatAdapter, checked: Checked, intake: Intake
    ) -> Answer:
        info, identity = checked.info, checked.identity
        message_id = attempt.message_id
        original = await self._original(partner, identity)
        held = await self.store.claim(
            message_id,
            partner.id,
            info.message_id,
            info.message_type,
            checked.digest,
            key=identity.key,
            reference=identity.reference,
            follows=original.id if original else None,
        )
        if held.id != message_id:
            if held.digest != checked.digest:
                raise Replayed(
                    f"message {identity.key!r} (its {adapter.name} uniqueness key) was already used by {partner.id} "
                    f"for other content (gateway message {held.id}); message ids are unique forever",
                    pointer="/Envelope/Header/MessageID",
                )
            if held.status != Status.RECEIVED and held.receipt is not None:
                return Answer(
                    200, held.receipt, held.id, "duplicate", partner.id, info.message_type, follows=held.follows
                )
            # An earlier attempt stopped between claim and acceptance: finish it under its first id.
            message_id = attempt.message_id = held.id
            await self.store.retake(message_id, checked.digest)
            attempt.published = True  # that attempt may have published it: never release this claim now
        canonical, receivers = translate(
            message_id,
            partner,
            adapter,
            checked,
            original,
            partners=self.partners(),
            rules=self.rules,
            participant_id=self.participant_id,
            adapters=self.adapters,
        )
        body = to_bytes(canonical)
        routed = RoutedMessage(
            message_id=message_id,
            sender=partner.id,
            sender_message_id=info.message_id,
            message_type=info.message_type,
            body=body,
            follows=original.id if original else None,  # delivered after it (docs/DESIGN.md 8)
            checked=True,  # translate validated the canonical envelope
        )
        # Signed before publishing: once confirmed, the receiver's worker may already be delivering, and the
        # "accepted" record should follow the confirm as closely as possible.
        answered = Receipt(
            accepted=True,
            issued=self.clock(),
            gateway_message_id=message_id,
            sender=self.participant_id,
            receiver=partner.id,
            referenced_message_id=info.message_id,
            referenced_message_type=info.message_type,
            records=info.records,
        )
        receipt = self._receipt(answered, adapter, partner)
        if self.controls is not None:  # three-list matching may reject or hold an inventory
            hold = await self.controls.screen(
                message_id=message_id,
                info=info,
                sender=partner.id,
                canonical=canonical,
                body=body,
                receivers=receivers,
            )
            if hold is not None:
                await intake.commit(message_id)
                if hold.errors:  # held on the watch list: the receipt says so, with the code held
                    receipt = self._receipt(replace(answered, held=True, errors=hold.errors), adapter, partner)
                return await self._hold(message_id, partner, info, receivers, receipt, body, hold)
        # Stored for good before the message can reach a delivery worker, which streams them from the store.
        await intake.commit(message_id)
        queued: list[str] = []
        try:
            await publish_routed(self.publisher, self.topology, routed, receivers, queued=queued)
        except Unavailable as error:
            # Sent but never confirmed (timeout, connection lost): it may be queued, so it counts as published.
            # Published (to one receiver at least): from here a failure leaves the claim "received", and a resend
            # finishes it under the same gateway id (receivers can de-duplicate; the delivered check stops a
            # second delivery to a receiver that already has it).
            attempt.published = attempt.published or bool(queued) or isinstance(error, Unconfirmed)
            if not attempt.published:
                await self._release(message_id, error)
                if intake.images and self.images is not None:
                    await self.images.release(message_id)  # refused for good: its images go with it
            raise
        attempt.published = True
        await self.store.accept(message_id, receivers, receipt, body)
        log.info(
            "accepted %s %s from %s as %s, routed to %s",
            info.message_type,
            info.message_id,
            partner.id,
            message_id,
            ",".join(receivers),
            extra={"status": "accepted"},
        )
        if self.controls is not None:  # lists kept for matching, consignments, risk rules (never raises)
            await self.controls.accepted(message_id=message_id, info=info, sender=partner.id, canonical=canonical)
        return Answer(
            202,
            receipt,
            message_id,
            "accepted",
            partner.id,
            info.message_type,
            follows=original.id if original else None,
        )

    async def _hold(
        self,
        message_id: str,
        partner: Partner,
        info: MessageInfo,
        receivers: tuple[str, ...],
        receipt: bytes,
        body: bytes,
        hold: Hold,
    ) -> Answer:
        """Accepted, not routed yet: ``waiting`` (or ``held``) until the controls (or an officer) release or
        reject it."""
        assert self.controls is not None
        await self.store.wait(message_id, receivers, receipt, body, hold.reason, status=hold.status)
        log.info(
            "holding %s %s from %s as %s: %s",
            info.message_type,
            info.message_id,
            partner.id,
            message_id,
            hold.reason,
            extra={"status": str(hold.status)},
        )
        try:
            await self.controls.held(message_id)
        except Exception:  # it is recorded waiting: the next list or the deadline sweep settles it
            log.exception("controls could not park %s; its deadline sweep settles it", message_id)
        return Answer(202, receipt, message_id, hold.outcome, partner.id, info.message_type)

    async def _original(self, partner: Partner, identity: Identity) -> MessageRecord | None:
        """The message a follow-up follows; 503 while that one is not accepted yet (a crash or a broker outage
        left it unfinished): publishing the follow-up first would deliver it before its original."""
        if identity.follows is None:
            return None
        original = await self.store.opened(partner.id, identity.follows)
        if original is not None and original.status == Status.RECEIVED:
            raise Unavailable(
                f"the message {identity.follows!r} this one follows (gateway message {original.id}) is not accepted "
                "yet; send that one again, then this one"
            )
        return original

    async def _release(self, message_id: str, error: Unavailable) -> None:
        try:
            await self.store.release(message_id, error.message)
        except Unavailable:
            log.exception("could not release claim %s; a resend will take it over", message_id)

    def _receipt(self, receipt: Receipt, adapter: FormatAdapter, partner: Partner | None) -> bytes:
        """Signed in the partner's own algorithm (``signature_algorithm``), by the key in use now."""
        signer = self.keyring.for_partner(partner)
        return to_bytes(sign_for(adapter, signer, adapter.render_receipt(receipt), receipt.receiver))

    def _rejection(
        self,
        error: Rejection,
        message_id: str,
        partner: Partner | None,
        info: MessageInfo | None,
        adapter: FormatAdapter,
    ) -> Answer:
        receipt = Receipt(
            accepted=False,
            issued=self.clock(),
            gateway_message_id=message_id,
            sender=self.participant_id,
            receiver=partner.id if partner else "unknown",
            referenced_message_id=info.message_id if info else None,
            referenced_message_type=info.message_type if info else None,
            errors=tuple(ReceiptError(error.code, d, p) for d, p in error.failures)
            if isinstance(error, MatchingFailed) and error.failures
            else (ReceiptError(error.code, error.message, error.pointer),),
            records=info.records if info else (),
        )
        try:
            body = self._receipt(receipt, adapter, partner)
        except Exception:  # a receipt that cannot be rendered in the partner's format: fall back to ours
            log.exception("rendering a %s rejection receipt failed", adapter.name)
            body = self._receipt(receipt, self.canonical, partner)
        return Answer(
            error.http_status,
            body,
            message_id,
            error.code,
            partner.id if partner else None,
            info.message_type if info else None,
            error.message,
            retry_after=getattr(error, "retry_after", None),
        )

    async def _record_rejection(
        self, answer: Answer, partner: Partner, info: MessageInfo | None, error: Rejection
    ) -> None:
        # Messages can quote the sender's values (a schema error quotes up to 64 KB of one): bound what is kept.
        reason = shorten(error.message, 2048, mark="… (cut)")
        log.info(
            "rejected message from %s: %s: %s",
            partner.id,
            error.code,
            reason,
            extra={"status": "rejected", "code": error.code},
        )
        try:
            await self.store.reject(
                answer.message_id,
                partner.id,
                info.message_id if info else None,
                info.message_type if info else None,
                error.code,
                reason,
            )
        except Unavailable:
            log.warning("could not record rejection %s (store unavailable)", answer.message_id)
