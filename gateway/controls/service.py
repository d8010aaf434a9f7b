"""The controls in the flow of messages: what ingress asks before routing and tells after accepting.

Ingress (``gateway.ingress.pipeline``) calls, for each message whose canonical form is built and valid:

    screen()    before publishing. An inventory goes through three-list matching: matched -> None (it is
                routed as usual); mismatched -> MatchingFailed (a rejection receipt naming every failed
                rule); incomplete -> Hold (ingress records it ``waiting`` and answers 202)
    held()      after a ``waiting`` answer is recorded
    accepted()  after a message is published and recorded: orders, payments and waybills are kept for
                matching (and release the inventories they complete); inventories and declarations become
                consignments for monitoring and go through the risk rules

A waiting inventory is released exactly once, by whichever comes first: the list that completes it, or the
sweep at its deadline (then rejected ``matching-incomplete``). The decision and the hand-over happen in one
store transaction (state ``parked`` -> ``releasing``), so two arrivals (or two processes) never both release
it, and an inventory is only ``parked`` once its ``waiting`` status is recorded; after parking it looks once
more, which closes the gap between its own check and a list arriving meanwhile. Released: published to the
receivers routed at arrival and recorded ``accepted``. Rejected later: recorded ``rejected`` with the code,
and a canonical rejection receipt is routed to the sender (if it receives receipts).

The watch list of non-compliant products (:mod:`gateway.controls.watching`) screens inventories and
declarations first: a ``hold`` hit answers 202 with the held receipt and the message waits, ``held``, for an
officer's release (then three-list matching, as on arrival) or refusal.

A rule that fires raises one RiskAlert per rule, pattern and alert window: kept (signed) in the controls
store, recorded as a message of the gateway itself, and routed to the partners concerned; one that could not
be published stays ``pending`` and the sweep publishes it again.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import datetime as dt
import hashlib
import logging
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Protocol

from lxml import etree

from gateway.broker.routed import Publishing, RoutedMessage, publish_routed
from gateway.broker.topology import Topology
from gateway.config import ControlsSection, Settings
from gateway.controls import alerts, facts
from gateway.controls.findings import Finding
from gateway.controls.matching import Outcome, Verdict, check
from gateway.controls.model import SEP, AlertRecord, Consignment, Hold, StoredConsignment, Waiting, WatchRecord
from gateway.controls.monitoring import consignments_of
from gateway.controls.rules import RuleBook
from gateway.controls.store import ControlsStore, controls_store
from gateway.controls.watching import Watch
from gateway.controls.watchlist import WatchList
from gateway.errors import GatewayError, MatchingFailed, MatchingIncomplete, Unavailable
from gateway.formats.base import MessageInfo, Receipt, ReceiptError
from gateway.formats.canonical import add_referenced_records, body_payload, new_envelope, receipt_payload, set_header
from gateway.partners.model import Partner
from gateway.security.xml import parse_xml, to_bytes
from gateway.store.base import Status, Store
from gateway.text import shorten

log = logging.getLogger(__name__)

LISTS = ("order", "payment", "logistics")
RETRY_RELEASE_AFTER = 60.0  # seconds before the sweep retries a release that did not finish


class Signing(Protocol):
    def sign(self, root: etree._Element) -> etree._Element: ...


def mismatch(verdicts: list[Verdict], error: type[MatchingFailed] = MatchingFailed) -> MatchingFailed:
    failures = [f for v in verdicts for f in v.failures]
    message = f"three-list matching failed ({len(failures)} rule(s)): " + "; ".join(f.description for f in failures)
    return error(message, pointer=failures[0].pointer, failures=tuple((f.description, f.pointer) for f in failures))


def incomplete(verdicts: list[Verdict], window: float) -> MatchingIncomplete:
    missing = [v for v in verdicts if v.outcome is Outcome.INCOMPLETE]
    described = [
        f"ClearanceList {v.inventory.index} (order {v.inventory.order_id}): missing {v.describe_missing()}"
        for v in missing
    ]
    message = f"three-list matching incomplete after {window / 3600:g} h: " + "; ".join(described)
    return MatchingIncomplete(
        message,
        pointer=missing[0].inventory.pointer,
        failures=tuple(
            (f"matching-incomplete: {d}", v.inventory.pointer) for d, v in zip(described, missing, strict=True)
        ),
    )


class Controls:
    def __init__(
        self,
        settings: ControlsSection,
        *,
        participant_id: str,  # this gateway's own participant id (sender of what it originates)
        store: ControlsStore,
        messages: Store,
        publisher: Publishing,
        topology: Topology,
        partners: Callable[[], Mapping[str, Partner]],
        signer: Signing,
        rules: RuleBook | None = None,
        watchlist: WatchList | None = None,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self.settings = settings
        self.participant_id = participant_id
        self.store = store
        self.messages = messages
        self.publisher = publisher
        self.topology = topology
        self.partners = partners
        self.signer = signer
        self.rules = rules
        self.clock = clock
        self.watch = Watch(self, watchlist, clock) if watchlist is not None else None
        self._task: asyncio.Task[None] | None = None

    # Lifecycle ----------------------------------------------------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.create_task(self._sweeping(), name="controls-sweep")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self.store.close()

    async def _sweeping(self) -> None:
        interval = self.settings.sweep_interval
        reload_every = self.settings.rules_reload_interval
        step = min(interval, reload_every) if reload_every > 0 else interval
        next_sweep = time.monotonic() + interval
        while True:
            await asyncio.sleep(step)
            if self.rules is not None and reload_every > 0:
                self.rules.maybe_reload()
            if self.watch is not None and reload_every > 0:
                self.watch.watchlist.maybe_reload()
            if time.monotonic() >= next_sweep:
                next_sweep = time.monotonic() + interval
                try:
                    await self.sweep()
                except GatewayError:
                    log.exception("controls sweep failed; tried again in %gs", interval)

    # Before routing -----------------------------------------------------------------------------------------

    async def screen(
        self,
        *,
        message_id: str,
        info: MessageInfo,
        sender: str,
        canonical: etree._Element,
        body: bytes,
        receivers: tuple[str, ...],
    ) -> Hold | None:
        """The watch list (a Hold ``held``), then three-list matching of an inventory: MatchingFailed, or a Hold
        ``waiting`` when a list is missing."""
        if self.watch is not None:
            hold = self.watch.screen(
                message_id=message_id,
                message_type=info.message_type,
                sender=sender,
                sender_message_id=info.message_id,
                canonical=canonical,
                body=body,
                receivers=receivers,
            )
            if hold is not None:
                return hold
        return self._match(
            message_id=message_id,
            message_type=info.message_type,
            sender=sender,
            sender_message_id=info.message_id,
            canonical=canonical,
            body=body,
            receivers=receivers,
        )

    def _match(
        self,
        *,
        message_id: str,
        message_type: str,
        sender: str,
        sender_message_id: str,
        canonical: etree._Element,
        body: bytes,
        receivers: tuple[str, ...],
    ) -> Hold | None:
        if not self.settings.matching or message_type != "inventory":
            return None
        inventories = [i for i in facts.inventories(canonical) if i.function != facts.DELETE]
        if not inventories:
            return None
        now = self.clock().timestamp()
        with self.store.transaction():
            verdicts = [check(i, self.store.find(i)) for i in inventories]
            if any(v.outcome is Outcome.MISMATCHED for v in verdicts):
                raise mismatch(verdicts)
            waiting = [v for v in verdicts if v.outcome is Outcome.INCOMPLETE]
            if not waiting:
                return None
            self.store.hold(
                message_id=message_id,
                sender=sender,
                sender_message_id=sender_message_id,
                message_type=message_type,
                receivers=receivers,
                inventories=inventories,
                canonical=body,
                deadline=now + self.settings.matching_window,
                now=now,
            )
        described = "; ".join(v.describe_missing() for v in waiting)
        until = dt.datetime.fromtimestamp(now + self.settings.matching_window, dt.UTC)
        return Hold(f"waiting for {described} (until {until:%Y-%m-%dT%H:%M:%SZ})")

    async def held(self, message_id: str) -> None:
        """The ``waiting`` answer is recorded: park it, then look once more (a list may have come). A ``held``
        answer: the message waits for an officer."""
        if self.watch is not None and self.watch.parked(message_id):
            return
        with self.store.transaction():
            self.store.set_state(message_id, "parked", expect="pending")
            taken = self._take_if_ready(message_id)
        if taken is not None:
            await self._settle(*taken)

    def _take_if_ready(self, message_id: str) -> tuple[Waiting, list[Verdict]] | None:
        """Inside a transaction: a parked inventory whose lists are all here (or one already disagrees) is
        taken for release (``releasing``), so nobody else releases it."""
        waiting = self.store.waiting(message_id)
        if waiting is None or waiting.state != "parked":
            return None
        verdicts = [check(i, self.store.find(i)) for i in waiting.inventories]
        outcomes = {v.outcome for v in verdicts}
        if Outcome.INCOMPLETE in outcomes and Outcome.MISMATCHED not in outcomes:
            return None  # still waiting for a list
        self.store.set_state(message_id, "releasing")
        return waiting, verdicts

    # After acceptance ---------------------------------------------------------------------------------------

    async def accepted(self, *, message_id: str, info: MessageInfo, sender: str, canonical: etree._Element) -> None:
        """Keep lists, release what they complete, record consignments, run the rules. Never raises: the
        message is accepted already; a failure here is logged."""
        try:
            if self.settings.matching and info.message_type in LISTS:
                await self._keep_lists(message_id, info.message_type, canonical)
            if self.settings.monitoring:
                await self._monitor(message_id, info.message_type, sender, canonical)
            if self.watch is not None:
                self.watch.accepted(
                    message_id=message_id,
                    message_type=info.message_type,
                    sender=sender,
                    sender_message_id=info.message_id,
                    canonical=canonical,
                )
        except Exception:  # the message is accepted already: nothing here may turn that into an error answer
            log.exception("controls after accepting %s (%s from %s) failed", message_id, info.message_type, sender)

    async def _keep_lists(self, message_id: str, message_type: str, canonical: etree._Element) -> None:
        at = time.time()
        taken: list[tuple[Waiting, list[Verdict]]] = []
        keys: list[tuple[str, str]] = []
        with self.store.transaction():
            if message_type == "order":
                for order in facts.orders(canonical):
                    self.store.put_order(order, message_id, at)
                    keys.append(("order", order.order_id))
            elif message_type == "payment":
                for payment in facts.payments(canonical):
                    self.store.put_payment(payment, message_id, at)
                    keys.append(("order", payment.order_id))
            else:
                for waybill in facts.waybills(canonical):
                    self.store.put_waybill(waybill, message_id, at)
                    keys += [
                        ("order", waybill.order_id),
                        ("waybill", f"{waybill.carrier}{SEP}{waybill.waybill}"),
                    ]
            for waiting_id in self.store.waiting_for(keys):  # inventories these lists may complete
                ready = self._take_if_ready(waiting_id)
                if ready is not None:
                    taken.append(ready)
        for waiting, verdicts in taken:
            await self._settle(waiting, verdicts)

    async def _settle(self, waiting: Waiting, verdicts: list[Verdict]) -> None:
        """A taken inventory: forward it (matched), reject it (mismatched), or - at its deadline - reject it
        as incomplete."""
        record = await self.messages.get(waiting.message_id)
        if record is None or record.status != Status.WAITING:
            # Its request never recorded the waiting answer (crash) or it was finished already: a resend of
            # the same message is screened again; nothing to do for this one.
            self.store.finish(waiting.message_id)
            return
        if any(v.outcome is Outcome.MISMATCHED for v in verdicts):
            await self._reject(waiting, mismatch(verdicts))
        elif any(v.outcome is Outcome.INCOMPLETE for v in verdicts):
            await self._reject(waiting, incomplete(verdicts, self.settings.matching_window))
        else:
            await self._forward(waiting, record.receipt or b"")

    async def _forward(
        self, waiting: Waiting, receipt: bytes, *, actor: str = "gateway", reason: str | None = None
    ) -> None:
        routed = RoutedMessage(
            message_id=waiting.message_id,
            sender=waiting.sender,
            sender_message_id=waiting.sender_message_id,
            message_type=waiting.message_type,
            body=waiting.canonical,
        )
        try:
            await publish_routed(self.publisher, self.topology, routed, waiting.receivers)
        except Unavailable as exc:
            # Left "releasing": the sweep publishes it again (receivers de-duplicate by gateway message id).
            log.warning("releasing %s: not published (%s); the sweep retries", waiting.message_id, exc.message)
            return
        await self.messages.accept(
            waiting.message_id, waiting.receivers, receipt, waiting.canonical, actor=actor, reason=reason
        )
        self.store.finish(waiting.message_id)
        log.info(
            "released %s: %s; routed to %s",
            waiting.message_id,
            reason or "its three lists matched",
            ",".join(waiting.receivers),
        )
        envelope = parse_xml(waiting.canonical)
        if self.settings.monitoring:
            await self._monitor(waiting.message_id, waiting.message_type, waiting.sender, envelope)
        if self.watch is not None:
            self.watch.accepted(
                message_id=waiting.message_id,
                message_type=waiting.message_type,
                sender=waiting.sender,
                sender_message_id=waiting.sender_message_id,
                canonical=envelope,
            )

    # Held on the watch list: an officer's decision carried out ---------------------------------------------

    async def admit_released(self, record: WatchRecord, receipt: bytes, actor: str, reason: str) -> None:
        """A held message an officer released goes on as if it had just arrived: three-list matching first
        (when on: rejected, waiting, or matched), then published to the receivers routed at arrival."""
        waiting = _as_waiting(record)
        envelope = parse_xml(record.canonical)
        try:
            hold = self._match(
                message_id=record.message_id,
                message_type=record.message_type,
                sender=record.sender,
                sender_message_id=record.sender_message_id,
                canonical=envelope,
                body=record.canonical,
                receivers=record.receivers,
            )
        except MatchingFailed as error:  # released by the officer, then refused by three-list matching
            await self.messages.reject(
                record.message_id,
                record.sender,
                record.sender_message_id,
                record.message_type,
                error.code,
                shorten(f"{reason}; then {error.message}", 2048, mark="… (cut)"),
                actor=actor,
            )
            await self._send_receipt(waiting, error)
            return
        if hold is not None:
            await self.messages.wait(
                record.message_id, record.receivers, receipt, record.canonical, f"{reason}; {hold.reason}"
            )
            await self.held(record.message_id)
            return
        await self._forward(waiting, receipt, actor=actor, reason=reason)

    async def refuse_held(self, record: WatchRecord, error: MatchingFailed, actor: str) -> None:
        reason = shorten(error.message, 2048, mark="… (cut)")
        await self.messages.reject(
            record.message_id,
            record.sender,
            record.sender_message_id,
            record.message_type,
            error.code,
            reason,
            actor=actor,
        )
        await self._send_receipt(_as_waiting(record), error)

    async def _reject(self, waiting: Waiting, error: MatchingFailed) -> None:
        reason = shorten(error.message, 2048, mark="… (cut)")
        await self.messages.reject(
            waiting.message_id,
            waiting.sender,
            waiting.sender_message_id,
            waiting.message_type,
            error.code,
            reason,
        )
        self.store.finish(waiting.message_id)
        log.info("rejected waiting %s: %s: %s", waiting.message_id, error.code, reason)
        await self._send_receipt(waiting, error)

    async def _send_receipt(self, waiting: Waiting, error: MatchingFailed) -> None:
        """The rejection comes after the 202: route a canonical rejection receipt to the sender."""
        partner = self.partners().get(waiting.sender)
        if partner is None or partner.spec.delivery is None or not partner.accepts("receipt"):
            log.warning(
                "%s was rejected after waiting, but %s takes no receipts: it sees the status only",
                waiting.message_id,
                waiting.sender,
            )
            return
        receipt_id = str(uuid.uuid4())
        issued = self.clock()
        errors = tuple(ReceiptError(error.code, d, p) for d, p in error.failures) or (
            ReceiptError(error.code, error.message, error.pointer),
        )
        payload = receipt_payload(
            Receipt(
                accepted=False,
                issued=issued,
                gateway_message_id=waiting.message_id,
                sender=self.participant_id,
                receiver=waiting.sender,
                referenced_message_id=waiting.sender_message_id,
                referenced_message_type=waiting.message_type,
                errors=errors,
            )
        )
        # The rejected records by their identifiers: a CEB sender gets the CEB622 of its inventory.
        add_referenced_records(payload, body_payload(parse_xml(waiting.canonical)))
        envelope = new_envelope(
            message_id=receipt_id,
            message_type="receipt",
            sender=self.participant_id,
            receiver=waiting.sender,
            created=issued,
            payload=payload,
            correlation_id=waiting.sender_message_id,
        )
        set_header(envelope, "GatewayMessageID", receipt_id)
        await self._publish_own(receipt_id, receipt_id, "receipt", to_bytes(envelope), (waiting.sender,))

    async def _publish_own(
        self, message_id: str, own_reference: str, message_type: str, body: bytes, receivers: tuple[str, ...]
    ) -> bool:
        """A message the gateway itself originates: recorded like any other (sender = the gateway), routed."""
        held = await self.messages.claim(
            message_id, self.participant_id, own_reference, message_type, hashlib.sha256(body).hexdigest()
        )
        if held.status not in (Status.RECEIVED,):
            return True  # published before (a sweep found it pending after the publish)
        routed = RoutedMessage(
            message_id=message_id,
            sender=self.participant_id,
            sender_message_id=own_reference,
            message_type=message_type,
            body=body,
        )
        try:
            await publish_routed(self.publisher, self.topology, routed, receivers)
        except Unavailable as exc:
            log.warning("%s %s not published: %s", message_type, message_id, exc.message)
            return False
        await self.messages.accept(message_id, receivers, b"", body)
        return True

    # Monitoring and rules -----------------------------------------------------------------------------------

    async def _monitor(self, message_id: str, message_type: str, sender: str, canonical: etree._Element) -> None:
        found = consignments_of(
            canonical,
            message_type,
            sender=sender,
            message_id=message_id,
            own_country=self.settings.country,
            sender_channels=self.settings.sender_channels,
            now=self.clock(),
            sender_country=partner.spec.country if (partner := self.partners().get(sender)) else None,
        )
        for consignment in found:
            cid = self.store.add_consignment(consignment)
            if self.rules is not None:
                for finding in self.rules.evaluate(stored(consignment, cid), self.store):
                    await self.raise_alert(finding)

    async def raise_alert(self, finding: Finding) -> AlertRecord | None:
        """One alert per rule, pattern and alert window: None when this pattern was alerted already."""
        rule = finding.rule
        at = finding.at.timestamp()
        issued = self.clock()
        message_id = str(uuid.uuid4())
        reference = alerts.reference(issued)
        country = self.settings.country or ""
        with self.store.transaction():
            if self.store.recent_alert(rule.id, finding.pattern, at, rule.alert_window) is not None:
                return None
            envelope = alerts.envelope(
                finding,
                message_id=message_id,
                alert_reference=reference,
                participant_id=self.participant_id,
                issued=issued,
                authority_name=self.settings.authority_name or self.participant_id,
                country=country,
            )
            set_header(envelope, "GatewayMessageID", message_id)
            receivers = alerts.receivers(self.partners(), finding.destinations, participant_id=self.participant_id)
            body = to_bytes(envelope)
            record = AlertRecord(
                id=message_id,
                reference=reference,
                rule=rule.id,
                pattern=finding.pattern,
                fired_at=finding.at,
                created=issued,
                state="pending" if receivers else "unrouted",
                receivers=receivers,
                consignments=len(finding.consignments),
                summary=finding.summary,
                envelope=body,
                signed=to_bytes(self.signer.sign(copy.deepcopy(envelope))),
            )
            self.store.add_alert(record)
        log.warning("risk alert %s raised (%s) for %s", reference, finding.summary, ", ".join(receivers) or "nobody")
        if receivers:
            await self._send_alert(record)
        return record

    async def _send_alert(self, record: AlertRecord) -> None:
        if await self._publish_own(record.id, record.reference, "risk-alert", record.envelope, record.receivers):
            self.store.set_alert_state(record.id, "sent")

    # The sweep ----------------------------------------------------------------------------------------------

    async def sweep(self, now: dt.datetime | None = None) -> dict[str, int]:
        """Reject inventories past their deadline, retry unfinished releases and alerts, prune old state."""
        moment = (now or self.clock()).timestamp()
        done = {"expired": 0, "retried": 0, "alerts": 0}
        for message_id in self.store.due(moment):
            taken = self._take(message_id)
            if taken is not None:
                await self._settle(*taken)
                done["expired"] += 1
        for message_id in self.store.stuck_releasing(time.time() - RETRY_RELEASE_AFTER):
            taken = self._take(message_id, from_releasing=True)
            if taken is not None:
                await self._settle(*taken)
                done["retried"] += 1
        for record in self.store.alerts(state="pending"):
            await self._send_alert(record)
            done["alerts"] += 1
        if self.watch is not None:
            done["decisions"] = await self.watch.sweep()
        self.store.prune(
            lists_before=moment - self.settings.matching_window,
            consignments_before=moment - self.settings.history_days * 86400,
        )
        return done

    def _take(self, message_id: str, *, from_releasing: bool = False) -> tuple[Waiting, list[Verdict]] | None:
        with self.store.transaction():
            waiting = self.store.waiting(message_id)
            if waiting is None or (waiting.state == "releasing" and not from_releasing):
                return None
            verdicts = [check(i, self.store.find(i)) for i in waiting.inventories]
            self.store.set_state(message_id, "releasing")
        return waiting, verdicts


def _as_waiting(record: WatchRecord) -> Waiting:
    return Waiting(
        message_id=record.message_id,
        sender=record.sender,
        sender_message_id=record.sender_message_id,
        message_type=record.message_type,
        receivers=record.receivers,
        state=record.state,
        inventories=(),
        canonical=record.canonical,
        created=record.created,
        deadline=record.created,
    )


def stored(consignment: Consignment, cid: int) -> StoredConsignment:
    return StoredConsignment(
        id=cid,
        at=consignment.at,
        channel=consignment.channel,
        source=consignment.source,
        reference=consignment.reference,
        consignor=consignment.consignor,
        consignor_id=consignment.consignor_id,
        export_country=consignment.export_country,
        destination=consignment.destination,
        message_id=consignment.message_id,
        sender=consignment.sender,
        items=consignment.items,
    )


def load_rules(settings: Settings) -> RuleBook | None:
    """The risk rules a configuration names, validated (ConfigError names the file and key); checked when
    the runtime is built, so a bad rule file fails before serving, like a bad partner file."""
    section = settings.controls
    if section.enabled:
        controls_store(settings.store.url, settings.sqlite_path)  # an unknown kind of store: ConfigError now
    return RuleBook.load(settings.resolve(section.rules_dir)) if section.rules_dir is not None else None


def load_watchlist(settings: Settings) -> WatchList | None:
    """The watch list a configuration names, validated (ConfigError names the file, line and field)."""
    folder = settings.controls.watchlist_dir
    return WatchList.load(settings.resolve(folder)) if folder is not None else None


def open_controls(
    settings: Settings,
    *,
    rules: RuleBook | None,
    messages: Store,
    watchlist: WatchList | None = None,
    publisher: Publishing,
    topology: Topology,
    partners: Callable[[], Mapping[str, Partner]],
    signer: Signing,
) -> Controls | None:
    """The controls a configuration asks for (None: none), with their store open."""
    section = settings.controls
    if not section.enabled:
        return None
    store = controls_store(settings.store.url, settings.sqlite_path)
    store.open()
    return Controls(
        section,
        participant_id=settings.gateway.id,
        store=store,
        messages=messages,
        publisher=publisher,
        topology=topology,
        partners=partners,
        signer=signer,
        rules=rules,
        watchlist=watchlist,
    )
