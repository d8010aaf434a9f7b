"""Operator actions shared by the admin API and the command line.

Partner changes go through :class:`PartnerAdmin`: validated, written as partner files, made live (a reload
in a running gateway, a check of the whole folder from the command line), undone when refused, and audited.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gateway.broker.dead import DeadCopy, put_back, take_out
from gateway.broker.routed import RoutedMessage, publish_routed
from gateway.errors import ConfigError, GatewayError, Unavailable, UnknownPartner
from gateway.formats.base import sign_for
from gateway.partners.files import Backup, PartnerFolder, render_partner, set_key, spec_data
from gateway.partners.model import Partner
from gateway.partners.registry import RegistryChanges, load_partners
from gateway.partners.watch import FolderWatcher, fingerprint
from gateway.security.certificates import load_certificate
from gateway.store.base import Status, Store

if TYPE_CHECKING:
    from gateway.formats.base import FormatAdapter
    from gateway.runtime import Runtime
    from gateway.security.keyring import Keyring

log = logging.getLogger(__name__)

PEM_MARK = "-----BEGIN"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def partner_view(partner: Partner, now: dt.datetime | None = None, horizon_days: float = 30) -> dict[str, Any]:
    now = now or _now()
    spec = partner.spec
    last = max((c.days_left(now) for c in partner.certificates), default=0.0)
    if spec.suspended:
        status = "suspended"
    elif not any(c.valid_at(now) for c in partner.certificates):
        status = "certificate-invalid"
    elif last < horizon_days:
        status = "certificate-expiring"
    else:
        status = "active"
    return {
        "id": spec.id,
        "name": spec.name,
        "role": spec.role,
        "country": spec.country,
        "format": spec.format,
        "sends": list(spec.sends),
        "receives": list(spec.receives),
        "suspended": spec.suspended,
        "status": status,
        "delivery": str(spec.delivery.url) if spec.delivery else None,
        "certificates": [
            {
                "file": cert.path.name,
                "subject": cert.subject,
                "sha256": cert.fingerprint,
                "not_before": cert.not_before.isoformat(),
                "not_after": cert.not_after.isoformat(),
                "days_left": round(cert.days_left(now), 1),
                "valid_now": cert.valid_at(now),
                "expiring": cert.days_left(now) < horizon_days,
            }
            for cert in partner.certificates
        ],
        "spec": spec_data(spec),  # the partner file's own fields: GET, edit, PUT back
    }


def expiry_warnings(partners: Any, horizon_days: float, now: dt.datetime | None = None) -> list[str]:
    """One line per partner whose trust runs out within the horizon (no later certificate to take over)."""
    now = now or _now()
    lines = []
    for partner in partners.values():
        if not partner.certificates:
            continue
        last = max(partner.certificates, key=lambda c: c.not_after)
        days = last.days_left(now)
        if days < horizon_days:
            when = f"expired {-days:.1f} days ago" if days < 0 else f"expires in {days:.1f} days"
            lines.append(
                f"partner {partner.id}: its last trusted certificate {last.path.name} ({last.subject}) "
                f"{when} ({last.not_after.isoformat()}); add the next one: "
                f"gateway partners rotate-cert {partner.id} NEW.crt"
            )
    return lines


def warn_expiring(runtime: Runtime) -> None:
    now = _now()
    horizon = runtime.settings.admin.certificate_warning_days
    runtime.metrics.certificates_expiring.clear()
    for partner in runtime.registry.values():
        count = sum(1 for c in partner.certificates if c.days_left(now) < horizon)
        runtime.metrics.certificates_expiring.labels(partner.id).set(count)
    for line in expiry_warnings(runtime.registry, horizon, now):
        log.warning("certificate expiry: %s", line)
    for line in runtime.keyring.expiry_warnings(horizon, now):  # the gateway's own certificates
        log.warning("certificate expiry: %s", line)


def prime_counters(runtime: Runtime) -> None:
    """Every partner's series exist from the start (at zero): dashboards and alerts see them early."""
    metrics = runtime.metrics
    for partner in runtime.registry.values():
        for message_type in partner.spec.sends:
            metrics.ingress.labels(partner.id, message_type, "accepted")
        if partner.spec.receives:
            for outcome in ("delivered", "retrying", "failed"):
                metrics.deliveries.labels(partner.id, outcome)


async def reload(runtime: Runtime, *, actor: str, trigger: str | None = None) -> RegistryChanges:
    """An audited reload (SIGHUP, admin API, folder watcher). Refused: ConfigError, running set unchanged.
    ``actor``: who, for the audit log and the log line; ``trigger`` (default: the actor): how, for the metric;
    an ``admin-api`` reload is announced to the other workers."""
    trigger = trigger or actor
    async with runtime.config_lock:
        seen = fingerprint(runtime.settings.partners_dir)
        try:
            changes = await runtime.reload()
        except (ConfigError, Unavailable) as exc:
            runtime.metrics.config_reloads.labels(trigger, "refused").inc()
            log.error("partner configuration refused (%s); the running configuration stays:\n%s", actor, exc.message)
            await _audit(runtime.store, actor, "reload-refused", None, detail=exc.message)
            raise
        finally:
            if runtime.watcher is not None:
                runtime.watcher.seen = seen
        runtime.metrics.config_reloads.labels(trigger, "applied").inc()
        after_reload(runtime)
        log.info("partner configuration reloaded (%s): %s", actor, changes.describe())
        if changes and actor != "announcement":  # audited once, by the worker that made the change
            await _audit(runtime.store, actor, "reload", None, detail=changes.describe())
        if trigger == "admin-api":
            if runtime.risk_rules is not None:
                runtime.risk_rules.maybe_reload()
            await runtime.announce()
        return changes


def after_reload(runtime: Runtime) -> None:
    prime_counters(runtime)
    warn_expiring(runtime)


def start_watching(runtime: Runtime) -> Callable[[], Awaitable[None]]:
    """Start the folder watcher (if ``[admin] watch_interval`` > 0); returns what stops it."""
    after_reload(runtime)
    interval = runtime.settings.admin.watch_interval
    if interval <= 0:

        async def nothing() -> None:
            return None

        return nothing
    ticks_per_day = max(1, int(86400 / interval))
    state = {"ticks": 0}

    def tick() -> None:
        state["ticks"] += 1
        if state["ticks"] % ticks_per_day == 0:  # certificates age without any file changing
            warn_expiring(runtime)

    async def changed() -> None:
        # A refused change is logged and audited by reload, and tried again when the files change.
        with contextlib.suppress(ConfigError, Unavailable):
            await reload(runtime, actor="file-watch")

    runtime.watcher = FolderWatcher(runtime.settings.partners_dir, interval, changed, tick)
    task = asyncio.create_task(runtime.watcher.run(), name="partner-folder-watcher")

    async def stop() -> None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        runtime.watcher = None

    return stop


async def refresh_queue_depths(runtime: Runtime) -> None:
    from gateway.broker.depth import queue_depths

    connection = getattr(runtime, "connection", None)
    if connection is None:
        return
    queues = {}
    for partner in runtime.registry.values():
        if partner.spec.receives:
            queues[runtime.topology.deliver_queue(partner.id)] = (partner.id, "deliver")
            queues[runtime.topology.dead_queue(partner.id)] = (partner.id, "dead")
    depths = await queue_depths(connection, list(queues))
    if depths:
        runtime.metrics.queue_depth.clear()
    for name, depth in depths.items():
        runtime.metrics.queue_depth.labels(*queues[name]).set(depth)


def traffic(runtime: Runtime) -> dict[str, Any]:
    """Counts since this process started, for the console (the same numbers /metrics exposes)."""
    return {
        "time": _now().isoformat(),
        "ingress": [
            {
                "partner": labels["partner"],
                "type": labels["type"],
                "outcome": labels["outcome"],
                "count": value,
            }
            for labels, value in runtime.metrics.samples(runtime.metrics.ingress)
        ],
        "deliveries": [
            {"receiver": labels["receiver"], "outcome": labels["outcome"], "count": value}
            for labels, value in runtime.metrics.samples(runtime.metrics.deliveries)
        ],
        "queues": [
            {"receiver": labels["receiver"], "queue": labels["queue"], "depth": value}
            for labels, value in runtime.metrics.samples(runtime.metrics.queue_depth)
        ],
    }


async def _audit(
    store: Store | None,
    actor: str,
    action: str,
    partner: str | None,
    *,
    detail: str | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> None:
    if store is None:
        return
    try:
        await store.record_config_event(actor, action, partner, detail=detail, before=before, after=after)
    except Unavailable:
        log.exception("could not record the configuration event %s %s by %s", action, partner, actor)


@dataclass(frozen=True)
class Change:
    action: str
    partner: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    detail: str
    changes: RegistryChanges | None = None


class PartnerAdmin:
    """Validated, audited changes to partner files. ``apply`` makes the folder live (reload) or checks it."""

    def __init__(
        self,
        folder: PartnerFolder,
        store: Store | None,
        actor: str,
        apply: Callable[[], Awaitable[RegistryChanges | None]],
        lock: asyncio.Lock | None = None,
    ) -> None:
        self.folder = folder
        self.store = store
        self.actor = actor
        self.apply = apply
        self.lock = lock or asyncio.Lock()

    @classmethod
    def for_runtime(cls, runtime: Runtime, actor: str) -> PartnerAdmin:
        async def apply() -> RegistryChanges:
            seen = fingerprint(runtime.settings.partners_dir)
            changes = await runtime.reload()
            if runtime.watcher is not None:
                runtime.watcher.seen = seen  # our own write: no second reload from the watcher
            after_reload(runtime)
            await runtime.announce()  # the files are written and fsynced: now every other worker loads them
            return changes

        folder = PartnerFolder(runtime.settings.partners_dir, frozenset(runtime.adapters))
        return cls(folder, runtime.store, actor, apply, runtime.config_lock)

    @classmethod
    def for_files(cls, folder: PartnerFolder, store: Store | None, actor: str) -> PartnerAdmin:
        """No gateway in this process: a change must leave a folder the gateway will load (its watcher, SIGHUP
        or an admin reload then makes it live)."""

        async def apply() -> None:
            load_partners(folder.dir, folder.known_formats)

        return cls(folder, store, actor, apply)

    # The changes -----------------------------------------------------------------------------------------

    async def put(self, partner_id: str, payload: dict[str, Any]) -> Change:
        """Create or replace a partner from the partner file's fields; certificates as PEM text or paths."""
        async with self.lock:
            before = self._before(partner_id, must_exist=False)
            action = "update" if before is not None else "create"
            created: list[str] = []
            try:
                data = self._payload(partner_id, payload, created)
                partner = self.folder.validate(data)
            except GatewayError as exc:
                self._forget(created)
                await self._refused(action, partner_id, exc, before, payload)
                raise
            after = spec_data(partner.spec)
            text = render_partner(after, comment=f"Written by {self.actor} on {_now():%Y-%m-%d %H:%M} UTC.")
            new_certs = tuple(self.folder.dir / c for c in created)
            return await self._commit(
                action,
                partner_id,
                before,
                after,
                lambda: self.folder.write(partner_id, text, new_certs),
                f"{action}d partner {partner_id}",
            )

    async def remove(self, partner_id: str) -> Change:
        async with self.lock:
            before = self._before(partner_id)
            return await self._commit(
                "delete",
                partner_id,
                before,
                None,
                lambda: self.folder.remove(partner_id),
                f"removed partner {partner_id} (what is still queued for it is dead-lettered, retryable if it returns)",
            )

    async def set_suspended(self, partner_id: str, suspended: bool) -> Change:
        action = "suspend" if suspended else "resume"
        async with self.lock:
            before = self._before(partner_id)
            after = {**before, "suspended": suspended}
            text = self.folder.read_text(partner_id)
            new_text = set_key(text, "suspended", suspended) or render_partner(after)
            detail = (
                f"partner {partner_id} suspended: what it sends is answered 503 partner-suspended; what is routed "
                "to it is held in its queue, undelivered, until it is resumed"
                if suspended
                else f"partner {partner_id} resumed: what was held for it is delivered"
            )
            return await self._commit(
                action, partner_id, before, after, lambda: self.folder.write(partner_id, new_text), detail
            )

    async def rotate_certificate(self, partner_id: str, certificate: bytes, *, drop_expired: bool = False) -> Change:
        """Trust the next certificate beside the current ones (each used only inside its validity window)."""
        async with self.lock:
            before = self._before(partner_id)
            created: list[str] = []
            try:
                relative, new = self.folder.store_certificate(
                    partner_id, certificate, allow_weak=bool(before.get("legacy_algorithms"))
                )
                if new:
                    created.append(relative)
                current = [str(c) for c in before.get("certificates", [])]
                if relative in current:
                    raise ConfigError(f"certificates: {relative} is already trusted for {partner_id}")
                incoming = load_certificate(self.folder.dir / relative)
                now = _now()
                if incoming.not_after < now:
                    raise ConfigError(f"certificates: the new certificate expired on {incoming.not_after.isoformat()}")
                dropped = [c for c in current if drop_expired and self._expired(c, now)]
                certificates = [c for c in current if c not in dropped] + [relative]
            except GatewayError as exc:
                self._forget(created)
                await self._refused("rotate-cert", partner_id, exc, before, None)
                raise
            after = {**before, "certificates": certificates}
            text = self.folder.read_text(partner_id)
            new_text = set_key(text, "certificates", certificates) or render_partner(after)
            starts = "trusted now" if incoming.valid_at(now) else f"trusted from {incoming.not_before.isoformat()}"
            detail = f"added {relative} ({incoming.subject}, {starts} until {incoming.not_after.isoformat()})" + (
                f"; dropped expired {', '.join(dropped)}" if dropped else ""
            )
            new_certs = tuple(self.folder.dir / c for c in created)
            return await self._commit(
                "rotate-cert",
                partner_id,
                before,
                after,
                lambda: self.folder.write(partner_id, new_text, new_certs),
                detail,
            )

    # Helpers ---------------------------------------------------------------------------------------------

    def _before(self, partner_id: str, *, must_exist: bool = True) -> dict[str, Any]:
        before = self.folder.read_optional(partner_id)
        if before is None and must_exist:
            raise UnknownPartner(f"no partner {partner_id!r} in {self.folder.dir}")
        return before  # type: ignore[return-value]

    def _payload(self, partner_id: str, payload: dict[str, Any], created: list[str]) -> dict[str, Any]:
        if not isinstance(payload, dict):
            raise ConfigError("the body must be a JSON object with the partner file's fields")
        data = dict(payload)
        if data.setdefault("id", partner_id) != partner_id:
            raise ConfigError(f"id: {data['id']!r} differs from the partner id {partner_id!r} in the URL")
        certificates = data.get("certificates")
        if not isinstance(certificates, list) or not certificates or not all(isinstance(c, str) for c in certificates):
            raise ConfigError(
                "certificates: a non-empty list is required, each a PEM certificate or a path inside the "
                "partners folder (e.g. certs/x.crt)"
            )
        resolved = []
        for value in certificates:
            if PEM_MARK in value:
                relative, new = self.folder.store_certificate(
                    partner_id,
                    value.encode("ascii", "replace"),
                    allow_weak=bool(data.get("legacy_algorithms")),
                )
                if new:
                    created.append(relative)
            else:
                relative = self.folder.certificate_reference(value)
            if relative not in resolved:
                resolved.append(relative)
        data["certificates"] = resolved
        return data

    def _expired(self, relative: str, now: dt.datetime) -> bool:
        try:
            return load_certificate(self.folder.dir / relative, allow_weak=True).not_after < now
        except ConfigError:
            return False

    def _forget(self, created: list[str]) -> None:
        for relative in created:
            (self.folder.dir / relative).unlink(missing_ok=True)

    async def _refused(
        self, action: str, partner_id: str, exc: GatewayError, before: dict[str, Any] | None, attempted: Any
    ) -> None:
        after = attempted if isinstance(attempted, dict) else None
        if after is not None and isinstance(after.get("certificates"), list):  # PEM text is not worth keeping
            after = {
                **after,
                "certificates": [c if PEM_MARK not in str(c) else "(PEM)" for c in after["certificates"]],
            }
        await _audit(
            self.store,
            self.actor,
            f"{action}-refused",
            partner_id,
            detail=exc.message,
            before=before,
            after=after,
        )

    async def _commit(
        self,
        action: str,
        partner_id: str,
        before: dict[str, Any] | None,
        after: dict[str, Any] | None,
        write: Callable[[], Backup],
        detail: str,
    ) -> Change:
        backup = write()
        try:
            changes = await self.apply()
        except (ConfigError, Unavailable) as exc:
            self.folder.restore(backup)
            await self._refused(action, partner_id, exc, before, after)
            raise
        await _audit(self.store, self.actor, action, partner_id, detail=detail, before=before, after=after)
        log.info("%s: %s", self.actor, detail)
        return Change(action, partner_id, before, after, detail, changes)


@dataclass(frozen=True)
class RetryResult:
    ok: bool
    code: str
    message: str
    receivers: tuple[str, ...] = ()


async def retry_message(runtime: Runtime, message_id: str, *, actor: str, reason: str) -> RetryResult:
    """Publish a failed message again to the receivers it failed for (attempt count starts over)."""
    record = await runtime.store.get(message_id)
    if record is None:
        return RetryResult(False, "unknown-message", f"no message {message_id!r}")
    attempts = {d.receiver: d.attempts for d in await runtime.store.deliveries(message_id) if d.status == Status.FAILED}
    failed = tuple(attempts)
    if not failed:
        return RetryResult(
            False,
            "not-failed",
            f"message {message_id} is {record.status.value}; only failed deliveries are retried",
        )
    body = await runtime.store.canonical(message_id)
    if body is None or runtime.publisher is None:
        return RetryResult(False, "unavailable", "the message content or the broker is not available")
    routed = RoutedMessage(
        message_id=message_id,
        sender=record.sender,
        sender_message_id=record.sender_message_id or "",
        message_type=record.message_type or "",
        body=body,
    )
    queued: list[str] = []
    try:
        for receiver in failed:
            await runtime.store.record_delivery(
                message_id, receiver, Status.ACCEPTED, attempt=0, reason=reason, actor=actor
            )
            taken: list[DeadCopy] = []
            try:
                # Out of the dead-letter queue before it is queued again: a new failure puts it back there.
                taken = await _take_out_dead(runtime, message_id, receiver)
                await publish_routed(runtime.publisher, runtime.topology, routed, (receiver,))
            except Unavailable as exc:
                # Recorded as accepted but never queued: mark it failed again, or it could never be retried.
                await put_back(runtime.connection, runtime.topology.dead_queue(receiver), taken)
                await runtime.store.record_delivery(
                    message_id,
                    receiver,
                    Status.FAILED,
                    attempt=attempts[receiver],
                    reason=f"operator retry not queued: {exc.message}",
                    actor=actor,
                )
                raise
            queued.append(receiver)
    except Unavailable as exc:
        return RetryResult(False, "unavailable", exc.message, tuple(queued))
    return RetryResult(True, "retried", f"requeued for {', '.join(failed)}", failed)


async def _take_out_dead(runtime: Runtime, message_id: str, receiver: str) -> list[DeadCopy]:
    """The message's copies leave the receiver's dead-letter queue, with any of a message delivered since."""

    async def settled(gateway_id: str) -> bool:
        return gateway_id == message_id or await runtime.store.delivered_to(gateway_id, receiver)

    return await take_out(
        runtime.connection, runtime.topology.dead_queue(receiver), settled, limit=runtime.settings.amqp.publish_timeout
    )


# Connectivity check ----------------------------------------------------------------------------------------

PING_REFERENCE = "CONNECTIVITY-TEST"  # the test receipt's ReferencedMessageID: what marks it as a test
PING_HEADER = "X-Gateway-Test"  # ... and this header, with the value "connectivity"


@dataclass(frozen=True)
class PingResult:
    """What a connectivity check sent and saw; ``ok`` when the partner answered 2xx."""

    partner: str
    url: str
    ok: bool
    outcome: str  # gateway.delivery.probe: answered, dns, connect, tls, timeout, disconnected, url, ...
    status: int | None
    seconds: float
    answer: str  # the first bytes of the partner's answer
    message: str  # what happened, in one line
    test_id: str
    sent: str  # what was sent: document, size, signature

    def as_json(self) -> dict[str, Any]:
        return {**self.__dict__, "seconds": round(self.seconds, 4)}

    def render(self) -> str:
        lines = [
            f"ping {self.partner}: POST {self.url}",
            f"  sent:   {self.sent}, test id {self.test_id}",
            f"  result: {'ok' if self.ok else 'FAILED'}: {self.message}",
        ]
        if self.outcome == "answered":
            lines.append(f"  answer: {self.answer!r}" if self.answer else "  answer: (empty body)")
        return "\n".join(lines)


def _answered(status: int, milliseconds: str) -> str:
    said = f"the partner answered HTTP {status} in {milliseconds}"
    if 200 <= status < 300:
        return said
    if 300 <= status < 400:
        return f"{said}: redirects are not followed; configure the final URL in the partner file"
    if status >= 500 or status in (408, 425, 429):
        return f"{said}: a delivery would be retried with backoff"
    return f"{said}: a delivery would be dead-lettered at once"


async def ping_partner(
    partner: Partner, *, adapter: FormatAdapter, keyring: Keyring, gateway_id: str, default_timeout: float
) -> PingResult:
    """POST a signed test message to the partner's inbox: an acceptance receipt in the partner's own format
    (the lightest document every format has, and one every receiver takes) answering the message id
    ``CONNECTIVITY-TEST``, signed as deliveries to it are. Nothing is recorded or retried."""
    import uuid

    from lxml import etree

    from gateway.delivery.probe import ANSWERED, probe
    from gateway.formats.base import Receipt
    from gateway.security.xml import to_bytes

    if partner.spec.delivery is None:
        raise ConfigError(f"{partner.path}: delivery: partner {partner.id} has no [delivery] url to ping")
    url = str(partner.spec.delivery.url)
    test_id = str(uuid.uuid4())
    receipt = Receipt(
        accepted=True,
        issued=_now(),
        gateway_message_id=test_id,
        sender=gateway_id,
        receiver=partner.id,
        referenced_message_id=PING_REFERENCE,
        referenced_message_type="receipt",
    )
    signer = keyring.for_partner(partner)
    rendered = adapter.render_receipt(receipt)
    name = etree.QName(rendered).localname  # read before signing: CEB signs a receipt in a DxpMsg around it
    document = sign_for(adapter, signer, rendered, partner.id)
    if etree.QName(document).localname != name:
        name += f" in {etree.QName(document).localname}"
    body = to_bytes(document)
    headers = {
        "X-Gateway-Message-Id": test_id,
        "X-Sender": gateway_id,
        "X-Sender-Message-Id": test_id,
        "X-Message-Type": "receipt",
        PING_HEADER: "connectivity",
    }
    seen = await probe(url, body, headers, seconds=partner.spec.delivery.timeout or default_timeout)
    milliseconds = f"{seen.seconds * 1000:.0f} ms"
    if seen.outcome == ANSWERED and seen.status is not None:
        ok, message = 200 <= seen.status < 300, _answered(seen.status, milliseconds)
    else:
        ok, message = False, f"{seen.outcome}: {seen.detail} (after {milliseconds})"
    algorithm = signer.algorithm.rsplit("#", 1)[-1]
    sent = (
        f"{name} ({partner.format} receipt), {len(body)} bytes, "
        f"signed {algorithm} by {signer.certificate.subject.rfc4514_string()}"
    )
    answer = seen.answer.decode("utf-8", "replace")
    return PingResult(partner.id, url, ok, seen.outcome, seen.status, seen.seconds, answer, message, test_id, sent)


async def ping(runtime: Runtime, partner_id: str) -> PingResult:
    """The connectivity check of a running gateway (admin API), with its keys and partner files."""
    partner = runtime.registry.get(partner_id)
    if partner is None:
        raise UnknownPartner(f"no partner {partner_id!r} is configured on this gateway")
    result = await ping_partner(
        partner,
        adapter=runtime.adapters[partner.format],
        keyring=runtime.keyring,
        gateway_id=runtime.settings.gateway.id,
        default_timeout=runtime.settings.delivery.timeout,
    )
    log.info("connectivity check of %s (%s): %s", partner_id, result.url, result.message)
    return result
